package bootstrap

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	rtrace "runtime/trace"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ffitel/ffitel/internal/otlpwire"
)

// The tracer's spans must be the SDK's in everything they record: the same
// calls run on an SDK TracerProvider and on tracerProvider (same resource,
// limits, sampler, ids), and the ended spans are compared field by field
// and as OTLP bytes.

type seqIDs struct {
	mu sync.Mutex
	n  uint64
}

func (g *seqIDs) next() uint64 { g.mu.Lock(); defer g.mu.Unlock(); g.n++; return g.n }

func (g *seqIDs) NewIDs(context.Context) (trace.TraceID, trace.SpanID) {
	var tid trace.TraceID
	var sid trace.SpanID
	n := g.next()
	tid[15], tid[0], sid[7] = byte(n), 0xab, byte(n)
	return tid, sid
}

func (g *seqIDs) NewSpanID(context.Context, trace.TraceID) trace.SpanID {
	var sid trace.SpanID
	sid[7], sid[0] = byte(g.next()), 0xcd
	return sid
}

type endedSpanList struct {
	mu     sync.Mutex
	spans  []sdktrace.ReadOnlySpan
	starts []string
}

func (e *endedSpanList) OnStart(_ context.Context, s sdktrace.ReadWriteSpan) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.starts = append(e.starts, s.Name())
}
func (e *endedSpanList) OnEnd(s sdktrace.ReadOnlySpan) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.spans = append(e.spans, s)
}
func (*endedSpanList) Shutdown(context.Context) error   { return nil }
func (*endedSpanList) ForceFlush(context.Context) error { return nil }

// recordOnly records without sampling and adds an attribute of its own.
type recordOnly struct{}

func (recordOnly) ShouldSample(sdktrace.SamplingParameters) sdktrace.SamplingResult {
	return sdktrace.SamplingResult{Decision: sdktrace.RecordOnly, Attributes: []attribute.KeyValue{attribute.String("sampler", "yes"), attribute.Int("i", -1)}}
}
func (recordOnly) Description() string { return "recordOnly" }

type customErr struct{ msg string }

func (e *customErr) Error() string { return e.msg }

var t0 = time.Unix(1_700_000_000, 0)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Millisecond) }

type tracerCase struct {
	name    string
	limits  func(*sdktrace.SpanLimits)
	sampler sdktrace.Sampler
	differs string // where ffitel is meant to differ: it keeps the dropped counts
	run     func(tr trace.Tracer, tp trace.TracerProvider)
}

