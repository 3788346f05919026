package bootstrap

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	collogpb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
)

// A slab comes back for reuse only after its packer has moved on and every
// item carved from it has been released.
func TestSlabComesBackAfterItsLastItem(t *testing.T) {
	free := &slabList{} // not freeSlabs: other tests' queues may use it meanwhile
	s := slab{from: free}
	item := make([]byte, 100)
	var kept []*slabBuf
	for len(kept) == 0 || kept[len(kept)-1] == kept[0] {
		_, c := s.keep(item)
		kept = append(kept, c)
	}
	first, last := kept[0], kept[len(kept)-1] // the packer moved to last
	for _, c := range kept[:len(kept)-2] {
		c.release()
	}
	if len(free.free) != 0 {
		t.Fatal("a slab came back with one of its items still queued")
	}
	kept[len(kept)-2].release()
	if len(free.free) != 1 || free.free[0] != first {
		t.Fatalf("the first slab did not come back after its last item (%d free)", len(free.free))
	}
	last.release() // its packer still holds it
	if len(free.free) != 1 {
		t.Fatal("the packer's current slab came back")
	}
	if c := free.get(); c != first || len(c.b) != 0 || c.refs.Load() != 1 {
		t.Fatalf("get: %p (want %p), %d bytes, %d refs", c, first, len(c.b), c.refs.Load())
	}
	if p, c := s.keep(make([]byte, slabSize/2)); c != nil || len(p) != slabSize/2 {
		t.Fatal("an item over a quarter slab is allocated on its own")
	}
}

// Spans packed into reused slabs arrive intact: the queue gives a slab
// back only once every span in it was exported, failed or refused. Two
// producers, small batches, and a receiver that fails one export in 40
// (retried after a backoff while the queue fills, or failed when it is
// full) make slabs cycle many times;
// a slab refilled while one of its spans was still queued would send
// another span's bytes under its name.
func TestSpanWireSlabsReusedOnlyOnceExported(t *testing.T) {
	srv, endpoint := startTraceServer(t)
	ctx := context.Background()
	exp, err := newWireGRPCSpanExporter(ctx, grpcDialOptions(), otlptracegrpc.WithEndpointURL(endpoint),
		otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(ctx)
	sx := newSpanExport(exp)
	var calls int
	var mu sync.Mutex
	export := func(ctx context.Context, items []spanItem) error {
		mu.Lock()
		calls++
		fail := calls%40 == 3
		mu.Unlock()
		if fail {
			return fmt.Errorf("refused for the test")
		}
		return sx.export(ctx, items)
	}
	q := newBatcher(export, 8000, 200, 2*time.Millisecond, 5*time.Second)
	q.retryFor = time.Second
	q.fullWait = time.Second // producers wait for room while exports succeed
	q.prepare = sx.wire.pack
	q.release = func(it spanItem) { it.slab.release() }
	q.start()
	router := newSpanRouter(0)
	router.upgrade(q)
	tr := newTracerProvider(nil, nil, nil, sdktrace.NewSpanLimits(), router).Tracer("slabs")

	const producers, perProducer = 2, 20000
	var wg sync.WaitGroup
	for g := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perProducer {
				name := fmt.Sprintf("g%d-%06d", g, i)
				_, s := tr.Start(ctx, name, trace.WithAttributes(attribute.String("n", name), attribute.Int("i", i)))
				s.End()
				if i%100 == 99 {
					time.Sleep(time.Millisecond) // about the pace of the exports
				}
			}
		}()
	}
	wg.Wait()
	if err := q.flush(ctx); err != nil {
		t.Fatal(err)
	}
	st := q.stats()
	_ = q.shutdown(ctx)
	seen := map[string]bool{}
	for _, req := range srv.take() {
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					if len(s.Attributes) != 2 || s.Attributes[0].Value.GetStringValue() != s.Name {
						t.Fatalf("span %q arrived with attributes %v: its bytes were overwritten", s.Name, s.Attributes)
					}
					if seen[s.Name] {
						t.Fatalf("span %q arrived twice", s.Name)
					}
					seen[s.Name] = true
				}
			}
		}
	}
	if uint64(len(seen)) != st.Exported || st.Emitted != producers*perProducer || st.Pending != 0 {
		t.Fatalf("received %d, stats %+v", len(seen), st)
	}
	// Enough traffic for many slab cycles, and the injected failure came
	// (retried, or failed when the queue was full): how much was refused
	// or retried depends on the machine's speed.
	if st.Exported < 5000 || calls < 3 {
		t.Fatalf("stats %+v, %d export calls: want at least 5000 spans exported and an injected failure", st, calls)
	}
	// (Under the race detector the packers, kept in a sync.Pool, are
	// mostly dropped before they fill a slab, and their slabs with them.)
	if freeSlabs.len() == 0 && !raceEnabled {
		t.Fatal("no slab came back for reuse")
	}
	t.Logf("stats %+v, %d export calls, %d retries, %d slabs free at the end", st, calls, q.retried.Load(), freeSlabs.len())
}

