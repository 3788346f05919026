package bootstrap

import (
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ffitel/ffitel/internal/spool"
)

// Ended spans in the spool (docs/SPOOL.md): the span router (early_spans.go)
// hands each ended span of phase 2 to appendSpan; the shipper exports them
// with the logs of the same segment.

// appendSpan writes an ended span to the spool; false when it is not taken
// (the caller queues it in memory). A refused span counts as dropped.
func (s *spoolShipper) appendSpan(ro sdktrace.ReadOnlySpan) bool {
	if s == nil || s.spanExporter == nil {
		return false
	}
	sc := ro.SpanContext()
	sp := spool.Span{Name: ro.Name(), Kind: uint8(ro.SpanKind()), Flags: uint8(sc.TraceFlags()),
		StatusCode: uint8(ro.Status().Code), StatusDescription: ro.Status().Description,
		TraceState: sc.TraceState().String(), Start: ro.StartTime().UnixNano(), End: ro.EndTime().UnixNano(),
		TraceID: sc.TraceID(), SpanID: sc.SpanID(), ScopeName: ro.InstrumentationScope().Name,
		ScopeVer: ro.InstrumentationScope().Version, Attrs: kvsToSpool(ro.Attributes())}
	if p := ro.Parent(); p.SpanID().IsValid() {
		sp.ParentSpanID, sp.ParentRemote = p.SpanID(), p.IsRemote()
	}
	for _, e := range ro.Events() {
		sp.Events = append(sp.Events, spool.Event{Name: e.Name, Time: e.Time.UnixNano(), Attrs: kvsToSpool(e.Attributes)})
	}
	for _, l := range ro.Links() {
		sp.Links = append(sp.Links, spool.Link{TraceID: l.SpanContext.TraceID(), SpanID: l.SpanContext.SpanID(),
			Flags: uint8(l.SpanContext.TraceFlags()), Attrs: kvsToSpool(l.Attributes)})
	}
	switch s.backend.Append(spool.AppendSpan(make([]byte, 0, 256), &sp)) {
	case SpoolTaken:
		s.spansWritten.Add(1)
		return true
	case SpoolRefused:
		s.spansRefused.Add(1)
		return true
	}
	return false
}

// kvsToSpool converts attributes; slices become their string form.
func kvsToSpool(kvs []attribute.KeyValue) []spool.Attr {
	out := make([]spool.Attr, 0, len(kvs))
	for _, kv := range kvs {
		a := spool.Attr{Key: string(kv.Key)}
		switch kv.Value.Type() {
		case attribute.BOOL:
			a.Type = spool.TypeBool
			if kv.Value.AsBool() {
				a.Int = 1
			}
		case attribute.INT64:
			a.Type, a.Int = spool.TypeInt, kv.Value.AsInt64()
		case attribute.FLOAT64:
			a.Type, a.Float = spool.TypeDouble, kv.Value.AsFloat64()
		default:
			a.Type, a.Str = spool.TypeString, kv.Value.Emit()
		}
		out = append(out, a)
	}
	return out
}

// spoolToKVs is kvsToSpool's inverse.
func spoolToKVs(attrs []spool.Attr) []attribute.KeyValue {
	var kvs []attribute.KeyValue
	for _, a := range attrs {
		switch a.Type {
		case spool.TypeString:
			kvs = append(kvs, attribute.String(a.Key, a.Str))
		case spool.TypeInt:
			kvs = append(kvs, attribute.Int64(a.Key, a.Int))
		case spool.TypeDouble:
			kvs = append(kvs, attribute.Float64(a.Key, a.Float))
		case spool.TypeBool:
			kvs = append(kvs, attribute.Bool(a.Key, a.Int != 0))
		}
	}
	return kvs
}

// spoolSpan rebuilds an ended span from the spool, with the resource of its
// segment.
func spoolSpan(sp *spool.Span, res *resource.Resource) sdktrace.ReadOnlySpan {
	ts, _ := trace.ParseTraceState(sp.TraceState)
	stub := tracetest.SpanStub{
		Name: sp.Name,
		SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: sp.TraceID, SpanID: sp.SpanID,
			TraceFlags: trace.TraceFlags(sp.Flags), TraceState: ts}),
		SpanKind:             trace.SpanKind(sp.Kind),
		StartTime:            time.Unix(0, sp.Start),
		EndTime:              time.Unix(0, sp.End),
		Attributes:           spoolToKVs(sp.Attrs),
		Status:               sdktrace.Status{Code: codes.Code(sp.StatusCode), Description: sp.StatusDescription},
		Resource:             res,
		InstrumentationScope: instrumentation.Scope{Name: sp.ScopeName, Version: sp.ScopeVer},
	}
	if sp.ParentSpanID != ([8]byte{}) {
		stub.Parent = trace.NewSpanContext(trace.SpanContextConfig{TraceID: sp.TraceID, SpanID: sp.ParentSpanID,
			TraceFlags: trace.TraceFlags(sp.Flags), Remote: sp.ParentRemote})
	}
	for _, e := range sp.Events {
		stub.Events = append(stub.Events, sdktrace.Event{Name: e.Name, Time: time.Unix(0, e.Time), Attributes: spoolToKVs(e.Attrs)})
	}
	for _, l := range sp.Links {
		stub.Links = append(stub.Links, sdktrace.Link{SpanContext: trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: l.TraceID, SpanID: l.SpanID, TraceFlags: trace.TraceFlags(l.Flags)}), Attributes: spoolToKVs(l.Attrs)})
	}
	return stub.Snapshot()
}