func tracerCases() []tracerCase {
	remote := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5}, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	ts, _ := trace.ParseTraceState("vendor=x,other=y")
	remoteTS := remote.WithTraceState(ts)
	unsampled := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{9}, SpanID: trace.SpanID{9}, Remote: true})
	long := strings.Repeat("é", 12)
	return []tracerCase{
		{name: "plain", run: func(tr trace.Tracer, _ trace.TracerProvider) {
			_, s := tr.Start(context.Background(), "plain", trace.WithTimestamp(at(0)),
				trace.WithAttributes(attribute.Int("i", 1), attribute.String("k", "v"), attribute.Bool("ok", true)))
			s.End(trace.WithTimestamp(at(5)))
		}},
		{name: "no attributes, kinds", run: func(tr trace.Tracer, _ trace.TracerProvider) {
			for k, kind := range []trace.SpanKind{trace.SpanKindServer, trace.SpanKindClient, trace.SpanKindProducer, trace.SpanKindConsumer, 99} {
				_, s := tr.Start(context.Background(), "kind", trace.WithTimestamp(at(k)), trace.WithSpanKind(kind))
				s.End(trace.WithTimestamp(at(k + 1)))
			}
		}},
		{name: "duplicate keys", run: func(tr trace.Tracer, _ trace.TracerProvider) {
			_, s := tr.Start(context.Background(), "dup", trace.WithTimestamp(at(0)),
				trace.WithAttributes(attribute.Int("a", 1), attribute.Int("b", 2), attribute.Int("a", 3)),
				trace.WithAttributes(attribute.String("b", "two")))
			s.SetAttributes(attribute.Int("c", 4), attribute.Int("a", 5), attribute.Key("").String("invalid"), attribute.KeyValue{Key: "none"})
			s.End(trace.WithTimestamp(at(1)))
		}},
		{name: "attribute count limit", limits: func(l *sdktrace.SpanLimits) { l.AttributeCountLimit = 4 }, run: func(tr trace.Tracer, _ trace.TracerProvider) {
			_, s := tr.Start(context.Background(), "capped", trace.WithTimestamp(at(0)),
				trace.WithAttributes(attribute.Int("a", 1), attribute.Int("b", 2), attribute.Int("a", 3)))
			s.SetAttributes(attribute.Int("c", 1), attribute.Int("d", 1), attribute.Int("e", 1), attribute.Int("b", 9), attribute.Key("").Int(0))
			s.SetAttributes(attribute.Int("f", 1), attribute.Int("a", 7))
			s.End(trace.WithTimestamp(at(1)))
			_, s = tr.Start(context.Background(), "capped at start", trace.WithTimestamp(at(0)),
				trace.WithAttributes(attribute.Int("a", 1), attribute.Int("b", 2), attribute.Int("c", 3), attribute.Int("d", 4), attribute.Int("e", 5), attribute.Int("a", 6)))
			s.End(trace.WithTimestamp(at(1)))
		}},
		{name: "no attributes allowed", limits: func(l *sdktrace.SpanLimits) { l.AttributeCountLimit = 0 }, run: func(tr trace.Tracer, _ trace.TracerProvider) {
			_, s := tr.Start(context.Background(), "none", trace.WithTimestamp(at(0)), trace.WithAttributes(attribute.Int("a", 1)))
			s.SetAttributes(attribute.Int("b", 1), attribute.Int("c", 1))
			s.End(trace.WithTimestamp(at(1)))
		}},
		{name: "value length limit", limits: func(l *sdktrace.SpanLimits) { l.AttributeValueLengthLimit = 5 }, run: func(tr trace.Tracer, _ trace.TracerProvider) {
			_, s := tr.Start(context.Background(), "long", trace.WithTimestamp(at(0)),
				trace.WithAttributes(attribute.String("s", long), attribute.String("short", "abc"), attribute.StringSlice("ss", []string{long, "ab"}),
					attribute.Int64Slice("is", []int64{1, 2, 3, 4, 5, 6, 7}), attribute.String("bad", "ab\xffcdefgh")))
			s.AddEvent("ev", trace.WithTimestamp(at(1)), trace.WithAttributes(attribute.String("s", long)))
			s.End(trace.WithTimestamp(at(2)))
		}},
		{name: "composite values", run: func(tr trace.Tracer, _ trace.TracerProvider) {
			_, s := tr.Start(context.Background(), "composite", trace.WithTimestamp(at(0)),
				trace.WithAttributes(attribute.Slice("sl", attribute.IntValue(1), attribute.StringValue("x")),
					attribute.Map("m", attribute.Int("a", 1), attribute.Int("a", 2), attribute.String("b", "c"))))
			s.End(trace.WithTimestamp(at(1)))
		}},
		{name: "events", limits: func(l *sdktrace.SpanLimits) { l.EventCountLimit = 2; l.AttributePerEventCountLimit = 2 }, run: func(tr trace.Tracer, _ trace.TracerProvider) {
			_, s := tr.Start(context.Background(), "events", trace.WithTimestamp(at(0)))
			s.AddEvent("e1", trace.WithTimestamp(at(1)))
			s.AddEvent("e2", trace.WithTimestamp(at(2)), trace.WithAttributes(attribute.Int("a", 1), attribute.Int("a", 2), attribute.Int("b", 3), attribute.Int("c", 4)))
			s.AddEvent("e3", trace.WithTimestamp(at(3)), trace.WithAttributes(attribute.Int("x", 1)))
			s.AddEvent("e4", trace.WithTimestamp(at(4)))
			s.End(trace.WithTimestamp(at(5)))
		}},
		{name: "no events allowed", differs: "the SDK's snapshot counts no dropped events or links when the limit is 0", limits: func(l *sdktrace.SpanLimits) { l.EventCountLimit = 0; l.LinkCountLimit = 0 }, run: func(tr trace.Tracer, _ trace.TracerProvider) {
			_, s := tr.Start(context.Background(), "noevents", trace.WithTimestamp(at(0)), trace.WithLinks(trace.Link{SpanContext: remote}))
			s.AddEvent("e1", trace.WithTimestamp(at(1)))
			s.AddLink(trace.Link{SpanContext: remote})
			s.End(trace.WithTimestamp(at(5)))
		}},
		{name: "links", limits: func(l *sdktrace.SpanLimits) { l.LinkCountLimit = 2; l.AttributePerLinkCountLimit = 1 }, run: func(tr trace.Tracer, _ trace.TracerProvider) {
			_, s := tr.Start(context.Background(), "links", trace.WithTimestamp(at(0)),
				trace.WithLinks(trace.Link{SpanContext: remote, Attributes: []attribute.KeyValue{attribute.Int("a", 1), attribute.Int("b", 2)}},
					trace.Link{}, trace.Link{SpanContext: remoteTS}))
			s.AddLink(trace.Link{SpanContext: unsampled})
			s.AddLink(trace.Link{Attributes: []attribute.KeyValue{attribute.Int("only", 1)}})
			s.End(trace.WithTimestamp(at(1)))
		}},
		{name: "errors and status", run: func(tr trace.Tracer, _ trace.TracerProvider) {
			_, s := tr.Start(context.Background(), "status", trace.WithTimestamp(at(0)))
			s.SetStatus(codes.Error, "first")
			s.SetStatus(codes.Unset, "ignored")
			s.RecordError(&customErr{"custom"}, trace.WithTimestamp(at(1)), trace.WithAttributes(attribute.Int("n", 1)))
			s.RecordError(errors.New("plain"), trace.WithTimestamp(at(2)))
			s.RecordError(nil)
			s.End(trace.WithTimestamp(at(3)))
			_, s = tr.Start(context.Background(), "ok wins", trace.WithTimestamp(at(0)))
			s.SetStatus(codes.Ok, "dropped description")
			s.SetStatus(codes.Error, "too late")
			s.End(trace.WithTimestamp(at(3)))
		}},
		{name: "after end, rename", run: func(tr trace.Tracer, _ trace.TracerProvider) {
			_, s := tr.Start(context.Background(), "before", trace.WithTimestamp(at(0)))
			s.SetName("after")
			s.End(trace.WithTimestamp(at(1)))
			s.SetName("too late")
			s.SetAttributes(attribute.Int("late", 1))
			s.AddEvent("late")
			s.AddLink(trace.Link{SpanContext: remote})
			s.SetStatus(codes.Error, "late")
			s.RecordError(errors.New("late"))
			s.End(trace.WithTimestamp(at(9)))
			if s.IsRecording() {
				panic("recording after End")
			}
		}},
		{name: "parents", run: func(tr trace.Tracer, _ trace.TracerProvider) {
			ctx, root := tr.Start(context.Background(), "root", trace.WithTimestamp(at(0)))
			_, child := tr.Start(ctx, "child", trace.WithTimestamp(at(1)))
			_, child2 := tr.Start(ctx, "child2", trace.WithTimestamp(at(1)))
			_, fresh := tr.Start(ctx, "new root", trace.WithNewRoot(), trace.WithTimestamp(at(1)))
			rctx := trace.ContextWithRemoteSpanContext(context.Background(), remoteTS)
			_, fromRemote := tr.Start(rctx, "remote child", trace.WithTimestamp(at(2)))
			_, fromUnsampled := tr.Start(trace.ContextWithRemoteSpanContext(context.Background(), unsampled), "unsampled parent", trace.WithTimestamp(at(2)))
			for _, s := range []trace.Span{fromUnsampled, fromRemote, fresh, child2, child, root} {
				s.End(trace.WithTimestamp(at(3)))
			}
		}},
		{name: "record only, sampler attributes", sampler: recordOnly{}, run: func(tr trace.Tracer, _ trace.TracerProvider) {
			_, s := tr.Start(context.Background(), "recorded", trace.WithTimestamp(at(0)), trace.WithAttributes(attribute.Int("i", 1), attribute.Int("j", 2)))
			s.End(trace.WithTimestamp(at(1)))
		}},
		{name: "never sampled", sampler: sdktrace.NeverSample(), run: func(tr trace.Tracer, _ trace.TracerProvider) {
			ctx, s := tr.Start(context.Background(), "dropped", trace.WithAttributes(attribute.Int("i", 1)))
			if s.IsRecording() || !s.SpanContext().IsValid() || s.SpanContext().IsSampled() || !trace.SpanFromContext(ctx).SpanContext().Equal(s.SpanContext()) {
				panic("a dropped span carries its context and records nothing")
			}
			s.End()
		}},
		{name: "panic in End", run: func(tr trace.Tracer, _ trace.TracerProvider) {
			defer func() { _ = recover() }()
			_, s := tr.Start(context.Background(), "panics", trace.WithTimestamp(at(0)))
			defer s.End(trace.WithTimestamp(at(1)))
			panic(&customErr{"boom"})
		}},
		{name: "scopes", run: func(_ trace.Tracer, tp trace.TracerProvider) {
			for i, tr := range []trace.Tracer{
				tp.Tracer(""),
				tp.Tracer("a", trace.WithSchemaURL("https://example.com/1.0"),
					trace.WithInstrumentationAttributes(attribute.String("k", "v"), attribute.Int("k", 2), attribute.Slice("s", attribute.IntValue(1)))),
				tp.Tracer("a"), tp.Tracer("a"),
			} {
				_, s := tr.Start(context.Background(), "scoped", trace.WithTimestamp(at(i)))
				s.End(trace.WithTimestamp(at(i + 1)))
			}
		}},
	}
}

