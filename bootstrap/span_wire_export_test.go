package bootstrap

import (
	"context"
	"errors"
	"github.com/ffitel/ffitel/internal/otlpwire"
	"net"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/google/go-cmp/cmp"
)

// traceServer is an in-process OTLP TraceService that keeps every request
// it receives and answers with reply.
type traceServer struct {
	coltracepb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	reqs  []*coltracepb.ExportTraceServiceRequest
	reply *coltracepb.ExportTraceServiceResponse
}

func (s *traceServer) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, proto.Clone(req).(*coltracepb.ExportTraceServiceRequest))
	if s.reply != nil {
		return s.reply, nil
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func (s *traceServer) take() []*coltracepb.ExportTraceServiceRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.reqs
	s.reqs = nil
	return r
}

func startTraceServer(t *testing.T) (*traceServer, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	ts := &traceServer{}
	coltracepb.RegisterTraceServiceServer(srv, ts)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return ts, "http://" + l.Addr().String()
}

// nameSampler records every span but samples only those whose name does
// not start with "unsampled".
type nameSampler struct{}

func (nameSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	ts := trace.SpanContextFromContext(p.ParentContext).TraceState()
	if strings.HasPrefix(p.Name, "unsampled") {
		return sdktrace.SamplingResult{Decision: sdktrace.RecordOnly, Tracestate: ts}
	}
	return sdktrace.SamplingResult{Decision: sdktrace.RecordAndSample, Tracestate: ts}
}
func (nameSampler) Description() string { return "nameSampler" }

type spanCatcher struct {
	mu    sync.Mutex
	spans []sdktrace.ReadOnlySpan
}

func (c *spanCatcher) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (c *spanCatcher) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return
	}
	c.mu.Lock()
	c.spans = append(c.spans, s)
	c.mu.Unlock()
}
func (c *spanCatcher) Shutdown(context.Context) error   { return nil }
func (c *spanCatcher) ForceFlush(context.Context) error { return nil }

// testTracerProvider is a TracerProvider that makes the spans of
// makeTestSpans: the SDK's or ffitel's.
type testTracerProvider interface {
	trace.TracerProvider
	Shutdown(context.Context) error
}

func sdkTestProvider(res *resource.Resource, sampler sdktrace.Sampler, limits sdktrace.SpanLimits, procs ...sdktrace.SpanProcessor) testTracerProvider {
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSampler(sampler), sdktrace.WithRawSpanLimits(limits)}
	for _, p := range procs {
		opts = append(opts, sdktrace.WithSpanProcessor(p))
	}
	return sdktrace.NewTracerProvider(opts...)
}

func ffitelTestProvider(res *resource.Resource, sampler sdktrace.Sampler, limits sdktrace.SpanLimits, procs ...sdktrace.SpanProcessor) testTracerProvider {
	return newTracerProvider(res, sampler, nil, limits, procs...)
}

