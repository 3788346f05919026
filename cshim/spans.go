package main

/*
#include <stdint.h>
#include <stddef.h>
#include "shim.h"
*/
import "C"

import (
	"context"
	"encoding/json"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/ffitel/ffitel/bootstrap"
	"github.com/ffitel/ffitel/metrics"
)

// maxOpenSpans bounds the span table: a host that forgets to end spans
// gets FFITEL_E_FULL instead of unbounded memory.
const maxOpenSpans = 1 << 16

// spans holds the open spans and task attempts in one table: a task handle
// works wherever a span handle does (logs inside a task carry its ids).
// ring.c keeps its own note of which handles are open, so that a record it
// queues never names an ended span; openSpan, closeSpan, reopenSpan and
// endAllSpans keep that note in step with the table.
var spans = newHandles[spanEntry](maxOpenSpans)

type spanEntry struct {
	span trace.Span
	task *metrics.Task // set for ffitel_task_start handles
}

// openSpan adds e to the table; false when it is full.
func openSpan(e spanEntry) (uint64, bool) {
	h, ok := spans.add(e)
	if ok {
		C.ffitel_shim_span_live(C.uint64_t(h), 1)
		spoolSpanIDs(h, e.span)
	}
	return h, ok
}

// openSpanTable adds e to the table without the notes openSpan keeps in C:
// the C caller keeps them (otelapi.c), from the ids spanIDs returns.
func openSpanTable(e spanEntry) (uint64, bool) {
	return spans.add(e)
}

// spanIDs fills ids (25 bytes: trace id, span id, flags) as spool.c takes them.
func spanIDs(s trace.Span, ids *[25]byte) {
	sc := s.SpanContext()
	tid, sid := sc.TraceID(), sc.SpanID()
	copy(ids[:16], tid[:])
	copy(ids[16:24], sid[:])
	ids[24] = byte(sc.TraceFlags())
}

// spanOf returns the span (or task span) of handle h.
func spanOf(h uint64) (trace.Span, bool) {
	e, ok := spans.get(h)
	return e.span, ok
}

// spanContext returns a context carrying span h (h == 0: none). ok is false
// for an unknown handle; the context is then empty.
func spanContext(h uint64) (context.Context, bool) {
	if h == 0 {
		return context.Background(), true
	}
	s, ok := spanOf(h)
	if !ok {
		return context.Background(), false
	}
	return trace.ContextWithSpan(context.Background(), s), true
}

// closeSpan takes h out of the table. Records queued in the ring are turned
// into records first: one naming h still finds its ids.
func closeSpan(h uint64) (spanEntry, bool) {
	C.ffitel_shim_span_live(C.uint64_t(h), 0) // later records naming h take the synchronous path
	ringDrain()                               // earlier ones become records while h is known
	return spans.remove(h)
}

// closeSpanTable is closeSpan for a C caller that already cleared ring.c's
// live note of h (otelapi.c): queued says the ring held records then.
func closeSpanTable(h uint64, queued bool) (spanEntry, bool) {
	if queued {
		ringDrain()
	}
	return spans.remove(h)
}

// reopenSpan puts back an entry closeSpan took out by mistake (same handle).
func reopenSpan(h uint64, e spanEntry) {
	spans.restore(h, e)
	C.ffitel_shim_span_live(C.uint64_t(h), 1)
}

// endAllSpans ends every open span and task (at shutdown) and reports how
// many.
func endAllSpans() int {
	spans.each(func(h uint64) { C.ffitel_shim_span_live(C.uint64_t(h), 0) })
	ringDrain()
	open := spans.removeAll()
	for _, e := range open {
		e.span.SetAttributes(attribute.Bool("ffitel.ended_at_shutdown", true))
		if e.task != nil {
			e.task.End("ffitel.ended_at_shutdown", "the host never ended this task")
		} else {
			e.span.End()
		}
	}
	return len(open)
}

var spanKinds = [...]trace.SpanKind{trace.SpanKindInternal, trace.SpanKindServer, trace.SpanKindClient,
	trace.SpanKindProducer, trace.SpanKindConsumer}

// spanStart resolves what every span start takes: the name ("unnamed" when
// empty), the parent (a handle, else a remote traceparent, else none) and
// the kind. ok is false for an unknown parent handle (the error is set; no
// span). fn names the C function in messages.
func spanStart(in *input, fn string, name *C.char, nameLen C.size_t, parent C.uint64_t, traceparent *C.char,
	tpLen C.size_t, kind C.int32_t) (spanName string, ctx context.Context, k trace.SpanKind, ok bool) {
	spanName = in.text("name", name, nameLen, maxMessageBytes)
	if spanName == "" {
		spanName = "unnamed"
	}
	ctx = context.Background()
	if parent != 0 {
		p, found := spanOf(uint64(parent))
		if !found {
			setError(fn + ": unknown or ended parent span handle")
			return "", nil, 0, false
		}
		ctx = trace.ContextWithSpan(ctx, p)
	} else if tpLen > 0 {
		tp := in.text("traceparent", traceparent, tpLen, 256)
		ctx = propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": tp})
		if !trace.SpanContextFromContext(ctx).IsValid() {
			in.problem(C.FFITEL_E_INVALID, fn+": malformed traceparent; started a new trace")
		}
	}
	k = trace.SpanKindInternal
	if kind >= 0 && int(kind) < len(spanKinds) {
		k = spanKinds[kind]
	} else {
		in.problem(C.FFITEL_E_INVALID, fn+": unknown kind; using INTERNAL")
	}
	return spanName, ctx, k, true
}