// normalized is the ended span with the times the calls could not fix
// (now) zeroed, as a comparable stub.
func normalized(s sdktrace.ReadOnlySpan) tracetest.SpanStub {
	st := tracetest.SpanStubFromReadOnlySpan(s)
	for i := range st.Events {
		if st.Events[i].Time.Before(t0) || st.Events[i].Time.After(at(1000)) {
			st.Events[i].Time = time.Time{}
		}
	}
	if st.StartTime.After(at(1000)) {
		st.StartTime, st.EndTime = time.Time{}, time.Time{}
	}
	return st
}

func TestTracerRecordsWhatTheSDKRecords(t *testing.T) {
	res := resource.NewSchemaless(attribute.String("service.name", "difftest"))
	for _, c := range tracerCases() {
		t.Run(c.name, func(t *testing.T) {
			limits := sdktrace.NewSpanLimits()
			if c.limits != nil {
				c.limits(&limits)
			}
			sampler := c.sampler
			if sampler == nil {
				sampler = sdktrace.ParentBased(sdktrace.AlwaysSample())
			}
			sdkEnded, ourEnded := &endedSpanList{}, &endedSpanList{}
			sdkTP := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithRawSpanLimits(limits),
				sdktrace.WithSampler(sampler), sdktrace.WithIDGenerator(&seqIDs{}), sdktrace.WithSpanProcessor(sdkEnded))
			ourTP := newTracerProvider(res, sampler, &seqIDs{}, limits, ourEnded)
			run := func(tp trace.TracerProvider) (panicked any) {
				defer func() { panicked = recover() }()
				c.run(tp.Tracer("difftest", trace.WithInstrumentationVersion("1.2.3")), tp)
				return nil
			}
			if p := run(sdkTP); p != nil {
				t.Fatalf("the SDK run panicked: %v", p)
			}
			if p := run(ourTP); p != nil {
				t.Fatalf("ffitel's run panicked: %v", p)
			}
			if !reflect.DeepEqual(sdkEnded.starts, ourEnded.starts) {
				t.Errorf("OnStart: SDK %v, ffitel %v", sdkEnded.starts, ourEnded.starts)
			}
			if len(sdkEnded.spans) != len(ourEnded.spans) {
				t.Fatalf("ended spans: SDK %d, ffitel %d", len(sdkEnded.spans), len(ourEnded.spans))
			}
			for i := range sdkEnded.spans {
				want, got := normalized(sdkEnded.spans[i]), normalized(ourEnded.spans[i])
				if c.differs != "" {
					if got.DroppedEvents != 1 || got.DroppedLinks != 2 || want.DroppedEvents != 0 || want.DroppedLinks != 0 {
						t.Errorf("dropped events/links: SDK %d/%d, ffitel %d/%d", want.DroppedEvents, want.DroppedLinks, got.DroppedEvents, got.DroppedLinks)
					}
					want.DroppedEvents, want.DroppedLinks = got.DroppedEvents, got.DroppedLinks
				}
				if !reflect.DeepEqual(want, got) {
					t.Errorf("span %d differs:\n SDK    %+v\n ffitel %+v", i, want, got)
				}
				var wb, gb otlpwire.Buffer
				encodeSpan(&wb, want.Snapshot())
				encodeSpan(&gb, got.Snapshot())
				if !bytes.Equal(wb.B, gb.B) {
					t.Errorf("span %d: OTLP bytes differ", i)
				}
			}
		})
	}
}