// makeTestSpans ends a varied set of spans on a TracerProvider (newTP)
// with small limits, feeding both processors.
func makeTestSpans(t *testing.T, newTP func(*resource.Resource, sdktrace.Sampler, sdktrace.SpanLimits, ...sdktrace.SpanProcessor) testTracerProvider,
	res *resource.Resource, procs ...sdktrace.SpanProcessor) {
	t.Helper()
	tp := newTP(res, nameSampler{}, sdktrace.SpanLimits{AttributeCountLimit: 8, AttributeValueLengthLimit: 12,
		EventCountLimit: 3, LinkCountLimit: 2, AttributePerEventCountLimit: 2, AttributePerLinkCountLimit: 2}, procs...)
	defer tp.Shutdown(context.Background())
	at := time.Date(2026, 11, 30, 12, 0, 0, 123456789, time.UTC)
	ts, err := trace.ParseTraceState("vendor=x,other=y")
	if err != nil {
		t.Fatal(err)
	}
	remote := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:  trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8}, TraceFlags: trace.FlagsSampled, TraceState: ts, Remote: true,
	})
	linked := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9},
		SpanID:  trace.SpanID{8, 8, 8, 8, 8, 8, 8, 8}, TraceState: ts, Remote: true,
	})
	localLinked := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7},
		SpanID:  trace.SpanID{6, 6, 6, 6, 6, 6, 6, 6}, TraceFlags: trace.FlagsSampled,
	})
	allKinds := []attribute.KeyValue{
		attribute.String("s", "text"), attribute.String("long", "a value longer than twelve"),
		attribute.Int("i", -42), attribute.Float64("f", 2.5), attribute.Bool("b", true),
		attribute.StringSlice("ss", []string{"a", "b"}), attribute.IntSlice("is", []int{1, 2}),
		attribute.Float64Slice("fs", []float64{0.5}), attribute.BoolSlice("bs", []bool{true, false}),
	}
	tr := tp.Tracer(ScopeName)
	other := tp.Tracer("other.scope", trace.WithInstrumentationVersion("1.2.3"),
		trace.WithSchemaURL("https://opentelemetry.io/schemas/1.26.0"),
		trace.WithInstrumentationAttributes(attribute.String("lib", "x")))
	bare := tp.Tracer("")
	end := trace.WithTimestamp(at.Add(time.Millisecond))

	// A root span with every attribute kind (over the count limit) and
	// value truncation.
	ctx, root := tr.Start(context.Background(), "root", trace.WithTimestamp(at), trace.WithAttributes(allKinds...),
		trace.WithSpanKind(trace.SpanKindServer))
	root.SetAttributes(attribute.Int("extra", 1))
	root.SetStatus(codes.Error, "it failed")
	// A child with events (over the limit, with dropped attributes) and links.
	_, child := tr.Start(ctx, "child", trace.WithTimestamp(at), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithLinks(trace.Link{SpanContext: linked, Attributes: []attribute.KeyValue{attribute.String("l", "1"),
			attribute.Int("l2", 2), attribute.Int("l3", 3)}},
			trace.Link{SpanContext: localLinked}, trace.Link{SpanContext: remote}))
	child.AddEvent("ev1", trace.WithTimestamp(at), trace.WithAttributes(attribute.Int("a", 1), attribute.Int("b", 2), attribute.Int("c", 3)))
	child.AddEvent("", trace.WithTimestamp(at))
	child.AddEvent("ev3", trace.WithTimestamp(at), trace.WithAttributes(attribute.String("x", "y")))
	child.AddEvent("ev4", trace.WithTimestamp(at))
	child.RecordError(errors.New("oops"), trace.WithTimestamp(at))
	child.SetStatus(codes.Ok, "")
	child.End(end)
	// A remote parent with a trace state; producer and consumer kinds.
	rctx := trace.ContextWithRemoteSpanContext(context.Background(), remote)
	_, fromRemote := other.Start(rctx, "from remote", trace.WithTimestamp(at), trace.WithSpanKind(trace.SpanKindProducer))
	fromRemote.End(end)
	_, consumer := other.Start(ctx, "consumer", trace.WithTimestamp(at), trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.KeyValue{Key: "", Value: attribute.StringValue("empty key")}))
	consumer.End(end)
	// Not sampled: never exported.
	_, unsampled := tr.Start(ctx, "unsampled child", trace.WithTimestamp(at))
	unsampled.End(end)
	// The empty scope, no name, internal kind, unset status.
	_, anon := bare.Start(context.Background(), "", trace.WithTimestamp(at), trace.WithSpanKind(trace.SpanKindInternal))
	anon.End(end)
	// A plain one with the real clock.
	_, plain := tr.Start(ctx, "plain")
	plain.End()
	root.End(end)
}

func sortedScopeSpans(reqs []*coltracepb.ExportTraceServiceRequest) []*tracepb.ResourceSpans {
	var out []*tracepb.ResourceSpans
	for _, r := range reqs {
		out = append(out, r.ResourceSpans...)
	}
	return out
}

// TestSpanWireRequestEqualsSDKRequest sends the same spans through the
// SDK's OTLP trace exporter and through the span wire path (the export
// queue, packing at enqueue), each to an in-process TraceService, and
// compares the two requests decoded with the OTLP protobuf definitions,
// field by field: for spans of the SDK's TracerProvider (read through
// ReadOnlySpan) and of ffitel's (their head read from their fields:
// headOf).
func TestSpanWireRequestEqualsSDKRequest(t *testing.T) {
	t.Run("sdk spans", func(t *testing.T) { testSpanWireRequestEqualsSDKRequest(t, sdkTestProvider) })
	t.Run("ffitel spans", func(t *testing.T) { testSpanWireRequestEqualsSDKRequest(t, ffitelTestProvider) })
}

