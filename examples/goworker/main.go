// Command goworker is a small ffitel worker: it logs in phase 1 while it
// "wires up its bridge", upgrades to phase 2, processes a few jobs with
// spans, logs and counters, and shuts down. `make demo` runs it against a
// real OpenTelemetry Collector.
//
// It imports only bootstrap, so it links neither pgx nor the Prometheus
// client. A worker that wants FFITEL_METRICS_ADDR's Prometheus text or a
// postgres:// FFITEL_EVENTS_DURABLE_URL adds
//
//	import (
//		_ "github.com/ffitel/ffitel/bootstrap/promexport"
//		_ "github.com/ffitel/ffitel/events/pgsink"
//	)
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/ffitel/ffitel/bootstrap"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "goworker:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx := context.Background()

	// Phase 1: console only, safe before anything else is ready.
	if err := bootstrap.InitConsoleOnly(); err != nil {
		return err
	}
	log := slog.Default().With(slog.String("worker", "goworker"))
	jobs, err := bootstrap.MeterProvider().Meter("goworker").Int64Counter("goworker.jobs",
		metric.WithUnit("{job}"), metric.WithDescription("jobs processed"))
	if err != nil {
		return err
	}
	log.Info("starting; wiring up the bridge")
	jobs.Add(ctx, 1, metric.WithAttributes(attribute.String("queue", "warmup"), attribute.String("outcome", "ok")))
	time.Sleep(20 * time.Millisecond)
	log.Debug("bridge ready")

	// Phase 2: the same logger, now exported too.
	if err := bootstrap.InitTelemetry(ctx); err != nil {
		return err
	}
	defer func() {
		if err := bootstrap.Shutdown(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "goworker: shutdown:", err)
		}
	}()

	tracer := bootstrap.TracerProvider().Tracer("goworker")
	for i := 1; i <= 3; i++ {
		jobCtx := bootstrap.WithFields(ctx, slog.String("correlation_id", fmt.Sprintf("corr-%d", i)))
		jobCtx, span := tracer.Start(jobCtx, "process job", trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(attribute.Int("job.number", i)))
		log.InfoContext(jobCtx, "processing job", slog.Int("job", i))
		outcome := "ok"
		if err := step(jobCtx, tracer, log, i); err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
			log.ErrorContext(jobCtx, "job failed", slog.Int("job", i), slog.String("error", err.Error()))
			outcome = "error"
		}
		jobs.Add(jobCtx, 1, metric.WithAttributes(attribute.String("queue", "main"), attribute.String("outcome", outcome)))
		span.End()
	}
	log.Info("all jobs done", slog.Any("stats", bootstrap.Stats()))
	return nil
}

func step(ctx context.Context, tracer trace.Tracer, log *slog.Logger, i int) error {
	ctx, span := tracer.Start(ctx, "charge card", trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	time.Sleep(5 * time.Millisecond)
	if i == 3 {
		return errors.New("card declined")
	}
	log.DebugContext(ctx, "card charged", slog.Int("amount_cents", 500*i))
	return nil
}
