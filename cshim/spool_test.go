package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ffitel/ffitel/internal/spool"
)

// spoolFiles lists dir's files by suffix.
func spoolFiles(t *testing.T, dir, suffix string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), suffix) {
			out = append(out, e.Name())
		}
	}
	return out
}

func spoolHeader(t *testing.T, path string) spool.Header {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := spool.ParseHeader(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return h
}

// The spare segment (spool.c): made ready by Prefault (the shipper's
// thread) once the writer is past half its segment, a valid empty segment
// under the next number; the rotation takes it (no file made on the
// writer's thread), and Seal deletes a spare left unused.
func TestSpoolSpareSegmentIsMadeReadyAndSwappedIn(t *testing.T) {
	dir := t.TempDir()
	w := cSpool{}
	res := spool.EncodeResource([]spool.Attr{{Key: "service.name", Type: spool.TypeString, Str: "spare"}})
	const seg = 64 << 10
	key, err := w.Open(dir, res, 1<<30, seg, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	payload := spool.AppendLog(nil, &spool.Log{Severity: 9, Time: 1, Body: strings.Repeat("x", 900)})
	appendN := func(n int) {
		for i := 0; i < n; i++ {
			if rc := w.Append(payload); rc != 1 {
				t.Fatalf("append: %d", rc)
			}
		}
	}
	swaps := spoolSwaps()
	appendN(10) // under half a segment: no spare yet
	w.Prefault()
	if segs := spoolFiles(t, dir, ".seg"); len(segs) != 1 {
		t.Fatalf("segments before half of the first: %v", segs)
	}
	appendN(30) // past half
	w.Prefault()
	spare := filepath.Join(dir, key+"-00000001.seg")
	h := spoolHeader(t, spare)
	if h.Committed != spool.HeaderSize || h.Sealed || string(h.ResourceBlock) != string(res) {
		t.Fatalf("spare header: %+v", h)
	}
	if left := spoolFiles(t, dir, ".spare"); len(left) != 0 {
		t.Fatalf("files in the making left: %v", left)
	}
	appendN(40) // past the end of segment 0: the rotation takes the spare
	if got := spoolSwaps() - swaps; got != 1 {
		t.Fatalf("rotations that took the spare: %d, want 1", got)
	}
	if h := spoolHeader(t, filepath.Join(dir, key+"-00000000.seg")); !h.Sealed {
		t.Fatalf("segment 0 not sealed: %+v", h)
	}
	if h := spoolHeader(t, spare); h.Committed <= spool.HeaderSize || h.Sealed {
		t.Fatalf("segment 1 (the spare) not written: %+v", h)
	}
	appendN(25) // past half of segment 1: the next spare
	w.Prefault()
	if _, err := os.Stat(filepath.Join(dir, key+"-00000002.seg")); err != nil {
		t.Fatalf("no second spare: %v", err)
	}
	w.Seal()
	segs := spoolFiles(t, dir, ".seg")
	if len(segs) != 2 || segs[0] != key+"-00000000.seg" || segs[1] != key+"-00000001.seg" {
		t.Fatalf("after Seal, segments %v: want 0 and 1, the unused spare deleted", segs)
	}
}

// With no spare ready (the shipper's thread has not run), the rotation
// makes the next segment itself, as before the spare.
func TestSpoolRotationWithoutSpareMakesTheSegment(t *testing.T) {
	dir := t.TempDir()
	w := cSpool{}
	key, err := w.Open(dir, spool.EncodeResource(nil), 1<<30, 64<<10, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	payload := spool.AppendLog(nil, &spool.Log{Severity: 9, Time: 1, Body: strings.Repeat("y", 900)})
	swaps := spoolSwaps()
	for i := 0; i < 100; i++ {
		if rc := w.Append(payload); rc != 1 {
			t.Fatalf("append %d: %d", i, rc)
		}
	}
	if got := spoolSwaps() - swaps; got != 0 {
		t.Fatalf("rotations that took a spare: %d, want 0", got)
	}
	segs := spoolFiles(t, dir, ".seg")
	if len(segs) != 2 || segs[1] != key+"-00000001.seg" {
		t.Fatalf("segments %v", segs)
	}
	if h := spoolHeader(t, filepath.Join(dir, segs[1])); h.Committed <= spool.HeaderSize {
		t.Fatalf("segment 1: %+v", h)
	}
}

// The attributes JSON of a forked child's span calls is decoded in C
// (spool_attrs.c); for every document decodeAttrs (Go, the parent's path)
// reads whole with scalar values, the C decoder must give the same
// attributes, in order, with the same types. Arrays are kept as their JSON
// text in C (the spool has no array type).
func FuzzCJSONAttrsMatchesDecodeAttrs(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `{"a":1}`, `{"a":"x","b":true,"c":null,"d":1.5e-3}`, `{"a":{"b":{"c":1}}}`,
		`{"a":[1,2,3]}`, `{"a":["x",1,true]}`, `{"a":"\u00e9\ud83d\ude00"}`, "{\"a\":\"\xff\"}",
		`{"a":1,}`, `{"a"}`, `[1]`, `{"a":[{"b":1}]}`, `{"a":[[1],"]"]}`, `{"a":18446744073709551616}`,
		`{"a":-0}`, `{"a":1e400}`, `{"":1}`, `{"a":1}{"b":2}`, `{"a":"\ud800"}`, `  {"a" : 1 }  `,
		`{"esc":"q\"\\\/\b\f\n\r\t"}`, `{"n":-9223372036854775808,"m":9223372036854775807,"f":-1.25E+2}`,
		`{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":1}}}}}}}}}`, `{"a":{}, "b":{"c":false}}`,
		`{"k":"` + strings.Repeat("v", 20000) + `"}`, "{\"k\xff\":\"a\xffb\xe2\x82\",\"l\":[\"\xc0\"]}",
		"{\"s\":\"\xed\xa0\x80\xf4\x90\x80\x80\"}", `{"lo":"\udc00","hi":"\ud83d\u0041"}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		got, ok := cJSONAttrs(doc)
		want, truncated, err := decodeAttrs(doc)
		if err != nil || truncated {
			return // decodeAttrs's own tests cover these
		}
		if !ok {
			t.Fatalf("C rejected %q, which decodeAttrs reads: %v", doc, want)
		}
		if len(got) != len(want) {
			t.Fatalf("%q: C %v, Go %v", doc, got, want)
		}
		for i, w := range want {
			g := got[i]
			same := g.Key == w.Key
			switch w.Value.Kind() {
			case slog.KindString:
				same = same && g.Type == spool.TypeString && g.Str == w.Value.String()
			case slog.KindInt64:
				same = same && g.Type == spool.TypeInt && g.Int == w.Value.Int64()
			case slog.KindFloat64:
				same = same && g.Type == spool.TypeDouble && (g.Float == w.Value.Float64() ||
					g.Float != g.Float && w.Value.Float64() != w.Value.Float64())
			case slog.KindBool:
				same = same && g.Type == spool.TypeBool && (g.Int != 0) == w.Value.Bool()
			default: // an array: its JSON text
				same = same && g.Type == spool.TypeString && strings.HasPrefix(g.Str, "[")
			}
			if !same {
				t.Fatalf("%q: attribute %d: C %+v, Go %v", doc, i, g, w)
			}
		}
	})
}
