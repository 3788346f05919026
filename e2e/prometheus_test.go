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
