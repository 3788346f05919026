// Package e2e runs the real OpenTelemetry Collector for end-to-end tests and
// reads back what it received. The Collector is built by `make collector`
// into .cache/otelcol; a test that needs it fails (never skips) when it is
// missing.
package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Collector is a running Collector writing what it receives to files.
type Collector struct {
	GRPCEndpoint string // http://127.0.0.1:PORT
	HTTPEndpoint string
	Dir          string
	cmd          *exec.Cmd
	exited       chan struct{} // closed when the process has been waited for
	stderr       *lockedBuffer
}

// RepoRoot is the root of the ffitel checkout.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// CollectorBinary is FFITEL_OTELCOL or the binary `make collector` builds.
func CollectorBinary() string {
	if p := os.Getenv("FFITEL_OTELCOL"); p != "" {
		return p
	}
	return filepath.Join(RepoRoot(), ".cache", "otelcol", "otelcol-ffitel")
}

// FreePort returns a loopback port nobody listens on right now.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	return p
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StartCollector starts a Collector on free loopback ports and stops it when
// the test ends. It fails the test when the Collector is missing.
func StartCollector(t testing.TB) *Collector {
	t.Helper()
	c, err := Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

// Start starts a Collector writing into dir and waits until it listens.
func Start(dir string) (*Collector, error) {
	grpcPort, err := freePort()
	if err != nil {
		return nil, err
	}
	httpPort, err := freePort()
	if err != nil {
		return nil, err
	}
	return StartProcess(ProcessSpec{
		Binary:  CollectorBinary(),
		Configs: []string{filepath.Join(RepoRoot(), "e2e", "collector", "config.yaml")},
		Env: []string{"FFITEL_COLLECTOR_OUT=" + dir,
			"FFITEL_COLLECTOR_GRPC_PORT=" + strconv.Itoa(grpcPort),
			"FFITEL_COLLECTOR_HTTP_PORT=" + strconv.Itoa(httpPort)},
		GRPCPort: grpcPort,
		HTTPPort: httpPort,
		Dir:      dir,
	})
}

// ProcessSpec describes a Collector process: which binary, which
// configuration files (merged in order, later ones override), the extra
// environment, the OTLP ports it must listen on before it counts as started
// (HTTPPort may be 0) and the directory its file exporters write to.
type ProcessSpec struct {
	Binary   string
	Configs  []string
	Env      []string
	GRPCPort int
	HTTPPort int
	Dir      string
}

// StartProcess starts the Collector spec describes and waits until it
// listens. It fails with a clear message when the binary is missing.
func StartProcess(spec ProcessSpec) (*Collector, error) {
	if _, err := os.Stat(spec.Binary); err != nil {
		return nil, fmt.Errorf("the OpenTelemetry Collector is missing at %s: run `make collector` (make test does it): %w", spec.Binary, err)
	}
	c := &Collector{
		GRPCEndpoint: fmt.Sprintf("http://127.0.0.1:%d", spec.GRPCPort),
		Dir:          spec.Dir,
		stderr:       &lockedBuffer{},
	}
	ports := []int{spec.GRPCPort}
	if spec.HTTPPort != 0 {
		c.HTTPEndpoint = fmt.Sprintf("http://127.0.0.1:%d", spec.HTTPPort)
		ports = append(ports, spec.HTTPPort)
	}
	var args []string
	for _, cfg := range spec.Configs {
		args = append(args, "--config", cfg)
	}
	c.cmd = exec.Command(spec.Binary, args...)
	c.cmd.Env = append(os.Environ(), spec.Env...)
	c.cmd.Stderr = c.stderr
	c.cmd.Stdout = c.stderr
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start collector: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(exited) }()
	c.exited = exited
	deadline := time.Now().Add(30 * time.Second)
	for _, port := range ports {
		for {
			conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
			if err == nil {
				conn.Close()
				break
			}
			select {
			case <-exited:
				return nil, fmt.Errorf("collector %s exited before listening on %d: %s", spec.Binary, port, c.stderr.String())
			default:
			}
			if time.Now().After(deadline) {
				c.Stop()
				return nil, fmt.Errorf("collector did not listen on %d within 30s: %s", port, c.stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c, nil
}

// Output returns what the Collector wrote to stdout and stderr so far.
func (c *Collector) Output() string { return c.stderr.String() }

// Stop stops the Collector (idempotent).
func (c *Collector) Stop() {
	if c.cmd == nil || c.exited == nil {
		return
	}
	select {
	case <-c.exited:
		return
	default:
	}
	_ = c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// Kill kills the Collector at once (SIGKILL): a crash, with nothing flushed
// or answered.
func (c *Collector) Kill() {
	if c.cmd == nil || c.exited == nil {
		return
	}
	select {
	case <-c.exited:
		return
	default:
	}
	_ = c.cmd.Process.Kill()
	<-c.exited
}

// Env returns the environment that points a worker at this Collector.
func (c *Collector) Env() []string {
	return []string{
		"TELEMETRY_ENABLED=true",
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + c.GRPCEndpoint,
		"OTEL_METRIC_EXPORT_INTERVAL=500",
		"OTEL_BLRP_SCHEDULE_DELAY=100",
		"OTEL_BSP_SCHEDULE_DELAY=100",
	}
}

// WaitFor polls until cond holds or timeout passes, then reports whether it
// held. Collector output is written asynchronously; tests wait for it.
func WaitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// lockedBuffer collects a process's output while tests read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func readLines(path string, each func([]byte) error) error {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	for {
		line, err := r.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 && err == nil {
			if perr := each(line); perr != nil {
				return perr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