// An item the queue refuses gives its slab reference back at once.
func TestRefusedItemReleasesItsSlab(t *testing.T) {
	s := slab{from: &slabList{}}
	q := newBatcher(func(context.Context, []spanItem) error { return nil }, 1, 1, time.Hour, time.Second)
	q.release = func(it spanItem) { it.slab.release() }
	// No worker: the first item stays queued, the second finds the queue
	// full and is refused (no backpressure wait).
	for i, want := range []bool{true, false} {
		w, c := s.keep([]byte("packed"))
		if got := q.add(spanItem{wire: w, slab: c}); got != want {
			t.Fatalf("add %d: %v", i, got)
		}
	}
	if n := s.cur.refs.Load(); n != 2 {
		t.Fatalf("the slab has %d references, want 2: its packer's and the queued item's", n)
	}
}

// TestPipelineGivesSlabsBack runs the Runtime's own export pipeline (not a
// queue a test wires itself) on the wire paths of logs and spans, to
// in-process servers: once the records are exported, their slabs are back
// on freeSlabs. It fails when newExportPipeline does not set the queues'
// release. Without -race only: sync.Pool drops packers, and the slab each
// holds, under the race detector (make test-go runs it without).
func TestPipelineGivesSlabsBack(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops packers under -race; make test-go runs this test without it")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	collogpb.RegisterLogsServiceServer(srv, discardLogsServer{})
	coltracepb.RegisterTraceServiceServer(srv, &discardTraces{})
	go func() { _ = srv.Serve(l) }()
	defer srv.Stop()
	ctx := context.Background()
	url := "http://" + l.Addr().String()
	logExp, err := newWireGRPCLogExporter(ctx, nil, otlploggrpc.WithEndpointURL(url))
	if err != nil {
		t.Fatal(err)
	}
	spanExp, err := newWireGRPCSpanExporter(ctx, nil, otlptracegrpc.WithEndpointURL(url))
	if err != nil {
		t.Fatal(err)
	}
	for _, signal := range []string{"logs", "spans"} {
		t.Run(signal, func(t *testing.T) {
			exps := &exporters{logs: logExp}
			if signal == "spans" {
				exps = &exporters{spans: spanExp}
			}
			rt := New(Options{Getenv: mapEnv(map[string]string{"TELEMETRY_ENABLED": "true", "FFITEL_LOG_OUTPUT": "none"}),
				Output: io.Discard, testExporters: exps})
			if err := rt.InitTelemetry(ctx); err != nil {
				t.Fatal(err)
			}
			freeSlabs.mu.Lock()
			freeSlabs.free = nil // what other tests left
			freeSlabs.mu.Unlock()
			pad := strings.Repeat("x", 200) // a few slabs' worth: 2 000 items of 250 bytes or more
			for i := 0; i < 2000; i++ {
				if signal == "logs" {
					rt.Logger().Info("slab", "i", i, "pad", pad)
				} else {
					_, s := rt.TracerProvider().Tracer("slab").Start(ctx, "slab", trace.WithAttributes(attribute.String("pad", pad)))
					s.End()
				}
			}
			if err := rt.ForceFlush(ctx); err != nil {
				t.Fatal(err)
			}
			st := rt.Stats()
			exported := st.Logs.Exported
			if signal == "spans" {
				exported = st.Spans.Exported
			}
			if exported < 2000 {
				t.Fatalf("%d of 2000 exported", exported)
			}
			if n := freeSlabs.len(); n == 0 {
				t.Fatalf("no slab came back after %d exported %s", exported, signal)
			}
			_ = rt.Shutdown(ctx)
		})
	}
}
