package bootstrap

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// countingWriter records each Write call.
type countingWriter struct {
	syncBuffer
	mu    sync.Mutex
	calls int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.calls++
	w.mu.Unlock()
	return w.syncBuffer.Write(p)
}

func (w *countingWriter) Calls() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.calls
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// asyncRig is an asyncConsole with a text console handler on out.
func asyncRig(t *testing.T) (*asyncConsole, slog.Handler, *countingWriter) {
	t.Helper()
	out := &countingWriter{}
	c := newAsyncConsole(out)
	h := NewConsoleHandler(asyncSink{c}, &ConsoleOptions{Format: FormatText})
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c, h, out
}

func rec(level slog.Level, msg string) logItem {
	return logItem{logEntry: &logEntry{record: slog.NewRecord(time.Time{}, level, msg, 0)}}
}

func TestAsyncConsoleKeepsOrderAndLosesNothing(t *testing.T) {
	c, h, out := asyncRig(t)
	const writers, per = 4, 5000
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				c.add(h, rec(slog.LevelInfo, fmt.Sprintf("g%d-%d", g, i)))
			}
		}()
	}
	wg.Wait()
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	next := make([]int, writers)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != writers*per {
		t.Fatalf("%d lines written, want %d", len(lines), writers*per)
	}
	for _, l := range lines {
		var g, i int
		if _, err := fmt.Sscanf(l, "level=INFO msg=g%d-%d", &g, &i); err != nil {
			t.Fatalf("torn line %q: %v", l, err)
		}
		if i != next[g] {
			t.Fatalf("writer %d: line %d came where %d was due", g, i, next[g])
		}
		next[g]++
	}
	if out.Calls() >= writers*per {
		t.Errorf("%d write calls for %d lines: nothing was gathered", out.Calls(), writers*per)
	}
}

func TestAsyncConsoleWritesWithoutFlushAndAfterIdle(t *testing.T) {
	c, h, out := asyncRig(t)
	c.add(h, rec(slog.LevelInfo, "first"))
	waitFor(t, "the first line", func() bool { return strings.Contains(out.String(), "first") })
	// Long enough for the goroutine to park; the next record must wake it.
	waitFor(t, "the goroutine to park", func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.idle })
	c.add(h, rec(slog.LevelInfo, "second"))
	waitFor(t, "the line after idle", func() bool { return strings.Contains(out.String(), "second") })
}

func TestAsyncConsoleFullQueueWritesOnCaller(t *testing.T) {
	out := &countingWriter{}
	c := &asyncConsole{out: out, linger: time.Hour, maxQueue: 3, wake: make(chan struct{}, 1), done: make(chan struct{})}
	h := NewConsoleHandler(asyncSink{c}, &ConsoleOptions{Format: FormatText}) // no goroutine: only the caller writes
	c.add(h, rec(slog.LevelInfo, "a"))
	c.add(h, rec(slog.LevelInfo, "b"))
	if out.String() != "" {
		t.Fatalf("written before the queue filled: %q", out.String())
	}
	c.add(h, rec(slog.LevelInfo, "c"))
	if got := out.String(); got != "level=INFO msg=a\nlevel=INFO msg=b\nlevel=INFO msg=c\n" {
		t.Fatalf("a full queue must be written by the caller, in order; got %q", got)
	}
	c.add(h, rec(slog.LevelError, "d"))
	if !strings.HasSuffix(out.String(), "msg=d\n") {
		t.Fatalf("an ERROR record must be written before add returns; got %q", out.String())
	}
}

func TestAsyncConsoleAfterCloseWritesDirectly(t *testing.T) {
	c, h, out := asyncRig(t)
	c.add(h, rec(slog.LevelInfo, "queued"))
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.add(h, rec(slog.LevelInfo, "direct"))
	if got := out.String(); got != "level=INFO msg=queued\nlevel=INFO msg=direct\n" {
		t.Fatalf("got %q", got)
	}
	select {
	case <-c.done:
	default:
		t.Fatal("the goroutine still runs after Close")
	}
}

// Phase 2's console is asynchronous; an ERROR record is written before
// Handle returns, together with the lines queued before it.
func TestPhase2ConsoleFlushesErrors(t *testing.T) {
	out := &syncBuffer{}
	rt := New(Options{Getenv: mapEnv(map[string]string{"TELEMETRY_ENABLED": "false", "LOG_LEVEL": "info"}), Output: out})
	if err := rt.InitTelemetry(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer rt.Shutdown(context.Background())
	if rt.asyncOut == nil {
		t.Fatal("phase 2 has no asynchronous console")
	}
	log := rt.Logger()
	log.Info("before the error")
	log.Error("the error")
	got := out.String()
	if !strings.Contains(got, "before the error") || !strings.Contains(got, "the error") {
		t.Fatalf("an ERROR record and the lines before it must be out when Error returns:\n%s", got)
	}
	log.Info("after shutdown starts")
	if err := rt.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "after shutdown starts") {
		t.Fatal("shutdown did not write the queued console lines")
	}
	log.Log(context.Background(), slog.LevelInfo, "after shutdown")
	if !strings.Contains(out.String(), "after shutdown") {
		t.Fatal("after shutdown the console must be synchronous again")
	}
}

