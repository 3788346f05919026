package bootstrap

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// newResource describes this process. Explicit settings come first, so that
// OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME (read by WithFromEnv) win.
func newResource(c Config) *resource.Resource {
	attrs := []attribute.KeyValue{
		semconv.ServiceName(c.ServiceName),
		semconv.DeploymentEnvironmentNameKey.String(c.Environment),
	}
	if c.ServiceVersion != "" {
		attrs = append(attrs, semconv.ServiceVersion(c.ServiceVersion))
	}
	res, err := resource.New(context.Background(),
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithAttributes(attrs...),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(),
	)
	if res == nil || err != nil && res.Len() == 0 {
		// A malformed OTEL_RESOURCE_ATTRIBUTES yields a partial resource
		// and an error: keep what was parsed, never fail.
		res = resource.NewWithAttributes(semconv.SchemaURL, attrs...)
	}
	return res
}

func newSampler(c Config) sdktrace.Sampler {
	switch c.Sampler {
	case "always_on":
		return sdktrace.AlwaysSample()
	case "always_off":
		return sdktrace.NeverSample()
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(c.SamplerArg)
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample())
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(c.SamplerArg))
	}
	return sdktrace.ParentBased(sdktrace.AlwaysSample())
}

func newPropagator(c Config) propagation.TextMapPropagator {
	var ps []propagation.TextMapPropagator
	for _, p := range c.Propagators {
		switch p {
		case "tracecontext":
			ps = append(ps, propagation.TraceContext{})
		case "baggage":
			ps = append(ps, propagation.Baggage{})
		}
	}
	return propagation.NewCompositeTextMapPropagator(ps...)
}

// spanProcessor feeds the export batcher from the TracerProvider.
type spanProcessor struct {
	b *batcher[sdktrace.ReadOnlySpan]
}

func (p spanProcessor) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (p spanProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	if s.SpanContext().IsSampled() {
		p.b.add(s)
	}
}
func (p spanProcessor) Shutdown(ctx context.Context) error   { return p.b.shutdown(ctx) }
func (p spanProcessor) ForceFlush(ctx context.Context) error { return p.b.flush(ctx) }

// metricPump exports collections of the phase-1 ManualReader. Because the
// reader has been aggregating since phase 1, the first export carries the
// counts made before the upgrade.
type metricPump struct {
	reader   *sdkmetric.ManualReader
	exporter sdkmetric.Exporter
	interval time.Duration
	timeout  time.Duration
	warn     func(msg string, args ...any)

	exports, failures atomic.Uint64
	stop              chan struct{}
	done              chan struct{}
}

func (m *metricPump) start() {
	m.stop, m.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(m.done)
		t := time.NewTicker(m.interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), m.timeout)
				m.exportOnce(ctx)
				cancel()
			case <-m.stop:
				return
			}
		}
	}()
}

func (m *metricPump) exportOnce(ctx context.Context) {
	var rm metricdata.ResourceMetrics
	if err := m.reader.Collect(ctx, &rm); err != nil {
		m.failures.Add(1)
		return
	}
	if err := m.exporter.Export(ctx, &rm); err != nil {
		if m.failures.Add(1) == 1 || m.failures.Load()%10 == 0 {
			m.warn("metric export failed", slog.String("error", err.Error()), slog.Uint64("failures", m.failures.Load()))
		}
		return
	}
	m.exports.Add(1)
}

// shutdown stops the ticker and sends a final collection within ctx.
func (m *metricPump) shutdown(ctx context.Context) {
	close(m.stop)
	select {
	case <-m.done:
	case <-ctx.Done():
		return
	}
	m.exportOnce(ctx)
}
