package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ffitel/ffitel/bootstrap"
	"github.com/ffitel/ffitel/e2e"
	"github.com/ffitel/ffitel/metrics"
)

// promSamples parses Prometheus text exposition into name{labels} -> value.
func promSamples(t *testing.T, body string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// sampleNames returns the metric names of samples (without labels).
func sampleNames(samples map[string]float64) map[string]bool {
	names := map[string]bool{}
	for k := range samples {
		name, _, _ := strings.Cut(k, "{")
		names[name] = true
	}
	return names
}

// rulesMetricNames returns every ffitel_* metric name used in the Prometheus
// rules: the series the rules read, not the recorded ones (level:name:op).
func rulesMetricNames(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e2e.RepoRoot(), "deploy", "prometheus", "ffitel-rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`[A-Za-z_:]*ffitel_[a-z_]+[a-z:_0-9]*`)
	seen := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, m := range re.FindAllString(line, -1) {
			if strings.Contains(m, ":") || !strings.HasPrefix(m, "ffitel_") {
				continue // a recording rule's name
			}
			seen[m] = true
		}
	}
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) < 10 {
		t.Fatalf("found only %v in the rules", names)
	}
	return names
}

// The pipeline metrics on a real /metrics: every ffitel_* name the rules
// read is there, the counters agree with the stats document, and the same
// figures reach the Collector over OTLP.
func TestPipelineMetricsOnMetricsAgreeWithStats(t *testing.T) {
	col := e2e.StartCollector(t)
	getenv := setCollectorEnv(t, col, "OTEL_SERVICE_NAME=e2e-selfmetrics", "FFITEL_METRICS_ADDR=127.0.0.1:0",
		"FFITEL_EARLY_BUFFER=4")
	rt := bootstrap.New(bootstrap.Options{Getenv: getenv, Output: io.Discard})
	if err := rt.InitConsoleOnly(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ { // 6 overflow the early buffer of 4
		rt.Logger().Info("phase one", slog.Int("i", i))
	}
	if err := rt.InitTelemetry(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Shutdown(context.Background()) })
	const logs, spans = 300, 40
	for i := 0; i < logs; i++ {
		rt.Logger().Info("self metrics", slog.Int("i", i))
	}
	tr := rt.TracerProvider().Tracer("e2e")
	for i := 0; i < spans; i++ {
		_, s := tr.Start(context.Background(), "work")
		s.End()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rt.ForceFlush(ctx); err != nil { // also sends one metric collection
		t.Fatal(err)
	}
	st := rt.Stats()
	// ffitel's own notices (the configuration line) are records too.
	if st.Logs.Exported < logs+4 || st.Logs.Exported != st.Logs.Emitted || st.Spans.Exported != spans || st.Early.Overflowed < 6 {
		t.Fatalf("stats after flush: logs %+v spans %+v early %+v", st.Logs, st.Spans, st.Early)
	}
	addr := rt.MetricsEndpoint()
	if addr == "" {
		t.Fatal("the metrics endpoint did not start")
	}
	code, body := httpGet(t, "http://"+addr+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics %d", code)
	}
	samples := promSamples(t, body)
	names := sampleNames(samples)
	for _, n := range rulesMetricNames(t) {
		if !names[n] {
			t.Errorf("%s (used by deploy/prometheus/ffitel-rules.yml) is not on /metrics", n)
		}
	}
	want := map[string]uint64{
		"ffitel_logs_emitted_total":                         st.Logs.Emitted,
		"ffitel_logs_exported_total":                        st.Logs.Exported,
		"ffitel_logs_dropped_total":                         st.Logs.Dropped,
		"ffitel_logs_failed_total":                          st.Logs.Failed,
		"ffitel_logs_queue_depth":                           st.Logs.Pending,
		"ffitel_spans_emitted_total":                        st.Spans.Emitted,
		"ffitel_spans_exported_total":                       st.Spans.Exported,
		"ffitel_spans_dropped_total":                        st.Spans.Dropped,
		"ffitel_spans_failed_total":                         st.Spans.Failed,
		"ffitel_spans_queue_depth":                          st.Spans.Pending,
		`ffitel_early_buffer_overflow_total{signal="logs"}`: st.Early.Overflowed,
		"ffitel_input_errors_total":                         st.InputErrors,
		"ffitel_events_routing_errors_total":                0,
		"ffitel_events_ffi_channel_drops_total":             0,
		`ffitel_export_healthy{signal="logs"}`:              1,
		`ffitel_export_healthy{signal="traces"}`:            1,
		`ffitel_export_healthy{signal="metrics"}`:           1,
	}
	for k, v := range want {
		got, ok := samples[k]
		if !ok {
			t.Errorf("/metrics has no sample %s", k)
			continue
		}
		if got != float64(v) {
			t.Errorf("/metrics %s = %v, stats say %d", k, got, v)
		}
	}
	for _, sig := range []string{"logs", "traces", "metrics"} {
		ts := samples[`ffitel_last_export_success_timestamp_seconds{signal="`+sig+`"}`]
		if ts < float64(time.Now().Add(-time.Minute).Unix()) || ts > float64(time.Now().Unix()+1) {
			t.Errorf("last export success of %s at %v, want within the last minute", sig, ts)
		}
		if n := samples[`ffitel_export_duration_seconds_count{signal="`+sig+`"}`]; n < 1 {
			t.Errorf("ffitel_export_duration_seconds_count{signal=%q} = %v, want >= 1", sig, n)
		}
	}
	t.Logf("rules read %v", rulesMetricNames(t))
	if t.Failed() || os.Getenv("FFITEL_DUMP") != "" {
		t.Logf("/metrics:\n%s", body)
	}

	// The same counters over OTLP, as the Collector received them.
	if !e2e.WaitFor(30*time.Second, func() bool {
		ms, _ := col.Metrics()
		v, ok := e2e.LastSum(ms, "ffitel.logs.exported", "", "")
		return ok && v == float64(st.Logs.Exported)
	}) {
		ms, _ := col.Metrics()
		v, ok := e2e.LastSum(ms, "ffitel.logs.exported", "", "")
		t.Errorf("the Collector has ffitel.logs.exported = %v (found %v), want %d", v, ok, st.Logs.Exported)
	}
}

// startCollectorOn starts a Collector on fixed ports (a restart on the same
// address), writing into a new directory; extra configuration files from
// e2e/collector are merged over config.yaml.
func startCollectorOn(t *testing.T, grpcPort, httpPort int, extra ...string) *e2e.Collector {
	t.Helper()
	dir := t.TempDir()
	configs := []string{filepath.Join(e2e.RepoRoot(), "e2e", "collector", "config.yaml")}
	for _, name := range extra {
		configs = append(configs, filepath.Join(e2e.RepoRoot(), "e2e", "collector", name))
	}
	c, err := e2e.StartProcess(e2e.ProcessSpec{
		Binary:  e2e.CollectorBinary(),
		Configs: configs,
		Env: []string{"FFITEL_COLLECTOR_OUT=" + dir,
			"FFITEL_COLLECTOR_GRPC_PORT=" + strconv.Itoa(grpcPort),
			"FFITEL_COLLECTOR_HTTP_PORT=" + strconv.Itoa(httpPort)},
		GRPCPort: grpcPort, HTTPPort: httpPort, Dir: dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

func getHealth(t *testing.T, base string) (int, metrics.Health) {
	t.Helper()
	code, body := httpGet(t, base+"/healthz")
	var h metrics.Health
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatalf("/healthz %d %q: %v", code, body, err)
	}
	return code, h
}

// /healthz says degraded (503, with the reason and the last successful
// export per signal) while the Collector is down, and ok again once it is
// back on the same address; ffitel_export_healthy follows.
func TestHealthzDegradedWhileCollectorDownThenOK(t *testing.T) {
	grpcPort, httpPort := e2e.FreePort(t), e2e.FreePort(t)
	first := startCollectorOn(t, grpcPort, httpPort)
	// Short export timeouts and threshold keep the test quick; the
	// assertions wait for states, never for a time.
	getenv := setCollectorEnv(t, first, "OTEL_SERVICE_NAME=e2e-health", "FFITEL_METRICS_ADDR=127.0.0.1:0",
		"FFITEL_HEALTH_FAIL_AFTER_MS=1000", "OTEL_BLRP_EXPORT_TIMEOUT=1000", "OTEL_BSP_EXPORT_TIMEOUT=1000",
		"OTEL_METRIC_EXPORT_TIMEOUT=1000")
	rt := bootstrap.New(bootstrap.Options{Getenv: getenv, Output: io.Discard})
	if err := rt.InitTelemetry(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Shutdown(context.Background()) })
	base := "http://" + rt.MetricsEndpoint()

	// A worker keeps logging and tracing throughout.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tr := rt.TracerProvider().Tracer("e2e")
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			rt.Logger().Info("tick", slog.Int("i", i))
			_, s := tr.Start(context.Background(), "tick")
			s.End()
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	var code int
	var h metrics.Health
	healthyAll := func() bool {
		code, h = getHealth(t, base)
		if code != 200 || h.Status != "ok" || len(h.Signals) != 3 {
			return false
		}
		for _, s := range h.Signals {
			if !s.Healthy || s.LastSuccess == nil {
				return false
			}
		}
		return true
	}
	if !e2e.WaitFor(30*time.Second, healthyAll) {
		t.Fatalf("/healthz never ok with every signal exported: %d %+v", code, h)
	}

	first.Stop()
	stoppedAt := time.Now()
	if !e2e.WaitFor(60*time.Second, func() bool {
		code, h = getHealth(t, base)
		return code == 503 && h.Status == "degraded" && !h.Signals["logs"].Healthy && !h.Signals["traces"].Healthy &&
			!h.Signals["metrics"].Healthy
	}) {
		t.Fatalf("/healthz not degraded on every signal with the Collector down: %d %+v", code, h)
	}
	if len(h.Reasons) == 0 {
		t.Errorf("degraded without a reason: %+v", h)
	}
	for sig, s := range h.Signals {
		if s.LastSuccess == nil || s.LastSuccess.After(stoppedAt) {
			t.Errorf("%s: last success %v, want before the Collector stopped (%v)", sig, s.LastSuccess, stoppedAt)
		}
	}
	_, body := httpGet(t, base+"/metrics")
	samples := promSamples(t, body)
	for _, sig := range []string{"logs", "traces", "metrics"} {
		if v, ok := samples[`ffitel_export_healthy{signal="`+sig+`"}`]; !ok || v != 0 {
			t.Errorf("ffitel_export_healthy{signal=%q} = %v (present %v) with the Collector down, want 0", sig, v, ok)
		}
	}
	t.Logf("degraded: %s", strings.Join(h.Reasons, "; "))

	startCollectorOn(t, grpcPort, httpPort)
	if !e2e.WaitFor(120*time.Second, healthyAll) {
		t.Fatalf("/healthz not ok again after the Collector came back: %d %+v", code, h)
	}
	for sig, s := range h.Signals {
		if !s.LastSuccess.After(stoppedAt) {
			t.Errorf("%s: last success %v, want after the restart", sig, s.LastSuccess)
		}
	}
}

// freePortRange returns the first of n consecutive loopback ports nobody
// listens on now.
func freePortRange(t *testing.T, n int) int {
	t.Helper()
	for attempt := 0; attempt < 50; attempt++ {
		base := e2e.FreePort(t)
		if base+n > 65535 {
			continue
		}
		ok := true
		for p := base; p < base+n && ok; p++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatalf("no %d consecutive free ports", n)
	return 0
}

// A prefork pool of 4 processes (4 Python interpreters, each loading
// libffitel.so) shares FFITEL_METRICS_ADDR as a port range: each binds its
// own port, and a real Prometheus scraping the range sees all 4 up, each
// with its own pipeline metrics.
func TestPrometheusSeesEveryProcessOfAPool(t *testing.T) {
	root := e2e.RepoRoot()
	if _, err := os.Stat(filepath.Join(root, "build", "libffitel.so")); err != nil {
		t.Fatalf("build/libffitel.so is missing: run `make build` first: %v", err)
	}
	const pool = 4
	col := e2e.StartCollector(t)
	base := freePortRange(t, pool)
	addr := fmt.Sprintf("127.0.0.1:%d-%d", base, base+pool-1)
	script := `
import sys, ffitel
ffitel.init_telemetry()
ffitel.info("worker ready")
print(ffitel.stats()["worker_id"], flush=True)
sys.stdin.read()
ffitel.shutdown(timeout=5.0)
`
	var workers []*exec.Cmd
	for i := 0; i < pool; i++ {
		cmd := exec.Command("python3", "-c", script)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), col.Env()...)
		cmd.Env = append(cmd.Env, "OTEL_SERVICE_NAME=pool", "FFITEL_METRICS_ADDR="+addr,
			"FFITEL_LIBRARY="+filepath.Join(root, "build", "libffitel.so"),
			"PYTHONPATH="+filepath.Join(root, "python", "src"))
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			stdin.Close()
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		})
		// Started one after the other, as a process manager does: each
		// takes the next free port.
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			t.Fatalf("worker %d did not start: %v\n%s", i, err, stderr.String())
		}
		t.Logf("worker %d: %s", i, strings.TrimSpace(line))
		workers = append(workers, cmd)
	}

	var targets []string
	for p := base; p < base+pool; p++ {
		targets = append(targets, fmt.Sprintf("127.0.0.1:%d", p))
		code, body := httpGet(t, "http://"+targets[len(targets)-1]+"/healthz")
		if code != 200 {
			t.Errorf("worker on port %d: /healthz %d %s", p, code, body)
		}
	}
	prom := startPrometheus(t, strings.Join(targets, "', '"))
	var up, emitting string
	if !e2e.WaitFor(60*time.Second, func() bool {
		up = promQuery(t, prom, `count(up{job="ffitel"} == 1)`)
		emitting = promQuery(t, prom, `count(ffitel_logs_emitted_total{job="ffitel"} >= 1)`)
		return up == "4" && emitting == "4"
	}) {
		t.Fatalf("Prometheus sees %q targets up and %q processes with ffitel_logs_emitted_total, want 4 and 4", up, emitting)
	}
	if pids := promQuery(t, prom, `count(count by (instance) (ffitel_export_healthy{job="ffitel"}))`); pids != "4" {
		t.Errorf("ffitel_export_healthy from %q instances, want 4", pids)
	}
}
