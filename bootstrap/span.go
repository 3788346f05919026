package bootstrap

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	rtrace "runtime/trace"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
)

// span is a recording span of tracerProvider. While it runs, mu guards it;
// End freezes it (frozen is set last, under mu), after which nothing changes
// and it is read without the lock: it is then the ReadOnlySpan the
// processors get, with no snapshot taken.
//
// It is 160 bytes (one size class of the allocator; unsafe.Sizeof is checked
// in tracer_test.go): at 10 000 spans a second every byte of it is a byte
// the collector has to reclaim. Its span context and its parent's are kept
// as their parts (the parent's trace id is the span's own, or none), and
// what most spans never have (trace states, a status description, events,
// links) lives in x.
type span struct {
	// The unexported methods of trace.Span and ReadOnlySpan come from
	// here (both interfaces are sealed); every other method is span's own.
	// Always nil.
	*sealed

	t      *tracer
	mu     sync.Mutex
	frozen atomic.Bool
	ended  bool  // under mu; frozen mirrors it for lock-free readers
	dirty  bool  // attrs may hold a key twice (deduplicated at End or when read)
	kind   uint8 // a trace.SpanKind
	code   uint8 // the status code (codes.Code)

	// Set by newSpan, never changed: read without the lock.
	flags  trace.TraceFlags // the span context's
	pflags trace.TraceFlags // the parent's
	bits   uint8            // hasParentTraceID | parentRemote | hasTraceState | hasParentTraceState

	droppedAttrs int32
	children     int32
	tid          trace.TraceID
	sid, psid    trace.SpanID
	name         string
	start        time.Time
	dur          time.Duration // end = start + dur, as the SDK's monotonic end time
	attrs        []attribute.KeyValue
	x            *spanExtra
}

// sealed gives span the unexported methods of the sealed interfaces it
// implements.
type sealed struct {
	embedded.Span
	sdktrace.ReadOnlySpan
}

// span.bits
const (
	hasParentTraceID    = 1 << iota // the parent's trace id is the span's (else none)
	parentRemote                    // the parent came from another process
	hasTraceState                   // x.state is the span's trace state
	hasParentTraceState             // x.pstate is the parent's
)

// spanExtra is what a span needs only once it has events, links, an end
// time given by the caller, an execution-tracer task, an Error status
// description, or trace states. The trace states are set before the span is
// published and never change.
type spanExtra struct {
	events        []sdktrace.Event
	droppedEvents int
	links         []sdktrace.Link
	droppedLinks  int
	endAt         time.Time // End(trace.WithTimestamp(...))
	taskEnd       func()
	description   string // of an Error status
	state, pstate trace.TraceState
}

func (s *span) extra() *spanExtra {
	if s.x == nil {
		s.x = &spanExtra{}
	}
	return s.x
}

// setContexts stores the span's context and its parent's (newSpan, before
// the span is published).
func (s *span) setContexts(sc, psc trace.SpanContext) {
	s.tid, s.sid, s.flags = sc.TraceID(), sc.SpanID(), sc.TraceFlags()
	if ts := sc.TraceState(); ts.Len() > 0 {
		s.extra().state = ts
		s.bits |= hasTraceState
	}
	s.psid, s.pflags = psc.SpanID(), psc.TraceFlags()
	if psc.TraceID().IsValid() { // then it is the span's (tracer.Start)
		s.bits |= hasParentTraceID
	}
	if psc.IsRemote() {
		s.bits |= parentRemote
	}
	if ts := psc.TraceState(); ts.Len() > 0 {
		s.extra().pstate = ts
		s.bits |= hasParentTraceState
	}
}

var _ sdktrace.ReadWriteSpan = (*span)(nil)

