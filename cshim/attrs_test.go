package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestDecodeAttrsFlatObject(t *testing.T) {
	attrs, truncated, err := decodeAttrs(`{"s":"x","i":42,"f":2.5,"b":true,"n":null,"neg":-7,"e":1e3}`)
	if err != nil || truncated {
		t.Fatalf("err %v truncated %v", err, truncated)
	}
	got := map[string]slog.Value{}
	for _, a := range attrs {
		got[a.Key] = a.Value
	}
	if len(got) != 6 {
		t.Errorf("want 6 attrs (null skipped), got %v", attrs)
	}
	if got["s"].String() != "x" || got["i"].Int64() != 42 || got["f"].Float64() != 2.5 || !got["b"].Bool() ||
		got["neg"].Int64() != -7 || got["e"].Float64() != 1000 {
		t.Errorf("values: %v", attrs)
	}
}

func TestDecodeAttrsFlattensNestedObjects(t *testing.T) {
	attrs, _, err := decodeAttrs(`{"http":{"method":"GET","res":{"status":200}}}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(attrs) != 2 || attrs[0].Key != "http.method" || attrs[1].Key != "http.res.status" {
		t.Errorf("got %v", attrs)
	}
}

func TestDecodeAttrsTypedArrays(t *testing.T) {
	attrs, _, err := decodeAttrs(`{"s":["a","b"],"i":[1,2],"f":[1,2.5],"b":[true],"m":[1,"x"],"e":[]}`)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{[]string{"a", "b"}, []int64{1, 2}, []float64{1, 2.5}, []bool{true}, []string{"1", "x"}, []string{}}
	for i, a := range attrs {
		if !reflect.DeepEqual(a.Value.Any(), want[i]) {
			t.Errorf("%s = %#v, want %#v", a.Key, a.Value.Any(), want[i])
		}
	}
}

func TestDecodeAttrsRejectsMalformedButKeepsWhatDecoded(t *testing.T) {
	for _, doc := range []string{`{"a":1,"b":`, `[1,2]`, `"x"`, `{"a":1}x`, `{"a":[{"b":1]}`, `{"a":01}`, `{a:1}`, `{"a":"\q"}`} {
		attrs, _, err := decodeAttrs(doc)
		if err == nil {
			t.Errorf("%q: no error", doc)
		}
		if doc == `{"a":1,"b":` && (len(attrs) != 1 || attrs[0].Key != "a") {
			t.Errorf("%q: kept %v, want a=1", doc, attrs)
		}
	}
}

// Issue #12: a list or a map inside a list no longer fails the whole
// document (which lost every valid attribute): the element is kept as its
// JSON text.
func TestDecodeAttrsKeepsNestedArrayElementsAsJSONText(t *testing.T) {
	attrs, truncated, err := decodeAttrs(`{"a":1,"l":[[1,2],{"k":"v]"},3],"m":[{"x":[1,{}]}],"b":"ok"}`)
	if err != nil || truncated {
		t.Fatalf("err %v truncated %v", err, truncated)
	}
	want := map[string]any{"a": int64(1), "l": []string{"[1,2]", `{"k":"v]"}`, "3"},
		"m": []string{`{"x":[1,{}]}`}, "b": "ok"}
	if len(attrs) != len(want) {
		t.Fatalf("got %v", attrs)
	}
	for _, a := range attrs {
		if !reflect.DeepEqual(a.Value.Any(), want[a.Key]) {
			t.Errorf("%s = %#v, want %#v", a.Key, a.Value.Any(), want[a.Key])
		}
	}
}

// Issue #12: integers beyond 64 bits keep their digits (ids), as strings.
func TestDecodeAttrsKeepsDigitsOfIntegersBeyond64Bits(t *testing.T) {
	attrs, _, err := decodeAttrs(`{"u":18446744073709551615,"n":-99999999999999999999,"i":9223372036854775807,"f":1e30,"l":[1,18446744073709551616]}`)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{"18446744073709551615", "-99999999999999999999", int64(9223372036854775807), float64(1e30),
		[]string{"1", "18446744073709551616"}}
	for i, a := range attrs {
		if !reflect.DeepEqual(a.Value.Any(), want[i]) {
			t.Errorf("%s = %#v, want %#v", a.Key, a.Value.Any(), want[i])
		}
	}
}

func TestDecodeAttrsReplacesInvalidUTF8AndDecodesEscapes(t *testing.T) {
	attrs, _, err := decodeAttrs("{\"k\":\"a\xffb \\u00e9 \\ud83d\\ude00 \\n\"}")
	if err != nil {
		t.Fatal(err)
	}
	if got := attrs[0].Value.String(); got != "a\ufffdb é 😀 \n" {
		t.Errorf("got %q", got)
	}
}

func TestDecodeAttrsTruncatesLongValuesAndManyAttrs(t *testing.T) {
	long := strings.Repeat("é", maxAttrValueBytes)
	attrs, truncated, err := decodeAttrs(`{"k":"` + long + `"}`)
	if err != nil || !truncated || len(attrs[0].Value.String()) > maxAttrValueBytes {
		t.Errorf("err %v truncated %v len %d", err, truncated, len(attrs[0].Value.String()))
	}
	if s := attrs[0].Value.String(); !strings.HasSuffix(s, "é") {
		t.Errorf("cut inside a rune: %q", s[len(s)-4:])
	}
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < maxAttrs+10; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"k%d":%d`, i, i)
	}
	b.WriteString("}")
	attrs, truncated, _ = decodeAttrs(b.String())
	if len(attrs) != maxAttrs || !truncated {
		t.Errorf("kept %d attrs, truncated %v", len(attrs), truncated)
	}
}

// reference decodes doc with encoding/json and applies the same rules, or
// reports that decodeAttrs must fail.
func reference(doc string) (map[string]any, bool) {
	if strings.Trim(doc, " \t\r\n") == "" {
		return map[string]any{}, true
	}
	if !json.Valid([]byte(doc)) {
		return nil, false
	}
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	out := map[string]any{}
	var walk func(prefix string, o map[string]any, depth int) bool
	walk = func(prefix string, o map[string]any, depth int) bool {
		if depth > maxDepth {
			return false
		}
		for k, v := range o {
			if prefix != "" {
				k = prefix + "." + k
			}
			switch x := v.(type) {
			case map[string]any:
				if !walk(k, x, depth+1) {
					return false
				}
			case []any: // a list or object inside is kept as its JSON text
				out[k] = "array"
			case nil:
			case json.Number:
				if !strings.ContainsAny(string(x), ".eE") {
					if _, err := strconv.ParseInt(string(x), 10, 64); err != nil {
						out[k] = string(x) // beyond 64 bits: its digits
						continue
					}
				}
				f, _ := strconv.ParseFloat(string(x), 64)
				out[k] = f
			default:
				out[k] = x
			}
		}
		return true
	}
	if !walk("", obj, 0) {
		return nil, false
	}
	return out, true
}

func FuzzDecodeAttrs(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `{"a":1}`, `{"a":"x","b":true,"c":null,"d":1.5e-3}`, `{"a":{"b":{"c":1}}}`,
		`{"a":[1,2,3]}`, `{"a":["x",1,true]}`, `{"a":"\u00e9\ud83d\ude00"}`, "{\"a\":\"\xff\"}",
		`{"a":1,}`, `{"a"}`, `[1]`, `{"a":[{"b":1}]}`, `{"a":[[1],"]"]}`, `{"a":18446744073709551616}`, `{"a":-0}`, `{"a":1e400}`, `{"":1}`,
		`{"a":1}{"b":2}`, `{"a":"\ud800"}`, `  {"a" : 1 }  `,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		attrs, truncated, err := decodeAttrs(doc)
		want, valid := reference(doc)
		if valid != (err == nil) {
			if !valid && !json.Valid([]byte(doc)) && err == nil {
				t.Fatalf("accepted invalid JSON %q", doc)
			}
			if valid && err != nil {
				t.Fatalf("rejected %q: %v", doc, err)
			}
		}
		if err != nil || truncated {
			return
		}
		got := map[string]any{}
		for _, a := range attrs {
			switch a.Value.Kind() {
			case slog.KindString:
				got[a.Key] = a.Value.String()
			case slog.KindInt64:
				got[a.Key] = float64(a.Value.Int64())
			case slog.KindFloat64:
				got[a.Key] = a.Value.Float64()
			case slog.KindBool:
				got[a.Key] = a.Value.Bool()
			default:
				got[a.Key] = "array"
			}
		}
		for k, w := range want {
			g, ok := got[k]
			if !ok {
				t.Fatalf("%q: key %q missing (got %v)", doc, k, got)
			}
			if wf, ok := w.(float64); ok {
				gf, _ := g.(float64)
				if !(wf == gf || math.Abs(wf-gf) <= 1e-9*math.Abs(wf) || (math.IsInf(wf, 0) && math.IsInf(gf, 0))) {
					t.Fatalf("%q: %q = %v, want %v", doc, k, g, w)
				}
				continue
			}
			if ws, ok := w.(string); ok && ws != "array" {
				if !bytes.Equal([]byte(ws), []byte(g.(string))) {
					t.Fatalf("%q: %q = %q, want %q", doc, k, g, w)
				}
				continue
			}
			if w != g {
				t.Fatalf("%q: %q = %v, want %v", doc, k, g, w)
			}
		}
	})
}

func BenchmarkDecodeAttrs(b *testing.B) {
	doc := `{"order_id":42,"customer":"c-123","paid":true}`
	b.ReportAllocs()
	for b.Loop() {
		_, _, _ = decodeAttrs(doc)
	}
}

func BenchmarkDecodeAttrsEncodingJSON(b *testing.B) {
	doc := []byte(`{"order_id":42,"customer":"c-123","paid":true}`)
	b.ReportAllocs()
	for b.Loop() {
		var m map[string]any
		_ = json.Unmarshal(doc, &m)
	}
}
