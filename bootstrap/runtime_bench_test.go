package bootstrap

import (
	"context"
	"io"
	"log/slog"
	"testing"

	sdklog "go.opentelemetry.io/otel/sdk/log"
)

type discardLogExporter struct{}

func (discardLogExporter) Export(context.Context, []sdklog.Record) error { return nil }
func (discardLogExporter) ForceFlush(context.Context) error              { return nil }
func (discardLogExporter) Shutdown(context.Context) error                { return nil }

func benchRuntime(b *testing.B, phase2 bool) *Runtime {
	rt := New(Options{Getenv: mapEnv(map[string]string{"TELEMETRY_ENABLED": "true", "LOG_LEVEL": "info"}),
		Output: io.Discard, testExporters: &exporters{logs: discardLogExporter{}}})
	if phase2 {
		if err := rt.InitTelemetry(context.Background()); err != nil {
			b.Fatal(err)
		}
	} else {
		_ = rt.InitConsoleOnly()
	}
	b.Cleanup(func() { _ = rt.Shutdown(context.Background()) })
	return rt
}

// BenchmarkLogPath is the host-thread cost of one record with three
// attributes: slog's own TextHandler to io.Discard as the baseline, ffitel in
// phase 1 (console + early buffer), and ffitel in phase 2 (console + OTLP
// export queue; the export itself runs on ffitel's goroutine).
func BenchmarkLogPath(b *testing.B) {
	attrs := []any{slog.Int("order_id", 42), slog.String("customer", "c-123"), slog.Bool("paid", true)}
	b.Run("slog.TextHandler", func(b *testing.B) {
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		b.ReportAllocs()
		for b.Loop() {
			log.Info("charged card", attrs...)
		}
	})
	b.Run("ffitel-phase1", func(b *testing.B) {
		log := benchRuntime(b, false).Logger()
		b.ReportAllocs()
		for b.Loop() {
			log.Info("charged card", attrs...)
		}
	})
	b.Run("ffitel-phase2", func(b *testing.B) {
		log := benchRuntime(b, true).Logger()
		b.ReportAllocs()
		for b.Loop() {
			log.Info("charged card", attrs...)
		}
	})
}