func (t *tracer) newSpan(psc, sc trace.SpanContext, name string, samplerAttrs []attribute.KeyValue, cfg *trace.SpanConfig) *span {
	start := cfg.Timestamp()
	if start.IsZero() {
		start = time.Now()
	}
	s := &span{t: t, name: name, kind: uint8(trace.ValidateSpanKind(cfg.SpanKind())), start: start}
	s.setContexts(sc, psc)
	for _, l := range cfg.Links() {
		s.addLink(l)
	}
	attrs := cfg.Attributes()
	if limit := t.p.limits.AttributeCountLimit; len(samplerAttrs) == 0 && len(attrs) > 0 && (limit < 0 || len(attrs) <= limit) {
		// The start options' attributes are the config's own copy (each
		// WithAttributes appends to it): keep that array rather than
		// copying it again. The sampler saw the same slice; ffitel's
		// samplers (the SDK's, from OTEL_TRACES_SAMPLER) do not keep it.
		n := 0
		for _, a := range attrs {
			if !a.Valid() {
				s.droppedAttrs++
				continue
			}
			if !t.p.norm.plain(a.Value) {
				a = t.p.norm.other(a)
			}
			attrs[n] = a
			n++
		}
		s.attrs = attrs[:n]
		s.dirty = len(s.attrs) > 1
		return s
	}
	if n := len(samplerAttrs) + len(attrs); n > 0 {
		if limit := t.p.limits.AttributeCountLimit; limit > 0 {
			n = min(n, limit)
		}
		s.attrs = make([]attribute.KeyValue, 0, n)
	}
	s.setAttributes(samplerAttrs)
	s.setAttributes(attrs)
	return s
}

// lock takes mu unless the span is frozen; the caller unlocks when it
// returns true.
func (s *span) lock() bool {
	if s.frozen.Load() {
		return false
	}
	s.mu.Lock()
	return true
}

func (s *span) SpanContext() trace.SpanContext {
	if s == nil {
		return trace.SpanContext{}
	}
	c := trace.SpanContextConfig{TraceID: s.tid, SpanID: s.sid, TraceFlags: s.flags}
	if s.bits&hasTraceState != 0 {
		c.TraceState = s.x.state
	}
	return trace.NewSpanContext(c)
}

func (s *span) IsRecording() bool {
	if s == nil {
		return false
	}
	return !s.frozen.Load()
}

// SetStatus follows the SDK: Ok is final, Error replaces Unset and keeps
// its description, Unset changes nothing; a description only with Error.
func (s *span) SetStatus(code codes.Code, description string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended || codes.Code(s.code) > code {
		return
	}
	s.code = uint8(code)
	if code == codes.Error && description != "" {
		s.extra().description = description
	} else if s.x != nil {
		s.x.description = ""
	}
}

func (s *span) SetAttributes(kvs ...attribute.KeyValue) {
	if s == nil || len(kvs) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		s.setAttributes(kvs)
	}
}

// setAttributes is the SDK's rule: within the count limit attributes are
// appended and deduplicated later (the last value of a key wins, in the
// place of its first); past it, updates to present keys still apply and new
// keys are dropped and counted. Invalid attributes are dropped and counted.
func (s *span) setAttributes(kvs []attribute.KeyValue) {
	if len(kvs) == 0 {
		return
	}
	limit := s.t.p.limits.AttributeCountLimit
	if limit == 0 {
		s.droppedAttrs += int32(len(kvs))
		return
	}
	if limit > 0 && len(s.attrs)+len(kvs) > limit {
		s.addOverCap(limit, kvs)
		return
	}
	for _, a := range kvs {
		if !a.Valid() {
			s.droppedAttrs++
			continue
		}
		s.attrs = append(s.attrs, s.t.p.norm.attr(a))
		s.dirty = true
	}
}

func (s *span) addOverCap(limit int, kvs []attribute.KeyValue) {
	s.dedupe()
	for _, a := range kvs {
		if !a.Valid() {
			s.droppedAttrs++
			continue
		}
		if i := s.indexOf(a.Key); i >= 0 {
			s.attrs[i] = s.t.p.norm.attr(a)
		} else if len(s.attrs) >= limit {
			s.droppedAttrs++
		} else {
			s.attrs = append(s.attrs, s.t.p.norm.attr(a))
		}
	}
}

func (s *span) indexOf(k attribute.Key) int {
	for i := range s.attrs {
		if s.attrs[i].Key == k {
			return i
		}
	}
	return -1
}

// dedupe keeps one attribute per key: the last value, in the place of the
// first.
func (s *span) dedupe() {
	if !s.dirty {
		return
	}
	s.dirty = false
	unique := s.attrs[:0]
	if len(s.attrs) <= 16 {
	next:
		for _, a := range s.attrs {
			for j := range unique {
				if unique[j].Key == a.Key {
					unique[j] = a
					continue next
				}
			}
			unique = append(unique, a)
		}
	} else {
		seen := make(map[attribute.Key]int, len(s.attrs))
		for _, a := range s.attrs {
			if j, ok := seen[a.Key]; ok {
				unique[j] = a
			} else {
				seen[a.Key] = len(unique)
				unique = append(unique, a)
			}
		}
	}
	clear(s.attrs[len(unique):])
	s.attrs = unique
}

