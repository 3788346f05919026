package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"
	collogpb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/google/go-cmp/cmp"
)

// logsServer is an in-process OTLP LogsService that keeps every request it
// receives and answers with reply.
type logsServer struct {
	collogpb.UnimplementedLogsServiceServer
	mu    sync.Mutex
	reqs  []*collogpb.ExportLogsServiceRequest
	reply *collogpb.ExportLogsServiceResponse
}

func (s *logsServer) Export(_ context.Context, req *collogpb.ExportLogsServiceRequest) (*collogpb.ExportLogsServiceResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, proto.Clone(req).(*collogpb.ExportLogsServiceRequest))
	if s.reply != nil {
		return s.reply, nil
	}
	return &collogpb.ExportLogsServiceResponse{}, nil
}

func (s *logsServer) take() []*collogpb.ExportLogsServiceRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.reqs
	s.reqs = nil
	return r
}

func startLogsServer(t *testing.T) (*logsServer, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	ls := &logsServer{}
	collogpb.RegisterLogsServiceServer(srv, ls)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return ls, "http://" + l.Addr().String()
}

type errKind struct{}

func (errKind) Error() string { return "boom" }

type point struct{ X, Y int }

// wireTestItems covers what the hand encoder writes itself and what it
// hands to the SDK path.
func wireTestItems(t *testing.T, res *resource.Resource) []logItem {
	t.Helper()
	at := time.Date(2026, 11, 30, 12, 0, 0, 123456789, time.UTC)
	rec := func(level slog.Level, msg string, attrs ...slog.Attr) slog.Record {
		r := slog.NewRecord(at, level, msg, 0)
		r.AddAttrs(attrs...)
		return r
	}
	withAttrs := func(p *chain, attrs ...slog.Attr) *chain { return &chain{parent: p, attrs: attrs} }
	withGroup := func(p *chain, name string) *chain { return &chain{parent: p, group: name} }
	three := []slog.Attr{slog.Int("i", 7), slog.String("k", "v"), slog.Bool("ok", true)}
	span := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:     trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
		TraceFlags: trace.FlagsSampled,
	})
	ctx := trace.ContextWithSpanContext(context.Background(), span)
	fctx := WithFields(ctx, slog.String("job", "j-1"), slog.Int("attempt", 2), slog.Uint64("u", 9),
		slog.Duration("d", time.Second), slog.Float64("f", 1.5), slog.Bool("b", false))

	c1 := withAttrs(nil, slog.String("svc", "api"), slog.Int("pid", 1))
	g1 := withGroup(c1, "req")
	g1a := withAttrs(g1, slog.String("method", "GET"))
	g2 := withGroup(g1a, "inner")
	g2a := withAttrs(g2, slog.Int("depth", 2))
	gEmpty := withGroup(withGroup(nil, "a"), "b") // no attributes of their own
	gMid := withAttrs(withGroup(withGroup(withAttrs(withGroup(nil, "outer"), slog.Int("o", 1)), "skipped"), "leaf"), slog.Int("l", 1))

	many := make([]slog.Attr, 140)
	for i := range many {
		many[i] = slog.Int(fmt.Sprintf("a%03d", i), i)
	}
	items := []logItem{
		newLogItem(context.Background(), nil, rec(slog.LevelInfo, "plain", three...)),
		newLogItem(ctx, nil, rec(slog.LevelWarn, "with span", three...)),
		newLogItem(fctx, nil, rec(slog.LevelError, "with fields", three...)),
		newLogItem(context.Background(), nil, rec(slog.LevelDebug, "", slog.String("empty-body", ""))),
		newLogItem(context.Background(), nil, rec(slog.LevelInfo+2, "custom level")),
		newLogItem(context.Background(), nil, rec(slog.Level(40), "out of range level")),
		newLogItem(context.Background(), nil, rec(slog.LevelInfo, "kinds",
			slog.Uint64("small", 5), slog.Uint64("big", math.MaxUint64), slog.Float64("pi", 3.14),
			slog.Duration("dur", 1500*time.Millisecond), slog.Time("when", at), slog.Int64("neg", -5),
			slog.String("utf8", "héllo ✓"), slog.Group("g", slog.Int("x", 1), slog.Group("h", slog.String("y", "z")))),
		),
		newLogItem(context.Background(), c1, rec(slog.LevelInfo, "logger attrs", three...)),
		newLogItem(context.Background(), g1a, rec(slog.LevelInfo, "one group", three...)),
		newLogItem(context.Background(), g2a, rec(slog.LevelInfo, "two groups", three...)),
		newLogItem(context.Background(), g2a, rec(slog.LevelInfo, "two groups, no record attrs")),
		newLogItem(context.Background(), g2, rec(slog.LevelInfo, "inner group without attrs")),
		newLogItem(context.Background(), gEmpty, rec(slog.LevelInfo, "empty groups", three...)),
		newLogItem(context.Background(), gEmpty, rec(slog.LevelInfo, "empty groups, nothing")),
		newLogItem(context.Background(), gMid, rec(slog.LevelInfo, "a group in the middle without attrs", three...)),
		newLogItem(fctx, g2a, rec(slog.LevelInfo, "groups and fields", three...)),
		// The SDK path: duplicates, errors, Any values, limits.
		newLogItem(context.Background(), nil, rec(slog.LevelInfo, "dup", slog.Int("k", 1), slog.Int("k", 2))),
		newLogItem(context.Background(), c1, rec(slog.LevelInfo, "dup with logger", slog.Int("pid", 2))),
		newLogItem(WithFields(context.Background(), slog.String("k", "field")), nil, rec(slog.LevelInfo, "dup with field", slog.String("k", "v"))),
		newLogItem(context.Background(), nil, rec(slog.LevelError, "error", slog.Any("err", errKind{}))),
		newLogItem(context.Background(), nil, rec(slog.LevelInfo, "any", slog.Any("p", point{1, 2}), slog.Any("s", []int{1, 2}), slog.Any("m", map[string]int{"a": 1}))),
		newLogItem(context.Background(), nil, rec(slog.LevelInfo, "too many", many...)),
		newLogItem(context.Background(), nil, rec(slog.LevelInfo, "empty key", slog.Int("", 1), slog.Group("", slog.Int("x", 1)))),
		newLogItem(context.Background(), nil, rec(slog.LevelInfo, "empty group", slog.Group("eg"))),
		newLogItem(context.Background(), nil, rec(slog.LevelInfo, "dup in group", slog.Group("g", slog.Int("x", 1), slog.Int("x", 2)))),
		newLogItem(context.Background(), withAttrs(nil, slog.Any("lv", point{3, 4})), rec(slog.LevelInfo, "logger any")),
		newLogItem(WithFields(context.Background(), slog.Time("t", at), slog.Any("tags", []string{"a", "b"})), nil, rec(slog.LevelInfo, "field kinds")),
		newLogItem(context.Background(), withAttrs(withGroup(nil, "g"), slog.Int("inner", 1)), rec(slog.LevelInfo, "group name equals a key", slog.Int("inner", 2))),
	}
	// Records emitted through the OpenTelemetry log API, in another scope.
	var api sdklog.Record
	lp2 := sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(recordCatcher{&api}))
	var r otellog.Record
	r.SetTimestamp(at)
	r.SetObservedTimestamp(at.Add(time.Second))
	r.SetBody(attribute.MapValue(attribute.String("b", "c")))
	r.SetSeverity(otellog.SeverityWarn)
	r.SetSeverityText("warning")
	r.SetEventName("ev")
	r.AddAttributes(attribute.StringSlice("ss", []string{"a"}), attribute.Int64Slice("is", []int64{1}),
		attribute.Float64Slice("fs", []float64{1.5}), attribute.BoolSlice("bs", []bool{true}),
		attribute.KeyValue{Key: "bytes", Value: attribute.ByteSliceValue([]byte{1, 2})})
	lp2.Logger("other", otellog.WithInstrumentationVersion("1.2")).Emit(ctx, r)
	items = append(items, logItem{logEntry: &logEntry{otel: &api}})
	return items
}