// A span written from several goroutines while it ends, and read by the
// processors after: -race checks the frozen span is read without the lock
// safely, and every change lands before End or not at all.
func TestSpanConcurrentWritesAndEnd(t *testing.T) {
	ended := &endedSpanList{}
	tp := newTracerProvider(nil, nil, nil, sdktrace.NewSpanLimits(), ended)
	tr := tp.Tracer("race")
	for round := 0; round < 50; round++ {
		ctx, s := tr.Start(context.Background(), "racing")
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < 20; i++ {
					s.SetAttributes(attribute.Int("g", g), attribute.Int("i", i))
					s.AddEvent("e")
					s.SetStatus(codes.Error, "x")
					_, c := tr.Start(ctx, "child")
					c.End()
					_ = s.IsRecording()
				}
			}(g)
		}
		s.End()
		wg.Wait()
	}
	_ = tp.Shutdown(context.Background())
	for _, s := range ended.spans {
		if s.Name() == "racing" {
			if len(s.Attributes()) > 2 || s.EndTime().IsZero() || s.ChildSpanCount() > 80 {
				t.Fatalf("span %v", tracetest.SpanStubFromReadOnlySpan(s))
			}
		}
	}
	if len(ended.spans) < 50 {
		t.Fatalf("%d spans ended", len(ended.spans))
	}
	// After Shutdown nothing more reaches the processors, and new tracers
	// record nothing.
	n := len(ended.spans)
	_, s := tp.Tracer("late").Start(context.Background(), "late")
	s.End()
	if s.IsRecording() || len(ended.spans) != n {
		t.Fatal("a span after Shutdown was recorded")
	}
}