// End freezes the span and hands it to the processors. Called while
// panicking (deferred), it records the panic as an exception event first
// and the panic goes on, as with the SDK.
func (s *span) End(opts ...trace.SpanEndOption) {
	if s == nil {
		return
	}
	end := s.start.Add(time.Since(s.start)) // monotonic, as the SDK
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	cfg := trace.NewSpanEndConfig(opts...)
	if recovered := recover(); recovered != nil {
		defer panic(recovered)
		kvs := []attribute.KeyValue{semconv.ExceptionType(typeStr(recovered)), semconv.ExceptionMessage(fmt.Sprint(recovered))}
		if cfg.StackTrace() {
			kvs = append(kvs, semconv.ExceptionStacktrace(stackTrace()))
		}
		s.addEvent(semconv.ExceptionEventName, trace.WithAttributes(kvs...))
	}
	if ts := cfg.Timestamp(); !ts.IsZero() {
		s.extra().endAt = ts
	} else {
		s.dur = end.Sub(s.start)
	}
	s.dedupe()
	if len(s.attrs) == 0 {
		s.attrs = nil
	}
	s.ended = true
	var taskEnd func()
	if s.x != nil {
		taskEnd = s.x.taskEnd
	}
	s.frozen.Store(true)
	s.mu.Unlock()
	if taskEnd != nil {
		taskEnd()
	}
	for _, sp := range *s.t.p.procs.Load() {
		sp.OnEnd(s)
	}
}

// RecordError adds the SDK's exception event (type, message, and the stack
// when asked for); it does not change the status.
func (s *span) RecordError(err error, opts ...trace.EventOption) {
	if s == nil || err == nil {
		return
	}
	if !s.IsRecording() {
		return
	}
	opts = append(opts, trace.WithAttributes(semconv.ExceptionType(typeStr(err)), semconv.ExceptionMessage(err.Error())))
	if c := trace.NewEventConfig(opts...); c.StackTrace() {
		opts = append(opts, trace.WithAttributes(semconv.ExceptionStacktrace(stackTrace())))
	}
	s.AddEvent(semconv.ExceptionEventName, opts...)
}

func typeStr(i any) string {
	t := reflect.TypeOf(i)
	if t.PkgPath() == "" && t.Name() == "" {
		return t.String() // likely a builtin type
	}
	return fmt.Sprintf("%s.%s", t.PkgPath(), t.Name())
}

func stackTrace() string {
	b := make([]byte, 2048)
	return string(b[:runtime.Stack(b, false)])
}

func (s *span) AddEvent(name string, opts ...trace.EventOption) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		s.addEvent(name, opts...)
	}
}

// addEvent keeps the last EventCountLimit events, counting the ones it
// drops.
func (s *span) addEvent(name string, opts ...trace.EventOption) {
	c := trace.NewEventConfig(opts...)
	var e sdktrace.Event
	if len(c.Attributes()) == 0 {
		e = sdktrace.Event{Name: name, Time: c.Timestamp()}
	} else {
		e = s.t.p.norm.event(name, c.Timestamp(), opts)
	}
	x := s.extra()
	x.events, x.droppedEvents = evict(x.events, x.droppedEvents, s.t.p.limits.EventCountLimit, e)
}

func (s *span) AddLink(l trace.Link) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		s.addLink(l)
	}
}

func (s *span) addLink(l trace.Link) {
	if !l.SpanContext.IsValid() && len(l.Attributes) == 0 && l.SpanContext.TraceState().Len() == 0 {
		return
	}
	k := sdktrace.Link{SpanContext: l.SpanContext}
	if len(l.Attributes) > 0 {
		k = s.t.p.norm.link(l)
	}
	x := s.extra()
	x.links, x.droppedLinks = evict(x.links, x.droppedLinks, s.t.p.limits.LinkCountLimit, k)
}

// evict appends v to a queue of at most limit items (negative: no limit),
// dropping the oldest, as the SDK's evictedQueue.
func evict[T any](q []T, dropped, limit int, v T) ([]T, int) {
	if limit == 0 {
		return q, dropped + 1
	}
	if limit > 0 && len(q) == limit {
		copy(q, q[1:])
		q = q[:limit-1]
		dropped++
	}
	return append(q, v), dropped
}

func (s *span) SetName(name string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		s.name = name
	}
}

func (s *span) TracerProvider() trace.TracerProvider { return s.t.p }

