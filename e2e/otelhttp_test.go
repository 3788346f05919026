package e2e_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"

	"github.com/ffitel/ffitel/bootstrap"
	"github.com/ffitel/ffitel/e2e"
)

// An otelhttp-instrumented client call inside a bootstrap span joins its
// trace: phase 2 sets the OpenTelemetry globals (SetGlobals), which is what
// otelhttp reads, so the client span is a child of the bootstrap span, is
// exported through the Runtime, and the server receives its traceparent.
func TestOtelhttpClientJoinsTheBootstrapTrace(t *testing.T) {
	tp, mp, prop := otel.GetTracerProvider(), otel.GetMeterProvider(), otel.GetTextMapPropagator()
	t.Cleanup(func() {
		otel.SetTracerProvider(tp)
		otel.SetMeterProvider(mp)
		otel.SetTextMapPropagator(prop)
	})
	col := e2e.StartCollector(t)
	getenv := setCollectorEnv(t, col, "OTEL_SERVICE_NAME=e2e-otelhttp")
	rt := bootstrap.New(bootstrap.Options{Getenv: getenv, Output: io.Discard, SetGlobals: true})
	ctx := context.Background()
	if err := rt.InitTelemetry(ctx); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var received []string
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		received = append(received, r.Header.Get("traceparent"))
		mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}))
	defer server.Close()

	client := &http.Client{Transport: otelhttp.NewTransport(http.DefaultTransport)}
	sctx, parent := rt.TracerProvider().Tracer("e2e").Start(ctx, "bootstrap parent")
	req, err := http.NewRequestWithContext(sctx, http.MethodGet, server.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	parent.End()
	traceID := parent.SpanContext().TraceID().String()
	if err := rt.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	got := append([]string(nil), received...)
	mu.Unlock()
	if len(got) != 1 || got[0] == "" {
		t.Fatalf("the server received traceparents %q, want one", got)
	}
	parts := strings.Split(got[0], "-")
	if len(parts) != 4 || parts[1] != traceID {
		t.Fatalf("server traceparent %q is not in trace %s", got[0], traceID)
	}

	var client0, parent0 *e2e.Span
	if !e2e.WaitFor(15*time.Second, func() bool {
		spans, _ := col.Spans()
		client0, parent0 = nil, nil
		for i := range spans {
			s := &spans[i]
			if s.TraceID != traceID {
				continue
			}
			if s.Name == "bootstrap parent" {
				parent0 = s
			} else if s.Kind == 3 { // CLIENT
				client0 = s
			}
		}
		return client0 != nil && parent0 != nil
	}) {
		t.Fatal("the bootstrap span and the otelhttp client span did not both arrive")
	}
	if client0.ParentSpanID != parent0.SpanID {
		t.Errorf("client span parent %s, want the bootstrap span %s", client0.ParentSpanID, parent0.SpanID)
	}
	if parts[2] != client0.SpanID {
		t.Errorf("server traceparent span id %s, want the client span %s", parts[2], client0.SpanID)
	}
	if client0.Scope.Name != "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp" {
		t.Errorf("client span scope %q", client0.Scope.Name)
	}
}