func testSpanWireRequestEqualsSDKRequest(t *testing.T, newTP func(*resource.Resource, sdktrace.Sampler, sdktrace.SpanLimits, ...sdktrace.SpanProcessor) testTracerProvider) {
	srv, endpoint := startTraceServer(t)
	ctx := context.Background()
	res := resource.NewWithAttributes("https://opentelemetry.io/schemas/1.26.0",
		attribute.String("service.name", "wire-test"), attribute.Int("n", 1))

	sdkExp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(endpoint))
	if err != nil {
		t.Fatal(err)
	}
	defer sdkExp.Shutdown(ctx)
	wireExp, err := newWireGRPCSpanExporter(ctx, grpcDialOptions(), otlptracegrpc.WithEndpointURL(endpoint))
	if err != nil {
		t.Fatal(err)
	}
	defer wireExp.Shutdown(ctx)
	sx := newSpanExport(wireExp)
	if sx.wire == nil {
		t.Fatal("the wire exporter must take the wire path")
	}
	if newSpanExport(sdkExp).wire != nil {
		t.Fatal("the plain exporter must take the SDK path")
	}

	// The queue as the pipeline builds it, behind the span router.
	q := newBatcher(sx.export, 1000, 100, time.Hour, 5*time.Second)
	q.prepare = sx.wire.pack
	q.start()
	router := newSpanRouter(100)
	router.upgrade(q)
	catcher := &spanCatcher{}
	makeTestSpans(t, newTP, res, catcher, router)

	if len(catcher.spans) != 6 {
		t.Fatalf("%d sampled spans, want 6", len(catcher.spans))
	}
	if err := sdkExp.ExportSpans(ctx, catcher.spans); err != nil {
		t.Fatal(err)
	}
	want := sortedScopeSpans(srv.take())
	if err := q.flush(ctx); err != nil {
		t.Fatal(err)
	}
	st := q.stats()
	_ = q.shutdown(ctx)
	if st.Emitted != 6 || st.Exported != 6 {
		t.Fatalf("queue stats %+v: the unsampled span is not queued, the 6 others are exported", st)
	}
	got := sortedScopeSpans(srv.take())
	if len(want) != 1 || len(got) != 1 {
		t.Fatalf("resource spans: sdk %d, wire %d", len(want), len(got))
	}
	if len(want[0].ScopeSpans) != 3 {
		t.Fatalf("the SDK sent %d scopes, want 3", len(want[0].ScopeSpans))
	}
	// ScopeSpans order is not meaningful: sort both by scope name.
	sortScopes := protocmp.SortRepeated(func(a, b *tracepb.ScopeSpans) bool { return a.Scope.GetName() < b.Scope.GetName() })
	if d := cmp.Diff(want, got, protocmp.Transform(), sortScopes); d != "" {
		t.Fatalf("wire request differs from the SDK's (-sdk +wire):\n%s", d)
	}
	// What the set covers, so that the comparison above is not vacuous.
	var events, links, remoteParents, dropped, statuses int
	for _, ss := range got[0].ScopeSpans {
		for _, s := range ss.Spans {
			events += len(s.Events)
			links += len(s.Links)
			if s.Flags&spanFlagsIsRemote != 0 {
				remoteParents++
			}
			if s.DroppedAttributesCount > 0 && s.DroppedEventsCount > 0 || s.DroppedLinksCount > 0 {
				dropped++
			}
			if s.Status.GetCode() != tracepb.Status_STATUS_CODE_UNSET {
				statuses++
			}
		}
	}
	if events != 3 || links != 2 || remoteParents != 1 || dropped == 0 || statuses != 2 {
		t.Fatalf("coverage: %d events, %d links, %d remote parents, %d with dropped counts, %d statuses",
			events, links, remoteParents, dropped, statuses)
	}

	// Spans encoded at export (not packed) give the same request.
	if err := sx.export(ctx, spanItems(catcher.spans)); err != nil {
		t.Fatal(err)
	}
	got = sortedScopeSpans(srv.take())
	if d := cmp.Diff(want, got, protocmp.Transform(), sortScopes); d != "" {
		t.Fatalf("unpacked wire request differs from the SDK's (-sdk +wire):\n%s", d)
	}
}

func spanItems(spans []sdktrace.ReadOnlySpan) []spanItem {
	items := make([]spanItem, len(spans))
	for i, s := range spans {
		items[i] = spanItem{span: s}
	}
	return items
}

