package e2e_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ffitel/ffitel/e2e"
	"github.com/ffitel/ffitel/internal/spool"
	"github.com/ffitel/ffitel/metrics"
)

// The spool (FFITEL_SPOOL_DIR, docs/SPOOL.md) with real processes loading
// libffitel.so (tests/c/spool_worker.c) and a real Collector.

// spoolRun runs the spool worker with env and returns its stdout, stderr and
// the stats documents it printed.
func spoolRun(t *testing.T, bin string, env []string, args ...string) (string, string, []metrics.Snapshot, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var snaps []metrics.Snapshot
	sc := bufio.NewScanner(bytes.NewReader(out.Bytes()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if doc, ok := strings.CutPrefix(sc.Text(), "stats "); ok {
			var s metrics.Snapshot
			if jerr := json.Unmarshal([]byte(doc), &s); jerr != nil {
				t.Fatalf("stats line: %v: %s", jerr, doc)
			}
			snaps = append(snaps, s)
		}
	}
	return out.String(), errb.String(), snaps, err
}

// spoolEnv is the environment of a spool worker: dir, the endpoint, no console.
func spoolEnv(dir, endpoint string, extra ...string) []string {
	return append([]string{"FFITEL_SPOOL_DIR=" + dir, "TELEMETRY_ENABLED=true",
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + endpoint, "OTEL_BLRP_SCHEDULE_DELAY=100", "OTEL_BSP_SCHEDULE_DELAY=100",
		"OTEL_METRICS_EXPORTER=none", "LOG_LEVEL=info", "FFITEL_LOG_OUTPUT=none"}, extra...)
}

// closedEndpoint is an address nothing listens on (a collector that is down).
func closedEndpoint(t *testing.T) string {
	return fmt.Sprintf("http://127.0.0.1:%d", e2e.FreePort(t))
}

func logIdentity(t *testing.T, s metrics.SignalStats) {
	t.Helper()
	if s.Emitted != s.Exported+s.Dropped+s.Failed+s.Pending {
		t.Errorf("identity broken: %+v", s)
	}
}

// uniqueByAttr counts the collector's records with body, by attribute i.
func uniqueByAttr(t *testing.T, col *e2e.Collector, body string) (map[string]e2e.LogRecord, int) {
	t.Helper()
	logs, err := col.Logs()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]e2e.LogRecord{}
	total := 0
	for _, l := range logs {
		if l.Body.String() != body {
			continue
		}
		total++
		i, _ := l.Attributes.Get("i")
		seen[i] = l
	}
	return seen, total
}

