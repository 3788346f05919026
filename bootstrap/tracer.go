package bootstrap

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
	"go.opentelemetry.io/otel/trace/noop"
)

// tracerProvider is ffitel's TracerProvider. Its spans record what the
// OpenTelemetry SDK's spans record (sampler, span limits, dropped counts,
// status rules, events, links, exception events, the panic event of End;
// tracer_test.go runs the same calls on both and compares the ended spans
// field by field), and they are the SDK's ReadOnlySpan, so every span
// processor (the span router, the spool, span metrics, the exporters) takes
// them unchanged.
//
// What it saves is work per span: one allocation where the SDK makes three
// (the span, its attribute slice, the snapshot End hands to processors: an
// ended span here is frozen and handed over as it is), and no lock to read an
// ended span. The export path packs the span at End, so the span itself is
// garbage right after; at 10 000 spans/s the SDK's spans made the runtime
// collect about ten times a second (docs/PERFORMANCE.md).
//
// Rare cases go through the SDK itself rather than a copy of its rules:
// composite or length-limited attribute values, event, link and exception
// attributes, and instrumentation scopes are normalised by a private SDK
// tracer with the same limits (normalizer).
type tracerProvider struct {
	embedded.TracerProvider

	res     *resource.Resource
	sampler sdktrace.Sampler
	// parentAlwaysOn: sampler is the default ParentBased(AlwaysSample()),
	// decided in Start without the call (same result, tracer_test.go).
	parentAlwaysOn bool
	ids            sdktrace.IDGenerator
	limits         sdktrace.SpanLimits
	norm           *normalizer

	mu       sync.Mutex
	tracers  map[instrumentation.Scope]*tracer
	byName   map[tracerKey]*tracer // the scopes asked for before, by their options
	procs    atomic.Pointer[[]sdktrace.SpanProcessor]
	isClosed atomic.Bool
}

var _ trace.TracerProvider = (*tracerProvider)(nil)

// tracerKey is a Tracer call without instrumentation attributes (the common
// case), so repeated calls skip the normaliser.
type tracerKey struct{ name, version, schema string }

func newTracerProvider(res *resource.Resource, sampler sdktrace.Sampler, ids sdktrace.IDGenerator,
	limits sdktrace.SpanLimits, procs ...sdktrace.SpanProcessor) *tracerProvider {
	if sampler == nil {
		sampler = sdktrace.ParentBased(sdktrace.AlwaysSample())
	}
	if ids == nil {
		ids = newIDGenerator()
	}
	if res == nil {
		res = resource.Empty()
	}
	p := &tracerProvider{res: res, sampler: sampler, ids: ids, limits: limits, norm: newNormalizer(limits),
		tracers: map[instrumentation.Scope]*tracer{}, byName: map[tracerKey]*tracer{}}
	p.parentAlwaysOn = sampler.Description() == defaultSamplerDescription
	ps := append([]sdktrace.SpanProcessor(nil), procs...)
	p.procs.Store(&ps)
	return p
}

// Tracer returns the tracer of an instrumentation scope; after Shutdown, a
// tracer that records nothing (as the SDK's).
func (p *tracerProvider) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	if p.isClosed.Load() {
		return noop.NewTracerProvider().Tracer(name, opts...)
	}
	c := trace.NewTracerConfig(opts...)
	attrs := c.InstrumentationAttributes()
	key, plain := tracerKey{name, c.InstrumentationVersion(), c.SchemaURL()}, attrs.Len() == 0
	if plain {
		p.mu.Lock()
		t := p.byName[key]
		p.mu.Unlock()
		if t != nil {
			return t
		}
	}
	scope := p.norm.scope(name, opts)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.isClosed.Load() {
		return noop.NewTracerProvider().Tracer(name, opts...)
	}
	t := p.tracers[scope]
	if t == nil {
		t = &tracer{p: p, scope: scope}
		p.tracers[scope] = t
	}
	if plain {
		p.byName[key] = t
	}
	return t
}

// RegisterSpanProcessor adds a processor for spans started from now on.
func (p *tracerProvider) RegisterSpanProcessor(sp sdktrace.SpanProcessor) {
	if p.isClosed.Load() {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.isClosed.Load() {
		return
	}
	ps := append(append([]sdktrace.SpanProcessor(nil), *p.procs.Load()...), sp)
	p.procs.Store(&ps)
}

// ForceFlush flushes every processor.
func (p *tracerProvider) ForceFlush(ctx context.Context) error {
	var err error
	for _, sp := range *p.procs.Load() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		err = errors.Join(err, sp.ForceFlush(ctx))
	}
	return err
}

