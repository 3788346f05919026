package bootstrap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ffitel/ffitel/events"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log/global"
	"go.opentelemetry.io/otel/metric"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// syncBuffer is a console writer safe to read while records are written.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines parses every console line (logfmt) into a map.
func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		if l != "" {
			out = append(out, parseLogfmt(t, l+"\n"))
		}
	}
	return out
}

// linesWithMsg returns the console lines whose msg is msg.
func (b *syncBuffer) linesWithMsg(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range b.lines(t) {
		if l["msg"] == msg {
			out = append(out, l)
		}
	}
	return out
}

// exportedLog is what a fake exporter saw of one OTLP log record.
type exportedLog struct {
	msg    string
	time   time.Time
	trace  trace.TraceID
	span   trace.SpanID
	attrs  map[string]string // nested maps flattened to dotted keys
	record sdklog.Record
}

func flattenAttrs(prefix string, kvs []attribute.KeyValue, into map[string]string) {
	for _, kv := range kvs {
		if kv.Value.Type() == attribute.MAP {
			flattenAttrs(prefix+string(kv.Key)+".", kv.Value.AsMap(), into)
			continue
		}
		into[prefix+string(kv.Key)] = kv.Value.Emit()
	}
}

type fakeLogExporter struct {
	mu   sync.Mutex
	logs []exportedLog
}

func (e *fakeLogExporter) Export(_ context.Context, rs []sdklog.Record) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range rs {
		r := rs[i].Clone()
		var kvs []attribute.KeyValue
		r.WalkAttributes(func(kv attribute.KeyValue) bool { kvs = append(kvs, kv); return true })
		attrs := map[string]string{}
		flattenAttrs("", kvs, attrs)
		e.logs = append(e.logs, exportedLog{msg: r.Body().AsString(), time: r.Timestamp(), trace: r.TraceID(),
			span: r.SpanID(), attrs: attrs, record: r})
	}
	return nil
}
func (e *fakeLogExporter) Shutdown(context.Context) error   { return nil }
func (e *fakeLogExporter) ForceFlush(context.Context) error { return nil }

func (e *fakeLogExporter) all() []exportedLog {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.logs)
}

// withMsg returns the exported records whose body is msg, or starts with
// it when prefix is true, in export order.
func (e *fakeLogExporter) withMsg(msg string, prefix bool) []exportedLog {
	var out []exportedLog
	for _, l := range e.all() {
		if l.msg == msg || prefix && strings.HasPrefix(l.msg, msg) {
			out = append(out, l)
		}
	}
	return out
}

type fakeSpanExporter struct {
	mu    sync.Mutex
	names []string
}

func (e *fakeSpanExporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range spans {
		e.names = append(e.names, s.Name())
	}
	return nil
}
func (e *fakeSpanExporter) Shutdown(context.Context) error { return nil }

func (e *fakeSpanExporter) all() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.names)
}

type fakeMetricExporter struct {
	mu    sync.Mutex
	sums  map[string]int64 // last cumulative value of each int64 sum
	calls int
}

func (e *fakeMetricExporter) Temporality(k sdkmetric.InstrumentKind) metricdata.Temporality {
	return sdkmetric.DefaultTemporalitySelector(k)
}
func (e *fakeMetricExporter) Aggregation(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	return sdkmetric.DefaultAggregationSelector(k)
}
func (e *fakeMetricExporter) Export(_ context.Context, rm *metricdata.ResourceMetrics) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls++
	if e.sums == nil {
		e.sums = map[string]int64{}
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if sum, ok := m.Data.(metricdata.Sum[int64]); ok {
				var total int64
				for _, dp := range sum.DataPoints {
					total += dp.Value
				}
				e.sums[m.Name] = total
			}
		}
	}
	return nil
}
func (e *fakeMetricExporter) ForceFlush(context.Context) error { return nil }
func (e *fakeMetricExporter) Shutdown(context.Context) error   { return nil }

type fakes struct {
	logs    *fakeLogExporter
	spans   *fakeSpanExporter
	metrics *fakeMetricExporter
}