// Every method of ReadWriteSpan is span's own: none falls through to the
// nil ReadOnlySpan embedded for the sealed method (a nil dereference), on a
// running span and on an ended one. Guards SDK upgrades that add methods.
func TestSpanDefinesEveryMethod(t *testing.T) {
	tp := newTracerProvider(nil, nil, nil, sdktrace.NewSpanLimits())
	_, s := tp.Tracer("m").Start(context.Background(), "m")
	it := reflect.TypeOf((*sdktrace.ReadWriteSpan)(nil)).Elem()
	call := func(phase string) {
		v := reflect.ValueOf(s)
		for i := 0; i < it.NumMethod(); i++ {
			m := it.Method(i)
			if m.Name == "End" || !m.IsExported() {
				continue
			}
			args := make([]reflect.Value, m.Type.NumIn())
			for j := range args {
				args[j] = reflect.Zero(m.Type.In(j))
			}
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("%s span: %s panics: %v", phase, m.Name, r)
					}
				}()
				if m.Type.IsVariadic() {
					v.MethodByName(m.Name).CallSlice(args)
				} else {
					v.MethodByName(m.Name).Call(args)
				}
			}()
		}
	}
	call("running")
	s.End()
	call("ended")
}

// Callbacks into the provider or the span from user code must not
// deadlock: a processor whose Shutdown shuts the provider down (or
// registers a processor), an error whose Error() reads the span.
type reentrantProcessor struct {
	endedSpanList
	tp       *tracerProvider
	register bool
}