// Spans of two resources go into two ResourceSpans, as the SDK sends them.
func TestSpanWireTwoResources(t *testing.T) {
	srv, endpoint := startTraceServer(t)
	ctx := context.Background()
	sdkExp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(endpoint))
	if err != nil {
		t.Fatal(err)
	}
	defer sdkExp.Shutdown(ctx)
	wireExp, err := newWireGRPCSpanExporter(ctx, nil, otlptracegrpc.WithEndpointURL(endpoint))
	if err != nil {
		t.Fatal(err)
	}
	defer wireExp.Shutdown(ctx)
	sx := newSpanExport(wireExp)
	c := &spanCatcher{}
	for _, res := range []*resource.Resource{resource.NewSchemaless(attribute.String("r", "1")), resource.Empty()} {
		tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSpanProcessor(c))
		for _, name := range []string{"a", "b"} {
			_, s := tp.Tracer(name).Start(ctx, name)
			s.End()
		}
	}
	if err := sdkExp.ExportSpans(ctx, c.spans); err != nil {
		t.Fatal(err)
	}
	want := sortedScopeSpans(srv.take())
	if err := sx.export(ctx, spanItems(c.spans)); err != nil {
		t.Fatal(err)
	}
	got := sortedScopeSpans(srv.take())
	if len(want) != 2 || len(got) != 2 {
		t.Fatalf("resource spans: sdk %d, wire %d", len(want), len(got))
	}
	// The SDK's map gives its ResourceSpans in any order.
	for _, rss := range [][]*tracepb.ResourceSpans{want, got} {
		sort.Slice(rss, func(i, j int) bool {
			return len(rss[i].Resource.GetAttributes()) < len(rss[j].Resource.GetAttributes())
		})
	}
	sortScopes := protocmp.SortRepeated(func(a, b *tracepb.ScopeSpans) bool { return a.Scope.GetName() < b.Scope.GetName() })
	if d := cmp.Diff(want, got, protocmp.Transform(), sortScopes); d != "" {
		t.Fatalf("wire request differs from the SDK's (-sdk +wire):\n%s", d)
	}
}

// A partial success counts the rejected spans as failed and the rest as
// exported, without retrying.
func TestSpanWirePartialSuccessCountsRejectedAsFailed(t *testing.T) {
	srv, endpoint := startTraceServer(t)
	srv.reply = &coltracepb.ExportTraceServiceResponse{PartialSuccess: &coltracepb.ExportTracePartialSuccess{
		RejectedSpans: 2, ErrorMessage: "too old"}}
	ctx := context.Background()
	exp, err := newWireGRPCSpanExporter(ctx, nil, otlptracegrpc.WithEndpointURL(endpoint))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(ctx)
	sx := newSpanExport(exp)
	b := newBatcher(sx.export, 100, 5, time.Hour, 5*time.Second)
	b.prepare = sx.wire.pack
	b.retryFor = time.Minute
	b.start()
	router := newSpanRouter(0)
	router.upgrade(b)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(router))
	for i := 0; i < 5; i++ {
		_, s := tp.Tracer("t").Start(ctx, "s")
		s.End()
	}
	if err := b.flush(ctx); err != nil {
		t.Fatal(err)
	}
	st := b.stats()
	_ = b.shutdown(ctx)
	if st.Exported != 3 || st.Failed != 2 || b.retried.Load() != 0 {
		t.Fatalf("stats %+v, want 3 exported, 2 failed, no retry", st)
	}
	if len(srv.take()) != 1 {
		t.Fatal("the batch must be sent once")
	}
	var re *rejectedError
	if !errors.As(b.lastErr, &re) || !strings.Contains(re.Error(), "too old") || !strings.Contains(re.Error(), "2 spans") {
		t.Fatalf("last error %v", b.lastErr)
	}
}

// BenchmarkSpanWirePath is a span's cost on the span wire path: ended on
// ffitel's TracerProvider (the SDK's for sdk-transform) whose processor is the span router in front of the export
// queue (packing at enqueue), exported to an in-process TraceService.
//
//	go test -run XXX -bench SpanWirePath -benchmem ./bootstrap/
func BenchmarkSpanWirePath(b *testing.B) {
	for _, wire := range []bool{true, false} {
		name := "wire"
		if !wire {
			name = "sdk-transform"
		}
		b.Run(name, func(b *testing.B) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			srv := grpc.NewServer()
			coltracepb.RegisterTraceServiceServer(srv, &discardTraces{})
			go func() { _ = srv.Serve(l) }()
			defer srv.Stop()
			ctx := context.Background()
			var exp sdktrace.SpanExporter
			if wire {
				exp, err = newWireGRPCSpanExporter(ctx, nil, otlptracegrpc.WithEndpointURL("http://"+l.Addr().String()))
			} else {
				exp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL("http://"+l.Addr().String()))
			}
			if err != nil {
				b.Fatal(err)
			}
			sx := newSpanExport(exp)
			q := newBatcher(sx.export, 1<<20, 512, time.Second, 10*time.Second)
			if sx.wire != nil {
				q.prepare = sx.wire.pack
			}
			q.start()
			router := newSpanRouter(0)
			router.upgrade(q)
			// ffitel's tracer on the wire path, the SDK's on the other.
			var tp trace.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(router))
			if wire {
				tp = newTracerProvider(nil, nil, nil, sdktrace.NewSpanLimits(), router)
			}
			tr := tp.Tracer("bench")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				_, s := tr.Start(ctx, "span", trace.WithAttributes(attribute.Int("i", i), attribute.String("k", "v"), attribute.Bool("ok", true)))
				s.End()
			}
			if err := q.flush(ctx); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if st := q.stats(); st.Exported != uint64(b.N) {
				b.Fatalf("stats %+v", st)
			}
			_ = q.shutdown(ctx)
			_ = exp.Shutdown(ctx)
		})
	}
}

