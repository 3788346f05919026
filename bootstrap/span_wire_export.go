package bootstrap

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"github.com/ffitel/ffitel/internal/otlpwire"
)

// The span wire path, the counterpart of the log wire path
// (wire_export.go): a span is encoded into its OTLP Span message when it
// is queued (spanWireEncoder.pack, the queue's prepare hook, on the
// goroutine that ended it), the queue keeps only those bytes and the span's
// resource and scope group, and the export goroutine concatenates them
// into an ExportTraceServiceRequest, the resource and each scope encoded
// once. The OTLP gRPC trace exporter, built as before from the environment,
// sends it through wireInterceptor.
//
// What the Collector receives is what otlptrace's transform sent, field for
// field (span_wire_export_test.go decodes both and compares). The spans
// come from the SDK with its limits already applied (attribute, event and
// link counts, value length), so the encoder writes what the ReadOnlySpan
// holds, dropped counts included. Like the SDK's transform it leaves out a
// link's trace_state.

const tracesExportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

// spanItem is a span in the export queue: the span itself, or on the wire
// path its encoded ScopeSpans.spans field and the group it belongs to.
type spanItem struct {
	span  sdktrace.ReadOnlySpan
	wire  []byte
	slab  *slabBuf // the slab wire is in (nil: none); released by the queue
	group *spanGroup
}

// spanGroup is a (resource, scope) pair with its encoded fields.
type spanGroup struct {
	res       *resource.Resource // for the cache of the last group
	scopeKey  instrumentation.Scope
	resource  []byte // the ResourceSpans.resource field; nil without a resource
	resKey    attribute.Distinct
	resSchema string
	scope     []byte // the ScopeSpans.scope field; nil for the empty scope
	schema    string
}

type spanGroupKey struct {
	res   attribute.Distinct
	scope instrumentation.Scope
}

// maxSpanGroups bounds the cached groups; past it a group is made per span
// (still correct, only not shared).
const maxSpanGroups = 1024

// spanWireEncoder encodes spans for the OTLP trace exporter.
type spanWireEncoder struct {
	mu      sync.Mutex
	groups  map[spanGroupKey]*spanGroup
	last    atomic.Pointer[spanGroup] // the group of the last span packed
	buffers sync.Pool                 // of *spanPacker, for pack

	// The export goroutine's.
	buf   otlpwire.Buffer
	order []*spanGroup
}

func newSpanWireEncoder() *spanWireEncoder {
	e := &spanWireEncoder{groups: map[spanGroupKey]*spanGroup{}}
	e.buffers.New = func() any { return new(spanPacker) }
	return e
}

func (e *spanWireEncoder) groupOf(s sdktrace.ReadOnlySpan) (g *spanGroup) {
	res, scope := s.Resource(), s.InstrumentationScope()
	// Most spans share the resource pointer and the scope of the span
	// before them.
	if g := e.last.Load(); g != nil && g.res == res && g.scopeKey == scope {
		return g
	}
	k := spanGroupKey{res: res.Equivalent(), scope: scope}
	defer func() { e.last.Store(g) }()
	e.mu.Lock()
	g = e.groups[k]
	e.mu.Unlock()
	if g != nil {
		return g
	}
	g = &spanGroup{res: res, scopeKey: scope, resKey: k.res, resSchema: res.SchemaURL(), schema: k.scope.SchemaURL}
	if res != nil {
		// The transform always sends a resource, even without attributes.
		var b otlpwire.Buffer
		m := b.Begin(otlpwire.ResourceSpansResource)
		for iter := res.Iter(); iter.Next(); {
			encodeKV(&b, otlpwire.ResourceAttributes, iter.Attribute())
		}
		b.End(m)
		g.resource = b.B
	}
	g.scope = encodeScope(k.scope) // ScopeSpansScope == ScopeLogsScope
	e.mu.Lock()
	if old := e.groups[k]; old != nil {
		g = old
	} else if len(e.groups) < maxSpanGroups {
		e.groups[k] = g
	}
	e.mu.Unlock()
	return g
}

// pack encodes a queued span (the queue's prepare hook): the queue keeps
// its bytes instead of the span.
func (e *spanWireEncoder) pack(it spanItem) spanItem {
	if it.span == nil || it.wire != nil {
		return it
	}
	p := e.buffers.Get().(*spanPacker)
	b := &p.buf
	b.Reset()
	encodeSpan(b, it.span)
	it.wire, it.slab = p.slab.keep(b.B)
	it.group = e.groupOf(it.span)
	it.span = nil
	if cap(b.B) <= 64<<10 {
		e.buffers.Put(p)
	}
	return it
}

// spanPacker is one goroutine's encoding buffer and slab (pack).
type spanPacker struct {
	buf  otlpwire.Buffer
	slab slab
}

