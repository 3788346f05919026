package bootstrap

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/slogtest"
	"time"

	"github.com/mattn/go-isatty"
	"go.opentelemetry.io/otel/trace"
)

func TestConsoleHandlerJSONPassesSlogtest(t *testing.T) {
	var buf bytes.Buffer
	slogtest.Run(t,
		func(*testing.T) slog.Handler {
			buf.Reset()
			return NewConsoleHandler(&buf, &ConsoleOptions{Format: FormatJSON})
		},
		func(t *testing.T) map[string]any {
			return decodeJSONLine(t, buf.String())
		})
}

func TestConsoleHandlerTextPassesSlogtest(t *testing.T) {
	var buf bytes.Buffer
	slogtest.Run(t,
		func(*testing.T) slog.Handler {
			buf.Reset()
			return NewConsoleHandler(&buf, &ConsoleOptions{Format: FormatText})
		},
		func(t *testing.T) map[string]any {
			return parseLogfmt(t, buf.String())
		})
}

// decodeJSONLine decodes a single JSON line, failing on anything else.
func decodeJSONLine(t *testing.T, out string) map[string]any {
	t.Helper()
	line, ok := strings.CutSuffix(out, "\n")
	if !ok || strings.Contains(line, "\n") {
		t.Fatalf("want exactly one newline-terminated line, got %q", out)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("not a JSON object: %v: %q", err, line)
	}
	return m
}

// parseLogfmt parses a single logfmt line into a map, turning dotted keys
// (a.b=1) into nested maps and unquoting quoted keys and values. Values stay
// strings.
func parseLogfmt(t *testing.T, out string) map[string]any {
	t.Helper()
	s, ok := strings.CutSuffix(out, "\n")
	if !ok || strings.Contains(s, "\n") {
		t.Fatalf("want exactly one newline-terminated line, got %q", out)
	}
	unquoted := func(s string) (word, rest string) {
		if strings.HasPrefix(s, `"`) {
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				t.Fatalf("bad quoting in %q: %v", out, err)
			}
			word, _ = strconv.Unquote(q)
			return word, s[len(q):]
		}
		end := strings.IndexAny(s, " =")
		if end < 0 {
			end = len(s)
		}
		return s[:end], s[end:]
	}
	m := map[string]any{}
	for s != "" {
		key, rest := unquoted(s)
		if !strings.HasPrefix(rest, "=") {
			t.Fatalf("key %q without '=' in %q", key, out)
		}
		var val string
		val, rest = unquoted(rest[1:])
		if rest != "" && !strings.HasPrefix(rest, " ") {
			t.Fatalf("value %q not followed by a space in %q", val, out)
		}
		s = strings.TrimPrefix(rest, " ")

		path := strings.Split(key, ".")
		cur := m
		for _, g := range path[:len(path)-1] {
			sub, ok := cur[g].(map[string]any)
			if !ok {
				if _, clash := cur[g]; clash {
					t.Fatalf("group %q is also a key in %q", g, out)
				}
				sub = map[string]any{}
				cur[g] = sub
			}
			cur = sub
		}
		last := path[len(path)-1]
		if _, dup := cur[last]; dup {
			t.Fatalf("duplicate key %q in %q", key, out)
		}
		cur[last] = val
	}
	return m
}

func testSpanContext() trace.SpanContext {
	return trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
}