// A worker writes 20 000 records with the collector down and is killed
// (SIGKILL) before exporting anything; the next worker with the same spool
// directory and a live Collector ships all of them with the dead worker's
// resource, original timestamps and ids.
func TestSpoolCrashRecoveredByNextWorker(t *testing.T) {
	bin := buildCProgram(t, "tests/c/spool_worker.c")
	dir := t.TempDir()
	const n, nSpans = 20000, 100
	before := time.Now().UnixNano()
	out, _, _, err := spoolRun(t, bin, spoolEnv(dir, closedEndpoint(t), "OTEL_SERVICE_NAME=spool-dead"), "crash",
		strconv.Itoa(n), strconv.Itoa(nSpans))
	if !strings.Contains(out, "logged 20000") {
		t.Fatalf("crash worker: %v\n%s", err, out)
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != -1 {
		t.Fatalf("crash worker should die of SIGKILL: %v", err)
	}
	after := time.Now().UnixNano()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) == 0 {
		t.Fatal("no segment left by the dead worker")
	}

	col := e2e.StartCollector(t)
	_, stderr, snaps, err := spoolRun(t, bin, spoolEnv(dir, col.GRPCEndpoint, "OTEL_SERVICE_NAME=spool-next"),
		"ship", strconv.Itoa(n), "60000")
	if err != nil || len(snaps) != 2 {
		t.Fatalf("ship worker: %v\n%s", err, stderr)
	}
	sp := snaps[1].Pipeline.Spool
	if sp == nil {
		t.Fatal("stats have no spool section")
	}
	t.Logf("spool after adoption: %+v", *sp)
	if sp.Recovered < n || sp.CorruptSkipped != 0 {
		t.Errorf("recovered %d (want >= %d), corrupt %d", sp.Recovered, n, sp.CorruptSkipped)
	}
	logIdentity(t, snaps[1].Pipeline.Logs)
	var seen map[string]e2e.LogRecord
	var total int
	if !e2e.WaitFor(30*time.Second, func() bool { seen, total = uniqueByAttr(t, col, "spool crash record"); return len(seen) >= n }) {
		t.Fatalf("collector has %d unique of %d records", len(seen), n)
	}
	t.Logf("unique %d, total %d, duplicates %d (redelivered counted: %d)", len(seen), total, total-len(seen), sp.Redelivered)
	if uint64(total-len(seen)) > sp.Redelivered {
		t.Errorf("%d duplicates but only %d counted as redelivered", total-len(seen), sp.Redelivered)
	}
	withIDs := 0
	for _, l := range seen {
		if v, _ := l.Resource.Attributes.Get("service.name"); v != "spool-dead" {
			t.Fatalf("record has service.name %q, want the dead worker's", v)
		}
		pid, _ := l.Attributes.Get("pid")
		if v, _ := l.Resource.Attributes.Get("process.pid"); v != "" && v != pid {
			t.Fatalf("record has process.pid %q, want the dead worker's %s", v, pid)
		}
		if ts := l.Time(); ts < before || ts > after {
			t.Fatalf("record time %d outside the dead worker's life [%d, %d]", ts, before, after)
		}
		if l.TraceID != "" && l.SpanID != "" {
			withIDs++
		}
	}
	if withIDs != n/10 {
		t.Errorf("%d records carry trace ids, want %d (those logged inside the span)", withIDs, n/10)
	}
	if sp.SpansRecovered != nSpans {
		t.Errorf("spans recovered %d, want %d", sp.SpansRecovered, nSpans)
	}
	var spans []e2e.Span
	children := map[string]e2e.Span{}
	if !e2e.WaitFor(30*time.Second, func() bool {
		spans, _ = col.Spans()
		for _, s := range spans {
			if s.Name == "spool crash child" {
				children[s.SpanID] = s
			}
		}
		return len(children) >= nSpans
	}) {
		t.Fatalf("collector has %d of %d child spans", len(children), nSpans)
	}
	traceID := ""
	for _, l := range seen {
		if l.TraceID != "" {
			traceID = l.TraceID
		}
	}
	errors := 0
	for _, s := range children {
		if v, _ := s.Resource.Attributes.Get("service.name"); v != "spool-dead" {
			t.Fatalf("span has service.name %q, want the dead worker's", v)
		}
		if s.TraceID != traceID || s.ParentSpanID == "" {
			t.Fatalf("span %s: trace %s parent %q, want the records' trace %s and a parent", s.SpanID, s.TraceID,
				s.ParentSpanID, traceID)
		}
		if st, _ := strconv.ParseInt(s.StartTimeUnixNano, 10, 64); st < before || st > after {
			t.Fatalf("span start %d outside the dead worker's life", st)
		}
		if s.Status.Code == 2 {
			errors++
		}
	}
	if errors != nSpans/2 {
		t.Errorf("%d spans with error status, want %d", errors, nSpans/2)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Errorf("spool directory not emptied: %v", left)
	}
}

