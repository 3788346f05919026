package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ffitel/ffitel/bootstrap"
	"github.com/ffitel/ffitel/e2e"
	"github.com/ffitel/ffitel/metrics"
)

// The burst of issue #12: 8 producers x 50 000 records with a live
// Collector, default queue sizes. The producers outrun the exporter; the
// backpressure policy (the default) makes them wait for room instead of
// dropping, so every record arrives. The tests allow each call a long wait
// (FFITEL_QUEUE_FULL_WAIT_MS): under the race detector on a shared machine
// one export can take longer than the 5 s default.
const burstThreads, burstPerThread = 8, 50000

const burstWait = "FFITEL_QUEUE_FULL_WAIT_MS=60000"

func TestGoBurstOf8x50000IsDeliveredWhole(t *testing.T) {
	col := e2e.StartCollector(t)
	getenv := setCollectorEnv(t, col, "OTEL_SERVICE_NAME=e2e-go-burst", "LOG_LEVEL=info", burstWait)
	rt := bootstrap.New(bootstrap.Options{Getenv: getenv, Output: io.Discard})
	if err := rt.InitTelemetry(context.Background()); err != nil {
		t.Fatal(err)
	}
	log := rt.Logger()
	var wg sync.WaitGroup
	for g := range burstThreads {
		wg.Go(func() {
			for i := range burstPerThread {
				log.Info("go burst record", slog.Int("thread", g), slog.Int("i", i))
			}
		})
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	if err := rt.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v (stats %+v)", err, rt.Stats().Logs)
	}
	checkBurstDelivered(t, col, "go burst record", rt.Stats().Logs)
}

func TestCBurstOf8x50000IsDeliveredWhole(t *testing.T) {
	bin := buildCProgram(t, "tests/c/burst.c", "-lpthread")
	col := e2e.StartCollector(t)
	st := runCBurst(t, bin, col.Env(), "150000", "OTEL_SERVICE_NAME=e2e-c-burst", "LOG_LEVEL=info",
		"FFITEL_LOG_OUTPUT=none", burstWait)
	checkBurstDelivered(t, col, "c burst record", st)
}

// The same burst with the spool on (docs/SPOOL.md): every record goes to
// disk before the call returns and is shipped from there; none is dropped,
// and the spool directory is empty after the shutdown.
func TestSpoolCBurstOf8x50000IsDeliveredWhole(t *testing.T) {
	bin := buildCProgram(t, "tests/c/burst.c", "-lpthread")
	col := e2e.StartCollector(t)
	dir := t.TempDir()
	st := runCBurst(t, bin, col.Env(), "150000", "OTEL_SERVICE_NAME=e2e-c-burst-spool", "LOG_LEVEL=info",
		"FFITEL_LOG_OUTPUT=none", "FFITEL_SPOOL_DIR="+dir, burstWait)
	checkBurstDelivered(t, col, "c burst record", st)
	left, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil || len(left) != 0 {
		t.Errorf("segments left in the spool after a complete shutdown: %v %v", left, err)
	}
}

// With the Collector down the producers never wait: the overflow is
// dropped and counted, and shutdown says what was not delivered.
func TestCBurstWithCollectorDownIsDroppedAndCounted(t *testing.T) {
	bin := buildCProgram(t, "tests/c/burst.c", "-lpthread")
	port := e2e.FreePort(t)
	env := []string{"TELEMETRY_ENABLED=true", fmt.Sprintf("OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:%d", port)}
	cmd := exec.Command(bin, "8", "20000", "1000")
	cmd.Env = append(os.Environ(), env...)
	cmd.Env = append(cmd.Env, "OTEL_SERVICE_NAME=e2e-c-burst-down", "LOG_LEVEL=info", "FFITEL_LOG_OUTPUT=stderr",
		"OTEL_BLRP_MAX_QUEUE_SIZE=4096")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("burst: %v\n%s", err, stderr.String())
	}
	st := parseBurstStats(t, out)
	if st.Emitted < 160000 || st.Exported != 0 {
		t.Errorf("stats %+v: want all 160000 emitted and none exported to a closed port", st)
	}
	if st.Dropped == 0 || st.Dropped+st.Failed != st.Emitted || st.Pending != 0 {
		t.Errorf("stats %+v: the overflow must be dropped and counted, nothing pending", st)
	}
	// The shutdown's last word states what was not delivered.
	if !strings.Contains(stderr.String(), "not delivered") {
		t.Errorf("no shutdown line about undelivered records in:\n%s", tail(stderr.String(), 2000))
	}
}

func buildCProgram(t *testing.T, src string, libs ...string) string {
	t.Helper()
	root := e2e.RepoRoot()
	lib := filepath.Join(root, "build", "libffitel.so")
	if _, err := os.Stat(lib); err != nil {
		t.Fatalf("%s is missing: run `make build` first (make test does): %v", lib, err)
	}
	bin := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(src), ".c"))
	args := []string{"-O1", "-Wall", "-I" + filepath.Join(root, "cshim", "include"), "-o", bin,
		filepath.Join(root, src), "-L" + filepath.Join(root, "build"), "-lffitel",
		"-Wl,-rpath," + filepath.Join(root, "build")}
	cmd := exec.Command("cc", append(args, libs...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("compile %s: %v\n%s", src, err, out)
	}
	return bin
}

func runCBurst(t *testing.T, bin string, env []string, shutdownMS string, extra ...string) metrics.SignalStats {
	t.Helper()
	cmd := exec.Command(bin, fmt.Sprint(burstThreads), fmt.Sprint(burstPerThread), shutdownMS)
	cmd.Env = append(append(os.Environ(), env...), extra...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("burst: %v\n%s", err, tail(stderr.String(), 2000))
	}
	return parseBurstStats(t, out)
}

func parseBurstStats(t *testing.T, out []byte) metrics.SignalStats {
	t.Helper()
	lines := strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)
	if len(lines) != 2 {
		t.Fatalf("burst printed %q", out)
	}
	var doc struct {
		Pipeline struct {
			Logs metrics.SignalStats `json:"logs"`
		} `json:"pipeline"`
	}
	if err := json.Unmarshal([]byte(lines[1]), &doc); err != nil {
		t.Fatalf("stats: %v in %q", err, lines[1])
	}
	return doc.Pipeline.Logs
}

func checkBurstDelivered(t *testing.T, col *e2e.Collector, body string, st metrics.SignalStats) {
	t.Helper()
	want := burstThreads * burstPerThread
	if st.Emitted < uint64(want) || st.Dropped != 0 || st.Failed != 0 || st.Pending != 0 {
		t.Errorf("stats %+v: want %d emitted, none dropped, failed or pending", st, want)
	}
	e2e.WaitFor(60*time.Second, func() bool { return col.CountLogBodies(body) >= want })
	if got := col.CountLogBodies(body); got != want {
		t.Errorf("the Collector received %d of %d %q records (stats %+v)", got, want, body, st)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
