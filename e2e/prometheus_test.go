package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/ffitel/ffitel/bootstrap"
	"github.com/ffitel/ffitel/e2e"
	"github.com/ffitel/ffitel/events"
)

func httpGet(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// startPrometheus runs Debian's Prometheus scraping target every second.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus is not installed (Debian package prometheus; make test installs it): %v", err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
scrape_configs:
  - job_name: ffitel
    static_configs:
      - targets: ['%s']
`, target)), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", e2e.FreePort(t))
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := "http://" + addr
	if !e2e.WaitFor(30*time.Second, func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}) {
		t.Fatalf("prometheus not ready:\n%s", logs.String())
	}
	return base
}

// promQuery returns the first sample value of query, or "".
func promQuery(t *testing.T, base, query string) string {
	t.Helper()
	_, body := httpGet(t, base+"/api/v1/query?query="+url.QueryEscape(query))
	var r struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	_ = json.Unmarshal([]byte(body), &r)
	if len(r.Data.Result) == 0 {
		return ""
	}
	v, _ := r.Data.Result[0].Value[1].(string)
	return v
}

func TestMetricsEndpointIsScrapedByPrometheus(t *testing.T) {
	env := map[string]string{"FFITEL_METRICS_ADDR": "127.0.0.1:0", "FFITEL_WORKER_ID": "prom-worker",
		"OTEL_SERVICE_NAME": "prom-e2e"}
	rt := bootstrap.New(bootstrap.Options{Getenv: func(k string) string { return env[k] }, Output: io.Discard})
	jobs, err := rt.MeterProvider().Meter("e2e").Int64Counter("e2e.jobs")
	if err != nil {
		t.Fatal(err)
	}
	jobs.Add(context.Background(), 3, metric.WithAttributes(attribute.String("queue", "mail"))) // phase 1
	if err := rt.InitTelemetry(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Shutdown(context.Background()) })
	jobs.Add(context.Background(), 4, metric.WithAttributes(attribute.String("queue", "mail")))
	addr := rt.MetricsEndpoint()
	if addr == "" {
		t.Fatal("the metrics endpoint did not start")
	}
	base := "http://" + addr

	if code, body := httpGet(t, base+"/healthz"); code != 200 || !strings.Contains(body, `"phase":"telemetry"`) {
		t.Errorf("/healthz %d %s", code, body)
	}
	if code, body := httpGet(t, base+"/metrics/events"); code != 200 || !strings.Contains(body, `"worker_id":"prom-worker"`) ||
		!strings.Contains(body, `"pipeline"`) {
		t.Errorf("/metrics/events %d %s", code, body)
	}
	if _, body := httpGet(t, base+"/metrics"); !strings.Contains(body, `e2e_jobs_total{`) {
		t.Errorf("/metrics lacks e2e_jobs_total:\n%s", body)
	}

	prom := startPrometheus(t, addr)
	var got string
	e2e.WaitFor(30*time.Second, func() bool {
		got = promQuery(t, prom, `sum by (queue) (e2e_jobs_total{queue="mail"})`)
		return got != ""
	})
	if got != "7" {
		t.Errorf("Prometheus sees e2e_jobs_total{queue=mail} = %q, want 7 (3 in phase 1 + 4 in phase 2)", got)
	}
}

// The four PromQL queries the reference documents answer on a healthy
// worker publishing domain events.
func TestDomainEventQueriesAnswerInPrometheus(t *testing.T) {
	env := map[string]string{"FFITEL_METRICS_ADDR": "127.0.0.1:0", "OTEL_SERVICE_NAME": "events-e2e",
		"FFITEL_EVENTS_DURABLE_URL": "file://" + filepath.Join(t.TempDir(), "events.jsonl")}
	rt := bootstrap.New(bootstrap.Options{Getenv: func(k string) string { return env[k] }, Output: io.Discard})
	if err := rt.InitTelemetry(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Shutdown(context.Background()) })
	addr := rt.MetricsEndpoint()
	if addr == "" {
		t.Fatal("the metrics endpoint did not start")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { // a healthy worker keeps publishing
		defer close(done)
		md := events.Metadata{Namespace: "payments", CorrelationID: "corr-prom", TaskUUID: "t-1"}
		for ctx.Err() == nil {
			for _, mode := range []events.DeliveryMode{events.Fast, events.Broadcast} {
				if _, err := rt.Events().Publish(ctx, "payment.processed", json.RawMessage(`{"amount":5}`), md, mode); err != nil {
					if ctx.Err() != nil {
						return // the test is over: a publish cut short by its end is no failure
					}
					t.Errorf("publish %v: %v", mode, err)
					return
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	defer func() { cancel(); <-done }()

	names := []string{"tasker_domain_events_published_total{", "tasker_domain_events_failed_total{",
		"tasker_domain_events_publish_duration_milliseconds_bucket{"}
	var body string
	// The publisher goroutine may not have published yet: wait for its
	// first events rather than racing it.
	e2e.WaitFor(30*time.Second, func() bool {
		_, body = httpGet(t, "http://"+addr+"/metrics")
		for _, name := range names {
			if !strings.Contains(body, name) {
				return false
			}
		}
		return true
	})
	for _, name := range names {
		if !strings.Contains(body, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	prom := startPrometheus(t, addr)
	queries := []string{
		`sum by (namespace) (rate(tasker_domain_events_published_total[5m]))`,
		`rate(tasker_domain_events_failed_total[5m]) / rate(tasker_domain_events_published_total[5m])`,
		`histogram_quantile(0.95, sum by (le) (rate(tasker_domain_events_publish_duration_milliseconds_bucket[5m])))`,
		`histogram_quantile(0.95, sum by (delivery_mode, le) (rate(tasker_domain_events_publish_duration_milliseconds_bucket[5m])))`,
	}
	for _, q := range queries {
		var got string
		e2e.WaitFor(30*time.Second, func() bool { got = promQuery(t, prom, q); return got != "" && got != "NaN" })
		if got == "" || got == "NaN" {
			t.Errorf("no data for %s (got %q)", q, got)
		}
	}
	if got := promQuery(t, prom, queries[1]); got != "0" {
		t.Errorf("failure rate on a healthy worker = %q, want 0", got)
	}
	if got := promQuery(t, prom, `sum(tasker_domain_events_failed_total)`); got != "0" {
		t.Errorf("failed total = %q, want 0", got)
	}
}
