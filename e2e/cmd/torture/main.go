// Command torture reruns the failure experiments of issue #12 against a real
// OpenTelemetry Collector and prints their figures; `make torture` runs it
// (it is not part of `make test`: it takes minutes and asserts nothing).
//
//	restart     the Collector is killed (SIGKILL) mid-stream and restarted on
//	            the same port after -gap; logging goes on throughout
//	outage      the Collector is stopped for -outage while logging goes on
//	blackhole   the endpoint is a TCP listener that accepts and never answers
//
// For each: records logged and received (counted in the Collector's
// output), the library's accounting (emitted, exported, dropped, failed,
// pending; emitted includes ffitel's own lines), loss warnings seen on
// ffitel's console (the last three are shown), how long shutdown took and
// the slowest logging call.
//
//	go run ./e2e/cmd/torture -outage 90s -gap 15s -rate 2000 restart outage blackhole
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ffitel/ffitel/bootstrap"
	"github.com/ffitel/ffitel/e2e"
)

var (
	outage   = flag.Duration("outage", 90*time.Second, "how long the Collector stays down in the outage run")
	gap      = flag.Duration("gap", 15*time.Second, "how long the Collector stays dead in the restart run")
	rate     = flag.Int("rate", 2000, "records logged per second")
	before   = flag.Duration("before", 5*time.Second, "logging before the failure")
	after    = flag.Duration("after", 10*time.Second, "logging after the Collector is back")
	shutdown = flag.Duration("shutdown", 5*time.Second, "FFITEL_SHUTDOWN_TIMEOUT_MS for the runs")
)

// console counts ffitel's loss warnings and keeps its last lines.
type console struct {
	mu       sync.Mutex
	warnings int
	lines    []string
}

func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range strings.Split(strings.TrimSpace(string(p)), "\n") {
		if strings.Contains(l, "telemetry loss") || strings.Contains(l, "not delivered") {
			c.warnings++
			c.lines = append(c.lines, l)
		}
	}
	return len(p), nil
}

type figures struct {
	name                                               string
	logged                                             uint64
	slowest                                            time.Duration
	emitted, exported, dropped, failed, pending, recvd uint64
	warnings                                           int
	shutdown                                           time.Duration
	notes                                              string
	last                                               []string
}

func (f figures) print() {
	fmt.Printf("%-10s logged=%d received=%d | emitted=%d exported=%d dropped=%d failed=%d pending=%d | loss_warnings=%d shutdown=%v slowest_call=%v %s\n",
		f.name, f.logged, f.recvd, f.emitted, f.exported, f.dropped, f.failed, f.pending, f.warnings,
		f.shutdown.Round(time.Millisecond), f.slowest.Round(time.Microsecond), f.notes)
	for _, l := range f.last {
		fmt.Printf("           | %s\n", l)
	}
}

