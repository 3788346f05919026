package main

// The C ABI behind host OpenTelemetry API bridges (Python's
// ffitel.opentelemetry): spans with an explicit scope, kind, start and end
// time, links and status, and instruments by handle (observable ones are
// pushed by the host, which runs their callbacks: nothing calls back into
// it). Translation only: the instrument table lives in metrics.APIInstruments.

/*
#include <stdint.h>
#include <stddef.h>
#include "include/ffitel.h"
*/
import "C"

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"math"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/ffitel/ffitel/bootstrap"
	"github.com/ffitel/ffitel/metrics"
)

// spanContextOf parses a W3C traceparent (an invalid context when malformed).
func spanContextOf(tp string) trace.SpanContext {
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": tp})
	return trace.SpanContextFromContext(ctx)
}

// linksOf decodes [{"traceparent": "...", "attributes": {...}}, ...].
func linksOf(in *input, p *C.char, n C.size_t) []trace.Link {
	if n == 0 {
		return nil
	}
	doc := in.text("links_json", p, n, maxAttrsJSONBytes)
	var raw []struct {
		Traceparent string          `json:"traceparent"`
		Attributes  json.RawMessage `json:"attributes"`
	}
	if err := json.Unmarshal([]byte(doc), &raw); err != nil {
		in.problem(C.FFITEL_E_INVALID, "ffitel: links_json is not an array of {traceparent, attributes}; links ignored")
		return nil
	}
	links := make([]trace.Link, 0, len(raw))
	for _, r := range raw {
		sc := spanContextOf(r.Traceparent)
		if !sc.IsValid() {
			in.problem(C.FFITEL_E_INVALID, "ffitel: a link's traceparent is malformed; that link ignored")
			continue
		}
		var attrs []attribute.KeyValue
		if len(r.Attributes) > 0 && string(r.Attributes) != "null" {
			a, _, err := decodeAttrs(string(r.Attributes))
			if err != nil {
				in.problem(C.FFITEL_E_INVALID, "ffitel: a link's attributes: "+err.Error())
			}
			attrs = bootstrap.KeyValues(a)
		}
		links = append(links, trace.Link{SpanContext: sc, Attributes: attrs})
	}
	return links
}

// writeTraceparent writes a span context as a W3C traceparent, NUL-terminated,
// into the caller's buffer (nothing when it is invalid or the buffer is too
// small): no propagator's carrier and no Go string, as this runs on every
// API span start.
func writeTraceparent(buf *C.char, capacity C.size_t, sc trace.SpanContext) {
	if !sc.IsValid() || buf == nil || capacity < 56 {
		return
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(buf)), 56)
	tid, sid := sc.TraceID(), sc.SpanID()
	copy(b, "00-")
	hex.Encode(b[3:35], tid[:])
	b[35] = '-'
	hex.Encode(b[36:52], sid[:])
	b[52] = '-'
	f := [1]byte{byte(sc.TraceFlags())}
	hex.Encode(b[53:55], f[:])
	b[55] = 0
}

// maxCachedTracers bounds apiTracers' cache (scopes beyond it are looked up
// in the provider on each start).
const maxCachedTracers = 1024

// tracerCache maps scope names to the tracers of one provider.
type tracerCache struct {
	tp      trace.TracerProvider
	byScope sync.Map // string -> trace.Tracer
	n       atomic.Int32
}

var apiTracers atomic.Pointer[tracerCache]

// apiTracer returns the tracer of the scope in scope/scopeLen: a cache hit
// reads the caller's bytes in place (no copy, no provider lock).
func apiTracer(in *input, tp trace.TracerProvider, scope *C.char, scopeLen C.size_t) trace.Tracer {
	c := apiTracers.Load()
	if c == nil || c.tp != tp {
		c = &tracerCache{tp: tp}
		apiTracers.Store(c)
	}
	var raw string
	if scope != nil && scopeLen > 0 && scopeLen <= 256 {
		raw = unsafe.String((*byte)(unsafe.Pointer(scope)), int(scopeLen)) // only for the lookup
		if t, ok := c.byScope.Load(raw); ok {
			return t.(trace.Tracer)
		}
	}
	name := in.text("scope", scope, scopeLen, 256)
	if name == "" {
		name = bootstrap.ScopeName
	}
	t := tp.Tracer(name)
	if raw != "" && name == raw && c.n.Load() < maxCachedTracers {
		if _, loaded := c.byScope.LoadOrStore(name, t); !loaded {
			c.n.Add(1)
		}
	}
	return t
}

