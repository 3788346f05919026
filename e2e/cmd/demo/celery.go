package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ffitel/ffitel/e2e"
)

// runCelery runs a Celery producer and a prefork Celery worker
// (examples/celery) against a real redis-server on a free loopback port: the
// producer's request trace holds each send span and the job's first attempt;
// the retry is a trace of its own, linked to its send span.
func runCelery(root, dir string, col *e2e.Collector) error {
	redisBin, err := exec.LookPath("redis-server")
	if err != nil {
		return fmt.Errorf("celery: redis-server is missing (scripts/install-deps.sh installs it): %w", err)
	}
	port, err := loopbackPort()
	if err != nil {
		return err
	}
	redis := exec.Command(redisBin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no")
	redisLog, err := os.Create(filepath.Join(dir, "redis.log"))
	if err != nil {
		return err
	}
	defer redisLog.Close()
	redis.Stdout, redis.Stderr = redisLog, redisLog
	if err := redis.Start(); err != nil {
		return fmt.Errorf("celery: redis-server: %w", err)
	}
	defer func() { _ = redis.Process.Signal(syscall.SIGTERM); _ = redis.Wait() }()
	if !e2e.WaitFor(10*time.Second, func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err == nil
	}) {
		return fmt.Errorf("celery: redis-server did not start (see %s)", redisLog.Name())
	}

	env := append(os.Environ(), col.Env()...)
	env = append(env, "FFITEL_LOG_FORMAT=text", fmt.Sprintf("CELERY_BROKER=redis://127.0.0.1:%d/0", port),
		"FFITEL_LIBRARY="+filepath.Join(root, "build", "libffitel.so"),
		"PYTHONPATH="+filepath.Join(root, "python", "src")+string(os.PathListSeparator)+filepath.Join(root, "examples", "celery"))

	workerLog := filepath.Join(dir, "celery-worker.log")
	wlog, err := os.Create(workerLog)
	if err != nil {
		return err
	}
	defer wlog.Close()
	fmt.Printf("\n== running celery-worker (celery -A shop worker --pool=prefork --concurrency=2 -Q shop; log in %s)\n", workerLog)
	worker := exec.Command("python3", "-m", "celery", "-A", "shop", "worker", "--pool=prefork", "--concurrency=2",
		"-Q", "shop", "-l", "INFO", "--without-heartbeat", "--without-gossip", "--without-mingle", "-n", "shop@demo")
	worker.Dir = dir
	worker.Env = append(env, "OTEL_SERVICE_NAME=celery-worker")
	worker.Stdout, worker.Stderr = wlog, wlog
	if err := worker.Start(); err != nil {
		return fmt.Errorf("celery worker: %w", err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = worker.Process.Signal(syscall.SIGTERM) // warm shutdown: pool processes flush
			_ = worker.Wait()
		}
	}
	defer stop()

	fmt.Println("\n== running celery-producer (python3 examples/celery/producer.py)")
	producer := exec.Command("python3", "examples/celery/producer.py")
	producer.Dir = root
	producer.Env = append(env, "OTEL_SERVICE_NAME=celery-producer")
	producer.Stdout, producer.Stderr = os.Stdout, os.Stderr
	if err := producer.Run(); err != nil {
		return fmt.Errorf("celery producer: %w", err)
	}
	// Four attempts: charge, ship (fails for good), notify twice (a retry).
	done := e2e.WaitFor(60*time.Second, func() bool {
		b, _ := os.ReadFile(workerLog)
		return celeryJobsDone(string(b))
	})
	stop()
	if !done {
		b, _ := os.ReadFile(workerLog)
		return fmt.Errorf("celery: the worker did not run the jobs:\n%s", b)
	}
	return nil
}

func loopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// celeryJobsDone says whether Celery logged the end of every job: charge and
// notify (after its retry) succeeded, ship failed.
func celeryJobsDone(log string) bool {
	lines := strings.Split(log, "\n")
	for _, want := range [][2]string{{"charge", "succeeded in"}, {"notify", "succeeded in"}, {"ship", "raised unexpected"}} {
		found := false
		for _, line := range lines {
			if strings.Contains(line, "Task shop."+want[0]+"[") && strings.Contains(line, want[1]) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
