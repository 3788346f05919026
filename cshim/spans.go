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
	"log/slog"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/ffitel/ffitel/bootstrap"
	"github.com/ffitel/ffitel/metrics"
)

// maxOpenSpans bounds the handle table: a host that forgets to end spans
// gets FFITEL_E_FULL instead of unbounded memory.
const maxOpenSpans = 1 << 16

// spanTable maps handles to open spans and task attempts. Handles are never
// reused. A task handle works wherever a span handle does (logs inside a
// task carry its ids).
type spanTable struct {
	mu   sync.RWMutex
	next uint64
	open map[uint64]spanEntry
}

type spanEntry struct {
	span trace.Span
	task *metrics.Task // set for ffitel_task_start handles
}

var spans = &spanTable{open: map[uint64]spanEntry{}}

func (t *spanTable) put(e spanEntry) (uint64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.open) >= maxOpenSpans {
		return 0, false
	}
	t.next++
	t.open[t.next] = e
	C.ffitel_shim_span_live(C.uint64_t(t.next), 1)
	return t.next, true
}

func (t *spanTable) add(s trace.Span) (uint64, bool) { return t.put(spanEntry{span: s}) }

func (t *spanTable) addTask(k *metrics.Task) (uint64, bool) {
	return t.put(spanEntry{span: k.Span(), task: k})
}

func (t *spanTable) get(h uint64) (trace.Span, bool) {
	t.mu.RLock()
	e, ok := t.open[h]
	t.mu.RUnlock()
	return e.span, ok
}

// context returns a context carrying span h (h == 0: none). ok is false for
// an unknown handle; the context is then empty.
func (t *spanTable) context(h uint64) (context.Context, bool) {
	if h == 0 {
		return context.Background(), true
	}
	s, ok := t.get(h)
	if !ok {
		return context.Background(), false
	}
	return trace.ContextWithSpan(context.Background(), s), true
}

// removeEntry takes h out of the table. Records queued in the ring are
// turned into records first: one naming h still finds its ids.
func (t *spanTable) removeEntry(h uint64) (spanEntry, bool) {
	C.ffitel_shim_span_live(C.uint64_t(h), 0) // later records naming h take the synchronous path
	ringDrain()                               // earlier ones become records while h is known
	t.mu.Lock()
	e, ok := t.open[h]
	delete(t.open, h)
	t.mu.Unlock()
	return e, ok
}

// restore puts back an entry removed by mistake (same handle).
func (t *spanTable) restore(h uint64, e spanEntry) {
	t.mu.Lock()
	t.open[h] = e
	t.mu.Unlock()
	C.ffitel_shim_span_live(C.uint64_t(h), 1)
}