// An ERROR written on the caller's thread must not leave a parked goroutine
// asleep: the INFO after it still comes out without a flush.
func TestAsyncConsoleWakesAfterAnError(t *testing.T) {
	c, h, out := asyncRig(t)
	waitFor(t, "the goroutine to park", func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.idle })
	c.add(h, rec(slog.LevelError, "the error"))
	if !strings.Contains(out.String(), "the error") {
		t.Fatal("the error was not written before add returned")
	}
	c.add(h, rec(slog.LevelInfo, "after the error"))
	waitFor(t, "the line after the error", func() bool { return strings.Contains(out.String(), "after the error") })
}

// One goroutine logging through Shutdown: its lines stay in order across
// the switch from the asynchronous console back to the synchronous one.
func TestShutdownKeepsConsoleOrder(t *testing.T) {
	out := &syncBuffer{}
	rt := New(Options{Getenv: mapEnv(map[string]string{"TELEMETRY_ENABLED": "false", "LOG_LEVEL": "info"}), Output: out})
	if err := rt.InitTelemetry(context.Background()); err != nil {
		t.Fatal(err)
	}
	log := rt.Logger()
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		i := 0
		for {
			select {
			case <-stop:
				done <- i
				return
			default:
			}
			log.Info("seq", "n", i)
			i++
		}
	}()
	time.Sleep(20 * time.Millisecond)
	if err := rt.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	close(stop)
	total := <-done
	next := 0
	for _, l := range strings.Split(out.String(), "\n") {
		var n int
		if i := strings.Index(l, "msg=seq n="); i >= 0 {
			if _, err := fmt.Sscanf(l[i:], "msg=seq n=%d", &n); err != nil {
				t.Fatalf("bad line %q", l)
			}
			if n != next {
				t.Fatalf("line %d came where %d was due", n, next)
			}
			next++
		}
	}
	if next != total {
		t.Fatalf("%d lines written, %d logged", next, total)
	}
}

type lazyValue struct{ v *int }

func (l lazyValue) LogValue() slog.Value { return slog.IntValue(*l.v) }

// A LogValuer is resolved when the record is logged, not later on the
// console goroutine.
func TestPhase2ResolvesLogValuersAtLogTime(t *testing.T) {
	out := &syncBuffer{}
	rt := New(Options{Getenv: mapEnv(map[string]string{"TELEMETRY_ENABLED": "false", "LOG_LEVEL": "info"}), Output: out})
	if err := rt.InitTelemetry(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer rt.Shutdown(context.Background())
	x := 1
	rt.Logger().Info("lazy", "v", lazyValue{&x})
	x = 2
	_ = rt.ForceFlush(context.Background())
	if !strings.Contains(out.String(), "msg=lazy v=1") {
		t.Fatalf("want the value at log time (1):\n%s", out.String())
	}
}

// In phase 2 one pooled entry serves the console goroutine and the wire
// export queue, and whichever is done with it last returns it to the pool.
// Records logged from several goroutines at once reach both with their own
// attributes: an entry reused while one side still read it would show up
// as a mismatched or missing record (and under -race as a race).
func TestConsoleAndWireExportShareAPooledEntry(t *testing.T) {
	srv, endpoint := startLogsServer(t)
	out := &syncBuffer{}
	env := map[string]string{"TELEMETRY_ENABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
		"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"}
	for k, v := range env {
		t.Setenv(k, v) // the OTLP exporter reads the process environment itself
	}
	rt := New(Options{Output: out, Getenv: mapEnv(env)})
	t.Cleanup(func() { _ = rt.Shutdown(context.Background()) })
	if err := rt.InitTelemetry(context.Background()); err != nil {
		t.Fatal(err)
	}
	const goroutines, each = 4, 2000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			log := rt.Logger()
			for i := range each {
				log.Info("pooled", "g", g, "i", i, "key", fmt.Sprintf("%d-%d", g, i))
			}
		}()
	}
	wg.Wait()
	flush(t, rt)

	seen := map[string]bool{}
	for _, l := range out.linesWithMsg(t, "pooled") {
		key := fmt.Sprint(l["key"])
		if want := fmt.Sprintf("%v-%v", l["g"], l["i"]); key != want || seen[key] {
			t.Fatalf("console line %v: key %q, want %q once", l, key, want)
		}
		seen[key] = true
	}
	if len(seen) != goroutines*each {
		t.Fatalf("console: %d records, want %d", len(seen), goroutines*each)
	}
	exported := map[string]bool{}
	for _, req := range srv.take() {
		for _, rl := range req.GetResourceLogs() {
			for _, sl := range rl.GetScopeLogs() {
				for _, r := range sl.GetLogRecords() {
					if r.GetBody().GetStringValue() != "pooled" {
						continue
					}
					a := map[string]string{}
					for _, kv := range r.GetAttributes() {
						v := kv.GetValue()
						a[kv.GetKey()] = v.GetStringValue()
						if a[kv.GetKey()] == "" {
							a[kv.GetKey()] = fmt.Sprint(v.GetIntValue())
						}
					}
					key, want := a["key"], a["g"]+"-"+a["i"]
					if key != want || exported[key] {
						t.Fatalf("exported record %v: key %q, want %q once", a, key, want)
					}
					exported[key] = true
				}
			}
		}
	}
	if len(exported) != goroutines*each {
		t.Fatalf("exported: %d records, want %d", len(exported), goroutines*each)
	}
}
