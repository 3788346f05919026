package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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

// BenchmarkPublishFromPython runs python/bench/bench_events.py against a real
// PostgreSQL and reports its publishes per second per path. b.N is the
// number of events per path.
func BenchmarkPublishFromPython(b *testing.B) {
	pg := e2e.StartPostgres(b)
	root := e2e.RepoRoot()
	cmd := exec.Command("python3", filepath.Join(root, "python", "bench", "bench_events.py"),
		strconv.Itoa(max(b.N, 100)), "fast", "durable", "broadcast")
	cmd.Env = append(os.Environ(), "FFITEL_EVENTS_DURABLE_URL="+pg.URL, "FFITEL_LOG_OUTPUT=none",
		"FFITEL_LIBRARY="+filepath.Join(root, "build", "libffitel.so"))
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("bench_events.py: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var mode string
		var rate float64
		if _, err := fmt.Sscanf(line, "%s %f", &mode, &rate); err == nil {
			b.ReportMetric(rate, mode+"-publishes/s")
		}
	}
}