func timestamp(ns C.int64_t) time.Time {
	if ns <= 0 {
		return time.Now()
	}
	return time.Unix(0, int64(ns))
}

// kindOptions holds the span-kind option of each kind, made once: a start
// with nothing else to say passes it as is (no allocation).
// Indexed by trace.SpanKind (spanStart returns one of spanKinds).
var kindOptions = func() (o [trace.SpanKindConsumer + 1][]trace.SpanStartOption) {
	for k := range o {
		o[k] = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKind(k))}
	}
	return o
}()

//export ffitelgo_span_start_ex
func ffitelgo_span_start_ex(scope *C.char, scopeLen C.size_t, name *C.char, nameLen C.size_t, parent C.uint64_t,
	traceparent *C.char, tpLen C.size_t, attrsJSON *C.char, attrsLen C.size_t, kind C.int32_t,
	startNS C.int64_t, linksJSON *C.char, linksLen C.size_t, tpOut *C.char, tpCap C.size_t,
	idsOut *C.uchar) (h C.uint64_t) {
	defer recoverHandle(&h)
	var in input
	tracer := apiTracer(&in, rt().TracerProvider(), scope, scopeLen)
	spanName, ctx, k, ok := spanStart(&in, "ffitel_span_start_ex", name, nameLen, parent, traceparent, tpLen, kind)
	if !ok {
		return 0
	}
	opts := kindOptions[k][:1:1] // an append below copies: the shared slice is never written
	if attrsLen > 0 {
		opts = append(opts, trace.WithAttributes(bootstrap.KeyValues(in.attrs(attrsJSON, attrsLen))...))
	}
	if startNS > 0 {
		opts = append(opts, trace.WithTimestamp(timestamp(startNS)))
	}
	if links := linksOf(&in, linksJSON, linksLen); len(links) > 0 {
		opts = append(opts, trace.WithLinks(links...))
	}
	if markers := in.markers(); len(markers) > 0 {
		opts = append(opts, trace.WithAttributes(bootstrap.KeyValues(markers)...))
	}
	_, s := tracer.Start(ctx, spanName, opts...)
	handle, ok := openSpanTable(spanEntry{span: s})
	if !ok {
		s.SetAttributes(attribute.Bool("ffitel.span_table_full", true))
		s.End()
		setError("ffitel_span_start_ex: too many open spans (65536); end spans with ffitel_span_end")
		return 0
	}
	spanIDs(s, (*[25]byte)(unsafe.Pointer(idsOut)))
	writeTraceparent(tpOut, tpCap, s.SpanContext())
	if in.code != 0 {
		in.result()
	}
	return C.uint64_t(handle)
}

//export ffitelgo_span_end_ex
func ffitelgo_span_end_ex(span C.uint64_t, status C.int32_t, desc *C.char, descLen C.size_t, endNS C.int64_t,
	queued C.int) (rc C.int) {
	defer recoverInto(&rc)
	e, found := closeSpanTable(uint64(span), queued != 0)
	if !found {
		return fail(C.FFITEL_E_HANDLE, "ffitel_span_end_ex: unknown or already ended span handle")
	}
	var in input
	switch status {
	case 0:
	case 1:
		e.span.SetStatus(codes.Ok, "")
	case 2:
		e.span.SetStatus(codes.Error, in.text("description", desc, descLen, maxMessageBytes))
	default:
		in.problem(C.FFITEL_E_INVALID, "ffitel_span_end_ex: unknown status; left unset")
	}
	if e.task != nil {
		errorType := ""
		if status == 2 {
			errorType = "_OTHER"
		}
		e.task.End(errorType, "")
		return in.result()
	}
	if endNS > 0 {
		e.span.End(trace.WithTimestamp(timestamp(endNS)))
	} else {
		e.span.End()
	}
	return in.result()
}

