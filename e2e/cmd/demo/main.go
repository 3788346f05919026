// Command demo runs the example workers against a real OpenTelemetry
// Collector and prints a short summary of what the Collector received:
// log records, spans as trace trees, and metrics.
//
//	go run ./e2e/cmd/demo            (make demo)
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ffitel/ffitel/e2e"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// worker is one example worker the demo runs.
type worker struct {
	name string
	cmd  []string
}

func run() error {
	root := e2e.RepoRoot()
	dir := filepath.Join(root, ".cache", "demo")
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	col, err := e2e.Start(dir)
	if err != nil {
		return err
	}
	defer col.Stop()
	fmt.Printf("== Collector listening on %s, writing to %s\n", col.GRPCEndpoint, dir)

	// The Python and Ruby workers load the library `make build` produced.
	workers := []worker{
		{name: "goworker", cmd: []string{"go", "run", "./examples/goworker"}},
		{name: "cworker", cmd: []string{"sh", "-c", "cc -Ibuild -o build/cworker examples/c/worker.c -Lbuild -lffitel -Wl,-rpath,$PWD/build && build/cworker >/dev/null"}},
		{name: "pyworker", cmd: []string{"python3", "examples/pyworker/worker.py"}},
		{name: "rbworker", cmd: []string{"ruby", "-Iruby/lib", "examples/rbworker/main.rb"}},
		// A job crossing languages: enqueued by Python, processed by Ruby.
		{name: "py-producer", cmd: []string{"python3", "examples/jobs/producer.py", filepath.Join(dir, "jobs.jsonl")}},
		{name: "rb-consumer", cmd: []string{"ruby", "-Iruby/lib", "examples/jobs/consumer.rb", filepath.Join(dir, "jobs.jsonl")}},
	}
	for _, w := range workers {
		fmt.Printf("\n== running %s (%s)\n", w.name, strings.Join(w.cmd, " "))
		cmd := exec.Command(w.cmd[0], w.cmd[1:]...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), col.Env()...)
		cmd.Env = append(cmd.Env, "OTEL_SERVICE_NAME="+w.name, "FFITEL_LOG_FORMAT=text",
			"FFITEL_LIBRARY="+filepath.Join(root, "build", "libffitel.so"),
			"PYTHONPATH="+filepath.Join(root, "python", "src"))
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w", w.name, err)
		}
	}
	// Job frameworks against real Redis, one file each.
	if err := runCelery(root, dir, col); err != nil {
		return err
	}
	if err := runSidekiq(root, col); err != nil {
		return err
	}
	// Stopping the Collector flushes its file exporters.
	col.Stop()
	return summarize(col)
}

func summarize(col *e2e.Collector) error {
	logs, err := col.Logs()
	if err != nil {
		return err
	}
	spans, err := col.Spans()
	if err != nil {
		return err
	}
	ms, err := col.Metrics()
	if err != nil {
		return err
	}

	fmt.Printf("\n== The Collector received %d log records, %d spans, %d metric points\n", len(logs), len(spans), len(ms))
	fmt.Println("\n-- log records (time, service, severity, body, trace)")
	for _, r := range logs {
		svc, _ := r.Resource.Attributes.Get("service.name")
		t := time.Unix(0, r.Time()).UTC().Format("15:04:05.000")
		trace := ""
		if r.TraceID != "" {
			trace = " trace=" + r.TraceID[:8] + " span=" + r.SpanID[:8]
		}
		body := r.Body.String()
		if len(body) > 60 {
			body = body[:57] + "..."
		}
		fmt.Printf("  %s %-9s %-5s %s%s\n", t, svc, r.SeverityText, body, trace)
	}

	fmt.Println("\n-- traces")
	byTrace := map[string][]e2e.Span{}
	var order []string
	for _, s := range spans {
		if _, ok := byTrace[s.TraceID]; !ok {
			order = append(order, s.TraceID)
		}
		byTrace[s.TraceID] = append(byTrace[s.TraceID], s)
	}
	for _, id := range order {
		fmt.Printf("  trace %s\n", id)
		printTree(byTrace[id])
	}

	fmt.Println("\n-- metrics (latest value per series; ffitel's own ffitel.* pipeline metrics left out, see docs/OPERATIONS.md)")
	latest := map[string]string{}
	var keys []string
	for _, m := range ms {
		svc, _ := m.Resource.Attributes.Get("service.name")
		if strings.HasPrefix(m.Name, "ffitel.") {
			continue // the pipeline's self-metrics, sampled before each worker's final flush
		}
		if m.Sum != nil {
			for _, p := range m.Sum.DataPoints {
				k := fmt.Sprintf("%s %s %s", svc, m.Name, attrString(p.Attributes))
				if _, ok := latest[k]; !ok {
					keys = append(keys, k)
				}
				latest[k] = strconv.FormatFloat(p.Value(), 'g', -1, 64)
			}
		}
		if m.Histogram != nil {
			for _, p := range m.Histogram.DataPoints {
				k := fmt.Sprintf("%s %s %s", svc, m.Name, attrString(p.Attributes))
				if _, ok := latest[k]; !ok {
					keys = append(keys, k)
				}
				latest[k] = "count=" + p.Count
			}
		}
	}
	for _, k := range keys {
		fmt.Printf("  %s = %s\n", k, latest[k])
	}
	if len(logs) == 0 || len(spans) == 0 || len(ms) == 0 {
		return fmt.Errorf("the Collector is missing a signal (logs %d, spans %d, metrics %d)", len(logs), len(spans), len(ms))
	}
	return nil
}

func printTree(spans []e2e.Span) {
	children := map[string][]e2e.Span{}
	ids := map[string]bool{}
	for _, s := range spans {
		ids[s.SpanID] = true
	}
	var roots []e2e.Span
	for _, s := range spans {
		if s.ParentSpanID == "" || !ids[s.ParentSpanID] {
			roots = append(roots, s)
		} else {
			children[s.ParentSpanID] = append(children[s.ParentSpanID], s)
		}
	}
	var walk func(s e2e.Span, depth int)
	walk = func(s e2e.Span, depth int) {
		svc, _ := s.Resource.Attributes.Get("service.name")
		status := ""
		if s.Status.Code == 2 {
			status = " ERROR: " + s.Status.Message
		}
		link := ""
		if len(s.Links) > 0 {
			link = fmt.Sprintf(" (linked to trace %s)", s.Links[0].TraceID[:8])
		}
		fmt.Printf("  %s- %s [%s]%s%s\n", strings.Repeat("  ", depth+1), s.Name, svc, status, link)
		kids := children[s.SpanID]
		sort.Slice(kids, func(i, j int) bool { return kids[i].StartTimeUnixNano < kids[j].StartTimeUnixNano })
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
}

func attrString(a e2e.Attrs) string {
	parts := make([]string, 0, len(a))
	for _, kv := range a {
		parts = append(parts, kv.Key+"="+kv.Value.String())
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}
