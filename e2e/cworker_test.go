package e2e_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ffitel/ffitel/e2e"
)

// buildCWorker compiles examples/c/worker.c against the built library.
func buildCWorker(t *testing.T) string {
	t.Helper()
	root := e2e.RepoRoot()
	lib := filepath.Join(root, "build", "libffitel.so")
	if _, err := os.Stat(lib); err != nil {
		t.Fatalf("%s is missing: run `make build` first (make test does): %v", lib, err)
	}
	bin := filepath.Join(t.TempDir(), "cworker")
	cmd := exec.Command("cc", "-Wall", "-I"+filepath.Join(root, "cshim", "include"), "-o", bin,
		filepath.Join(root, "examples", "c", "worker.c"), "-L"+filepath.Join(root, "build"), "-lffitel",
		"-Wl,-rpath,"+filepath.Join(root, "build"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("compile C worker: %v\n%s", err, out)
	}
	return bin
}

func TestCWorkerExportsLogsSpansAndMetrics(t *testing.T) {
	bin := buildCWorker(t)
	col := e2e.StartCollector(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), col.Env()...)
	cmd.Env = append(cmd.Env, "OTEL_SERVICE_NAME=cworker", "FFITEL_LOG_FORMAT=json")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cworker: %v\n%s", err, out)
	}

	var logs []e2e.LogRecord
	var spans []e2e.Span
	if !e2e.WaitFor(10*time.Second, func() bool {
		logs, _ = col.Logs()
		spans, _ = col.Spans()
		return len(spans) >= 6 && len(findLogs(logs, "c job failed")) == 1
	}) {
		t.Fatalf("collector got %d logs and %d spans", len(logs), len(spans))
	}

	jobs := map[string]e2e.Span{} // span id -> job span
	var calls []e2e.Span
	for _, s := range spans {
		if v, _ := s.Resource.Attributes.Get("service.name"); v != "cworker" {
			t.Errorf("span %s has service.name %q", s.Name, v)
		}
		switch s.Name {
		case "c process job":
			jobs[s.SpanID] = s
			if s.Kind != 5 {
				t.Errorf("job span kind %d, want 5 (consumer)", s.Kind)
			}
		case "c charge card":
			calls = append(calls, s)
		}
	}
	if len(jobs) != 3 || len(calls) != 3 {
		t.Fatalf("got %d job spans and %d call spans, want 3 and 3", len(jobs), len(calls))
	}
	errors := 0
	for _, c := range calls {
		parent, ok := jobs[c.ParentSpanID]
		if !ok || parent.TraceID != c.TraceID {
			t.Errorf("call span %s is not a child of a job span through its traceparent", c.SpanID)
		}
		if c.Kind != 3 {
			t.Errorf("call span kind %d, want 3 (client)", c.Kind)
		}
		if len(c.Events) == 0 || c.Events[0].Name != "card authorised" {
			t.Errorf("call span events %+v", c.Events)
		}
		if c.Status.Code == 2 {
			errors++
			if c.Status.Message != "card declined" {
				t.Errorf("error status message %q", c.Status.Message)
			}
			found := false
			for _, e := range c.Events {
				if v, _ := e.Attributes.Get("exception.message"); e.Name == "exception" && v == "card declined" {
					found = true
				}
			}
			if !found {
				t.Errorf("failed span lacks its exception event: %+v", c.Events)
			}
		}
	}
	if errors != 1 {
		t.Errorf("%d call spans with error status, want 1", errors)
	}
	for _, j := range jobs {
		if v, _ := j.Attributes.Get("outcome"); v != "done" {
			t.Errorf("job span lacks the attribute set after start: %+v", j.Attributes)
		}
	}

	if len(findLogs(logs, "cworker starting; wiring up the bridge")) != 1 {
		t.Errorf("the phase-1 record was not replayed")
	}
	processing := findLogs(logs, "c processing job")
	if len(processing) != 3 {
		t.Fatalf("got %d 'c processing job' records, want 3", len(processing))
	}
	for _, r := range processing {
		j, ok := jobs[r.SpanID]
		if !ok || j.TraceID != r.TraceID {
			t.Errorf("record ids %s/%s match no job span", r.TraceID, r.SpanID)
		}
		n, _ := r.Attributes.Get("job.number")
		if c, _ := r.Attributes.Get("correlation_id"); c != "c-corr-"+n {
			t.Errorf("record attributes %+v", r.Attributes)
		}
		if r.SeverityNumber != 9 {
			t.Errorf("severity %d, want 9", r.SeverityNumber)
		}
	}
	if f := findLogs(logs, "c job failed"); f[0].SeverityNumber != 17 {
		t.Errorf("error record severity %d, want 17", f[0].SeverityNumber)
	}

	ms, _ := col.Metrics()
	for _, c := range []struct {
		key, value string
		want       float64
	}{{"queue", "warmup", 1}, {"outcome", "ok", 2}, {"outcome", "error", 1}} {
		if v, ok := e2e.LastSum(ms, "cworker.jobs", c.key, c.value); !ok || v != c.want {
			t.Errorf("cworker.jobs{%s=%s} = %v (found %v), want %v", c.key, c.value, v, ok, c.want)
		}
	}
	var hist *e2e.HistogramPoint
	for _, m := range ms {
		if m.Name == "cworker.charge.duration" && m.Histogram != nil && m.Unit == "ms" {
			hist = &m.Histogram.DataPoints[0]
		}
	}
	if hist == nil {
		t.Fatal("histogram cworker.charge.duration (ms) not received")
	}
	if n, _ := strconv.Atoi(hist.Count); n != 3 || hist.Sum == nil || *hist.Sum != 75 {
		t.Errorf("histogram count %s sum %v, want 3 and 75", hist.Count, hist.Sum)
	}
}