// collector starts a Collector on fixed ports with its output in dir.
func collector(dir string, grpcPort, httpPort int) *e2e.Collector {
	c, err := e2e.StartProcess(e2e.ProcessSpec{
		Binary:  e2e.CollectorBinary(),
		Configs: []string{filepath.Join(e2e.RepoRoot(), "e2e", "collector", "config.yaml")},
		Env: []string{"FFITEL_COLLECTOR_OUT=" + dir, "FFITEL_COLLECTOR_GRPC_PORT=" + strconv.Itoa(grpcPort),
			"FFITEL_COLLECTOR_HTTP_PORT=" + strconv.Itoa(httpPort)},
		GRPCPort: grpcPort, HTTPPort: httpPort, Dir: dir,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	return c
}

func port() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// runtime starts phase 2 exporting to endpoint, its console counted by out.
func runtime(name, endpoint string, out *console) *bootstrap.Runtime {
	env := map[string]string{
		"TELEMETRY_ENABLED":           "true",
		"OTEL_SERVICE_NAME":           "torture-" + name,
		"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
		"OTEL_BLRP_SCHEDULE_DELAY":    "100",
		"OTEL_TRACES_EXPORTER":        "none",
		"OTEL_METRICS_EXPORTER":       "none",
		"FFITEL_SHUTDOWN_TIMEOUT_MS":  strconv.FormatInt(shutdown.Milliseconds(), 10),
		"LOG_LEVEL":                   "info",
	}
	for k, v := range env {
		os.Setenv(k, v) // the OTLP exporters read the process environment
	}
	rt := bootstrap.New(bootstrap.Options{Getenv: func(k string) string { return env[k] }, Output: out})
	if err := rt.InitTelemetry(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	return rt
}

// logged counts the records logFor logged in the current run; slowest is
// the longest one logging call took (a call never waits on the network;
// under backpressure it may wait for room).
var (
	logged  uint64
	slowest time.Duration
)

// logFor logs at -rate for d.
func logFor(rt *bootstrap.Runtime, phase string, d time.Duration) {
	tick := time.Second / time.Duration(*rate)
	start := time.Now()
	end := start.Add(d)
	for i := 0; time.Now().Before(end); i++ {
		t := time.Now()
		rt.Logger().Info("torture", slog.String("phase", phase), slog.Int("i", i))
		slowest = max(slowest, time.Since(t))
		logged++
		if ahead := time.Until(start.Add(time.Duration(i+1) * tick)); ahead > 0 {
			time.Sleep(ahead) // paced by schedule, not by sleep granularity
		}
	}
}

func finish(name string, rt *bootstrap.Runtime, out *console, received func() uint64, notes string) figures {
	start := time.Now()
	_ = rt.Shutdown(context.Background()) // bounded by FFITEL_SHUTDOWN_TIMEOUT_MS
	took := time.Since(start)
	st := rt.Stats().Logs
	time.Sleep(time.Second) // the Collector's file exporter flushes every 100 ms
	out.mu.Lock()
	defer out.mu.Unlock()
	last := out.lines
	if len(last) > 3 {
		last = last[len(last)-3:]
	}
	f := figures{name: name, logged: logged, slowest: slowest, emitted: st.Emitted, exported: st.Exported, dropped: st.Dropped, failed: st.Failed,
		pending: st.Pending, recvd: received(), warnings: out.warnings, shutdown: took, notes: notes, last: last}
	logged, slowest = 0, 0
	return f
}

func countReceived(dirs ...string) func() uint64 {
	return func() uint64 {
		var n uint64
		for _, d := range dirs {
			data, _ := os.ReadFile(filepath.Join(d, "logs.jsonl"))
			n += uint64(bytes.Count(data, []byte(`"stringValue":"torture"`)))
		}
		return n
	}
}

func restart() figures {
	g, h := port(), port()
	d1, d2 := tempDir(), tempDir()
	first := collector(d1, g, h)
	out := &console{}
	rt := runtime("restart", fmt.Sprintf("http://127.0.0.1:%d", g), out)
	logFor(rt, "before", *before)
	first.Kill()
	logFor(rt, "down", *gap)
	second := collector(d2, g, h)
	back := time.Now()
	var resumed time.Duration
	go func() {
		for time.Since(back) < time.Minute {
			if countReceived(d2)() > 0 {
				resumed = time.Since(back)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	logFor(rt, "after", *after)
	f := finish("restart", rt, out, countReceived(d1, d2), "")
	f.notes = fmt.Sprintf("(killed for %v; first delivery %v after the restart)", *gap, resumed.Round(10*time.Millisecond))
	second.Stop()
	return f
}

func longOutage() figures {
	g, h := port(), port()
	d1, d2 := tempDir(), tempDir()
	first := collector(d1, g, h)
	out := &console{}
	rt := runtime("outage", fmt.Sprintf("http://127.0.0.1:%d", g), out)
	logFor(rt, "before", *before)
	first.Stop()
	logFor(rt, "down", *outage)
	second := collector(d2, g, h)
	logFor(rt, "after", *after)
	f := finish("outage", rt, out, countReceived(d1, d2), fmt.Sprintf("(down for %v)", *outage))
	second.Stop()
	return f
}

func blackHole() figures {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer l.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() { // accept and never answer
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	out := &console{}
	rt := runtime("blackhole", "http://"+l.Addr().String(), out)
	logFor(rt, "blackhole", *before+*after)
	f := finish("blackhole", rt, out, func() uint64 { return 0 }, "")
	mu.Lock()
	f.notes = fmt.Sprintf("(%d connections accepted, none answered)", len(conns))
	for _, c := range conns {
		c.Close()
	}
	mu.Unlock()
	return f
}

var dirs []string

func tempDir() string {
	d, err := os.MkdirTemp("", "ffitel-torture-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dirs = append(dirs, d)
	return d
}

func main() {
	flag.Parse()
	runs := flag.Args()
	if len(runs) == 0 {
		runs = []string{"restart", "outage", "blackhole"}
	}
	defer func() {
		for _, d := range dirs {
			os.RemoveAll(d)
		}
	}()
	fmt.Printf("torture: %d records/s, shutdown bound %v\n", *rate, *shutdown)
	for _, r := range runs {
		switch r {
		case "restart":
			restart().print()
		case "outage":
			longOutage().print()
		case "blackhole":
			blackHole().print()
		default:
			fmt.Fprintf(os.Stderr, "unknown run %q (restart, outage, blackhole)\n", r)
			os.Exit(2)
		}
	}
}
