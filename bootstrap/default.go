package bootstrap

import (
	"context"
	"log/slog"
	"sync"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/ffitel/ffitel/events"
	"github.com/ffitel/ffitel/metrics"
)

var (
	defaultOnce    sync.Once
	defaultRuntime *Runtime
)

// Default returns the process-wide Runtime used by the package-level
// functions. It reads the environment the first time it is called.
func Default() *Runtime {
	defaultOnce.Do(func() { defaultRuntime = New(Options{SetGlobals: true}) })
	return defaultRuntime
}

// InitConsoleOnly starts phase 1 on the process-wide Runtime and makes its
// logger slog's default. See Runtime.InitConsoleOnly.
func InitConsoleOnly() error { return Default().InitConsoleOnly() }

// InitTelemetry starts phase 2 on the process-wide Runtime and sets the
// OpenTelemetry globals. See Runtime.InitTelemetry.
func InitTelemetry(ctx context.Context) error { return Default().InitTelemetry(ctx) }

// Shutdown flushes and stops the process-wide Runtime. See Runtime.Shutdown.
func Shutdown(ctx context.Context) error { return Default().Shutdown(ctx) }

// Phase returns the state of the process-wide Runtime.
func Phase() State { return Default().Phase() }

// Logger returns the process-wide logger (also slog.Default after phase 1).
func Logger() *slog.Logger { return Default().Logger() }

// TracerProvider returns the process-wide tracer provider.
func TracerProvider() trace.TracerProvider { return Default().TracerProvider() }

// MeterProvider returns the process-wide meter provider.
func MeterProvider() metric.MeterProvider { return Default().MeterProvider() }

// Propagator returns the process-wide propagator.
func Propagator() propagation.TextMapPropagator { return Default().Propagator() }

// Tasks returns the process-wide job instrumentation.
func Tasks() *metrics.Tasks { return Default().Tasks() }

// Events returns the process-wide domain-event publisher.
func Events() *events.Publisher { return Default().Events() }

// Stats returns the process-wide pipeline accounting.
func Stats() metrics.PipelineStats { return Default().Stats() }

// Version is the ffitel version (also FFITEL_VERSION in ffitel.h).
const Version = "0.1.0"