//export ffitelgo_span_start
func ffitelgo_span_start(name *C.char, nameLen C.size_t, parent C.uint64_t, traceparent *C.char, tpLen C.size_t,
	attrsJSON *C.char, attrsLen C.size_t, kind C.int32_t) (h C.uint64_t) {
	defer recoverHandle(&h)
	var in input
	spanName, ctx, k, ok := spanStart(&in, "ffitel_span_start", name, nameLen, parent, traceparent, tpLen, kind)
	if !ok {
		return 0
	}
	attrs := in.attrs(attrsJSON, attrsLen)
	attrs = append(attrs, in.markers()...)
	_, s := rt().TracerProvider().Tracer(bootstrap.ScopeName).Start(ctx, spanName,
		trace.WithSpanKind(k), trace.WithAttributes(bootstrap.KeyValues(attrs)...))
	handle, ok := openSpan(spanEntry{span: s})
	if !ok {
		s.SetAttributes(attribute.Bool("ffitel.span_table_full", true))
		s.End()
		setError("ffitel_span_start: too many open spans (65536); end spans with ffitel_span_end")
		return 0
	}
	if in.code != 0 {
		in.result() // count and set the message; the span is still valid
	}
	return C.uint64_t(handle)
}

//export ffitelgo_span_set_attributes
func ffitelgo_span_set_attributes(span C.uint64_t, attrsJSON *C.char, attrsLen C.size_t) (rc C.int) {
	defer recoverInto(&rc)
	s, ok := spanOf(uint64(span))
	if !ok {
		return fail(C.FFITEL_E_HANDLE, "ffitel_span_set_attributes: unknown or ended span handle")
	}
	var in input
	attrs := in.attrs(attrsJSON, attrsLen)
	attrs = append(attrs, in.markers()...)
	s.SetAttributes(bootstrap.KeyValues(attrs)...)
	return in.result()
}

//export ffitelgo_span_add_event
func ffitelgo_span_add_event(span C.uint64_t, name *C.char, nameLen C.size_t, attrsJSON *C.char,
	attrsLen C.size_t) (rc C.int) {
	defer recoverInto(&rc)
	return spanAddEvent("ffitel_span_add_event", span, name, nameLen, attrsJSON, attrsLen, 0)
}

// spanAddEvent adds an event to span at atNS (0: now); fn names the C
// function in messages.
func spanAddEvent(fn string, span C.uint64_t, name *C.char, nameLen C.size_t, attrsJSON *C.char,
	attrsLen C.size_t, atNS C.int64_t) C.int {
	s, ok := spanOf(uint64(span))
	if !ok {
		return fail(C.FFITEL_E_HANDLE, "%s: unknown or ended span handle", fn)
	}
	var in input
	eventName := in.text("name", name, nameLen, maxMessageBytes)
	attrs := in.attrs(attrsJSON, attrsLen)
	attrs = append(attrs, in.markers()...)
	opts := []trace.EventOption{trace.WithAttributes(bootstrap.KeyValues(attrs)...)}
	if atNS > 0 {
		opts = append(opts, trace.WithTimestamp(timestamp(atNS)))
	}
	s.AddEvent(eventName, opts...)
	return in.result()
}

//export ffitelgo_span_end
func ffitelgo_span_end(span C.uint64_t, ok C.int32_t, errText *C.char, errLen C.size_t) (rc C.int) {
	defer recoverInto(&rc)
	e, found := closeSpan(uint64(span))
	if !found {
		return fail(C.FFITEL_E_HANDLE, "ffitel_span_end: unknown or already ended span handle")
	}
	var in input
	msg := ""
	if ok == 0 {
		msg = in.text("error", errText, errLen, maxMessageBytes)
	}
	if e.task != nil { // a task ended through the span call: same outcome
		errorType := ""
		if ok == 0 {
			errorType = "_OTHER"
		}
		e.task.End(errorType, msg)
		return in.result()
	}
	if ok == 0 {
		e.span.AddEvent("exception", trace.WithAttributes(attribute.String("exception.message", msg)))
		e.span.SetStatus(codes.Error, msg)
	}
	e.span.End()
	return in.result()
}

//export ffitelgo_span_inject
func ffitelgo_span_inject(span C.uint64_t, buf *C.char, capacity C.size_t) (rc C.int) {
	defer recoverInto(&rc)
	s, ok := spanOf(uint64(span))
	if !ok {
		return fail(C.FFITEL_E_HANDLE, "ffitel_span_inject: unknown or ended span handle")
	}
	carrier := propagation.MapCarrier{}
	rt().Propagator().Inject(trace.ContextWithSpan(context.Background(), s), carrier)
	b, err := json.Marshal(carrier)
	if err != nil {
		return fail(C.FFITEL_E_INTERNAL, "ffitel_span_inject: %v", err)
	}
	return copyOut(buf, capacity, string(b))
}

//export ffitelgo_span_traceparent
func ffitelgo_span_traceparent(span C.uint64_t, buf *C.char, capacity C.size_t) (rc C.int) {
	defer recoverInto(&rc)
	s, ok := spanOf(uint64(span))
	if !ok {
		return fail(C.FFITEL_E_HANDLE, "ffitel_span_traceparent: unknown or ended span handle")
	}
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(trace.ContextWithSpan(context.Background(), s), carrier)
	return copyOut(buf, capacity, carrier["traceparent"])
}