func (s *span) addChild() {
	s.mu.Lock()
	if !s.ended {
		s.children++
	}
	s.mu.Unlock()
}

func (s *span) runtimeTrace(ctx context.Context) context.Context {
	if !rtrace.IsEnabled() {
		return ctx
	}
	nctx, task := rtrace.NewTask(ctx, s.name)
	s.mu.Lock()
	if s.ended { // ended by a processor's OnStart: do not write to a frozen span
		s.mu.Unlock()
		task.End()
		return nctx
	}
	s.extra().taskEnd = task.End
	s.mu.Unlock()
	return nctx
}

// The ReadOnlySpan side. A running span is read under its lock and gives
// copies, as the SDK's running span; an ended one gives what the SDK's
// snapshot gives (nil for no attributes, events or links).

func (s *span) Name() string {
	if s.lock() {
		defer s.mu.Unlock()
	}
	return s.name
}

func (s *span) Parent() trace.SpanContext {
	c := trace.SpanContextConfig{SpanID: s.psid, TraceFlags: s.pflags, Remote: s.bits&parentRemote != 0}
	if s.bits&hasParentTraceID != 0 {
		c.TraceID = s.tid
	}
	if s.bits&hasParentTraceState != 0 {
		c.TraceState = s.x.pstate
	}
	return trace.NewSpanContext(c)
}
func (s *span) SpanKind() trace.SpanKind { return trace.SpanKind(s.kind) }
func (s *span) StartTime() time.Time     { return s.start }

func (s *span) EndTime() time.Time {
	if s.lock() {
		defer s.mu.Unlock()
		if !s.ended {
			return time.Time{}
		}
	}
	if s.x != nil && !s.x.endAt.IsZero() {
		return s.x.endAt
	}
	return s.start.Add(s.dur)
}

// head is headOf for an ended span (frozen: read without the lock).
func (s *span) head() spanHead {
	h := spanHead{tid: s.tid, sid: s.sid, psid: s.psid, flags: s.flags, premote: s.bits&parentRemote != 0,
		name: s.name, kind: trace.SpanKind(s.kind), start: s.start}
	if s.bits&hasTraceState != 0 {
		h.state = s.x.state
	}
	if s.x != nil && !s.x.endAt.IsZero() {
		h.end = s.x.endAt
	} else {
		h.end = s.start.Add(s.dur)
	}
	return h
}

func (s *span) Attributes() []attribute.KeyValue {
	if !s.lock() {
		return s.attrs
	}
	defer s.mu.Unlock()
	s.dedupe()
	return slices.Clone(s.attrs)
}

func (s *span) Links() []sdktrace.Link {
	if !s.lock() {
		if s.x == nil {
			return nil
		}
		return s.x.links
	}
	defer s.mu.Unlock()
	if s.x == nil {
		return []sdktrace.Link{}
	}
	return orEmpty(slices.Clone(s.x.links))
}

func (s *span) Events() []sdktrace.Event {
	if !s.lock() {
		if s.x == nil {
			return nil
		}
		return s.x.events
	}
	defer s.mu.Unlock()
	if s.x == nil {
		return []sdktrace.Event{}
	}
	return orEmpty(slices.Clone(s.x.events))
}

