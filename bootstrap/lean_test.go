package bootstrap

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// This test binary imports neither bootstrap/promexport nor events/pgsink (a
// program importing only bootstrap): the endpoint still serves /healthz and
// /metrics/events, /metrics and a postgres:// durable URL name the import
// that is missing, and phase 2 says so once each.
func TestWithoutPrometheusAndPostgresImports(t *testing.T) {
	var out bytes.Buffer
	rt := New(Options{Output: &out, Getenv: mapEnv(map[string]string{
		"FFITEL_METRICS_ADDR":       "127.0.0.1:0",
		"FFITEL_EVENTS_DURABLE_URL": "postgres://app:pg-s3cret@127.0.0.1:1/events",
		"FFITEL_LOG_FORMAT":         "json",
	})})
	if err := rt.InitConsoleOnly(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rt.InitTelemetry(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rt.Shutdown(ctx) }()
	addr := rt.MetricsEndpoint()
	if addr == "" {
		t.Fatalf("no metrics endpoint; console:\n%s", out.String())
	}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	const promImport = `import _ "github.com/ffitel/ffitel/bootstrap/promexport"`
	if code, body := get("/metrics"); code != http.StatusNotImplemented || !strings.Contains(body, "not linked") ||
		!strings.Contains(body, promImport) {
		t.Fatalf("/metrics = %d %q, want 501 naming %s", code, body, promImport)
	}
	if code, body := get("/metrics/events"); code != http.StatusOK || !strings.Contains(body, "{") {
		t.Fatalf("/metrics/events = %d %q", code, body)
	}
	if code, _ := get("/healthz"); code == http.StatusNotFound {
		t.Fatal("/healthz not served")
	}
	console := out.String()
	if n := strings.Count(console, "Prometheus exporter is not linked"); n != 1 {
		t.Fatalf("%d warnings about the Prometheus exporter, want 1; console:\n%s", n, console)
	}
	if !strings.Contains(console, `events/pgsink`) || strings.Contains(console, "pg-s3cret") {
		t.Fatalf("console does not name events/pgsink for the postgres URL (or shows its password):\n%s", console)
	}
}