// A worker killed while the spare segment its shipper made ready (an empty
// segment under the next number, docs/SPOOL.md) is on disk: the next worker
// ships every record of the dead worker's segments exactly once, deletes
// the spare without shipping it or counting it as adopted, and leaves the
// directory empty.
func TestSpoolSpareOfADeadWorkerIsDeleted(t *testing.T) {
	bin := buildCProgram(t, "tests/c/spool_worker.c")
	dir := t.TempDir()
	const n = 22000 // about 2.8 MB: segments of 1 MB (FFITEL_SPOOL_MAX_MB=4), the third past its half
	out, _, _, err := spoolRun(t, bin, spoolEnv(dir, closedEndpoint(t), "OTEL_SERVICE_NAME=spool-spare",
		"FFITEL_SPOOL_MAX_MB=4"), "spare", strconv.Itoa(n), "20000")
	if !strings.Contains(out, "spare ready") {
		t.Fatalf("spare worker: %v\n%s", err, out)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	spares := 0
	for _, p := range segs {
		b, _ := os.ReadFile(p)
		if h, err := spool.ParseHeader(b); err == nil && h.Committed == spool.HeaderSize && !h.Sealed {
			spares++
		}
	}
	if len(segs) < 2 || spares != 1 {
		t.Fatalf("%d segments with %d empty spares left by the dead worker, want 1 spare", len(segs), spares)
	}

	col := e2e.StartCollector(t)
	_, stderr, snaps, err := spoolRun(t, bin, spoolEnv(dir, col.GRPCEndpoint, "OTEL_SERVICE_NAME=spool-next"),
		"ship", strconv.Itoa(n), "60000")
	if err != nil || len(snaps) != 2 {
		t.Fatalf("ship worker: %v\n%s", err, stderr)
	}
	sp := snaps[1].Pipeline.Spool
	t.Logf("spool after adoption: %+v", *sp)
	// Recovered also counts the dead worker's own warnings (export failed).
	if sp.Recovered < n || sp.CorruptSkipped != 0 || sp.AdoptedSegments != uint64(len(segs)-1) {
		t.Errorf("recovered %d (want >= %d), corrupt %d, adopted segments %d (want %d, not the spare)",
			sp.Recovered, n, sp.CorruptSkipped, sp.AdoptedSegments, len(segs)-1)
	}
	var seen map[string]e2e.LogRecord
	var total int
	if !e2e.WaitFor(30*time.Second, func() bool { seen, total = uniqueByAttr(t, col, "spool spare record"); return total >= n }) {
		t.Fatalf("collector has %d unique of %d records", len(seen), n)
	}
	if len(seen) != n || total != n {
		t.Errorf("collector has %d records, %d unique, want %d once each", total, len(seen), n)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Errorf("spool directory not emptied: %v", left)
	}
}

// The Collector is down while a worker logs 30 000 records at 1 000/s, then comes up:
// all arrive, nothing is dropped, and the worker's memory stays flat (the
// records wait on disk, not in memory).
func TestSpoolOutageLosesNothing(t *testing.T) {
	bin := buildCProgram(t, "tests/c/spool_worker.c")
	dir := t.TempDir()
	port := e2e.FreePort(t)
	const n = 30000
	type result struct {
		stderr string
		snaps  []metrics.Snapshot
		err    error
	}
	done := make(chan result, 1)
	go func() {
		_, stderr, snaps, err := spoolRun(t, bin, spoolEnv(dir, fmt.Sprintf("http://127.0.0.1:%d", port),
			"OTEL_SERVICE_NAME=spool-outage"), "log", strconv.Itoa(n), "1000", "120000")
		done <- result{stderr, snaps, err}
	}()
	// The worker logs at 1 000/s, about 30 s, with the Collector down
	// throughout; the Collector comes up when it is (about) done.
	time.Sleep(30 * time.Second)
	col := startCollectorOn(t, port, e2e.FreePort(t))
	r := <-done
	stderr, snaps, err := r.stderr, r.snaps, r.err
	if err != nil || len(snaps) != 2 {
		t.Fatalf("worker: %v\n%s", err, stderr)
	}
	var rss []string
	for _, line := range strings.Split(stderr, "\n") {
		if v, ok := strings.CutPrefix(line, "rss_kb "); ok {
			rss = append(rss, v)
		}
	}
	t.Logf("worker RSS (kB, each second while logging): %s", strings.Join(rss, " "))
	logs := snaps[0].Pipeline.Logs
	t.Logf("after flush: logs %+v spool %+v", logs, *snaps[0].Pipeline.Spool)
	logIdentity(t, logs)
	logIdentity(t, snaps[1].Pipeline.Logs)
	if logs.Dropped != 0 || logs.Failed != 0 {
		t.Errorf("records lost: %+v", logs)
	}
	if !e2e.WaitFor(30*time.Second, func() bool { return col.CountLogBodies("spool log record") >= n }) {
		t.Fatalf("collector has %d of %d records", col.CountLogBodies("spool log record"), n)
	}
	seen, total := uniqueByAttr(t, col, "spool log record")
	if len(seen) != n {
		t.Errorf("unique %d of %d (total %d)", len(seen), n, total)
	}
}

// A small FFITEL_SPOOL_MAX_MB with the Collector down: the newest records are
// refused and counted as dropped, one warning says so, the worker runs on.
func TestSpoolCapRefusesAndCounts(t *testing.T) {
	bin := buildCProgram(t, "tests/c/spool_worker.c")
	dir := t.TempDir()
	env := spoolEnv(dir, closedEndpoint(t), "OTEL_SERVICE_NAME=spool-cap", "FFITEL_SPOOL_MAX_MB=1",
		"FFITEL_LOG_OUTPUT=stderr", "FFITEL_LOG_FORMAT=json")
	_, stderr, snaps, err := spoolRun(t, bin, env, "log", "30000", "0", "300")
	if err != nil || len(snaps) != 2 {
		t.Fatalf("worker: %v\n%s", err, spoolTail(stderr))
	}
	sp, logs := snaps[0].Pipeline.Spool, snaps[0].Pipeline.Logs
	t.Logf("logs %+v spool %+v", logs, *sp)
	if sp.Refused == 0 || logs.Dropped < sp.Refused {
		t.Errorf("no refusals counted as dropped: logs %+v spool %+v", logs, *sp)
	}
	if sp.BytesOnDisk > 1<<20 {
		t.Errorf("%d bytes on disk past the 1 MB cap", sp.BytesOnDisk)
	}
	logIdentity(t, logs)
	if c := strings.Count(stderr, "FFITEL_SPOOL_MAX_MB"); c != 1 {
		t.Errorf("%d warnings about the cap, want 1:\n%s", c, spoolTail(stderr))
	}
}

func spoolTail(s string) string {
	if len(s) > 4000 {
		return s[len(s)-4000:]
	}
	return s
}

// crashSegment runs a crash worker in its own directory and returns the
// path of the one segment it left.
func crashSegment(t *testing.T, bin string, n int) string {
	t.Helper()
	dir := t.TempDir()
	out, _, _, _ := spoolRun(t, bin, spoolEnv(dir, closedEndpoint(t), "OTEL_SERVICE_NAME=spool-corrupt"), "crash", strconv.Itoa(n))
	if !strings.Contains(out, "logged") {
		t.Fatalf("crash worker: %s", out)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) != 1 {
		t.Fatalf("%d segments", len(segs))
	}
	return segs[0]
}

// segmentRecords lists the end offsets of a segment's committed records.
func segmentRecords(t *testing.T, path string) (spool.Header, []uint64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := spool.ParseHeader(data)
	if err != nil {
		t.Fatal(err)
	}
	var ends []uint64
	spool.Scan(data[spool.HeaderSize:h.Committed], spool.HeaderSize, h.Committed, false, true, func(r spool.Record) bool {
		if r.Payload == nil {
			t.Fatalf("fresh segment has a corrupt record at %d", r.End)
		}
		ends = append(ends, r.End)
		return true
	})
	return h, ends
}

// A corrupted segment (a flipped byte in one record) and a truncated one
// (cut inside a record): the valid records ship, the bad ones are counted,
// one warning, nothing crashes or blocks.
func TestSpoolCorruptAndTruncatedSegments(t *testing.T) {
	bin := buildCProgram(t, "tests/c/spool_worker.c")
	const n = 2000
	a, b := crashSegment(t, bin, n), crashSegment(t, bin, n)
	_, endsA := segmentRecords(t, a)
	_, endsB := segmentRecords(t, b)
	// a: flip a byte inside the payload of record 10.
	f, err := os.OpenFile(a, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	var one [1]byte
	_, _ = f.ReadAt(one[:], int64(endsA[9]+20))
	one[0] ^= 0xFF
	_, _ = f.WriteAt(one[:], int64(endsA[9]+20))
	f.Close()
	// b: cut inside record 1000, counting from 0 (its header still says more was committed).
	if err := os.Truncate(b, int64(endsB[999]+12)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, p := range []string{a, b} {
		if err := os.Rename(p, filepath.Join(dir, filepath.Base(p))); err != nil {
			t.Fatal(err)
		}
	}
	want := uint64(len(endsA) - 1 + 1000) // records 0..999 of b are whole

	col := e2e.StartCollector(t)
	_, stderr, snaps, err := spoolRun(t, bin, spoolEnv(dir, col.GRPCEndpoint, "OTEL_SERVICE_NAME=spool-next",
		"FFITEL_LOG_OUTPUT=stderr", "FFITEL_LOG_FORMAT=json"), "ship", strconv.Itoa(int(want)), "60000")
	if err != nil || len(snaps) != 2 {
		t.Fatalf("ship worker: %v\n%s", err, spoolTail(stderr))
	}
	sp := snaps[1].Pipeline.Spool
	t.Logf("spool: %+v", *sp)
	if sp.Recovered != want || sp.CorruptSkipped != 2 {
		t.Errorf("recovered %d (want %d), corrupt %d (want 2)", sp.Recovered, want, sp.CorruptSkipped)
	}
	if c := strings.Count(stderr, "corrupt or truncated"); c != 1 {
		t.Errorf("%d warnings about corrupt records, want 1:\n%s", c, spoolTail(stderr))
	}
	if !e2e.WaitFor(30*time.Second, func() bool { return col.CountLogBodies("spool crash record") >= int(want)-2 }) {
		t.Fatalf("collector has %d records, want %d", col.CountLogBodies("spool crash record"), want-2)
	}
}

// An unwritable spool directory: one warning, and the in-memory path as
// without the spool.
func TestSpoolUnwritableDirectoryFallsBack(t *testing.T) {
	bin := buildCProgram(t, "tests/c/spool_worker.c")
	col := e2e.StartCollector(t)
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, snaps, err := spoolRun(t, bin, spoolEnv(filepath.Join(blocker, "spool"), col.GRPCEndpoint,
		"OTEL_SERVICE_NAME=spool-unwritable", "FFITEL_LOG_OUTPUT=stderr", "FFITEL_LOG_FORMAT=json"),
		"log", "1000", "0", "30000")
	if err != nil || len(snaps) != 2 {
		t.Fatalf("worker: %v\n%s", err, spoolTail(stderr))
	}
	if snaps[0].Pipeline.Spool != nil {
		t.Errorf("spool section present: %+v", *snaps[0].Pipeline.Spool)
	}
	if c := strings.Count(stderr, "spool directory cannot be used"); c != 1 {
		t.Errorf("%d warnings, want 1:\n%s", c, spoolTail(stderr))
	}
	if !e2e.WaitFor(30*time.Second, func() bool { return col.CountLogBodies("spool log record") >= 1000 }) {
		t.Fatalf("collector has %d of 1000 records", col.CountLogBodies("spool log record"))
	}
}

// Children forked after phase 2 (C fork) log 1 000 records each inside
// their own span and exit with _exit: with the spool on, every record and
// span arrives (the parent adopts the children's segments), spans with their
// own trace ids and the records carrying them.
func TestSpoolForkedChildrenWriteThroughC(t *testing.T) {
	bin := buildCProgram(t, "tests/c/spool_worker.c")
	col := e2e.StartCollector(t)
	const k, n = 4, 1000
	// The children's spans keep attributes and events within the parent's
	// span limits (spool_fork.c), read from these before the fork.
	out, stderr, snaps, err := spoolRun(t, bin, spoolEnv(t.TempDir(), col.GRPCEndpoint, "OTEL_SERVICE_NAME=spool-fork",
		"OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT=6", "OTEL_SPAN_EVENT_COUNT_LIMIT=3"),
		"fork", strconv.Itoa(k), strconv.Itoa(n), "60000")
	if err != nil || len(snaps) != 1 {
		t.Fatalf("fork worker: %v\n%s\n%s", err, out, spoolTail(stderr))
	}
	sp := snaps[0].Pipeline.Spool
	t.Logf("parent's spool: %+v", *sp)
	if sp.Recovered != k*n || sp.SpansRecovered != 2*k {
		t.Errorf("recovered %d records and %d spans, want %d and %d", sp.Recovered, sp.SpansRecovered, k*n, 2*k)
	}
	children := map[string]e2e.Span{}
	var failing []e2e.Span
	if !e2e.WaitFor(30*time.Second, func() bool {
		spans, _ := col.Spans()
		failing = failing[:0]
		for _, s := range spans {
			switch s.Name {
			case "spool fork child":
				children[s.TraceID] = s
			case "spool fork failing":
				failing = append(failing, s)
			}
		}
		return len(children) >= k && len(failing) >= k && col.CountLogBodies("spool fork record") >= k*n
	}) {
		t.Fatalf("collector has %d child traces and %d records", len(children), col.CountLogBodies("spool fork record"))
	}
	logs, err := col.Logs()
	if err != nil {
		t.Fatal(err)
	}
	perTrace := map[string]map[string]bool{} // trace id -> "pid/i"
	for _, l := range logs {
		if l.Body.String() != "spool fork record" {
			continue
		}
		s, ok := children[l.TraceID]
		if !ok || l.SpanID != s.SpanID {
			t.Fatalf("record with trace %q span %q matches no child span", l.TraceID, l.SpanID)
		}
		if v, _ := l.Resource.Attributes.Get("service.name"); v != "spool-fork" {
			t.Fatalf("record has service.name %q", v)
		}
		pid, _ := l.Attributes.Get("pid")
		i, _ := l.Attributes.Get("i")
		if perTrace[l.TraceID] == nil {
			perTrace[l.TraceID] = map[string]bool{}
		}
		perTrace[l.TraceID][pid+"/"+i] = true
	}
	if len(perTrace) != k {
		t.Fatalf("records in %d traces, want %d", len(perTrace), k)
	}
	for tid, recs := range perTrace {
		if len(recs) != n {
			t.Errorf("trace %s has %d unique records, want %d", tid, len(recs), n)
		}
	}
	seen := map[string]bool{}
	for _, s := range children {
		if s.Kind != 2 || s.ParentSpanID != "" { // FFITEL_KIND_SERVER
			t.Errorf("child span kind %d parent %q", s.Kind, s.ParentSpanID)
		}
		// Set at start, "child" replaced by ffitel_span_set_attributes; "extra"
		// is past OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT=6.
		got := map[string]string{}
		for _, a := range s.Attributes {
			got[a.Key] = a.Value.String()
		}
		c, _ := strconv.Atoi(got["child"])
		seen[got["child"]] = true
		want := map[string]string{"child": strconv.Itoa(c), "nested.k": "v", "ratio": "0.5", "ok": "true",
			"list": "[1,2]", "esc": "q\"\u00e9"}
		if c < 100 || c >= 100+k || !reflect.DeepEqual(got, want) {
			t.Errorf("child span attributes %v, want %v (child 100..%d)", got, want, 100+k-1)
		}
		// Five "tick" events and a "checkpoint": the newest 3 kept
		// (OTEL_SPAN_EVENT_COUNT_LIMIT=3), as the Go SDK keeps them.
		var evs []string
		for _, e := range s.Events {
			v, _ := e.Attributes.Get("n")
			if e.Name == "checkpoint" {
				r, _ := e.Attributes.Get("records")
				note, _ := e.Attributes.Get("note")
				v = r + "/" + note
			}
			evs = append(evs, e.Name+":"+v)
		}
		if want := []string{"tick:3", "tick:4", "checkpoint:" + strconv.Itoa(n) + "/done"}; !reflect.DeepEqual(evs, want) {
			t.Errorf("child span events %v, want %v", evs, want)
		}
	}
	if len(seen) != k {
		t.Errorf("child attributes %v, want %d distinct", seen, k)
	}
	for _, s := range failing {
		msg := ""
		if len(s.Events) == 1 && s.Events[0].Name == "exception" {
			msg, _ = s.Events[0].Attributes.Get("exception.message")
		}
		if s.Status.Code != 2 || s.Status.Message != "boom" || msg != "boom" {
			t.Errorf("failed child span: status %+v, events %+v", s.Status, s.Events)
		}
	}
}