// orEmpty: a running SDK span returns an empty slice, not nil, for no links
// or events.
func orEmpty[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

func (s *span) Status() sdktrace.Status {
	if s.lock() {
		defer s.mu.Unlock()
	}
	st := sdktrace.Status{Code: codes.Code(s.code)}
	if s.x != nil {
		st.Description = s.x.description
	}
	return st
}

func (s *span) InstrumentationScope() instrumentation.Scope { return s.t.scope }

//nolint:staticcheck // part of ReadOnlySpan
func (s *span) InstrumentationLibrary() instrumentation.Library { return s.t.scope }

func (s *span) Resource() *resource.Resource { return s.t.p.res }

func (s *span) DroppedAttributes() int {
	if s.lock() {
		defer s.mu.Unlock()
	}
	return int(s.droppedAttrs)
}

func (s *span) DroppedLinks() int {
	if s.lock() {
		defer s.mu.Unlock()
	}
	if s.x == nil {
		return 0
	}
	return s.x.droppedLinks
}

func (s *span) DroppedEvents() int {
	if s.lock() {
		defer s.mu.Unlock()
	}
	if s.x == nil {
		return 0
	}
	return s.x.droppedEvents
}

func (s *span) ChildSpanCount() int {
	if s.lock() {
		defer s.mu.Unlock()
	}
	return int(s.children)
}

// nonRecordingSpan carries the context of a span the sampler dropped.
type nonRecordingSpan struct {
	embedded.Span
	p  *tracerProvider
	sc trace.SpanContext
}

var _ trace.Span = nonRecordingSpan{}

func (s nonRecordingSpan) SpanContext() trace.SpanContext        { return s.sc }
func (nonRecordingSpan) IsRecording() bool                       { return false }
func (nonRecordingSpan) SetStatus(codes.Code, string)            {}
func (nonRecordingSpan) SetAttributes(...attribute.KeyValue)     {}
func (nonRecordingSpan) End(...trace.SpanEndOption)              {}
func (nonRecordingSpan) RecordError(error, ...trace.EventOption) {}
func (nonRecordingSpan) AddEvent(string, ...trace.EventOption)   {}
func (nonRecordingSpan) AddLink(trace.Link)                      {}
func (nonRecordingSpan) SetName(string)                          {}
func (s nonRecordingSpan) TracerProvider() trace.TracerProvider  { return s.p }

// normalizer applies the SDK's own rules where they are more than a copy:
// composite values (deduplicated, depth-limited), values over the length
// limit, event and link attributes, instrumentation scopes. It asks a
// private SDK tracer with the same limits (and no count limits of its own on
// events and links, which the span keeps) and reads back what it recorded.
type normalizer struct {
	tr          trace.Tracer
	tp          *sdktrace.TracerProvider
	lengthLimit int
}

func newNormalizer(l sdktrace.SpanLimits) *normalizer {
	l.AttributeCountLimit, l.EventCountLimit, l.LinkCountLimit = -1, -1, -1
	tp := sdktrace.NewTracerProvider(sdktrace.WithRawSpanLimits(l), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	return &normalizer{tr: tp.Tracer("ffitel.normalizer"), tp: tp, lengthLimit: l.AttributeValueLengthLimit}
}

// scratch starts a span of the private tracer; the caller ends it when it
// has read what it needs (it has no processors: nothing is exported).
func (n *normalizer) scratch(opts ...trace.SpanStartOption) sdktrace.ReadWriteSpan {
	_, s := n.tr.Start(context.Background(), "", opts...)
	return s.(sdktrace.ReadWriteSpan)
}

// attr is a valid attribute as the SDK stores it: the common kinds as they
// are (plain, which the hot paths call inline), the rest through other.
func (n *normalizer) attr(a attribute.KeyValue) attribute.KeyValue {
	if n.plain(a.Value) {
		return a
	}
	return n.other(a)
}

// plain: a bool, number, or string within the length limit (a string no
// longer in bytes than the limit is within it in characters too).
func (n *normalizer) plain(v attribute.Value) bool {
	t := v.Type()
	return t == attribute.BOOL || t == attribute.INT64 || t == attribute.FLOAT64 ||
		t == attribute.STRING && (n.lengthLimit < 0 || len(v.AsString()) <= n.lengthLimit)
}

// other is attr for the rest: slices, composite values, strings over the
// length limit.
func (n *normalizer) other(a attribute.KeyValue) attribute.KeyValue {
	switch a.Value.Type() {
	case attribute.BOOLSLICE, attribute.INT64SLICE, attribute.FLOAT64SLICE:
		return a
	case attribute.STRINGSLICE, attribute.BYTESLICE:
		if n.lengthLimit < 0 {
			return a
		}
	}
	s := n.scratch(trace.WithAttributes(a))
	defer s.End()
	if got := s.Attributes(); len(got) == 1 {
		return got[0]
	}
	return a
}

func (n *normalizer) event(name string, ts time.Time, opts []trace.EventOption) sdktrace.Event {
	s := n.scratch()
	defer s.End()
	s.AddEvent(name, append(opts[:len(opts):len(opts)], trace.WithTimestamp(ts))...)
	return s.Events()[0]
}

func (n *normalizer) link(l trace.Link) sdktrace.Link {
	s := n.scratch()
	defer s.End()
	s.AddLink(l)
	return s.Links()[0]
}

func (n *normalizer) scope(name string, opts []trace.TracerOption) instrumentation.Scope {
	_, s := n.tp.Tracer(name, opts...).Start(context.Background(), "")
	defer s.End()
	return s.(sdktrace.ReadWriteSpan).InstrumentationScope()
}