// Shutdown shuts every processor down once; spans ended later go nowhere
// and tracers asked for later record nothing.
func (p *tracerProvider) Shutdown(ctx context.Context) error {
	if p.isClosed.Load() {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.isClosed.CompareAndSwap(false, true) {
		return nil
	}
	// As the SDK: the processors shut down first (a span ended meanwhile
	// still reaches them, and they count it), then spans go nowhere.
	var err error
	for _, sp := range *p.procs.Load() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		err = errors.Join(err, sp.Shutdown(ctx))
	}
	p.procs.Store(&[]sdktrace.SpanProcessor{})
	return err
}

// defaultSamplerDescription names the SDK's ParentBased(AlwaysSample())
// with its default delegates.
var defaultSamplerDescription = sdktrace.ParentBased(sdktrace.AlwaysSample()).Description()

// sampleParentAlwaysOn is ParentBased(AlwaysSample())'s decision: a valid
// parent's sampled flag (AlwaysSample or NeverSample), else sampled; the
// parent's trace state either way.
func sampleParentAlwaysOn(psc trace.SpanContext) sdktrace.SamplingResult {
	r := sdktrace.SamplingResult{Decision: sdktrace.RecordAndSample, Tracestate: psc.TraceState()}
	if psc.IsValid() && !psc.IsSampled() {
		r.Decision = sdktrace.Drop
	}
	return r
}

type tracer struct {
	embedded.Tracer
	p     *tracerProvider
	scope instrumentation.Scope
}

var _ trace.Tracer = (*tracer)(nil)

// Start starts a span as the SDK's tracer does: the parent from ctx unless
// the options ask for a new root, ids from the provider's generator, the
// sampler's decision, its attributes before the caller's.
func (t *tracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	cfg := trace.NewSpanStartConfig(opts...)
	if ctx == nil {
		ctx = context.Background()
	}
	if parent, ok := trace.SpanFromContext(ctx).(*span); ok {
		parent.addChild()
	}
	// The sampler and the id generator see the parent context (none for
	// a new root); the new span's context and the processors build on ctx.
	var psc trace.SpanContext
	pctx := ctx
	if cfg.NewRoot() {
		pctx = trace.ContextWithSpanContext(ctx, psc)
	} else {
		psc = trace.SpanContextFromContext(ctx)
	}
	var tid trace.TraceID
	var sid trace.SpanID
	if !psc.TraceID().IsValid() {
		tid, sid = t.p.ids.NewIDs(pctx)
	} else {
		tid = psc.TraceID()
		sid = t.p.ids.NewSpanID(pctx, tid)
	}
	var sr sdktrace.SamplingResult
	if t.p.parentAlwaysOn {
		sr = sampleParentAlwaysOn(psc)
	} else {
		sr = t.p.sampler.ShouldSample(sdktrace.SamplingParameters{
			ParentContext: pctx, TraceID: tid, Name: name, Kind: cfg.SpanKind(),
			Attributes: cfg.Attributes(), Links: cfg.Links(),
		})
	}
	scc := trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceState: sr.Tracestate}
	if sr.Decision == sdktrace.RecordAndSample {
		scc.TraceFlags = psc.TraceFlags() | trace.FlagsSampled
	} else {
		scc.TraceFlags = psc.TraceFlags() &^ trace.FlagsSampled
	}
	sc := trace.NewSpanContext(scc)
	if sr.Decision != sdktrace.RecordOnly && sr.Decision != sdktrace.RecordAndSample {
		return trace.ContextWithSpan(ctx, nonRecordingSpan{p: t.p, sc: sc}), nonRecordingSpan{p: t.p, sc: sc}
	}
	s := t.newSpan(psc, sc, name, sr.Attributes, &cfg)
	newCtx := trace.ContextWithSpan(ctx, s)
	for _, sp := range *t.p.procs.Load() {
		sp.OnStart(ctx, s) // the context the span was started with, as the SDK
	}
	return s.runtimeTrace(newCtx), s
}
