// Command exportcpu measures what exporting costs the whole process: total
// CPU (getrusage RUSAGE_SELF, user + system) per record the real Collector
// received, for ffitel beside the plain OpenTelemetry Go SDK, logs and
// spans, console on and off. Each pipeline runs in its own child process so
// each has its own rusage. Records are paced (default 10 000/s) so that
// nothing is dropped. Two rows give what every pipeline's worker pays
// before any pipeline does anything: the pacing loop alone, and the
// caller's floor (the same calls into a logger or tracer that does
// nothing); "over the caller's floor" is a pipeline's own cost. A second
// table measures the memory retained per queued record: RSS growth while
// the Collector is down and every record waits in the queue.
//
//	go run ./e2e/cmd/exportcpu [-n 100000] [-rate 10000] [-only logs|spans|mem]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	rtrace "runtime/trace"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/ffitel/ffitel/bootstrap"
	"github.com/ffitel/ffitel/e2e"
)

// A case is one pipeline measured in one child process.
type benchCase struct {
	name    string // printed
	signal  string // logs, spans
	sdk     bool   // the plain OpenTelemetry SDK instead of ffitel
	console bool   // ffitel's console on (to the child's stderr, /dev/null)
	// floor: the caller's own calls, into a logger or tracer that does
	// nothing (the pacing loop, slog.Logger.Info into a handler that drops
	// the record, trace.WithAttributes and Start/End on the no-op tracer).
	// Every pipeline's worker pays it; what a pipeline costs on top is its own.
	floor bool
}

// result is what a child prints as its last stdout line.
type result struct {
	CPU      time.Duration `json:"cpu_ns"`
	User     time.Duration `json:"user_ns"`
	Emitted  int           `json:"emitted"`
	RSSGrowB int64         `json:"rss_growth_bytes"`
	HeapB    int64         `json:"heap_growth_bytes"`
	AllocB   uint64        `json:"alloc_bytes"` // allocated while the pipeline ran, shutdown included
	GCs      uint32        `json:"gcs"`         // collections meanwhile
	Note     string        `json:"note"`
}

func main() {
	n := flag.Int("n", 100000, "records (or spans) per pipeline")
	rate := flag.Int("rate", 10000, "records per second")
	only := flag.String("only", "", "logs, spans or mem: run one table only")
	runs := flag.Int("runs", 3, "runs of each pipeline (interleaved); the median is printed")
	child := flag.String("child", "", "internal: run one case")
	tag := flag.String("tag", "", "internal: body or span name of this run")
	flag.Parse()
	if *child != "" {
		r, err := runChild(*child, *tag, *n, *rate)
		if err != nil {
			fmt.Fprintln(os.Stderr, "exportcpu child:", err)
			os.Exit(1)
		}
		out, _ := json.Marshal(r)
		fmt.Println(string(out))
		return
	}
	if err := runParent(*n, *rate, *only, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "exportcpu:", err)
		os.Exit(1)
	}
}

func cases() []benchCase {
	return []benchCase{
		{name: "plain SDK (otelslog → BatchProcessor → otlploggrpc)", signal: "logs", sdk: true, console: false},
		{name: "ffitel, console off (FFITEL_LOG_OUTPUT=none)", signal: "logs", sdk: false, console: false},
		{name: "ffitel, console on (text to stderr)", signal: "logs", sdk: false, console: true},
		{name: "plain SDK (BatchSpanProcessor → otlptracegrpc)", signal: "spans", sdk: true, console: false},
		{name: "ffitel, console off", signal: "spans", sdk: false, console: false},
		{name: "ffitel, console on", signal: "spans", sdk: false, console: true},
	}
}

func caseKey(c benchCase) string {
	k := c.signal
	if c.sdk {
		k += "-sdk"
	} else {
		k += "-ffitel"
	}
	if c.console {
		k += "-console"
	}
	if c.floor {
		k = c.signal + "-floor"
	}
	return k
}

