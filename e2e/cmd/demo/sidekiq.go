package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ffitel/ffitel/e2e"
)

// runSidekiq is the demo's Sidekiq step: a real redis-server on a free
// loopback port, a `sidekiq` server (concurrency 2) running
// examples/sidekiq/jobs.rb, and examples/sidekiq/client.rb enqueuing three
// jobs (one succeeds, one fails for good, one succeeds on its retry). It
// returns once the four attempts reached the Collector and the server has
// stopped (and flushed).
func runSidekiq(root string, col *e2e.Collector) error {
	fmt.Printf("\n== running sidekiq-client -> sidekiq-server (examples/sidekiq, real redis-server)\n")
	for _, bin := range []string{"redis-server", "sidekiq"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("sidekiq step: %s is missing (scripts/install-deps.sh installs it)", bin)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	redis := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	redis.Dir = os.TempDir()
	if err := redis.Start(); err != nil {
		return fmt.Errorf("redis-server: %w", err)
	}
	defer func() { _ = redis.Process.Kill(); _ = redis.Wait() }()
	if !e2e.WaitFor(10*time.Second, func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			c.Close()
		}
		return err == nil
	}) {
		return fmt.Errorf("redis-server did not listen on %s", port)
	}

	env := func(service string) []string {
		e := append(os.Environ(), col.Env()...)
		return append(e, "OTEL_SERVICE_NAME="+service, "FFITEL_LOG_FORMAT=text",
			"REDIS_URL=redis://127.0.0.1:"+port+"/0",
			"FFITEL_LIBRARY="+filepath.Join(root, "build", "libffitel.so"),
			"RUBYLIB="+filepath.Join(root, "ruby", "lib"))
	}
	server := exec.Command("sidekiq", "-r", "./examples/sidekiq/jobs.rb", "-c", "2", "-q", "default")
	server.Dir, server.Env = root, env("sidekiq-server")
	server.Stdout, server.Stderr = os.Stdout, os.Stderr
	if err := server.Start(); err != nil {
		return fmt.Errorf("sidekiq: %w", err)
	}
	client := exec.Command("ruby", "examples/sidekiq/client.rb")
	client.Dir, client.Env = root, env("sidekiq-client")
	client.Stdout, client.Stderr = os.Stdout, os.Stderr
	clientErr := client.Run()
	// Retries wait 1 s plus Sidekiq's jitter (up to 9 s) and a poll.
	done := clientErr == nil && e2e.WaitFor(60*time.Second, func() bool {
		spans, err := col.Spans()
		if err != nil {
			return false
		}
		n := 0
		for _, s := range spans {
			if svc, _ := s.Resource.Attributes.Get("service.name"); svc == "sidekiq-server" && strings.HasPrefix(s.Name, "process ") {
				n++
			}
		}
		return n >= 4
	})
	_ = server.Process.Signal(syscall.SIGTERM) // graceful stop; at_exit flushes ffitel
	serverErr := server.Wait()
	switch {
	case clientErr != nil:
		return fmt.Errorf("sidekiq-client: %w", clientErr)
	case !done:
		return fmt.Errorf("sidekiq-server: the four job attempts did not reach the Collector within 60s")
	case serverErr != nil:
		return fmt.Errorf("sidekiq-server: %w", serverErr)
	}
	return nil
}
