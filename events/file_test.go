package events_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ffitel/ffitel/events"
)

func newEvent(t *testing.T, name, namespace, correlationID string, payload string) events.DomainEvent {
	t.Helper()
	ev, err := events.NewEvent(name, json.RawMessage(payload), events.Metadata{
		TaskUUID:      "0190f5a2-0000-7000-8000-000000000001",
		Namespace:     namespace,
		CorrelationID: correlationID,
		FiredBy:       "file_test",
	})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func enqueue(t *testing.T, s events.Sink, ev events.DomainEvent) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Enqueue(ctx, ev); err != nil {
		t.Fatalf("enqueue %s: %v", ev.EventName, err)
	}
}

func readJSONL(t *testing.T, path string) []events.DomainEvent {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []events.DomainEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev events.DomainEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %d is not one DomainEvent: %v: %q", len(out)+1, err, sc.Text())
		}
		out = append(out, ev)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFileSinkRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "events.jsonl")
	s, err := events.NewFileSink(path)
	if err != nil {
		t.Fatal(err)
	}
	s.SetFsync(true)
	var sent []events.DomainEvent
	for i := 0; i < 3; i++ {
		ev := newEvent(t, "payment.processed", "payments", "corr-file", fmt.Sprintf(`{"i":%d,"note":"line\nbreak"}`, i))
		ev.Metadata.TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
		enqueue(t, s, ev)
		sent = append(sent, ev)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Enqueue(context.Background(), sent[0]); err == nil {
		t.Fatal("enqueue after Close succeeded")
	}

	// Reopening appends.
	s2, err := events.NewFileSink(path)
	if err != nil {
		t.Fatal(err)
	}
	extra := newEvent(t, "order.created", "orders", "corr-file-2", `[1,2]`)
	enqueue(t, s2, extra)
	_ = s2.Close()
	sent = append(sent, extra)

	got := readJSONL(t, path)
	if len(got) != len(sent) {
		t.Fatalf("%d lines, want %d", len(got), len(sent))
	}
	for i := range sent {
		a, _ := json.Marshal(sent[i])
		b, _ := json.Marshal(got[i])
		if string(a) != string(b) {
			t.Fatalf("line %d:\n got %s\nwant %s", i+1, b, a)
		}
	}
}

func TestFileSinkConcurrentLinesNeverInterleave(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	s, err := events.NewFileSink(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	big := `{"blob":"` + strings.Repeat("x", 64<<10) + `"}`
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				if err := s.Enqueue(context.Background(), newEvent(t, "bulk.event", "bulk", "c", big)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := len(readJSONL(t, path)); n != 200 {
		t.Fatalf("%d lines, want 200", n)
	}
}

func TestFileSinkHonoursCancelledContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	s, err := events.NewFileSink(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Enqueue(ctx, newEvent(t, "x", "ns", "c", `{}`)); err == nil {
		t.Fatal("enqueue with a cancelled context succeeded")
	}
	if n := len(readJSONL(t, path)); n != 0 {
		t.Fatalf("%d lines written, want 0", n)
	}
}

func TestOpenSinkFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dev.jsonl")
	for _, u := range []string{"file://" + path, "file://localhost" + path, "FILE://" + path + "?fsync=true"} {
		s, err := events.OpenSink(context.Background(), u)
		if err != nil {
			t.Fatalf("OpenSink(%s): %v", u, err)
		}
		fs, ok := s.(*events.FileSink)
		if !ok || fs.Path() != path {
			t.Fatalf("OpenSink(%s) = %T %v", u, s, s)
		}
		enqueue(t, s, newEvent(t, "payment.processed", "payments", "c", `{}`))
		_ = s.Close()
	}
	if n := len(readJSONL(t, path)); n != 3 {
		t.Fatalf("%d lines, want 3", n)
	}

	for u, want := range map[string]string{
		"file://otherhost/x.jsonl":          "local path",
		"file://" + path + "?fsync=perhaps": "fsync",
		"file://":                           "names no file",
		"redis://user:S3cret-pw@h:6379/0":   `scheme "redis" is not supported`,
		"amqp://guest:S3cret-pw@rabbit/":    `scheme "amqp" is not supported`,
		"":                                  "no scheme",
		"/tmp/events.jsonl":                 "no scheme",
		"://user:S3cret-pw@host/x":          "no scheme",
		// This test binary does not import events/pgsink: the error names the import.
		"postgres://u:S3cret-pw@h:5432/db":   `add import _ "github.com/ffitel/ffitel/events/pgsink"`,
		"postgresql://u:S3cret-pw@h:5432/db": `add import _ "github.com/ffitel/ffitel/events/pgsink"`,
	} {
		s, err := events.OpenSink(context.Background(), u)
		if err == nil {
			_ = s.Close()
			t.Fatalf("OpenSink(%q) accepted", u)
		}
		if !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "S3cret-pw") {
			t.Fatalf("OpenSink(%q): error %q, want it to contain %q and no password", u, err, want)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:p%40ss@h:5432/db?sslmode=disable": "postgres://u:REDACTED@h:5432/db?sslmode=disable",
		"postgres://u@h/db":                             "postgres://u@h/db",
		"postgres://h/db?password=secret":               "postgres://h/db?password=REDACTED",
		"host=h password=secret user=u":                 "host=h password=REDACTED user=u",
		"file:///tmp/x.jsonl":                           "file:///tmp/x.jsonl",
	} {
		if got := events.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