func runParent(n, rate int, only string, runs int) error {
	dir, err := os.MkdirTemp("", "ffitel-exportcpu-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	col, err := e2e.Start(dir)
	if err != nil {
		return err
	}
	defer col.Stop()
	fmt.Printf("exportcpu: %d records per pipeline, 3 attributes, paced at %d/s, real Collector over OTLP/gRPC; "+
		"median of %d interleaved runs; GOMAXPROCS=%d\n\n", n, rate, runs, runtime.GOMAXPROCS(0))

	for _, signal := range []string{"logs", "spans"} {
		if only != "" && only != signal {
			continue
		}
		fmt.Printf("| %s pipeline | CPU per delivered record (user) | delivered | ratio to SDK | over the caller's floor, ratio | allocated per record, collections |\n|---|---|---|---|---|---|\n", signal)
		var sel []benchCase
		if signal == "logs" || only == "spans" {
			sel = append(sel, benchCase{name: "(pacing loop alone, no telemetry)", signal: "idle"})
		}
		floorName := "(caller's floor: pacing loop, slog.Logger.Info into a handler that drops it)"
		if signal == "spans" {
			floorName = "(caller's floor: pacing loop, WithAttributes, Start and End on the no-op tracer)"
		}
		sel = append(sel, benchCase{name: floorName, signal: signal, floor: true})
		for _, c := range cases() {
			if c.signal == signal {
				sel = append(sel, c)
			}
		}
		total := make([][]float64, len(sel))
		user := make([][]float64, len(sel))
		delivered := make([]int, len(sel))
		emitted := make([]int, len(sel))
		alloc := make([][]float64, len(sel))
		gcs := make([][]float64, len(sel))
		for run := 0; run < runs; run++ {
			for i, c := range sel {
				tag := fmt.Sprintf("exportcpu-%s-%d", caseKey(c), run)
				r, err := spawn(c, tag, n, rate, endpointEnv(col.GRPCEndpoint))
				if err != nil {
					return fmt.Errorf("%s: %w", c.name, err)
				}
				d := n
				if c.signal != "idle" && !c.floor {
					d = waitDelivered(dir, signal, tag, n)
				}
				if run == 0 || d < delivered[i] {
					delivered[i] = d
				}
				emitted[i] = r.Emitted
				total[i] = append(total[i], float64(r.CPU.Nanoseconds())/1000/float64(max(d, 1)))
				user[i] = append(user[i], float64(r.User.Nanoseconds())/1000/float64(max(d, 1)))
				alloc[i] = append(alloc[i], float64(r.AllocB)/float64(max(d, 1)))
				gcs[i] = append(gcs[i], float64(r.GCs))
			}
		}
		var base, floor float64
		for i, c := range sel {
			switch {
			case c.sdk:
				base = median(total[i])
			case c.floor:
				floor = median(total[i])
			}
		}
		for i, c := range sel {
			per, u := median(total[i]), median(user[i])
			ratio, got, net := "", fmt.Sprintf("%d / %d", delivered[i], emitted[i]), "–"
			switch {
			case c.signal == "idle":
				got = "–"
			case c.floor && base > 0:
				got, ratio = "–", fmt.Sprintf("%.2f×", per/base)
			case c.floor:
				got = "–"
			case c.sdk:
				ratio = "1.00×"
			case base > 0:
				ratio = fmt.Sprintf("%.2f×", per/base)
			}
			if c.signal != "idle" && !c.floor && base > floor {
				// What the pipeline itself adds to a worker that makes the
				// same calls anyway: the ratio is the total's
				// (ratio to SDK).
				net = fmt.Sprintf("%.2f µs, %.2f×", per-floor, (per-floor)/(base-floor))
			}
			fmt.Printf("| %s | %.2f µs (%.2f) | %s | %s | %s | %.0f B, %.0f |\n", c.name, per, u, got, ratio, net, median(alloc[i]), median(gcs[i]))
		}
		fmt.Println()
	}
	if only == "" || only == "mem" {
		// Nobody listens on this port: every record stays queued.
		down := fmt.Sprintf("http://127.0.0.1:%d", mustFreePort())
		fmt.Printf("| memory, Collector down, %d queued log records | RSS growth per queued record | live heap growth per queued record |\n|---|---|---|\n", n)
		for _, c := range []benchCase{cases()[0], cases()[1]} {
			r, err := spawn(c, "mem", n, 0, endpointEnv(down))
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			fmt.Printf("| %s | %d B | %d B |\n", c.name, r.RSSGrowB/int64(n), r.HeapB/int64(n))
		}
		fmt.Println()
	}
	return nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func mustFreePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func endpointEnv(endpoint string) []string {
	return []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + endpoint}
}

func spawn(c benchCase, tag string, n, rate int, extraEnv []string) (result, error) {
	mode := "run"
	if rate == 0 {
		mode = "mem"
	}
	cmd := exec.Command(os.Args[0], "-child", caseKey(c)+":"+mode, "-tag", tag, "-n", strconv.Itoa(n), "-rate", strconv.Itoa(rate))
	cmd.Env = append(os.Environ(), "TELEMETRY_ENABLED=true", "OTEL_SERVICE_NAME=exportcpu",
		"OTEL_METRICS_EXPORTER=none", "FFITEL_LOG_OUTPUT=none")
	if c.console {
		cmd.Env = append(cmd.Env, "FFITEL_LOG_OUTPUT=stderr")
	}
	if c.signal == "logs" {
		cmd.Env = append(cmd.Env, "OTEL_TRACES_EXPORTER=none")
	} else {
		cmd.Env = append(cmd.Env, "OTEL_LOGS_EXPORTER=none")
	}
	if mode == "mem" {
		cmd.Env = append(cmd.Env, "OTEL_BLRP_MAX_QUEUE_SIZE="+strconv.Itoa(2*n), "OTEL_BLRP_EXPORT_TIMEOUT=60000")
	}
	cmd.Env = append(cmd.Env, extraEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	if c.console {
		cmd.Stderr = nil // /dev/null: the console's cost is the write, not a reader
	} else {
		cmd.Stderr = &stderr
	}
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("%v: %s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var r result
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		return result{}, fmt.Errorf("child output %q: %v", stdout.String(), err)
	}
	return r, nil
}

// waitDelivered counts the run's records in the Collector's file output,
// waiting until the count reaches want or stops growing.
func waitDelivered(dir, signal, tag string, want int) int {
	file, key := "logs.jsonl", `"body":{"stringValue":"`+tag+`"}`
	if signal == "spans" {
		file, key = "traces.jsonl", `"name":"`+tag+`"`
	}
	last, stable := -1, 0
	for {
		data, _ := os.ReadFile(filepath.Join(dir, file))
		got := bytes.Count(data, []byte(key))
		if got >= want {
			return got
		}
		if got == last {
			stable++
			if stable >= 20 { // 2 s without growth
				return got
			}
		} else {
			stable = 0
		}
		last = got
		time.Sleep(100 * time.Millisecond)
	}
}

func cpuNow() time.Duration {
	u, s := cpuSplit()
	return u + s
}

func cpuSplit() (user, sys time.Duration) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// liveHeap is the heap in use after a collection: what is retained.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func rssBytes() int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// pipeline is what a child measures: emit one record (or span) and finish.
type pipeline struct {
	emit     func(i int)
	shutdown func(ctx context.Context) error
}

func runChild(spec, tag string, n, rate int) (result, error) {
	key, mode, _ := strings.Cut(spec, ":")
	ctx := context.Background()
	p, err := newPipeline(ctx, key, tag)
	if err != nil {
		return result{}, err
	}
	if mode == "mem" {
		// Warm up (the first records grow the heap for reasons of their own),
		// then queue n records with the Collector down.
		for i := 0; i < 1000; i++ {
			p.emit(i)
		}
		time.Sleep(200 * time.Millisecond)
		runtime.GC()
		before, heap0 := rssBytes(), liveHeap()
		for i := 0; i < n; i++ {
			p.emit(i)
		}
		time.Sleep(500 * time.Millisecond)
		runtime.GC()
		after, heap1 := rssBytes(), liveHeap()
		sctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		_ = p.shutdown(sctx)
		cancel()
		return result{Emitted: n, RSSGrowB: after - before, HeapB: int64(heap1) - int64(heap0)}, nil
	}
	if os.Getenv("EXPORTCPU_HEAPPROFILE") != "" {
		runtime.MemProfileRate = 512
	}
	// One file per case: EXPORTCPU_CPUPROFILE=/tmp/prof makes
	// /tmp/prof.logs-ffitel and so on. EXPORTCPU_TRACE writes an execution
	// trace (go tool trace -d=parsed reads it): which goroutines wake, how
	// often and why.
	for _, rec := range []struct {
		env   string
		start func(io.Writer) error
		stop  func()
	}{
		{"EXPORTCPU_CPUPROFILE", pprof.StartCPUProfile, pprof.StopCPUProfile},
		{"EXPORTCPU_TRACE", rtrace.Start, rtrace.Stop},
	} {
		path := os.Getenv(rec.env)
		if path == "" {
			continue
		}
		f, err := os.Create(path + "." + key)
		if err != nil {
			return result{}, err
		}
		defer f.Close()
		if err := rec.start(f); err != nil {
			return result{}, err
		}
		defer rec.stop()
	}
	noEmit := os.Getenv("EXPORTCPU_NOEMIT") != "" // to measure a pipeline's idle cost
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	start := cpuNow()
	user0, _ := cpuSplit()
	tick := time.NewTicker(10 * time.Millisecond)
	per := max(rate/100, 1)
	for i := 0; i < n; {
		<-tick.C
		for j := 0; j < per && i < n; j++ {
			if !noEmit {
				p.emit(i)
			}
			i++
		}
	}
	tick.Stop()
	if path := os.Getenv("EXPORTCPU_HEAPPROFILE"); path != "" {
		// The live heap while the pipeline runs (what each collection marks).
		if f, err := os.Create(path + "." + key); err == nil {
			_ = pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := p.shutdown(sctx); err != nil {
		return result{}, err
	}
	user1, _ := cpuSplit()
	cpu := cpuNow() - start
	runtime.ReadMemStats(&m1)
	return result{CPU: cpu, User: user1 - user0, Emitted: n, AllocB: m1.TotalAlloc - m0.TotalAlloc, GCs: m1.NumGC - m0.NumGC}, nil
}

func newPipeline(ctx context.Context, key, tag string) (pipeline, error) {
	switch key {
	case "idle-ffitel", "idle-ffitel-console":
		return pipeline{emit: func(int) {}, shutdown: func(context.Context) error { return nil }}, nil
	case "logs-floor":
		log := slog.New(dropHandler{})
		return pipeline{emit: func(i int) {
			log.Info(tag, slog.Int("i", i), slog.String("k", "v"), slog.Bool("ok", true))
		}, shutdown: func(context.Context) error { return nil }}, nil
	case "spans-floor":
		tr := noop.NewTracerProvider().Tracer("exportcpu")
		return pipeline{emit: func(i int) { emitSpan(ctx, tr, tag, i) }, shutdown: func(context.Context) error { return nil }}, nil
	case "logs-sdk", "spans-sdk":
		return sdkPipeline(ctx, key, tag)
	}
	rt := bootstrap.New(bootstrap.Options{})
	if err := rt.InitTelemetry(ctx); err != nil {
		return pipeline{}, err
	}
	if strings.HasPrefix(key, "logs") {
		log := rt.Logger()
		return pipeline{emit: func(i int) {
			log.Info(tag, slog.Int("i", i), slog.String("k", "v"), slog.Bool("ok", true))
		}, shutdown: rt.Shutdown}, nil
	}
	tr := rt.TracerProvider().Tracer("exportcpu")
	return pipeline{emit: func(i int) { emitSpan(ctx, tr, tag, i) }, shutdown: rt.Shutdown}, nil
}

// dropHandler is enabled for every record and drops it: slog.Logger does
// all its own work (the caller's pc, the time, the record) for nothing.
// (slog.DiscardHandler is disabled, so the Logger would skip that work.)
type dropHandler struct{}

func (dropHandler) Enabled(context.Context, slog.Level) bool  { return true }
func (dropHandler) Handle(context.Context, slog.Record) error { return nil }
func (h dropHandler) WithAttrs([]slog.Attr) slog.Handler      { return h }
func (h dropHandler) WithGroup(string) slog.Handler           { return h }

func emitSpan(ctx context.Context, tr trace.Tracer, name string, i int) {
	_, span := tr.Start(ctx, name, trace.WithAttributes(attribute.Int("i", i), attribute.String("k", "v"), attribute.Bool("ok", true)))
	span.End()
}

// sdkPipeline is the plain OpenTelemetry Go SDK as its documentation sets
// it up, with the same resource attributes ffitel sends.
func sdkPipeline(ctx context.Context, key, tag string) (pipeline, error) {
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName("exportcpu")))
	if err != nil {
		return pipeline{}, err
	}
	if key == "logs-sdk" {
		exp, err := otlploggrpc.New(ctx)
		if err != nil {
			return pipeline{}, err
		}
		opts := []sdklog.BatchProcessorOption{sdklog.WithMaxQueueSize(16384)}
		if q, _ := strconv.Atoi(os.Getenv("OTEL_BLRP_MAX_QUEUE_SIZE")); q > 0 {
			opts = append(opts, sdklog.WithMaxQueueSize(q))
		}
		lp := sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(sdklog.NewBatchProcessor(exp, opts...)))
		log := otelslog.NewLogger("exportcpu", otelslog.WithLoggerProvider(lp))
		return pipeline{emit: func(i int) {
			log.Info(tag, slog.Int("i", i), slog.String("k", "v"), slog.Bool("ok", true))
		}, shutdown: lp.Shutdown}, nil
	}
	exp, err := otlptracegrpc.New(ctx)
	if err != nil {
		return pipeline{}, err
	}
	// A queue deep enough that the paced spans are not dropped (the
	// default 2048 drops some at 10 000/s).
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithBatcher(exp, sdktrace.WithMaxQueueSize(16384)))
	tr := tp.Tracer("exportcpu")
	return pipeline{emit: func(i int) { emitSpan(ctx, tr, tag, i) }, shutdown: tp.Shutdown}, nil
}