// newTestRuntime returns a Runtime reading env, writing its console to a
// buffer and exporting to in-process fakes. It is shut down at the end of
// the test.
func newTestRuntime(t *testing.T, env map[string]string) (*Runtime, *syncBuffer, fakes) {
	t.Helper()
	out := &syncBuffer{}
	f := fakes{logs: &fakeLogExporter{}, spans: &fakeSpanExporter{}, metrics: &fakeMetricExporter{}}
	rt := New(Options{Getenv: mapEnv(env), Output: out,
		testExporters: &exporters{logs: f.logs, spans: f.spans, metrics: f.metrics}})
	t.Cleanup(func() { _ = rt.Shutdown(context.Background()) })
	return rt, out, f
}

func flush(t *testing.T, rt *Runtime) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rt.ForceFlush(ctx); err != nil {
		t.Fatalf("ForceFlush: %v", err)
	}
}

var exportOn = map[string]string{"TELEMETRY_ENABLED": "true"}

// exercisePhaseOne does what a worker does before phase 2: log, trace, count.
func exercisePhaseOne(t *testing.T, rt *Runtime) {
	t.Helper()
	if err := rt.InitConsoleOnly(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt.Logger().With("k", "v").WithGroup("g").Info("phase one", "n", 1)
	ctx, span := rt.TracerProvider().Tracer("test").Start(ctx, "phase one span")
	rt.Logger().InfoContext(ctx, "inside span")
	span.End()
	c, err := rt.MeterProvider().Meter("test").Int64Counter("test.count")
	if err != nil {
		t.Fatal(err)
	}
	c.Add(ctx, 1)
}

func TestConsolePhaseStartsNoGoroutine(t *testing.T) {
	settle := func(ok func(n int) bool) int {
		n := runtime.NumGoroutine()
		for i := 0; i < 100 && !ok(n); i++ {
			time.Sleep(10 * time.Millisecond)
			n = runtime.NumGoroutine()
		}
		return n
	}
	// Let goroutines left by earlier tests finish first.
	prev := -1
	before := settle(func(n int) bool { stable := n == prev; prev = n; return stable })

	rt, _, _ := newTestRuntime(t, exportOn)
	exercisePhaseOne(t, rt)

	if after := settle(func(n int) bool { return n <= before }); after > before {
		var stacks bytes.Buffer
		_ = pprof.Lookup("goroutine").WriteTo(&stacks, 1)
		t.Fatalf("phase 1 left %d goroutines running (before %d):\n%s", after-before, before, stacks.String())
	}
}

func countSockets(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd on %s: %v", runtime.GOOS, err)
	}
	n := 0
	for _, e := range entries {
		if link, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(link, "socket:") {
			n++
		}
	}
	return n
}

