package bootstrap

import (
	"context"
	"errors"
	"log/slog"
	"sync"
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
// process.pid tells apart the processes of one service on one host, say the
// pool processes of a pre-forking worker (each loads the library after the
// fork, so each reports its own pid).
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
		resource.WithProcessPID(),
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

// spanRouter is the TracerProvider's one span processor, registered in
// phase 1 so that spans ended before the upgrade are kept: in phase 1 it
// keeps the last FFITEL_EARLY_BUFFER ended spans (older ones are counted as
// overflowed), at the upgrade it hands them to the export queue and from then
// on forwards every ended span there. It starts no goroutine.
type spanRouter struct {
	mu         sync.Mutex
	ring       []sdktrace.ReadOnlySpan
	start, n   int
	closed     bool // drained: forward to target, or drop if target is nil
	target     *batcher[sdktrace.ReadOnlySpan]
	overflowed uint64
	replayed   uint64
	discarded  uint64
}

func newSpanRouter(capacity int) *spanRouter {
	return &spanRouter{ring: make([]sdktrace.ReadOnlySpan, 0, min(capacity, 64)), n: capacity}
}

func (p *spanRouter) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

func (p *spanRouter) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return
	}
	p.mu.Lock()
	if p.closed {
		target := p.target
		p.mu.Unlock()
		if target != nil {
			target.add(s)
		}
		return
	}
	defer p.mu.Unlock()
	if p.n == 0 {
		p.overflowed++
		return
	}
	if len(p.ring) < p.n {
		p.ring = append(p.ring, s)
		return
	}
	p.ring[p.start] = s
	p.start = (p.start + 1) % p.n
	p.overflowed++
}

// upgrade hands the kept spans to target (nil: export is off, they are
// discarded and counted) and forwards later spans there. Holding the lock
// while queueing keeps the early spans ahead of any span ended meanwhile.
func (p *spanRouter) upgrade(target *batcher[sdktrace.ReadOnlySpan]) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed, p.target = true, target
	kept := append(p.ring[p.start:], p.ring[:p.start]...)
	p.ring, p.start = nil, 0
	if target == nil {
		p.discarded += uint64(len(kept))
		return
	}
	for _, s := range kept {
		if target.add(s) {
			p.replayed++
		}
	}
}

func (p *spanRouter) stats() (buffered, overflowed, replayed, discarded uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return uint64(len(p.ring)), p.overflowed, p.replayed, p.discarded
}

func (p *spanRouter) Shutdown(context.Context) error   { return nil }
func (p *spanRouter) ForceFlush(context.Context) error { return nil }

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
		defer func() {
			if r := recover(); r != nil { // never kill the host process
				m.failures.Add(1)
				m.warn("metric export stopped", slog.Any("panic", r))
			}
		}()
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

// shutdown stops the ticker and sends a final collection within ctx. A
// final collection that could not be sent is counted as a failure.
func (m *metricPump) shutdown(ctx context.Context) error {
	close(m.stop)
	select {
	case <-m.done:
	case <-ctx.Done():
		m.failures.Add(1)
		return ctx.Err()
	}
	before := m.failures.Load()
	m.exportOnce(ctx)
	if m.failures.Load() != before {
		return errors.New("final metric export failed")
	}
	return nil
}
