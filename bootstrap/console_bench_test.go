package bootstrap

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"
)

// BenchmarkConsoleHandler runs the console handler and the standard slog
// handler of the same shape side by side on identical records: a message and
// three attributes (string, int, bool), alone ("record") and on a handler
// that carries three pre-formatted WithAttrs attributes ("withattrs").
func BenchmarkConsoleHandler(b *testing.B) {
	ctx := context.Background()
	record := slog.NewRecord(time.Now(), slog.LevelInfo, "charged card", 0)
	record.AddAttrs(slog.String("customer", "cus_42"), slog.Int("order_id", 42), slog.Bool("retry", false))
	with := []slog.Attr{slog.String("service", "payments"), slog.Int("worker", 7), slog.Bool("canary", true)}

	handlers := []struct {
		name string
		h    slog.Handler
	}{
		{"text/ffitel", NewConsoleHandler(io.Discard, &ConsoleOptions{Format: FormatText})},
		{"text/slog", slog.NewTextHandler(io.Discard, nil)},
		{"json/ffitel", NewConsoleHandler(io.Discard, &ConsoleOptions{Format: FormatJSON})},
		{"json/slog", slog.NewJSONHandler(io.Discard, nil)},
		{"color/ffitel", NewConsoleHandler(io.Discard, &ConsoleOptions{Format: FormatColor})},
	}
	for _, variant := range []string{"record", "withattrs"} {
		for _, tc := range handlers {
			h := tc.h
			if variant == "withattrs" {
				h = h.WithAttrs(with)
			}
			b.Run(variant+"/"+tc.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if h.Enabled(ctx, record.Level) {
						if err := h.Handle(ctx, record); err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		}
	}
}

// BenchmarkConsoleHandlerDisabled measures a record below the level: the
// cost every filtered-out debug line pays through a slog.Logger.
func BenchmarkConsoleHandlerDisabled(b *testing.B) {
	l := slog.New(NewConsoleHandler(io.Discard, nil))
	b.ReportAllocs()
	for b.Loop() {
		l.Debug("not written", "order_id", 42)
	}
}

// BenchmarkConsoleHandlerParallel measures contention on the shared lock
// through a slog.Logger, as a busy multi-threaded worker would.
func BenchmarkConsoleHandlerParallel(b *testing.B) {
	l := slog.New(NewConsoleHandler(io.Discard, &ConsoleOptions{Format: FormatJSON})).With("service", "payments")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Info("charged card", "customer", "cus_42", "order_id", 42, "retry", false)
		}
	})
}