type recordCatcher struct{ into *sdklog.Record }

func (p recordCatcher) Enabled(context.Context, sdklog.EnabledParameters) bool { return true }
func (p recordCatcher) OnEmit(_ context.Context, r *sdklog.Record) error {
	*p.into = r.Clone()
	return nil
}
func (p recordCatcher) Shutdown(context.Context) error   { return nil }
func (p recordCatcher) ForceFlush(context.Context) error { return nil }

// normalize drops what legitimately differs (observed timestamps of the
// records the bridge stamps at conversion) and orders ScopeLogs by scope
// name, which OTLP does not order.
func normalize(reqs []*collogpb.ExportLogsServiceRequest) []*logspb.ResourceLogs {
	var out []*logspb.ResourceLogs
	for _, r := range reqs {
		for _, rl := range r.ResourceLogs {
			for _, sl := range rl.ScopeLogs {
				for _, lr := range sl.LogRecords {
					if sl.Scope.GetName() == ScopeName {
						lr.ObservedTimeUnixNano = 0
					}
				}
			}
			out = append(out, rl)
		}
	}
	return out
}

// TestWireRequestEqualsSDKRequest sends the same items through the SDK path
// (otelslog bridge → sdk/log → otlploggrpc) and through the hand encoder,
// each to an in-process LogsService, and compares the two requests decoded
// with the OTLP protobuf definitions, field by field.
func TestWireRequestEqualsSDKRequest(t *testing.T) {
	srv, endpoint := startLogsServer(t)
	ctx := context.Background()
	res := resource.NewWithAttributes("https://opentelemetry.io/schemas/1.26.0",
		attribute.String("service.name", "wire-test"), attribute.Int("n", 1))

	sdkExp, err := otlploggrpc.New(ctx, otlploggrpc.WithEndpointURL(endpoint))
	if err != nil {
		t.Fatal(err)
	}
	defer sdkExp.Shutdown(ctx)
	sdkConv := newLogConverter(res, sdkExp)
	if sdkConv.wire != nil {
		t.Fatal("the plain exporter must take the SDK path")
	}
	wireExp, err := newWireGRPCLogExporter(ctx, nil, otlploggrpc.WithEndpointURL(endpoint))
	if err != nil {
		t.Fatal(err)
	}
	defer wireExp.Shutdown(ctx)
	wireConv := newLogConverter(res, wireExp)
	if wireConv.wire == nil {
		t.Fatal("the wire exporter must take the wire path")
	}
	if wireConv.wire.countLimit != 128 || wireConv.wire.lengthLimit != -1 {
		t.Fatalf("limits from the SDK: count %d, length %d", wireConv.wire.countLimit, wireConv.wire.lengthLimit)
	}

	items := wireTestItems(t, res)
	if err := sdkConv.export(ctx, items); err != nil {
		t.Fatal(err)
	}
	want := normalize(srv.take())
	if err := wireConv.export(ctx, items); err != nil {
		t.Fatal(err)
	}
	got := normalize(srv.take())
	if wireConv.wire.slowItems != 12 {
		t.Fatalf("%d items took the SDK path, want the 12 the hand encoder does not cover", wireConv.wire.slowItems)
	}
	if len(want) != 1 || len(got) != 1 {
		t.Fatalf("resource logs: sdk %d, wire %d", len(want), len(got))
	}
	n := 0
	for _, sl := range want[0].ScopeLogs {
		n += len(sl.LogRecords)
	}
	if n != len(items) {
		t.Fatalf("the SDK path sent %d records of %d", n, len(items))
	}
	// ScopeLogs order is not meaningful; the SDK's map gives any order.
	sortScopes := protocmp.SortRepeated(func(a, b *logspb.ScopeLogs) bool { return a.Scope.GetName() < b.Scope.GetName() })
	if d := cmp.Diff(want, got, protocmp.Transform(), sortScopes); d != "" {
		t.Fatalf("wire request differs from the SDK's (-sdk +wire):\n%s", d)
	}

	// The same items encoded when queued (pack, the queue's prepare hook):
	// the queue keeps only bytes for those the hand encoder covers.
	packed := slices.Clone(items)
	encoded := 0
	for i := range packed {
		packed[i] = wireConv.wire.pack(packed[i])
		if packed[i].wire != nil {
			encoded++
			if packed[i].logEntry != nil {
				t.Fatal("a packed item keeps its record")
			}
		}
	}
	if want := len(items) - 12 - 1; encoded != want {
		t.Fatalf("%d items packed, want %d", encoded, want)
	}
	if err := wireConv.export(ctx, packed); err != nil {
		t.Fatal(err)
	}
	got = normalize(srv.take())
	if d := cmp.Diff(want, got, protocmp.Transform(), sortScopes); d != "" {
		t.Fatalf("packed wire request differs from the SDK's (-sdk +wire):\n%s", d)
	}
}

