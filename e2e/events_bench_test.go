package e2e_test

import (
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"testing"

	"github.com/ffitel/ffitel/bootstrap"
	"github.com/ffitel/ffitel/e2e"
	"github.com/ffitel/ffitel/events"
)

// BenchmarkPublish is domain-event publishes per second per path, through
// the whole publisher (span, metrics, routing): fast (in-process, one poll
// subscriber), durable to a real PostgreSQL, broadcast to both, and durable
// to a JSONL file for comparison.
func BenchmarkPublish(b *testing.B) {
	pg := e2e.StartPostgres(b)
	for _, c := range []struct {
		name string
		url  string
		mode events.DeliveryMode
	}{
		{"fast", "", events.Fast},
		{"durable-postgres", pg.URL, events.Durable},
		{"broadcast-postgres", pg.URL, events.Broadcast},
		{"durable-file", "file://" + filepath.Join(b.TempDir(), "events.jsonl"), events.Durable},
	} {
		b.Run(c.name, func(b *testing.B) {
			env := map[string]string{"FFITEL_EVENTS_DURABLE_URL": c.url, "LOG_LEVEL": "info"}
			rt := bootstrap.New(bootstrap.Options{Getenv: func(k string) string { return env[k] }, Output: io.Discard})
			if err := rt.InitTelemetry(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer rt.Shutdown(context.Background())
			sub := rt.Events().Router().Bus().SubscribeQueue("*", events.DefaultQueueCapacity)
			defer sub.Close()
			md := events.Metadata{Namespace: "bench", CorrelationID: "corr-bench", TaskUUID: "t"}
			payload := json.RawMessage(`{"amount":5,"currency":"EUR"}`)
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := rt.Events().Publish(ctx, "payment.processed", payload, md, c.mode); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "publishes/s")
		})
	}
}