// encode writes the ExportTraceServiceRequest of items (packing those that
// are not yet) and returns it, valid until the next call. Resources and
// scopes come in the order of their first span, as the transform groups
// them.
func (e *spanWireEncoder) encode(items []spanItem) []byte {
	e.order = e.order[:0]
	for i := range items {
		it := &items[i]
		if it.wire == nil {
			*it = e.pack(*it)
		}
		if it.group == nil {
			continue
		}
		known := false
		for _, g := range e.order {
			if g == it.group {
				known = true
				break
			}
		}
		if !known {
			e.order = append(e.order, it.group)
		}
	}
	b := &e.buf
	b.Reset()
	// The request's size is known: one allocation of it (plus room for the
	// length bytes End inserts) instead of doubling up to it.
	size := 64
	for i := range items {
		size += len(items[i].wire)
	}
	for _, g := range e.order {
		size += len(g.resource) + len(g.scope) + len(g.resSchema) + len(g.schema) + 32
	}
	b.B = slices.Grow(b.B, size)
	for i, g := range e.order {
		if g == nil {
			continue // written with an earlier group of its resource
		}
		rs := b.Begin(otlpwire.ExportTraceRequestResourceSpans)
		b.Raw(g.resource)
		for j := i; j < len(e.order); j++ {
			sg := e.order[j]
			if sg == nil || sg.resKey != g.resKey {
				continue
			}
			ss := b.Begin(otlpwire.ResourceSpansScopeSpans)
			b.Raw(sg.scope)
			for k := range items {
				if items[k].group == sg {
					b.Raw(items[k].wire)
				}
			}
			if sg.schema != "" {
				b.String(otlpwire.ScopeSpansSchemaURL, sg.schema)
			}
			b.End(ss)
			if j > i {
				e.order[j] = nil
			}
		}
		if g.resSchema != "" {
			b.String(otlpwire.ResourceSpansSchemaURL, g.resSchema)
		}
		b.End(rs)
	}
	clear(e.order)
	return b.B
}

// encodeSpan writes the ScopeSpans.spans field of s as otlptrace's
// transform converts it.
func encodeSpan(b *otlpwire.Buffer, s sdktrace.ReadOnlySpan) {
	h := headOf(s)
	m := b.Begin(otlpwire.ScopeSpansSpans)
	b.Bytes(otlpwire.SpanTraceID, h.tid[:])
	b.Bytes(otlpwire.SpanSpanID, h.sid[:])
	if h.state.Len() > 0 {
		b.String(otlpwire.SpanTraceState, h.state.String())
	}
	if h.psid.IsValid() {
		b.Bytes(otlpwire.SpanParentSpanID, h.psid[:])
	}
	if h.name != "" {
		b.String(otlpwire.SpanName, h.name)
	}
	if k := h.kind; k >= trace.SpanKindInternal && k <= trace.SpanKindConsumer {
		b.Uvarint(otlpwire.SpanKind, uint64(k))
	}
	if t := h.start.UnixNano(); t > 0 {
		b.Fixed64(otlpwire.SpanStartTime, uint64(t))
	}
	if t := h.end.UnixNano(); t > 0 {
		b.Fixed64(otlpwire.SpanEndTime, uint64(t))
	}
	for _, kv := range s.Attributes() {
		encodeKV(b, otlpwire.SpanAttributes, kv)
	}
	if d := clampCount(s.DroppedAttributes()); d != 0 {
		b.Uvarint(otlpwire.SpanDroppedAttributesCount, d)
	}
	for _, ev := range s.Events() {
		em := b.Begin(otlpwire.SpanEvents)
		if t := ev.Time.UnixNano(); t > 0 {
			b.Fixed64(otlpwire.EventTime, uint64(t))
		}
		if ev.Name != "" {
			b.String(otlpwire.EventName, ev.Name)
		}
		for _, kv := range ev.Attributes {
			encodeKV(b, otlpwire.EventAttributes, kv)
		}
		if d := clampCount(ev.DroppedAttributeCount); d != 0 {
			b.Uvarint(otlpwire.EventDroppedAttributesCount, d)
		}
		b.End(em)
	}
	if d := clampCount(s.DroppedEvents()); d != 0 {
		b.Uvarint(otlpwire.SpanDroppedEventsCount, d)
	}
	for _, l := range s.Links() {
		lm := b.Begin(otlpwire.SpanLinks)
		ltid, lsid := l.SpanContext.TraceID(), l.SpanContext.SpanID()
		b.Bytes(otlpwire.LinkTraceID, ltid[:])
		b.Bytes(otlpwire.LinkSpanID, lsid[:])
		for _, kv := range l.Attributes {
			encodeKV(b, otlpwire.LinkAttributes, kv)
		}
		if d := clampCount(l.DroppedAttributeCount); d != 0 {
			b.Uvarint(otlpwire.LinkDroppedAttributesCount, d)
		}
		b.Fixed32(otlpwire.LinkFlags, spanFlags(l.SpanContext.TraceFlags(), l.SpanContext.IsRemote()))
		b.End(lm)
	}
	if d := clampCount(s.DroppedLinks()); d != 0 {
		b.Uvarint(otlpwire.SpanDroppedLinksCount, d)
	}
	// The transform always sends a status, even when unset.
	st := s.Status()
	sm := b.Begin(otlpwire.SpanStatus)
	if st.Description != "" {
		b.String(otlpwire.StatusMessage, st.Description)
	}
	switch st.Code {
	case codes.Ok:
		b.Uvarint(otlpwire.StatusCode, 1)
	case codes.Error:
		b.Uvarint(otlpwire.StatusCode, 2)
	}
	b.End(sm)
	b.Fixed32(otlpwire.SpanFlags, spanFlags(h.flags, h.premote))
	b.End(m)
}