//export ffitelgo_span_add_event_at
func ffitelgo_span_add_event_at(span C.uint64_t, name *C.char, nameLen C.size_t, attrsJSON *C.char,
	attrsLen C.size_t, atNS C.int64_t) (rc C.int) {
	defer recoverInto(&rc)
	return spanAddEvent("ffitel_span_add_event_at", span, name, nameLen, attrsJSON, attrsLen, atNS)
}

//export ffitelgo_span_add_link
func ffitelgo_span_add_link(span C.uint64_t, linksJSON *C.char, linksLen C.size_t) (rc C.int) {
	defer recoverInto(&rc)
	s, ok := spanOf(uint64(span))
	if !ok {
		return fail(C.FFITEL_E_HANDLE, "ffitel_span_add_link: unknown or ended span handle")
	}
	var in input
	for _, l := range linksOf(&in, linksJSON, linksLen) {
		s.AddLink(l)
	}
	return in.result()
}

//export ffitelgo_span_update_name
func ffitelgo_span_update_name(span C.uint64_t, name *C.char, nameLen C.size_t) (rc C.int) {
	defer recoverInto(&rc)
	s, ok := spanOf(uint64(span))
	if !ok {
		return fail(C.FFITEL_E_HANDLE, "ffitel_span_update_name: unknown or ended span handle")
	}
	var in input
	if n := in.text("name", name, nameLen, maxMessageBytes); n != "" {
		s.SetName(n)
	}
	return in.result()
}

var apiInstruments = &metrics.APIInstruments{}

//export ffitelgo_instrument_create
func ffitelgo_instrument_create(scope *C.char, scopeLen C.size_t, kind C.int32_t, name *C.char, nameLen C.size_t,
	unit *C.char, unitLen C.size_t, desc *C.char, descLen C.size_t) (h C.uint64_t) {
	defer recoverHandle(&h)
	var in input
	scopeName := in.text("scope", scope, scopeLen, 256)
	if scopeName == "" {
		scopeName = bootstrap.ScopeName
	}
	n := in.text("name", name, nameLen, 256)
	if !validInstrumentName(n) {
		setError("ffitel_instrument_create: invalid instrument name (a letter, then letters, digits, _ . - /; at most 255 bytes)")
		return 0
	}
	u := in.text("unit", unit, unitLen, 63)
	d := in.text("description", desc, descLen, 1024)
	handle, err := apiInstruments.Create(rt().MeterProvider().Meter(scopeName), scopeName,
		metrics.InstrumentKind(kind), n, u, d)
	if err != nil {
		setError("ffitel_instrument_create: " + err.Error())
		return 0
	}
	return C.uint64_t(handle)
}

//export ffitelgo_instrument_record
func ffitelgo_instrument_record(instrument C.uint64_t, value C.double, attrsJSON *C.char, attrsLen C.size_t) (rc C.int) {
	defer recoverInto(&rc)
	var in input
	v := float64(value)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		in.problem(C.FFITEL_E_INVALID, "ffitel_instrument_record: value is not finite")
		return in.result()
	}
	attrs := in.attrs(attrsJSON, attrsLen)
	if in.badAttrs {
		return in.result() // as ffitel_counter_add: no half-attributed series
	}
	switch err := apiInstruments.Record(uint64(instrument), v, bootstrap.KeyValues(attrs)); err {
	case nil:
	case metrics.ErrInstrumentHandle:
		return fail(C.FFITEL_E_HANDLE, "ffitel_instrument_record: %v", err)
	default:
		in.problem(C.FFITEL_E_INVALID, "ffitel_instrument_record: "+err.Error())
	}
	return in.result()
}
