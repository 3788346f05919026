package e2e_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/ffitel/ffitel/bootstrap"
	"github.com/ffitel/ffitel/e2e"
)

// BenchmarkSustainedExportToCollector measures end-to-end log throughput:
// b.N records logged through the phase-2 logger and flushed to a real
// Collector, reported as records/s delivered (the Collector, sharing the
// machine's cores, is usually the bottleneck).
func BenchmarkSustainedExportToCollector(b *testing.B) {
	col := e2e.StartCollector(b)
	env := map[string]string{"TELEMETRY_ENABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": col.GRPCEndpoint,
		"LOG_LEVEL": "info", "OTEL_BLRP_MAX_QUEUE_SIZE": "1048576"}
	for k, v := range env {
		b.Setenv(k, v)
	}
	rt := bootstrap.New(bootstrap.Options{Getenv: func(k string) string { return env[k] }, Output: io.Discard})
	if err := rt.InitTelemetry(context.Background()); err != nil {
		b.Fatal(err)
	}
	log := rt.Logger()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		log.Info("throughput", slog.Int("i", i), slog.String("k", "v"), slog.Bool("ok", true))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := rt.ForceFlush(ctx); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	st := rt.Stats()
	_ = rt.Shutdown(ctx)
	if st.Logs.Dropped+st.Logs.Failed > 0 {
		b.Fatalf("lost records: %+v", st.Logs)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
}