func (r *reentrantProcessor) Shutdown(ctx context.Context) error {
	if r.register {
		r.tp.RegisterSpanProcessor(&endedSpanList{})
		return nil
	}
	return r.tp.Shutdown(ctx)
}

type spanReadingErr struct{ s trace.Span }

func (e spanReadingErr) Error() string { return "in " + e.s.(sdktrace.ReadOnlySpan).Name() }

func TestTracerCallbacksDoNotDeadlock(t *testing.T) {
	within := func(what string, f func()) {
		done := make(chan struct{})
		go func() { f(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second): // a deadlock, not a slow machine
			t.Fatalf("%s deadlocked", what)
		}
	}
	for _, register := range []bool{false, true} {
		p := &reentrantProcessor{register: register}
		p.tp = newTracerProvider(nil, nil, nil, sdktrace.NewSpanLimits(), p)
		within("Shutdown calling back into the provider", func() { _ = p.tp.Shutdown(context.Background()) })
	}
	tp := newTracerProvider(nil, nil, nil, sdktrace.NewSpanLimits())
	_, s := tp.Tracer("e").Start(context.Background(), "op")
	within("RecordError of an error reading the span", func() { s.RecordError(spanReadingErr{s}) })
	if ev := s.(sdktrace.ReadOnlySpan).Events(); len(ev) != 1 {
		t.Fatalf("events %v", ev)
	}
}

// With the execution tracer on, End ends the span's runtime/trace task;
// two Ends at once still hand the span to the processors once, and nothing
// writes to it after it is frozen (-race).
func TestSpanEndedTwiceAtOnceWithRuntimeTrace(t *testing.T) {
	if err := rtrace.Start(io.Discard); err != nil {
		t.Fatalf("runtime/trace: %v", err)
	}
	defer rtrace.Stop()
	var ends atomic.Int64
	tp := newTracerProvider(nil, nil, nil, sdktrace.NewSpanLimits(), &countingProcessor{n: &ends})
	tr := tp.Tracer("twice")
	const rounds = 500
	for i := 0; i < rounds; i++ {
		_, s := tr.Start(context.Background(), "x", trace.WithAttributes(attribute.Int("a", 1), attribute.Int("a", 2)))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := 0; g < 2; g++ {
			wg.Add(1)
			go func() { defer wg.Done(); <-start; s.End() }()
		}
		close(start)
		wg.Wait()
	}
	if n := ends.Load(); n != rounds {
		t.Fatalf("OnEnd ran %d times for %d spans", n, rounds)
	}
}

type countingProcessor struct{ n *atomic.Int64 }

func (c *countingProcessor) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (c *countingProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	c.n.Add(1)
	_, _ = s.Attributes(), s.EndTime() // read without the lock
}
func (*countingProcessor) Shutdown(context.Context) error   { return nil }
func (*countingProcessor) ForceFlush(context.Context) error { return nil }

// BenchmarkTracerStartEnd is a span with three attributes started and
// ended on the SDK's TracerProvider and on ffitel's, each with one span
// processor that keeps nothing (the span router before the upgrade, with
// room for one span): the tracer's own cost, beside the one it replaces.
//
//	go test -run XXX -bench TracerStartEnd -benchmem ./bootstrap/
func BenchmarkTracerStartEnd(b *testing.B) {
	for _, impl := range []string{"sdk", "ffitel"} {
		b.Run(impl, func(b *testing.B) {
			router := newSpanRouter(1)
			var tp trace.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(router),
				sdktrace.WithIDGenerator(newIDGenerator()))
			if impl == "ffitel" {
				tp = newTracerProvider(nil, nil, nil, sdktrace.NewSpanLimits(), router)
			}
			tr := tp.Tracer("bench")
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				_, s := tr.Start(ctx, "span", trace.WithAttributes(attribute.Int("i", i), attribute.String("k", "v"), attribute.Bool("ok", true)))
				s.End()
			}
		})
	}
}