func TestConsolePhaseOpensNoSocket(t *testing.T) {
	before := countSockets(t)
	// Point the exporters somewhere real-looking: phase 1 must not care.
	rt := New(Options{Getenv: mapEnv(map[string]string{"TELEMETRY_ENABLED": "true",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"}), Output: &syncBuffer{}})
	t.Cleanup(func() { _ = rt.Shutdown(context.Background()) })
	exercisePhaseOne(t, rt)
	if after := countSockets(t); after != before {
		t.Fatalf("phase 1 changed the number of open sockets from %d to %d", before, after)
	}
}

// sameValue compares interface values without panicking on uncomparable
// dynamic types (a composite propagator is a struct holding a slice).
func sameValue(a, b any) bool {
	if reflect.TypeOf(a) != reflect.TypeOf(b) {
		return false
	}
	if a == nil || !reflect.TypeOf(a).Comparable() {
		return a == nil
	}
	return a == b
}

func TestConsolePhaseSetsNoOpenTelemetryGlobal(t *testing.T) {
	defaultLogger := slog.Default()
	t.Cleanup(func() { slog.SetDefault(defaultLogger) })
	tp, mp, lp, prop := otel.GetTracerProvider(), otel.GetMeterProvider(), global.GetLoggerProvider(), otel.GetTextMapPropagator()

	// SetGlobals is what the process-wide Runtime uses; even so, phase 1
	// only makes the logger slog's default.
	rt := New(Options{Getenv: mapEnv(exportOn), Output: &syncBuffer{}, SetGlobals: true})
	exercisePhaseOne(t, rt)

	if !sameValue(otel.GetTracerProvider(), tp) || sameValue(otel.GetTracerProvider(), rt.TracerProvider()) {
		t.Error("phase 1 set the global tracer provider")
	}
	if !sameValue(otel.GetMeterProvider(), mp) || sameValue(otel.GetMeterProvider(), rt.MeterProvider()) {
		t.Error("phase 1 set the global meter provider")
	}
	if !sameValue(global.GetLoggerProvider(), lp) {
		t.Error("phase 1 set the global logger provider")
	}
	if !sameValue(otel.GetTextMapPropagator(), prop) {
		t.Error("phase 1 set the global propagator")
	}
	if slog.Default().Handler() != rt.Handler() {
		t.Error("phase 1 with SetGlobals did not make the runtime's logger slog's default")
	}
	// Shut down without ever reaching phase 2, so no test sets globals.
	if err := rt.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestUpgradeKeepsPhaseOneLoggersWritingToConsoleAndExport(t *testing.T) {
	rt, out, f := newTestRuntime(t, exportOn)
	log := rt.Logger().With("worker", "w1").WithGroup("job")

	log.Info("before upgrade", "n", 1)
	if err := rt.InitTelemetry(context.Background()); err != nil {
		t.Fatal(err)
	}
	log.Info("after upgrade", "n", 2)
	flush(t, rt)

	for i, msg := range []string{"before upgrade", "after upgrade"} {
		lines := out.linesWithMsg(t, msg)
		if len(lines) != 1 {
			t.Fatalf("console has %d lines %q, want 1:\n%s", len(lines), msg, out.String())
		}
		job, _ := lines[0]["job"].(map[string]any)
		if lines[0]["worker"] != "w1" || job["n"] != fmt.Sprint(i+1) {
			t.Errorf("console line %q lost the logger's attrs or group: %v", msg, lines[0])
		}

		exported := f.logs.withMsg(msg, false)
		if len(exported) != 1 {
			t.Fatalf("exporter got %d records %q, want 1", len(exported), msg)
		}
		if a := exported[0].attrs; a["worker"] != "w1" || a["job.n"] != fmt.Sprint(i+1) {
			t.Errorf("exported %q lost the logger's attrs or group: %v", msg, a)
		}
	}
	if st := rt.Stats(); !st.ExportEnabled || st.Early.Replayed != 1 {
		t.Errorf("stats: export enabled %v, early replayed %d; want true, 1", st.ExportEnabled, st.Early.Replayed)
	}
}

func TestUpgradeReplaysEarlyRecordsInOrderWithOriginalTimestamps(t *testing.T) {
	rt, _, f := newTestRuntime(t, exportOn)
	h := rt.Handler()
	base := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 5 {
		r := slog.NewRecord(base.Add(time.Duration(i)*time.Second), slog.LevelInfo, fmt.Sprintf("early %d", i), 0)
		if err := h.Handle(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := rt.InitTelemetry(context.Background()); err != nil {
		t.Fatal(err)
	}
	flush(t, rt)

	got := f.logs.withMsg("early ", true)
	if len(got) != 5 {
		t.Fatalf("exporter got %d early records, want 5", len(got))
	}
	for i, l := range got {
		if want := fmt.Sprintf("early %d", i); l.msg != want {
			t.Errorf("replayed record %d is %q, want %q", i, l.msg, want)
		}
		if want := base.Add(time.Duration(i) * time.Second); !l.time.Equal(want) {
			t.Errorf("replayed %q has timestamp %v, want the original %v", l.msg, l.time, want)
		}
	}
	if st := rt.Stats().Early; st.Replayed != 5 || st.Discarded != 0 || st.Buffered != 0 {
		t.Errorf("early stats %+v, want 5 replayed, nothing discarded or buffered", st)
	}
}

func TestReplayedRecordKeepsLoggerChainSpanAndContextFields(t *testing.T) {
	rt, _, f := newTestRuntime(t, exportOn)
	sc := testSpanContext()
	ctx := WithFields(trace.ContextWithSpanContext(context.Background(), sc), slog.String("correlation_id", "c-42"))
	log := rt.Logger().With("svc", "pay").WithGroup("req").With("route", "/charge")

	log.InfoContext(ctx, "charged", "amount", 5)
	if err := rt.InitTelemetry(context.Background()); err != nil {
		t.Fatal(err)
	}
	log.InfoContext(ctx, "charged", "amount", 5)
	flush(t, rt)

	got := f.logs.withMsg("charged", false)
	if len(got) != 2 {
		t.Fatalf("exporter got %d records, want the replayed one and the live one", len(got))
	}
	replayed, live := got[0], got[1]
	if replayed.trace != sc.TraceID() || replayed.span != sc.SpanID() {
		t.Errorf("replayed record has trace %s span %s, want %s %s", replayed.trace, replayed.span, sc.TraceID(), sc.SpanID())
	}
	for k, want := range map[string]string{"svc": "pay", "req.route": "/charge", "req.amount": "5"} {
		if replayed.attrs[k] != want {
			t.Errorf("replayed record: %s = %q, want %q (attrs %v)", k, replayed.attrs[k], want, replayed.attrs)
		}
	}
	foundField := false
	for k, v := range replayed.attrs {
		if (k == "correlation_id" || strings.HasSuffix(k, ".correlation_id")) && v == "c-42" {
			foundField = true
		}
	}
	if !foundField {
		t.Errorf("replayed record lost the context field correlation_id: %v", replayed.attrs)
	}
	// The replay exports the record exactly as phase 2 does.
	if !reflect.DeepEqual(replayed.attrs, live.attrs) || replayed.trace != live.trace || replayed.span != live.span {
		t.Errorf("replayed record differs from the live one:\nreplayed %v\nlive     %v", replayed.attrs, live.attrs)
	}
}

func TestEarlyBufferKeepsTheLastRecordsAndCountsOverflow(t *testing.T) {
	rt, out, f := newTestRuntime(t, map[string]string{"TELEMETRY_ENABLED": "true", "FFITEL_EARLY_BUFFER": "3"})
	for i := range 5 {
		rt.Logger().Info(fmt.Sprintf("early %d", i))
	}
	if st := rt.Stats().Early; st.Capacity != 3 || st.Buffered != 3 || st.Overflowed != 2 {
		t.Errorf("before the upgrade: early stats %+v, want capacity 3, 3 buffered, 2 overflowed", st)
	}
	if err := rt.InitTelemetry(context.Background()); err != nil {
		t.Fatal(err)
	}
	flush(t, rt)

	var msgs []string
	for _, l := range f.logs.withMsg("early ", true) {
		msgs = append(msgs, l.msg)
	}
	if want := []string{"early 2", "early 3", "early 4"}; !slices.Equal(msgs, want) {
		t.Errorf("replayed %q, want the last three %q", msgs, want)
	}
	if st := rt.Stats().Early; st.Overflowed != 2 || st.Replayed != 3 {
		t.Errorf("after the upgrade: early stats %+v, want 2 overflowed, 3 replayed", st)
	}
	// The records that were not kept reached the console only: said once.
	if n := strings.Count(out.String(), "log_records_not_replayed=2"); n != 1 {
		t.Errorf("%d warnings about the records not replayed, want 1:\n%s", n, out.String())
	}
}

func TestTelemetryNotEnabledStaysConsoleOnlyAndSaysSo(t *testing.T) {
	rt, out, f := newTestRuntime(t, nil) // TELEMETRY_ENABLED unset
	for i := range 3 {
		rt.Logger().Info(fmt.Sprintf("early %d", i))
	}
	if err := rt.InitTelemetry(context.Background()); err != nil {
		t.Fatal(err)
	}
	rt.Logger().Info("phase two record")
	ctx, span := rt.TracerProvider().Tracer("test").Start(context.Background(), "phase two span")
	rt.Logger().InfoContext(ctx, "in span")
	span.End()
	flush(t, rt)

	if got := rt.Phase(); got != StateTelemetry {
		t.Errorf("Phase() = %v, want %v", got, StateTelemetry)
	}
	st := rt.Stats()
	if st.ExportEnabled || !strings.Contains(st.ExportDisabledReason, "TELEMETRY_ENABLED") {
		t.Errorf("stats say export enabled %v, reason %q; want false and a reason naming TELEMETRY_ENABLED",
			st.ExportEnabled, st.ExportDisabledReason)
	}
	if st.Early.Discarded != 3 || st.Early.Replayed != 0 {
		t.Errorf("early stats %+v, want the 3 phase-1 records discarded", st.Early)
	}
	n := 0
	for _, l := range out.lines(t) {
		if msg, _ := l["msg"].(string); strings.Contains(msg, "stays console-only") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("console has %d lines saying phase 2 stays console-only, want 1:\n%s", n, out.String())
	}
	if len(out.linesWithMsg(t, "phase two record")) != 1 {
		t.Errorf("phase-2 record missing from the console:\n%s", out.String())
	}
	if logs, spans := f.logs.all(), f.spans.all(); len(logs) != 0 || len(spans) != 0 {
		t.Errorf("exported %d records and %d spans with TELEMETRY_ENABLED unset", len(logs), len(spans))
	}
}

func TestSDKDisabledWinsOverTelemetryEnabled(t *testing.T) {
	rt, _, f := newTestRuntime(t, map[string]string{"TELEMETRY_ENABLED": "true", "OTEL_SDK_DISABLED": "true"})
	if err := rt.InitTelemetry(context.Background()); err != nil {
		t.Fatal(err)
	}
	rt.Logger().Info("phase two record")
	_, span := rt.TracerProvider().Tracer("test").Start(context.Background(), "phase two span")
	span.End()
	flush(t, rt)

	st := rt.Stats()
	if st.ExportEnabled || !strings.Contains(st.ExportDisabledReason, "OTEL_SDK_DISABLED") {
		t.Errorf("stats say export enabled %v, reason %q; want false and a reason naming OTEL_SDK_DISABLED",
			st.ExportEnabled, st.ExportDisabledReason)
	}
	if logs, spans := f.logs.all(), f.spans.all(); len(logs) != 0 || len(spans) != 0 {
		t.Errorf("exported %d records and %d spans with OTEL_SDK_DISABLED=true", len(logs), len(spans))
	}
}

func TestShutdownIsIdempotentAndFinal(t *testing.T) {
	rt, out, f := newTestRuntime(t, exportOn)
	ctx := context.Background()
	if got := rt.Phase(); got != StateNone {
		t.Fatalf("Phase() after New = %v, want %v", got, StateNone)
	}
	if err := rt.InitConsoleOnly(); err != nil || rt.Phase() != StateConsole {
		t.Fatalf("InitConsoleOnly: %v, phase %v", err, rt.Phase())
	}
	if err := rt.InitTelemetry(ctx); err != nil || rt.Phase() != StateTelemetry {
		t.Fatalf("InitTelemetry: %v, phase %v", err, rt.Phase())
	}
	log := rt.Logger()
	log.Info("before shutdown")
	for i := range 2 {
		if err := rt.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown #%d: %v", i+1, err)
		}
		if got := rt.Phase(); got != StateShutdown {
			t.Fatalf("Phase() after Shutdown #%d = %v, want %v", i+1, got, StateShutdown)
		}
	}
	if err := rt.InitTelemetry(ctx); !errors.Is(err, ErrShutdown) {
		t.Errorf("InitTelemetry after Shutdown = %v, want ErrShutdown", err)
	}
	if err := rt.InitConsoleOnly(); err != nil || rt.Phase() != StateShutdown {
		t.Errorf("InitConsoleOnly after Shutdown: %v, phase %v; want nil, shutdown", err, rt.Phase())
	}
	exportedBefore := len(f.logs.all())
	emittedBefore := rt.Stats().Logs.Emitted

	log.Info("after shutdown")
	rt.Logger().With("k", "v").Warn("after shutdown too")

	if len(out.linesWithMsg(t, "after shutdown")) != 1 || len(out.linesWithMsg(t, "after shutdown too")) != 1 {
		t.Errorf("records logged after Shutdown did not reach the console:\n%s", out.String())
	}
	if n := len(f.logs.all()); n != exportedBefore {
		t.Errorf("exporter got %d records after Shutdown", n-exportedBefore)
	}
	if n := rt.Stats().Logs.Emitted; n != emittedBefore {
		t.Errorf("%d records entered the export pipeline after Shutdown", n-emittedBefore)
	}
	if len(f.logs.withMsg("before shutdown", false)) != 1 {
		t.Error("Shutdown did not flush the record logged before it")
	}
}

func TestLoggingAfterShutdownWithoutInitReachesConsole(t *testing.T) {
	rt, out, _ := newTestRuntime(t, exportOn)
	if err := rt.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := rt.Phase(); got != StateShutdown {
		t.Fatalf("Phase() = %v, want %v", got, StateShutdown)
	}
	rt.Logger().Info("late record")
	if len(out.linesWithMsg(t, "late record")) != 1 {
		t.Errorf("record logged after Shutdown did not reach the console:\n%s", out.String())
	}
	if err := rt.InitTelemetry(context.Background()); !errors.Is(err, ErrShutdown) {
		t.Errorf("InitTelemetry after Shutdown = %v, want ErrShutdown", err)
	}
}

func TestConcurrentLoggingDuringUpgradeLosesNothing(t *testing.T) {
	const writers, perWriter = 8, 300
	rt, out, f := newTestRuntime(t, map[string]string{"TELEMETRY_ENABLED": "true", "FFITEL_EARLY_BUFFER": "100000"})
	log := rt.Logger()

	var logged atomic.Int64
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				log.Info("work", "w", w, "i", i)
				logged.Add(1)
			}
		})
	}
	upgraded := make(chan error, 1)
	go func() {
		for logged.Load() < 50 {
			runtime.Gosched()
		}
		upgraded <- rt.InitTelemetry(context.Background())
	}()
	wg.Wait()
	if err := <-upgraded; err != nil {
		t.Fatal(err)
	}
	flush(t, rt)

	key := func(w, i any) string { return fmt.Sprint(w, "/", i) }
	check := func(where string, keys []string) {
		t.Helper()
		seen := map[string]int{}
		for _, k := range keys {
			seen[k]++
		}
		if len(keys) != writers*perWriter || len(seen) != writers*perWriter {
			t.Errorf("%s got %d records (%d distinct), want each of %d exactly once",
				where, len(keys), len(seen), writers*perWriter)
		}
	}
	var consoleKeys, exportedKeys []string
	for _, l := range out.linesWithMsg(t, "work") {
		consoleKeys = append(consoleKeys, key(l["w"], l["i"]))
	}
	for _, l := range f.logs.withMsg("work", false) {
		exportedKeys = append(exportedKeys, key(l.attrs["w"], l.attrs["i"]))
	}
	check("console", consoleKeys)
	check("exporter", exportedKeys)

	st := rt.Stats()
	if st.Early.Replayed < 50 || st.Early.Overflowed != 0 || st.Early.Discarded != 0 {
		t.Errorf("early stats %+v, want at least the 50 phase-1 records replayed and nothing lost", st.Early)
	}
	// Every record handed to the pipeline (replayed or live) was exported.
	all := uint64(len(f.logs.all()))
	if s := st.Logs; s.Emitted != all || s.Exported != all || s.Dropped+s.Failed+s.Pending != 0 {
		t.Errorf("log stats %+v, want all %d emitted records exported", s, all)
	}
	t.Logf("%d records replayed, %d exported live", st.Early.Replayed, uint64(writers*perWriter)-st.Early.Replayed)
}

func TestConfigurationLoggedOnceInPhaseTwoWithoutSecrets(t *testing.T) {
	const secret = "s3cret-token"
	for _, tc := range []struct {
		name   string
		enable string
	}{{"exporting", "true"}, {"console only", ""}} {
		t.Run(tc.name, func(t *testing.T) {
			rt, out, f := newTestRuntime(t, map[string]string{"TELEMETRY_ENABLED": tc.enable,
				"OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer " + secret})
			ctx := context.Background()
			exercisePhaseOne(t, rt)
			if n := len(out.linesWithMsg(t, "ffitel telemetry configuration")); n != 0 {
				t.Errorf("phase 1 logged the configuration %d times", n)
			}
			for range 2 {
				if err := rt.InitTelemetry(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if err := rt.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}

			lines := out.linesWithMsg(t, "ffitel telemetry configuration")
			if len(lines) != 1 {
				t.Fatalf("console has %d configuration lines, want 1:\n%s", len(lines), out.String())
			}
			config, _ := lines[0]["config"].(map[string]any)
			if config["headers"] != "authorization=REDACTED" {
				t.Errorf("configuration line headers = %v, want authorization=REDACTED", config["headers"])
			}
			if strings.Contains(out.String(), secret) {
				t.Errorf("console shows the header secret:\n%s", out.String())
			}
			for _, l := range f.logs.all() {
				for k, v := range l.attrs {
					if strings.Contains(v, secret) {
						t.Errorf("exported record %q leaks the header secret in %s", l.msg, k)
					}
				}
			}
			wantExported := 0
			if tc.enable == "true" {
				wantExported = 1
			}
			if n := len(f.logs.withMsg("ffitel telemetry configuration", false)); n != wantExported {
				t.Errorf("exporter got the configuration %d times, want %d", n, wantExported)
			}
		})
	}
}

func TestPhaseOneCountsAndOpenSpansCarryIntoPhaseTwo(t *testing.T) {
	rt, _, f := newTestRuntime(t, exportOn)
	ctx := context.Background()
	counter, err := rt.MeterProvider().Meter("test").Int64Counter("jobs.done")
	if err != nil {
		t.Fatal(err)
	}
	counter.Add(ctx, 3, metric.WithAttributes(attribute.String("queue", "mail")))
	_, open := rt.TracerProvider().Tracer("test").Start(ctx, "spans the upgrade")

	if err := rt.InitTelemetry(ctx); err != nil {
		t.Fatal(err)
	}
	counter.Add(ctx, 2, metric.WithAttributes(attribute.String("queue", "mail")))
	open.End()
	flush(t, rt)

	f.metrics.mu.Lock()
	got := f.metrics.sums["jobs.done"]
	f.metrics.mu.Unlock()
	if got != 5 {
		t.Errorf("exported jobs.done = %d, want 5 (3 counted in phase 1 + 2 in phase 2)", got)
	}
	if spans := f.spans.all(); !slices.Equal(spans, []string{"spans the upgrade"}) {
		t.Errorf("exported spans %q, want the one started in phase 1 and ended in phase 2", spans)
	}
}

func TestLifecycleLinesShowEvenAtLogLevelError(t *testing.T) {
	rt, out, _ := newTestRuntime(t, map[string]string{"LOG_LEVEL": "error", "FFITEL_EARLY_BUFFER": "abc"})
	if err := rt.InitTelemetry(context.Background()); err != nil {
		t.Fatal(err)
	}
	rt.Logger().Info("ordinary info is filtered")
	var sawWarning, sawConfig, sawOff bool
	for _, l := range out.lines(t) {
		msg, _ := l["msg"].(string)
		switch {
		case strings.Contains(msg, "FFITEL_EARLY_BUFFER"):
			sawWarning = true
		case msg == "ffitel telemetry configuration":
			sawConfig = true
		case strings.Contains(msg, "stays console-only"):
			sawOff = true
		case msg == "ordinary info is filtered":
			t.Errorf("LOG_LEVEL=error let an INFO record through")
		}
	}
	if !sawWarning || !sawConfig || !sawOff {
		t.Errorf("lifecycle lines hidden by LOG_LEVEL=error: warning %v, config %v, console-only %v:\n%s",
			sawWarning, sawConfig, sawOff, out.String())
	}
}

func TestLogOutputNoneSendsRecordsToExportOnly(t *testing.T) {
	rt := New(Options{Getenv: mapEnv(map[string]string{"FFITEL_LOG_OUTPUT": "none", "TELEMETRY_ENABLED": "true"}),
		testExporters: &exporters{logs: &fakeLogExporter{}}})
	t.Cleanup(func() { _ = rt.Shutdown(context.Background()) })
	if err := rt.InitTelemetry(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rt.console != slog.DiscardHandler {
		t.Fatalf("console handler is %T, want slog.DiscardHandler", rt.console)
	}
	rt.Logger().Info("only exported")
	flush(t, rt)
	if st := rt.Stats(); st.Logs.Exported < 1 {
		t.Errorf("record not exported with FFITEL_LOG_OUTPUT=none: %+v", st.Logs)
	}
}

func TestSpansEndedInPhaseOneAreExportedAfterUpgrade(t *testing.T) {
	rt, _, f := newTestRuntime(t, map[string]string{"TELEMETRY_ENABLED": "true", "FFITEL_EARLY_BUFFER": "2"})
	_ = rt.InitConsoleOnly()
	tr := rt.TracerProvider().Tracer("test")
	for _, name := range []string{"first", "second", "third"} {
		_, s := tr.Start(context.Background(), name)
		s.End()
	}
	if err := rt.InitTelemetry(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, s := tr.Start(context.Background(), "phase two")
	s.End()
	flush(t, rt)
	names := f.spans.all()
	if strings.Join(names, ",") != "second,third,phase two" {
		t.Errorf("exported spans %v, want the last 2 phase-1 spans then the phase-2 one", names)
	}
	st := rt.Stats()
	if st.Early.SpansReplayed != 2 || st.Early.SpansOverflowed != 1 {
		t.Errorf("early span stats %+v, want 2 replayed and 1 overflowed", st.Early)
	}
	if st.Spans.Emitted != 3 || st.Spans.Exported != 3 {
		t.Errorf("span stats %+v", st.Spans)
	}
}

func TestSpansEndedInPhaseOneAreCountedWhenExportIsOff(t *testing.T) {
	rt, _, f := newTestRuntime(t, nil)
	_ = rt.InitConsoleOnly()
	_, s := rt.TracerProvider().Tracer("test").Start(context.Background(), "early")
	s.End()
	if err := rt.InitTelemetry(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := rt.Stats(); st.Early.SpansDiscarded != 1 {
		t.Errorf("early span stats %+v, want 1 discarded", st.Early)
	}
	if len(f.spans.all()) != 0 {
		t.Errorf("exported spans with export off")
	}
}

func TestEventQueueDropsAreReportedPeriodically(t *testing.T) {
	out := &syncBuffer{}
	rt := New(Options{Getenv: mapEnv(nil), Output: out, LossReportInterval: 50 * time.Millisecond})
	t.Cleanup(func() { _ = rt.Shutdown(context.Background()) })
	if err := rt.InitTelemetry(context.Background()); err != nil {
		t.Fatal(err)
	}
	sub := rt.Events().Router().Bus().SubscribeQueue("*", 1)
	defer sub.Close()
	md := events.Metadata{Namespace: "n", CorrelationID: "c"}
	for i := 0; i < 3; i++ {
		if _, err := rt.Events().Publish(context.Background(), "a.b", nil, md, events.Fast); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "dropped from full subscriber queues") {
		if time.Now().After(deadline) {
			t.Fatalf("no warning about the 2 dropped events:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