func TestConsoleHandlerAddsTraceAndSpanIDs(t *testing.T) {
	ctx := trace.ContextWithSpanContext(context.Background(), testSpanContext())

	var buf bytes.Buffer
	slog.New(NewConsoleHandler(&buf, &ConsoleOptions{Format: FormatJSON})).
		WithGroup("g").InfoContext(ctx, "charged card", "order_id", 42)
	m := decodeJSONLine(t, buf.String())
	if m["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736" || m["span_id"] != "00f067aa0ba902b7" {
		t.Errorf("json: trace_id=%v span_id=%v, want the span context's ids at top level", m["trace_id"], m["span_id"])
	}

	buf.Reset()
	slog.New(NewConsoleHandler(&buf, nil)).InfoContext(ctx, "charged card")
	if want := `msg="charged card" trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7` + "\n"; !strings.HasSuffix(buf.String(), want) {
		t.Errorf("text: got %q, want suffix %q", buf.String(), want)
	}

	buf.Reset()
	slog.New(NewConsoleHandler(&buf, nil)).InfoContext(context.Background(), "no span")
	if strings.Contains(buf.String(), "trace_id") {
		t.Errorf("a context without a span must not produce trace_id: %q", buf.String())
	}
}

func TestConsoleHandlerWritesContextFieldsAtTopLevelInsideGroups(t *testing.T) {
	ctx := WithFields(context.Background(), slog.String("correlation_id", "c1"))

	var buf bytes.Buffer
	slog.New(NewConsoleHandler(&buf, &ConsoleOptions{Format: FormatJSON})).
		WithGroup("job").With("queue", "mail").InfoContext(ctx, "done", "n", 1)
	m := decodeJSONLine(t, buf.String())
	if m["correlation_id"] != "c1" {
		t.Errorf("json: correlation_id missing at top level: %v", m)
	}
	job, _ := m["job"].(map[string]any)
	if job["queue"] != "mail" || job["n"] != 1.0 || job["correlation_id"] != nil {
		t.Errorf("json: group job = %v, want queue and n only", job)
	}

	buf.Reset()
	slog.New(NewConsoleHandler(&buf, nil)).WithGroup("job").InfoContext(ctx, "done", "n", 1)
	if want := ` msg=done correlation_id=c1 job.n=1` + "\n"; !strings.HasSuffix(buf.String(), want) {
		t.Errorf("text: got %q, want suffix %q", buf.String(), want)
	}
}

func TestConsoleHandlerOrdersTraceFieldsWithAttrsThenRecordAttrs(t *testing.T) {
	ctx := trace.ContextWithSpanContext(context.Background(), testSpanContext())
	ctx = WithFields(ctx, slog.String("correlation_id", "c1"))
	var buf bytes.Buffer
	h := NewConsoleHandler(&buf, nil).WithAttrs([]slog.Attr{slog.String("worker", "w1")})
	r := slog.NewRecord(time.Time{}, slog.LevelInfo, "m", 0)
	r.AddAttrs(slog.Int("n", 1))
	if err := h.Handle(ctx, r); err != nil {
		t.Fatal(err)
	}
	want := "level=INFO msg=m trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7 correlation_id=c1 worker=w1 n=1\n"
	if buf.String() != want {
		t.Errorf("got  %q\nwant %q", buf.String(), want)
	}
}

func TestConsoleHandlerFiltersBelowLevel(t *testing.T) {
	var buf bytes.Buffer
	lv := new(slog.LevelVar)
	lv.Set(slog.LevelWarn)
	l := slog.New(NewConsoleHandler(&buf, &ConsoleOptions{Level: lv}))
	l.Info("dropped")
	l.Warn("kept")
	if got := buf.String(); strings.Contains(got, "dropped") || !strings.Contains(got, "msg=kept") {
		t.Errorf("level WARN: got %q", got)
	}

	buf.Reset()
	lv.Set(slog.Level(-8))
	l.Log(context.Background(), slog.Level(-8), "trace now")
	if !strings.Contains(buf.String(), "trace now") {
		t.Errorf("a lowered LevelVar must take effect at once: got %q", buf.String())
	}

	h := NewConsoleHandler(&buf, nil)
	if h.Enabled(context.Background(), slog.LevelDebug) || !h.Enabled(context.Background(), slog.LevelInfo) {
		t.Error("nil Level must mean slog.LevelInfo")
	}
}

func TestConsoleHandlerNamesTraceAndFatalLevels(t *testing.T) {
	for _, tc := range []struct {
		level slog.Level
		want  string
	}{
		{slog.Level(-8), "TRACE"},
		{slog.Level(-5), "TRACE"},
		{slog.LevelDebug, "DEBUG"},
		{slog.LevelInfo, "INFO"},
		{slog.LevelInfo + 2, "INFO"},
		{slog.LevelWarn, "WARN"},
		{slog.LevelError, "ERROR"},
		{slog.Level(12), "FATAL"},
		{slog.Level(16), "FATAL"},
	} {
		var buf bytes.Buffer
		h := NewConsoleHandler(&buf, &ConsoleOptions{Level: slog.Level(-100), Format: FormatJSON})
		slog.New(h).Log(context.Background(), tc.level, "x")
		if got := decodeJSONLine(t, buf.String())["level"]; got != tc.want {
			t.Errorf("level %d: got %v, want %s", tc.level, got, tc.want)
		}
	}
}

func TestConsoleHandlerFormatsTimeAsUTCMillis(t *testing.T) {
	ts := time.Date(2026, 11, 22, 2, 44, 14, 123456789, time.FixedZone("CET", 3600))
	for format, want := range map[string]string{
		FormatText: "time=2026-11-22T01:44:14.123Z level=INFO msg=m\n",
		FormatJSON: `{"time":"2026-11-22T01:44:14.123Z","level":"INFO","msg":"m"}` + "\n",
	} {
		var buf bytes.Buffer
		h := NewConsoleHandler(&buf, &ConsoleOptions{Format: format})
		if err := h.Handle(context.Background(), slog.NewRecord(ts, slog.LevelInfo, "m", 0)); err != nil {
			t.Fatal(err)
		}
		if buf.String() != want {
			t.Errorf("%s: got %q, want %q", format, buf.String(), want)
		}
	}
}

// parityRecords returns records (zero time, so slog omits it too) whose
// output must be byte-for-byte what the standard slog handlers write.
func parityRecords() []slog.Record {
	mk := func(msg string, attrs ...slog.Attr) slog.Record {
		r := slog.NewRecord(time.Time{}, slog.LevelWarn, msg, 0)
		r.AddAttrs(attrs...)
		return r
	}
	type point struct{ X, Y int }
	return []slog.Record{
		mk("charged card", slog.String("s", "plain"), slog.Int("i", -42), slog.Bool("b", true), slog.Uint64("u", 7)),
		mk("", slog.String("empty", ""), slog.String("space", "a b"), slog.String("eq", "a=b"),
			slog.String("quote", `say "hi"`), slog.String("backslash", `C:\tmp`), slog.String("nl", "a\nb"),
			slog.String("tab", "a\tb"), slog.String("ctl", "a\x01b"),
			slog.String("utf8", "héllo"), slog.String("nbsp", "a\u00a0b"), slog.String("bad", "a\xffb"),
			slog.String("ls", "a\u2028b")),
		mk("keys", slog.Int("a b", 1), slog.Int("a=b", 2), slog.Int("ü", 3)),
		mk("numbers", slog.Float64("f", 3.25), slog.Float64("big", 1e21), slog.Float64("tiny", 1e-7),
			slog.Float64("neg", -0.5), slog.Float64("int", 2), slog.Int64("min", math.MinInt64)),
		mk("any", slog.Any("err", errors.New("card declined: insufficient funds")),
			slog.Duration("d", 1500*time.Millisecond), slog.Any("bytes", []byte("hi there")),
			slog.Any("point", point{1, 2}), slog.Any("nil", nil), slog.Any("slice", []int{1, 2})),
		mk("groups", slog.Group("req", slog.String("method", "GET"), slog.Group("url", slog.String("path", "/x"))),
			slog.Group("empty"), slog.Group("", slog.Int("inlined", 1)), slog.Int("after", 2)),
		mk("multi\nline \"msg\""),
	}
}

func TestConsoleTextMatchesSlogTextHandler(t *testing.T) {
	for _, r := range parityRecords() {
		var ours, std bytes.Buffer
		oh := NewConsoleHandler(&ours, nil).WithAttrs([]slog.Attr{slog.String("svc", "pay me")}).WithGroup("g")
		sh := slog.NewTextHandler(&std, nil).WithAttrs([]slog.Attr{slog.String("svc", "pay me")}).WithGroup("g")
		if err := oh.Handle(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		if err := sh.Handle(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		if ours.String() != std.String() {
			t.Errorf("record %q:\nours %q\nslog %q", r.Message, ours.String(), std.String())
		}
	}
}

func TestConsoleTextQuotesDELWhichSlogLeavesRaw(t *testing.T) {
	// slog.TextHandler writes DEL (0x7f) bare; it is a control character, so
	// a terminal would swallow it. The console quotes it like the others.
	var buf bytes.Buffer
	slog.New(NewConsoleHandler(&buf, nil)).Info("m", "del", "a\x7fb", "ctl", "a\x1bb")
	if want := ` del="a\x7fb" ctl="a\x1bb"` + "\n"; !strings.HasSuffix(buf.String(), want) {
		t.Errorf("got %q, want suffix %q", buf.String(), want)
	}
}

func TestConsoleJSONMatchesSlogJSONHandler(t *testing.T) {
	for _, r := range parityRecords() {
		var ours, std bytes.Buffer
		oh := NewConsoleHandler(&ours, &ConsoleOptions{Format: FormatJSON}).
			WithGroup("a").WithAttrs([]slog.Attr{slog.String("svc", "pay")}).WithGroup("b")
		sh := slog.NewJSONHandler(&std, nil).
			WithGroup("a").WithAttrs([]slog.Attr{slog.String("svc", "pay")}).WithGroup("b")
		if err := oh.Handle(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		if err := sh.Handle(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		if ours.String() != std.String() {
			t.Errorf("record %q:\nours %q\nslog %q", r.Message, ours.String(), std.String())
		}
		if !json.Valid(ours.Bytes()) {
			t.Errorf("invalid JSON: %q", ours.String())
		}
	}
}

func TestConsoleJSONReplacesInvalidUTF8AndEscapesControls(t *testing.T) {
	var buf bytes.Buffer
	slog.New(NewConsoleHandler(&buf, &ConsoleOptions{Format: FormatJSON})).
		Info("bad\xff msg", "k\xfe", "v\xc3", "ctl", "a\x00\x1f\"\\b\u2029")
	out := buf.String()
	if !json.Valid([]byte(out)) {
		t.Fatalf("invalid JSON: %q", out)
	}
	if !strings.Contains(out, `"msg":"bad\ufffd msg"`) || !strings.Contains(out, `"k\ufffd":"v\ufffd"`) {
		t.Errorf("invalid UTF-8 must become \\ufffd: %q", out)
	}
	m := decodeJSONLine(t, out)
	if m["ctl"] != "a\x00\x1f\"\\b\u2029" {
		t.Errorf("control characters must round-trip: got %q", m["ctl"])
	}
	if !strings.Contains(out, `"ctl":"a\u0000\u001f\"\\b\u2029"`) {
		t.Errorf("control characters must be escaped: %q", out)
	}
}

type unmarshalable struct{ C chan int }

type panickyError struct{ msg *string }

func (e *panickyError) Error() string { return *e.msg }

func TestConsoleJSONWritesMarshalErrorAsString(t *testing.T) {
	var buf bytes.Buffer
	slog.New(NewConsoleHandler(&buf, &ConsoleOptions{Format: FormatJSON})).
		Info("m", "v", unmarshalable{make(chan int)}, "after", 1)
	m := decodeJSONLine(t, buf.String())
	if s, _ := m["v"].(string); !strings.Contains(s, "json: unsupported type") || m["after"] != 1.0 {
		t.Errorf("got %v, want the marshal error as a string and the record intact", m)
	}
}

func TestConsoleHandlerSurvivesNilPointerError(t *testing.T) {
	var nilErr *panickyError
	for _, format := range []string{FormatText, FormatJSON, FormatColor} {
		var buf bytes.Buffer
		slog.New(NewConsoleHandler(&buf, &ConsoleOptions{Format: format})).Error("m", "err", nilErr, "after", 1)
		if !strings.Contains(buf.String(), "<nil>") || !strings.Contains(buf.String(), "after") {
			t.Errorf("%s: got %q, want <nil> and the rest of the record", format, buf.String())
		}
	}
}

func TestConsoleHandlerDropsAttrsWithEmptyKey(t *testing.T) {
	var buf bytes.Buffer
	slog.New(NewConsoleHandler(&buf, nil)).Info("m", slog.Int("", 1), slog.String("", "x"), slog.Int("k", 2))
	if got, want := buf.String(), "msg=m k=2\n"; !strings.HasSuffix(got, " "+want) {
		t.Errorf("got %q, want suffix %q", got, want)
	}
}

func TestConsoleHandlerResolvesLogValuersInWithAttrsOnce(t *testing.T) {
	var buf bytes.Buffer
	calls := 0
	v := countingValuer{&calls}
	l := slog.New(NewConsoleHandler(&buf, nil)).With("v", v)
	l.Info("one")
	l.Info("two")
	if calls != 1 {
		t.Errorf("WithAttrs value resolved %d times, want once (pre-formatted)", calls)
	}
	if strings.Count(buf.String(), "v=resolved") != 2 {
		t.Errorf("got %q", buf.String())
	}
}

type countingValuer struct{ n *int }

func (c countingValuer) LogValue() slog.Value { *c.n++; return slog.StringValue("resolved") }

func TestConsoleColorColoursLevelAndDimsKeys(t *testing.T) {
	ts := time.Date(2026, 11, 22, 1, 44, 14, 123456789, time.UTC)
	var buf bytes.Buffer
	h := NewConsoleHandler(&buf, &ConsoleOptions{Format: FormatColor}).WithGroup("g")
	r := slog.NewRecord(ts, slog.LevelInfo, "charged card", 0)
	r.AddAttrs(slog.Int("order_id", 42), slog.String("who", "a b"))
	if err := h.Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	want := ts.Local().Format("15:04:05.000") + " \x1b[32mINFO \x1b[0m charged card " +
		"\x1b[2mg.order_id=\x1b[0m42 \x1b[2mg.who=\x1b[0m\"a b\"\n"
	if buf.String() != want {
		t.Errorf("got  %q\nwant %q", buf.String(), want)
	}

	for level, code := range map[slog.Level]string{
		slog.LevelError: "\x1b[31mERROR", slog.LevelWarn: "\x1b[33mWARN ",
		slog.LevelDebug: "\x1b[34mDEBUG", slog.Level(-8): "\x1b[2mTRACE", slog.Level(12): "31mFATAL",
	} {
		buf.Reset()
		h := NewConsoleHandler(&buf, &ConsoleOptions{Format: FormatColor, Level: slog.Level(-8)})
		slog.New(h).Log(context.Background(), level, "line1\nline2")
		if !strings.Contains(buf.String(), code) {
			t.Errorf("level %v: got %q, want %q", level, buf.String(), code)
		}
		if strings.Count(buf.String(), "\n") != 1 {
			t.Errorf("a message with a newline must stay on one line: %q", buf.String())
		}
	}
}

// lineRecorder keeps every Write call; it has no lock of its own, so the race
// detector flags handlers that do not share one.
type lineRecorder struct{ writes []string }

func (w *lineRecorder) Write(p []byte) (int, error) {
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

func TestConsoleHandlerConcurrentWritersProduceWholeLines(t *testing.T) {
	w := &lineRecorder{}
	root := NewConsoleHandler(w, &ConsoleOptions{Format: FormatJSON})
	handlers := []slog.Handler{
		root,
		root.WithAttrs([]slog.Attr{slog.String("with", "attrs")}),
		root.WithGroup("g"),
		root.WithGroup("g").WithAttrs([]slog.Attr{slog.Int("n", 1)}),
	}
	const perGoroutine = 200
	var wg sync.WaitGroup
	for i := range 8 {
		l := slog.New(handlers[i%len(handlers)])
		wg.Go(func() {
			for j := range perGoroutine {
				l.Info("concurrent", "goroutine", i, "j", j, "pad", strings.Repeat("x", 100))
			}
		})
	}
	wg.Wait()
	if len(w.writes) != 8*perGoroutine {
		t.Fatalf("got %d writes, want one per record (%d)", len(w.writes), 8*perGoroutine)
	}
	for _, s := range w.writes {
		if !strings.HasSuffix(s, "\n") || strings.Count(s, "\n") != 1 || !json.Valid([]byte(s)) {
			t.Fatalf("a write is not one whole JSON line: %q", s)
		}
	}
}

func TestResolveConsoleFormat(t *testing.T) {
	file, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()

	for _, tc := range []struct {
		setting string
		f       *os.File
		noColor bool
		want    string
	}{
		{"json", file, false, FormatJSON},
		{"JSON", nil, false, FormatJSON},
		{"text", file, false, FormatText},
		{"auto", file, false, FormatText},
		{"", file, false, FormatText},
		{"auto", nil, false, FormatText},
		{"bogus", file, false, FormatText},
		{"color", file, true, FormatColor},
	} {
		if got := ResolveConsoleFormat(tc.setting, tc.f, tc.noColor); got != tc.want {
			t.Errorf("ResolveConsoleFormat(%q, %v, %v) = %q, want %q", tc.setting, tc.f != nil, tc.noColor, got, tc.want)
		}
	}
}

func TestResolveConsoleFormatColoursTerminalsUnlessNoColor(t *testing.T) {
	// The master side of a pseudo-terminal is a terminal, and opening it needs
	// no privileges.
	tty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal to test with: %v", err)
	}
	defer tty.Close()
	if !isatty.IsTerminal(tty.Fd()) {
		t.Skip("/dev/ptmx is not reported as a terminal here")
	}
	for _, tc := range []struct {
		setting string
		noColor bool
		want    string
	}{
		{"auto", false, FormatColor},
		{"", false, FormatColor},
		{"auto", true, FormatText},
		{"text", false, FormatText},
		{"json", false, FormatJSON},
	} {
		if got := ResolveConsoleFormat(tc.setting, tty, tc.noColor); got != tc.want {
			t.Errorf("on a terminal: ResolveConsoleFormat(%q, noColor=%v) = %q, want %q", tc.setting, tc.noColor, got, tc.want)
		}
	}
}

func ExampleNewConsoleHandler() {
	h := NewConsoleHandler(os.Stdout, &ConsoleOptions{Format: FormatText})
	ctx := WithFields(context.Background(), slog.String("correlation_id", "c1"))
	r := slog.NewRecord(time.Date(2026, 11, 22, 1, 44, 14, 123e6, time.UTC), slog.LevelInfo, "charged card", 0)
	r.AddAttrs(slog.Int("order_id", 42))
	if err := h.WithGroup("payment").Handle(ctx, r); err != nil {
		fmt.Println(err)
	}
	// Output: time=2026-11-22T01:44:14.123Z level=INFO msg="charged card" correlation_id=c1 payment.order_id=42
}

// Issue #12: U+0085 (NEL, a line break to some terminals and log
// shippers), U+009B (CSI, the 8-bit escape sequence opener) and DEL are
// escaped in JSON and colour output too, in messages, keys and values, as
// logfmt escapes them.
func TestConsoleEscapesC1ControlsAndDELInEveryFormat(t *testing.T) {
	for _, format := range []string{FormatText, FormatJSON, FormatColor} {
		for _, raw := range []string{"\u0085", "\u009b", "\x7f", "\u0080", "\u009f"} {
			var buf bytes.Buffer
			msg, key, val := "m"+raw+"x", "k"+raw, "v"+raw+" w"
			slog.New(NewConsoleHandler(&buf, &ConsoleOptions{Format: format})).Info(msg, key, val)
			line := buf.String()
			if strings.Contains(line, raw) {
				t.Errorf("%s: %q raw in %q", format, raw, line)
			}
			if format == FormatJSON {
				var doc map[string]any
				if err := json.Unmarshal(buf.Bytes(), &doc); err != nil || doc["msg"] != msg || doc[key] != val {
					t.Errorf("JSON %q does not decode back to the record: %v %v", line, doc, err)
				}
			}
		}
	}
}
