package bootstrap

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ffitel/ffitel/internal/spool"
)

// The Go half of the spool's record path: a log item and an ended span
// encoded (as Handler and the span router do) and decoded (as the shipper
// does) come back the same. The C writer and the shipper are tested end to
// end with real processes in e2e/spool_test.go.

func TestSpoolLogItemRoundTrip(t *testing.T) {
	ch := &chain{parent: &chain{attrs: []slog.Attr{slog.String("svc", "a")}}, group: "g"}
	r := slog.NewRecord(time.Unix(0, 12345), slog.LevelWarn, "hello", 0)
	r.AddAttrs(slog.Int("n", 3), slog.Bool("ok", true), slog.Float64("f", 1.5), slog.Group("h", slog.String("k", "v")),
		slog.Duration("d", time.Second))
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2},
		TraceFlags: trace.FlagsSampled})
	it := newLogItem(trace.ContextWithSpanContext(WithFields(context.Background(), slog.String("req", "r1")), sc), ch, r)

	l := spool.Log{Severity: SeverityFromLevel(it.record.Level), Time: it.record.Time.UnixNano(), Body: it.record.Message,
		TraceID: it.span.TraceID(), SpanID: it.span.SpanID(), Attrs: spoolFlatten(it.chain, it.record)}
	for _, f := range it.fields {
		l.Fields = appendSpoolAttr(l.Fields, "", f)
	}
	p := spool.AppendLog(nil, &l)
	p[1] = byte(it.span.TraceFlags())
	got, ok := spool.DecodeLog(p)
	if !ok {
		t.Fatal("decode")
	}
	back := spoolItem(&got, p[1])
	if back.record.Level != slog.LevelWarn || back.record.Message != "hello" || !back.record.Time.Equal(r.Time) {
		t.Errorf("record: %v %q %v", back.record.Level, back.record.Message, back.record.Time)
	}
	if !back.span.Equal(sc) {
		t.Errorf("span context %v, want %v", back.span, sc)
	}
	want := map[string]string{"svc": "a", "g.n": "3", "g.ok": "true", "g.f": "1.5", "g.h.k": "v", "g.d": "1s"}
	n := 0
	back.record.Attrs(func(a slog.Attr) bool {
		n++
		if want[a.Key] != a.Value.String() {
			t.Errorf("attribute %s = %s, want %q", a.Key, a.Value, want[a.Key])
		}
		return true
	})
	if n != len(want) || len(back.fields) != 1 || back.fields[0].Value.String() != "r1" {
		t.Errorf("%d attributes, fields %v", n, back.fields)
	}
}

type appendRecorder struct{ payloads [][]byte }

func (a *appendRecorder) Open(string, []byte, uint64, uint64, int32) (string, error) { return "k", nil }
func (a *appendRecorder) Append(p []byte) int {
	a.payloads = append(a.payloads, append([]byte(nil), p...))
	return SpoolTaken
}
func (a *appendRecorder) Counts() (uint64, uint64, uint64) { return uint64(len(a.payloads)), 0, 0 }
func (a *appendRecorder) Budget(uint64, uint64)            {}
func (a *appendRecorder) Seal()                            {}
func (a *appendRecorder) Prefault()                        {}
func (a *appendRecorder) Close()                           {}

func TestSpoolSpanRoundTrip(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ctx, parent := tp.Tracer("scope").Start(context.Background(), "parent")
	_, s := tp.Tracer("scope").Start(ctx, "child", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.Int("n", 1), attribute.StringSlice("l", []string{"a", "b"})),
		trace.WithLinks(trace.Link{SpanContext: parent.SpanContext(), Attributes: []attribute.KeyValue{attribute.Bool("b", true)}}))
	s.AddEvent("ev", trace.WithAttributes(attribute.String("e", "x")))
	s.SetStatus(codes.Error, "boom")
	s.End()
	ro := rec.Ended()[0]

	be := &appendRecorder{}
	sh := &spoolShipper{backend: be, spanExporter: tracetest.NewInMemoryExporter()}
	if !sh.appendSpan(ro) || sh.spansWritten.Load() != 1 {
		t.Fatal("not taken")
	}
	sp, ok := spool.DecodeSpan(be.payloads[0])
	if !ok {
		t.Fatal("decode")
	}
	back := spoolSpan(&sp, nil)
	if back.Name() != "child" || back.SpanKind() != trace.SpanKindConsumer || !back.SpanContext().Equal(ro.SpanContext()) ||
		back.Parent().SpanID() != parent.SpanContext().SpanID() || !back.StartTime().Equal(ro.StartTime()) ||
		!back.EndTime().Equal(ro.EndTime()) || back.Status() != ro.Status() {
		t.Errorf("span: %+v", tracetest.SpanStubFromReadOnlySpan(back))
	}
	if len(back.Attributes()) != 2 || back.Attributes()[1].Value.AsString() != `["a","b"]` {
		t.Errorf("attributes %v", back.Attributes())
	}
	if len(back.Events()) != 1 || back.Events()[0].Name != "ev" || len(back.Links()) != 1 ||
		back.Links()[0].SpanContext.SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("events %v links %v", back.Events(), back.Links())
	}
	if back.InstrumentationScope().Name != "scope" {
		t.Errorf("scope %v", back.InstrumentationScope())
	}
}