type discardTraces struct {
	coltracepb.UnimplementedTraceServiceServer
}

func (discardTraces) Export(context.Context, *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// BenchmarkSpanQueueMemory reports the live heap a queued span holds (the
// collector away: nothing leaves the queue), packed at enqueue or kept as
// the SDK's ReadOnlySpan.
//
//	go test -run XXX -bench SpanQueueMemory ./bootstrap/
func BenchmarkSpanQueueMemory(b *testing.B) {
	for _, packed := range []bool{true, false} {
		name := "packed"
		if !packed {
			name = "readonlyspan"
		}
		b.Run(name, func(b *testing.B) {
			const n = 100000
			for i := 0; i < b.N; i++ {
				q := newBatcher(func(context.Context, []spanItem) error { return nil }, 2*n, 512, time.Hour, time.Second)
				if packed {
					q.prepare = newSpanWireEncoder().pack
				}
				router := newSpanRouter(0)
				router.upgrade(q)
				var tp trace.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(router))
				if packed {
					tp = newTracerProvider(nil, nil, nil, sdktrace.NewSpanLimits(), router)
				}
				tr := tp.Tracer("bench")
				ctx := context.Background()
				runtime.GC()
				var m0, m1 runtime.MemStats
				runtime.ReadMemStats(&m0)
				for j := 0; j < n; j++ {
					_, s := tr.Start(ctx, "span", trace.WithAttributes(attribute.Int("i", j), attribute.String("k", "v"), attribute.Bool("ok", true)))
					s.End()
				}
				runtime.GC()
				runtime.ReadMemStats(&m1)
				b.ReportMetric(float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc))/n, "B/queued-span")
				runtime.KeepAlive(q)
			}
		})
	}
}

// The request's size is known before it is written: encode allocates its
// buffer once, at about that size, instead of doubling up to it (a 2 MiB
// request allocated ~4 MiB on its way, at each export until the buffer had
// grown).
func TestSpanRequestBufferIsAllocatedOnce(t *testing.T) {
	e := newSpanWireEncoder()
	var items []spanItem
	router := newSpanRouter(0)
	q := newBatcher(func(_ context.Context, batch []spanItem) error {
		items = append(items, batch...)
		return nil
	}, 1<<16, 1<<16, time.Hour, time.Second)
	q.prepare = e.pack
	router.upgrade(q)
	q.start()
	tr := newTracerProvider(nil, nil, nil, sdktrace.NewSpanLimits(), router).Tracer("alloc")
	for i := 0; i < 10000; i++ {
		_, s := tr.Start(context.Background(), "span", trace.WithAttributes(attribute.Int("i", i), attribute.String("k", "v")))
		s.End()
	}
	flushBatcher(t, q)
	stopBatcher(t, q)
	if len(items) != 10000 {
		t.Fatalf("%d items exported, want 10000", len(items))
	}
	var body []byte
	allocs := testing.AllocsPerRun(1, func() {
		e.buf = otlpwire.Buffer{} // a fresh encoder's buffer
		body = e.encode(items)
	})
	if allocs > 2 { // 1; the race detector's build adds one
		t.Errorf("encode made %v allocations for a %d-byte request, want 1", allocs, len(body))
	}
	if c := cap(body); c > len(body)+len(body)/8 {
		t.Errorf("the request buffer has capacity %d for %d bytes: grown, not sized", c, len(body))
	}
}

// BenchmarkEncodeSpan is encodeSpan of an ended ffitel span with three
// attributes (the packing of a span at End, without the slab copy).
//
//	go test -run XXX -bench EncodeSpan ./bootstrap/
func BenchmarkEncodeSpan(b *testing.B) {
	tp := newTracerProvider(nil, nil, nil, sdktrace.NewSpanLimits())
	_, s := tp.Tracer("bench").Start(context.Background(), "span",
		trace.WithAttributes(attribute.Int("i", 1), attribute.String("k", "v"), attribute.Bool("ok", true)))
	s.End()
	ro := s.(sdktrace.ReadOnlySpan)
	var buf otlpwire.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		encodeSpan(&buf, ro)
	}
}