// OTLP SpanFlags bits above the W3C trace flags.
const (
	spanFlagsHasIsRemote = 0x100
	spanFlagsIsRemote    = 0x200
)

// spanHead is what encodeSpan writes of every span besides its
// attributes, events, links and status.
type spanHead struct {
	tid        trace.TraceID
	sid, psid  trace.SpanID
	state      trace.TraceState
	flags      trace.TraceFlags
	premote    bool // the parent is remote
	name       string
	kind       trace.SpanKind
	start, end time.Time
}

// headOf reads an ended span's head: ffitel's own span from its fields,
// any other through ReadOnlySpan.
func headOf(s sdktrace.ReadOnlySpan) spanHead {
	if o, ok := s.(*span); ok && o.frozen.Load() {
		return o.head()
	}
	sc, parent := s.SpanContext(), s.Parent()
	return spanHead{tid: sc.TraceID(), sid: sc.SpanID(), psid: parent.SpanID(), state: sc.TraceState(),
		flags: sc.TraceFlags(), premote: parent.IsRemote(), name: s.Name(), kind: s.SpanKind(),
		start: s.StartTime(), end: s.EndTime()}
}

// spanFlags: the W3C flags, and whether the parent (or linked) context is
// remote, as the transform sets them.
func spanFlags(tf trace.TraceFlags, remote bool) uint32 {
	f := uint32(tf) | spanFlagsHasIsRemote
	if remote {
		f |= spanFlagsIsRemote
	}
	return f
}

func clampCount(v int) uint64 {
	if v <= 0 {
		return 0
	}
	return uint64(min(int64(v), math.MaxUint32))
}

// wireSpanExporter is the OTLP gRPC trace exporter built with
// wireDialOption: spanExport sends encoded requests through it.
type wireSpanExporter struct{ *otlptrace.Exporter }

// newWireGRPCSpanExporter builds the OTLP gRPC trace exporter from opts and
// the environment, with the wire path's interceptor.
// otlptracegrpc.WithDialOption replaces earlier dial options rather than
// adding to them, so any other dial options must come in dialOpts.
func newWireGRPCSpanExporter(ctx context.Context, dialOpts []grpc.DialOption, opts ...otlptracegrpc.Option) (sdktrace.SpanExporter, error) {
	dialOpts = append(dialOpts[:len(dialOpts):len(dialOpts)], wireDialOption())
	exp, err := otlptracegrpc.New(ctx, append(opts, otlptracegrpc.WithDialOption(dialOpts...))...)
	if err != nil {
		return nil, err
	}
	return wireSpanExporter{exp}, nil
}

// spanExport is the span queue's export function: encoded requests through
// a wireSpanExporter, the SDK path (ExportSpans) for any other exporter.
type spanExport struct {
	exporter    sdktrace.SpanExporter
	wire        *spanWireEncoder // nil unless exporter is a wireSpanExporter
	placeholder []sdktrace.ReadOnlySpan
	spans       []sdktrace.ReadOnlySpan // the SDK path's batch
}

func newSpanExport(exp sdktrace.SpanExporter) *spanExport {
	x := &spanExport{exporter: exp}
	if _, ok := exp.(wireSpanExporter); ok {
		x.wire = newSpanWireEncoder()
		x.placeholder = []sdktrace.ReadOnlySpan{tracetest.SpanStub{Name: "ffitel.placeholder"}.Snapshot()}
	}
	return x
}

func (x *spanExport) export(ctx context.Context, items []spanItem) error {
	if x.wire == nil {
		x.spans = x.spans[:0]
		for _, it := range items {
			x.spans = append(x.spans, it.span)
		}
		err := x.exporter.ExportSpans(ctx, x.spans)
		clear(x.spans)
		return err
	}
	wc := &wireCall{body: x.wire.encode(items)}
	err := x.exporter.ExportSpans(context.WithValue(ctx, wireCallKey{}, wc), x.placeholder)
	switch {
	case !wc.sent && err == nil:
		return errors.New("ffitel: the span exporter did not send the encoded request")
	case !wc.sent || wc.err != nil:
		return wireError(wc, err)
	case wc.rejected > 0:
		return &rejectedError{n: int(min(wc.rejected, int64(len(items)))), msg: wc.message, what: "spans"}
	}
	return nil
}

// spanItemWireSize is a span's share of a request (the queue's size hook).
func spanItemWireSize(it spanItem) int {
	if it.wire != nil {
		return len(it.wire) + 8
	}
	return 2048
}