// The observed timestamp is the export time on both paths.
func TestWireObservedTimestamp(t *testing.T) {
	srv, endpoint := startLogsServer(t)
	ctx := context.Background()
	exp, err := newWireGRPCLogExporter(ctx, nil, otlploggrpc.WithEndpointURL(endpoint))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(ctx)
	conv := newLogConverter(resource.Empty(), exp)
	before := time.Now()
	items := []logItem{newLogItem(ctx, nil, slog.NewRecord(before, slog.LevelInfo, "m", 0))}
	if err := conv.export(ctx, items); err != nil {
		t.Fatal(err)
	}
	reqs := srv.take()
	if len(reqs) != 1 {
		t.Fatalf("requests: %d", len(reqs))
	}
	rl := reqs[0].ResourceLogs[0]
	if rl.Resource != nil {
		t.Fatalf("an empty resource is left out, got %v", rl.Resource)
	}
	lr := rl.ScopeLogs[0].LogRecords[0]
	obs := time.Unix(0, int64(lr.ObservedTimeUnixNano))
	if obs.Before(before) || time.Since(obs) > time.Minute {
		t.Fatalf("observed %v, logged %v", obs, before)
	}
}

// A partial success counts the rejected records as failed, the rest as
// exported, and is not retried.
func TestWirePartialSuccessCountsRejectedAsFailed(t *testing.T) {
	srv, endpoint := startLogsServer(t)
	srv.reply = &collogpb.ExportLogsServiceResponse{PartialSuccess: &collogpb.ExportLogsPartialSuccess{
		RejectedLogRecords: 2, ErrorMessage: "too old"}}
	ctx := context.Background()
	exp, err := newWireGRPCLogExporter(ctx, nil, otlploggrpc.WithEndpointURL(endpoint))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(ctx)
	conv := newLogConverter(resource.Empty(), exp)
	b := newBatcher(conv.export, 100, 5, time.Hour, 5*time.Second)
	b.retryFor = time.Minute
	b.start()
	for i := 0; i < 5; i++ {
		b.add(newLogItem(ctx, nil, slog.NewRecord(time.Now(), slog.LevelInfo, "m", 0)))
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
	if !errors.As(b.lastErr, &re) || !strings.Contains(re.Error(), "too old") {
		t.Fatalf("last error %v", b.lastErr)
	}
}

// A receiver whose message size limit is below ffitel's request size
// refuses the request (ResourceExhausted, "larger than max"): the queue
// splits the batch until the parts pass, delivers every record, counts
// nothing as failed, and cuts later requests below the limit.
func TestWireRequestTooLargeIsSplitNotLost(t *testing.T) {
	const limit = 100 << 10
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(limit))
	ls := &logsServer{}
	collogpb.RegisterLogsServiceServer(srv, ls)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)

	ctx := context.Background()
	exp, err := newWireGRPCLogExporter(ctx, nil, otlploggrpc.WithEndpointURL("http://"+l.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(ctx)
	conv := newLogConverter(resource.Empty(), exp)
	b := newBatcher(conv.export, 100000, 16384, time.Hour, 5*time.Second)
	b.prepare, b.size, b.maxBytes = conv.wire.pack, logItemWireSize, 2<<20
	var shrinks []int
	b.onShrink = func(refused, now int) { shrinks = append(shrinks, now) }
	const n = 5000
	body := strings.Repeat("x", 200)
	for i := range n {
		r := slog.NewRecord(time.Now(), slog.LevelInfo, body, 0)
		r.AddAttrs(slog.Int("i", i))
		b.add(newOwnedLogItem(ctx, nil, r, 1))
	}
	b.start()
	flushBatcher(t, b)
	stopBatcher(t, b)

	seen := map[int64]bool{}
	for _, req := range ls.take() {
		for _, rl := range req.ResourceLogs {
			for _, sl := range rl.ScopeLogs {
				for _, rec := range sl.LogRecords {
					seen[rec.Attributes[0].Value.GetIntValue()] = true
				}
			}
		}
	}
	s := b.stats()
	if len(seen) != n || s.Exported != n || s.Failed != 0 || s.Dropped != 0 {
		t.Errorf("delivered %d distinct of %d; stats %+v", len(seen), n, s)
	}
	if len(shrinks) == 0 || b.maxBytes >= limit {
		t.Errorf("request bound now %d bytes (changes %v), want below the receiver's %d", b.maxBytes, shrinks, limit)
	}
}

// The hand encoder learns the record attribute count limit from the SDK
// (OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT), probing with 256, 1024 and 4096
// attributes; from 4096 on it applies none.
func TestWireEncoderLearnsTheCountLimit(t *testing.T) {
	for _, c := range []struct {
		env  string
		want int
	}{{"", 128}, {"1", 1}, {"255", 255}, {"256", 256}, {"300", 300}, {"1024", 1024}, {"2000", 2000}, {"4095", 4095}, {"4096", -1}, {"5000", -1}} {
		t.Run(c.env, func(t *testing.T) {
			if c.env != "" {
				t.Setenv("OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT", c.env)
			}
			exp, err := newWireGRPCLogExporter(context.Background(), nil, otlploggrpc.WithEndpointURL("http://127.0.0.1:1"))
			if err != nil {
				t.Fatal(err)
			}
			defer exp.Shutdown(context.Background())
			conv := newLogConverter(resource.Empty(), exp)
			if conv.wire == nil || conv.wire.countLimit != c.want {
				t.Fatalf("count limit %d, want %d", conv.wire.countLimit, c.want)
			}
		})
	}
}