// endAll ends every open span and task (at shutdown) and reports how many.
func (t *spanTable) endAll() int {
	t.mu.RLock()
	for h := range t.open {
		C.ffitel_shim_span_live(C.uint64_t(h), 0)
	}
	t.mu.RUnlock()
	ringDrain()
	t.mu.Lock()
	open := t.open
	t.open = map[uint64]spanEntry{}
	t.mu.Unlock()
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

// otelAttrs converts decoded attributes to OpenTelemetry attributes.
func otelAttrs(attrs []slog.Attr) []attribute.KeyValue {
	if len(attrs) == 0 {
		return nil
	}
	out := make([]attribute.KeyValue, 0, len(attrs))
	for _, a := range attrs {
		k := attribute.Key(a.Key)
		switch a.Value.Kind() {
		case slog.KindString:
			out = append(out, k.String(a.Value.String()))
		case slog.KindInt64:
			out = append(out, k.Int64(a.Value.Int64()))
		case slog.KindFloat64:
			out = append(out, k.Float64(a.Value.Float64()))
		case slog.KindBool:
			out = append(out, k.Bool(a.Value.Bool()))
		default:
			switch v := a.Value.Any().(type) {
			case []string:
				out = append(out, k.StringSlice(v))
			case []int64:
				out = append(out, k.Int64Slice(v))
			case []float64:
				out = append(out, k.Float64Slice(v))
			case []bool:
				out = append(out, k.BoolSlice(v))
			default:
				out = append(out, k.String(a.Value.String()))
			}
		}
	}
	return out
}

var spanKinds = [...]trace.SpanKind{trace.SpanKindInternal, trace.SpanKindServer, trace.SpanKindClient,
	trace.SpanKindProducer, trace.SpanKindConsumer}

//export ffitelgo_span_start
func ffitelgo_span_start(name *C.char, nameLen C.size_t, parent C.uint64_t, traceparent *C.char, tpLen C.size_t,
	attrsJSON *C.char, attrsLen C.size_t, kind C.int32_t) (h C.uint64_t) {
	defer recoverHandle(&h)
	var in input
	spanName := in.text("name", name, nameLen, maxMessageBytes)
	if spanName == "" {
		spanName = "unnamed"
	}
	ctx := context.Background()
	if parent != 0 {
		p, ok := spans.get(uint64(parent))
		if !ok {
			setError("ffitel_span_start: unknown or ended parent span handle")
			return 0
		}
		ctx = trace.ContextWithSpan(ctx, p)
	} else if tpLen > 0 {
		tp := in.text("traceparent", traceparent, tpLen, 256)
		ctx = propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": tp})
		if !trace.SpanContextFromContext(ctx).IsValid() {
			in.problem(codeInvalid, "ffitel_span_start: malformed traceparent; started a new trace")
		}
	}
	k := trace.SpanKindInternal
	if kind >= 0 && int(kind) < len(spanKinds) {
		k = spanKinds[kind]
	} else {
		in.problem(codeInvalid, "ffitel_span_start: unknown kind; using INTERNAL")
	}
	attrs := in.attrs(attrsJSON, attrsLen)
	attrs = append(attrs, in.markers()...)
	_, s := rt().TracerProvider().Tracer(bootstrap.ScopeName).Start(ctx, spanName,
		trace.WithSpanKind(k), trace.WithAttributes(otelAttrs(attrs)...))
	handle, ok := spans.add(s)
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
	s, ok := spans.get(uint64(span))
	if !ok {
		return fail(codeHandle, "ffitel_span_set_attributes: unknown or ended span handle")
	}
	var in input
	attrs := in.attrs(attrsJSON, attrsLen)
	attrs = append(attrs, in.markers()...)
	s.SetAttributes(otelAttrs(attrs)...)
	return in.result()
}

//export ffitelgo_span_add_event
func ffitelgo_span_add_event(span C.uint64_t, name *C.char, nameLen C.size_t, attrsJSON *C.char,
	attrsLen C.size_t) (rc C.int) {
	defer recoverInto(&rc)
	s, ok := spans.get(uint64(span))
	if !ok {
		return fail(codeHandle, "ffitel_span_add_event: unknown or ended span handle")
	}
	var in input
	eventName := in.text("name", name, nameLen, maxMessageBytes)
	attrs := in.attrs(attrsJSON, attrsLen)
	attrs = append(attrs, in.markers()...)
	s.AddEvent(eventName, trace.WithAttributes(otelAttrs(attrs)...))
	return in.result()
}

//export ffitelgo_span_end
func ffitelgo_span_end(span C.uint64_t, ok C.int32_t, errText *C.char, errLen C.size_t) (rc C.int) {
	defer recoverInto(&rc)
	e, found := spans.removeEntry(uint64(span))
	if !found {
		return fail(codeHandle, "ffitel_span_end: unknown or already ended span handle")
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
	s, ok := spans.get(uint64(span))
	if !ok {
		return fail(codeHandle, "ffitel_span_inject: unknown or ended span handle")
	}
	carrier := propagation.MapCarrier{}
	rt().Propagator().Inject(trace.ContextWithSpan(context.Background(), s), carrier)
	b, err := json.Marshal(carrier)
	if err != nil {
		return fail(codeInternal, "ffitel_span_inject: %v", err)
	}
	return copyOut(buf, capacity, string(b))
}

//export ffitelgo_span_traceparent
func ffitelgo_span_traceparent(span C.uint64_t, buf *C.char, capacity C.size_t) (rc C.int) {
	defer recoverInto(&rc)
	s, ok := spans.get(uint64(span))
	if !ok {
		return fail(codeHandle, "ffitel_span_traceparent: unknown or ended span handle")
	}
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(trace.ContextWithSpan(context.Background(), s), carrier)
	return copyOut(buf, capacity, carrier["traceparent"])
}