// The span stays in the allocator's 160-byte size class (span.go): a field
// added to it costs every span the next class up (176 or 192 bytes).
func TestSpanStaysIn160Bytes(t *testing.T) {
	if n := unsafe.Sizeof(span{}); n > 160 {
		t.Fatalf("span is %d bytes, over the 160-byte size class", n)
	}
}

// readOnly hides a span's type: encodeSpan then reads it through
// ReadOnlySpan's methods, not headOf's fields.
type readOnly struct{ sdktrace.ReadOnlySpan }

// The default sampler decided inline (sampleParentAlwaysOn) agrees with the
// SDK's ParentBased(AlwaysSample()) for every kind of parent context
// (trace and span id present or not, flags, trace state, remote or local,
// WithNewRoot); and an ended ffitel span encodes to the same bytes read
// from its fields (headOf) as through ReadOnlySpan.
func TestParentBasedFastPathMatchesTheSDK(t *testing.T) {
	ts, err := trace.ParseTraceState("a=b")
	if err != nil {
		t.Fatal(err)
	}
	sdkEnded, ourEnded := &spanCatcher{}, &spanCatcher{}
	sdkTP := sdktrace.NewTracerProvider(sdktrace.WithIDGenerator(&seqIDs{}), sdktrace.WithSpanProcessor(sdkEnded))
	ourTP := newTracerProvider(nil, nil, &seqIDs{}, sdktrace.NewSpanLimits(), ourEnded)
	if !ourTP.parentAlwaysOn {
		t.Fatal("the default sampler is not decided inline")
	}
	cases := 0
	for _, tid := range []trace.TraceID{{}, {1, 2, 3}} {
		for _, sid := range []trace.SpanID{{}, {4, 5, 6}} {
			for _, flags := range []trace.TraceFlags{0, trace.FlagsSampled, 0x81} {
				for _, state := range []trace.TraceState{{}, ts} {
					for _, remote := range []bool{false, true} {
						for _, root := range []bool{false, true} {
							cases++
							pc := trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: flags, TraceState: state, Remote: remote}
							ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(pc))
							opts := []trace.SpanStartOption{trace.WithAttributes(attribute.Int("i", -5))}
							if root {
								opts = append(opts, trace.WithNewRoot())
							}
							_, want := sdkTP.Tracer("t").Start(ctx, "s", opts...)
							_, got := ourTP.Tracer("t").Start(ctx, "s", opts...)
							if want.IsRecording() != got.IsRecording() || !want.SpanContext().Equal(got.SpanContext()) {
								t.Fatalf("%+v, new root %v: SDK %v %v, ffitel %v %v", pc, root,
									want.IsRecording(), want.SpanContext(), got.IsRecording(), got.SpanContext())
							}
							if want.IsRecording() && !want.(sdktrace.ReadOnlySpan).Parent().Equal(got.(sdktrace.ReadOnlySpan).Parent()) {
								t.Fatalf("%+v, new root %v: parent differs", pc, root)
							}
							want.End()
							got.End()
						}
					}
				}
			}
		}
	}
	if len(ourEnded.spans) == 0 || len(ourEnded.spans) == cases {
		t.Fatalf("%d of %d cases recorded: want both sampled and dropped ones", len(ourEnded.spans), cases)
	}
	for _, s := range ourEnded.spans {
		var fields, methods otlpwire.Buffer
		encodeSpan(&fields, s)
		encodeSpan(&methods, readOnly{s})
		if !bytes.Equal(fields.B, methods.B) {
			t.Fatalf("span %v: headOf's bytes differ from ReadOnlySpan's", s.SpanContext())
		}
	}
}
