package e2e_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ffitel/ffitel/e2e"
	"github.com/ffitel/ffitel/metrics"
)

// runWorker runs one real worker process against col.
func runWorker(t *testing.T, col *e2e.Collector, service string, args ...string) {
	t.Helper()
	root := e2e.RepoRoot()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), col.Env()...)
	cmd.Env = append(cmd.Env, "OTEL_SERVICE_NAME="+service, "FFITEL_LOG_FORMAT=json",
		"FFITEL_LIBRARY="+filepath.Join(root, "build", "libffitel.so"),
		"PYTHONPATH="+filepath.Join(root, "python", "src"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", service, err, out)
	}
}

// A Python producer enqueues jobs inside a request span; a Ruby consumer and
// a Go consumer process them. Attempt 1 continues the producer's trace as a
// child of its send span; the retry starts a new trace linked to it.
func TestJobTraceCrossesPythonToRubyAndGo(t *testing.T) {
	root := e2e.RepoRoot()
	if _, err := os.Stat(filepath.Join(root, "build", "libffitel.so")); err != nil {
		t.Fatalf("build/libffitel.so is missing: run `make build` first: %v", err)
	}
	col := e2e.StartCollector(t)
	queue := filepath.Join(t.TempDir(), "jobs.jsonl")
	goConsumer := filepath.Join(t.TempDir(), "goconsumer")
	if out, err := exec.Command("go", "build", "-o", goConsumer, filepath.Join(root, "examples", "jobs", "goconsumer")).CombinedOutput(); err != nil {
		t.Fatalf("build goconsumer: %v\n%s", err, out)
	}
	runWorker(t, col, "py-producer", "python3", "examples/jobs/producer.py", queue)
	runWorker(t, col, "rb-consumer", "ruby", "-Iruby/lib", "examples/jobs/consumer.rb", queue)
	runWorker(t, col, "go-consumer", goConsumer, queue)

	var spans []e2e.Span
	e2e.WaitFor(10*time.Second, func() bool {
		spans, _ = col.Spans()
		n := 0
		for _, s := range spans {
			if s.Name == "process SendReport" {
				n++
			}
		}
		return n >= 8
	})
	service := func(s e2e.Span) string { v, _ := s.Resource.Attributes.Get("service.name"); return v }
	sends := map[string]e2e.Span{} // task id -> send span
	var request e2e.Span
	for _, s := range spans {
		switch s.Name {
		case "send SendReport":
			id, _ := s.Attributes.Get("task_id")
			sends[id] = s
			if s.Kind != 4 || service(s) != "py-producer" {
				t.Errorf("send span kind %d service %s", s.Kind, service(s))
			}
		case "POST /reports":
			request = s
		}
	}
	if len(sends) != 2 || request.SpanID == "" {
		t.Fatalf("producer spans missing: %d sends, request %q", len(sends), request.SpanID)
	}
	for _, s := range sends {
		if s.ParentSpanID != request.SpanID {
			t.Errorf("send span is not inside the request span")
		}
	}
	seen := map[string]int{}
	for _, s := range spans {
		if s.Name != "process SendReport" {
			continue
		}
		svc := service(s)
		id, _ := s.Attributes.Get("messaging.message.id")
		attempt, _ := s.Attributes.Get("ffitel.task.attempt")
		send, ok := sends[id]
		if !ok {
			t.Errorf("%s: task span for unknown task %q", svc, id)
			continue
		}
		seen[svc]++
		if s.Kind != 5 {
			t.Errorf("%s: process span kind %d, want 5 (consumer)", svc, s.Kind)
		}
		switch attempt {
		case "1":
			if s.TraceID != send.TraceID || s.ParentSpanID != send.SpanID {
				t.Errorf("%s %s attempt 1: trace %s parent %s, want the send span %s/%s", svc, id, s.TraceID,
					s.ParentSpanID, send.TraceID, send.SpanID)
			}
			if id == "report-2" && s.Status.Code != 2 {
				t.Errorf("%s: the failing attempt has status %d, want 2 (error)", svc, s.Status.Code)
			}
		case "2":
			if s.TraceID == send.TraceID {
				t.Errorf("%s %s retry stayed in the producer's trace", svc, id)
			}
			if len(s.Links) != 1 || s.Links[0].SpanID != send.SpanID {
				t.Errorf("%s %s retry links %+v, want the send span", svc, id, s.Links)
			}
		default:
			t.Errorf("%s: attempt %q", svc, attempt)
		}
		for key, want := range map[string]string{"messaging.system": "ffitel", "messaging.destination.name": "SendReport",
			"messaging.operation.name": "process"} {
			if v, _ := s.Attributes.Get(key); v != want {
				t.Errorf("%s: span %s=%q, want %q", svc, key, v, want)
			}
		}
	}
	if seen["rb-consumer"] != 4 || seen["go-consumer"] != 4 {
		t.Errorf("task spans per consumer %v, want 4 each", seen)
	}

	// Logs inside a task carry its span ids.
	logs, _ := col.Logs()
	taskSpans := map[string]bool{}
	for _, s := range spans {
		if s.Name == "process SendReport" {
			taskSpans[s.SpanID] = true
		}
	}
	for _, body := range []string{"ruby consumer working", "go consumer working"} {
		recs := findLogs(logs, body)
		if len(recs) != 4 {
			t.Errorf("%d %q records, want 4", len(recs), body)
		}
		for _, r := range recs {
			if !taskSpans[r.SpanID] {
				t.Errorf("%q record span %q is no task span", body, r.SpanID)
			}
		}
	}

	// Metrics per attempt, with the messaging attributes and apalis buckets.
	ms, _ := col.Metrics()
	for svc, worker := range map[string]string{"rb-consumer": "ruby-report-worker", "go-consumer": "go-report-worker"} {
		var okCount, errCount float64
		var bounds []float64
		for _, m := range ms {
			if v, _ := m.Resource.Attributes.Get("service.name"); v != svc {
				continue
			}
			if m.Name == metrics.ConsumedMessagesName && m.Sum != nil {
				for _, p := range m.Sum.DataPoints {
					if g, _ := p.Attributes.Get("messaging.consumer.group.name"); g != worker {
						t.Errorf("%s: consumer group %q", svc, g)
					}
					if _, ok := p.Attributes.Get("messaging.message.id"); ok {
						t.Errorf("%s: task id on a metric", svc)
					}
					if et, ok := p.Attributes.Get("error.type"); ok {
						if et != "ReportFailed" {
							t.Errorf("%s: error.type %q, want ReportFailed", svc, et)
						}
						errCount = p.Value()
					} else {
						okCount = p.Value()
					}
				}
			}
			if m.Name == metrics.ProcessDurationName && m.Histogram != nil && m.Unit == "s" {
				bounds = m.Histogram.DataPoints[0].ExplicitBounds
			}
		}
		if okCount != 3 || errCount != 1 {
			t.Errorf("%s: consumed ok=%v error=%v, want 3 and 1", svc, okCount, errCount)
		}
		if !slices.Equal(bounds, metrics.ProcessDurationBuckets) {
			t.Errorf("%s: duration buckets %v", svc, bounds)
		}
	}
}
