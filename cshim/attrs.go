package main

import (
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Limits on what crosses the C ABI. Longer input is truncated (on a UTF-8
// boundary), marked with the attribute ffitel.truncated=true and counted in
// the stats as an input error. Documented in include/ffitel.h.
const (
	maxMessageBytes   = 64 << 10 // log message, span and event names, error text
	maxAttrValueBytes = 16 << 10 // one string attribute value
	maxAttrsJSONBytes = 1 << 20  // the whole attributes document
	maxAttrs          = 128      // attributes per call
	maxDepth          = 8        // nesting of flattened objects
)

// errBadAttrs is returned for attribute JSON that is not an object of
// scalars and arrays; whatever could be decoded before the error is kept.
var errBadAttrs = errors.New("attributes are not a JSON object of strings, numbers, booleans and arrays of those")

// decodeAttrs decodes the attributes document of the C ABI: a JSON object of
// string, number and boolean values, and arrays of those. Nested objects are
// flattened into dotted keys ({"a":{"b":1}} -> a.b=1); null values are
// skipped. It is a hand-written scanner because it sits on the hot path of
// every log call; FuzzDecodeAttrs checks it against encoding/json.
//
// It returns the attributes decoded so far, whether anything was truncated,
// and errBadAttrs (wrapped with detail) for malformed input.
func decodeAttrs(s string) (attrs []slog.Attr, truncated bool, err error) {
	return decodeAttrsInto(nil, s)
}

// decodeAttrsInto is decodeAttrs appending to buf, so that the hot path can
// decode into a stack array.
func decodeAttrsInto(buf []slog.Attr, s string) (attrs []slog.Attr, truncated bool, err error) {
	if len(s) > maxAttrsJSONBytes {
		return buf, true, errors.New("attributes document exceeds 1 MiB")
	}
	d := attrDecoder{s: s, out: buf}
	d.ws()
	if d.i == len(d.s) {
		return buf, false, nil // empty means none
	}
	if err := d.object("", 0); err != nil {
		return d.out, d.truncated, err
	}
	d.ws()
	if d.i != len(d.s) {
		return d.out, d.truncated, d.fail("trailing data after the object")
	}
	return d.out, d.truncated, nil
}

type attrDecoder struct {
	s         string
	i         int
	out       []slog.Attr
	truncated bool
}

func (d *attrDecoder) fail(what string) error {
	return errors.New(errBadAttrs.Error() + ": " + what + " at byte " + strconv.Itoa(d.i))
}

func (d *attrDecoder) ws() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *attrDecoder) object(prefix string, depth int) error {
	if d.i >= len(d.s) || d.s[d.i] != '{' {
		return d.fail("expected an object")
	}
	if depth > maxDepth {
		return d.fail("objects nested too deep")
	}
	d.i++
	d.ws()
	if d.i < len(d.s) && d.s[d.i] == '}' {
		d.i++
		return nil
	}
	for {
		d.ws()
		key, err := d.str()
		if err != nil {
			return err
		}
		if prefix != "" {
			key = prefix + "." + key
		}
		d.ws()
		if d.i >= len(d.s) || d.s[d.i] != ':' {
			return d.fail("expected ':'")
		}
		d.i++
		d.ws()
		if d.i < len(d.s) && d.s[d.i] == '{' {
			if err := d.object(key, depth+1); err != nil {
				return err
			}
		} else {
			v, ok, err := d.value(true)
			if err != nil {
				return err
			}
			if ok {
				if len(d.out) >= maxAttrs {
					d.truncated = true
				} else {
					d.out = append(d.out, slog.Attr{Key: key, Value: v})
				}
			}
		}
		d.ws()
		if d.i >= len(d.s) {
			return d.fail("unterminated object")
		}
		switch d.s[d.i] {
		case ',':
			d.i++
		case '}':
			d.i++
			return nil
		default:
			return d.fail("expected ',' or '}'")
		}
	}
}

// value decodes a scalar, or an array of scalars when arrays is set. ok is
// false for null.
func (d *attrDecoder) value(arrays bool) (v slog.Value, ok bool, err error) {
	if d.i >= len(d.s) {
		return v, false, d.fail("expected a value")
	}
	switch c := d.s[d.i]; {
	case c == '"':
		s, err := d.str()
		if err != nil {
			return v, false, err
		}
		if len(s) > maxAttrValueBytes {
			s, d.truncated = truncateUTF8(s, maxAttrValueBytes), true
		}
		return slog.StringValue(s), true, nil
	case c == 't' && strings.HasPrefix(d.s[d.i:], "true"):
		d.i += 4
		return slog.BoolValue(true), true, nil
	case c == 'f' && strings.HasPrefix(d.s[d.i:], "false"):
		d.i += 5
		return slog.BoolValue(false), true, nil
	case c == 'n' && strings.HasPrefix(d.s[d.i:], "null"):
		d.i += 4
		return v, false, nil
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	case c == '[' && arrays:
		return d.array()
	}
	return v, false, d.fail("unexpected value")
}

// array decodes an array of scalars into a typed slice ([]string, []int64,
// []float64, []bool); mixed arrays become []string.
func (d *attrDecoder) array() (slog.Value, bool, error) {
	d.i++ // '['
	var vals []slog.Value
	d.ws()
	if d.i < len(d.s) && d.s[d.i] == ']' {
		d.i++
		return slog.AnyValue([]string{}), true, nil
	}
	for {
		d.ws()
		var v slog.Value
		var ok bool
		var err error
		if d.i < len(d.s) && (d.s[d.i] == '[' || d.s[d.i] == '{') {
			// A list or an object inside a list has no attribute form: the
			// element is kept as its JSON text, the rest of the record too.
			v, ok, err = d.raw()
		} else {
			v, ok, err = d.value(false)
		}
		if err != nil {
			return slog.Value{}, false, err
		}
		if ok {
			vals = append(vals, v)
		}
		d.ws()
		if d.i >= len(d.s) {
			return slog.Value{}, false, d.fail("unterminated array")
		}
		if d.s[d.i] == ',' {
			d.i++
			continue
		}
		if d.s[d.i] == ']' {
			d.i++
			break
		}
		return slog.Value{}, false, d.fail("expected ',' or ']'")
	}
	return typedSlice(vals), true, nil
}

// raw skips one JSON array or object at d.i (checking its strings) and
// returns its text as a string value, cut to maxAttrValueBytes.
func (d *attrDecoder) raw() (slog.Value, bool, error) {
	start, depth := d.i, 0
	for d.i < len(d.s) {
		switch c := d.s[d.i]; c {
		case '"':
			if _, err := d.str(); err != nil {
				return slog.Value{}, false, err
			}
			continue
		case '[', '{':
			depth++
		case ']', '}':
			depth--
		}
		d.i++
		if depth == 0 {
			s := d.s[start:d.i]
			if !json.Valid([]byte(s)) { // the rare path: checked by the reference decoder
				d.i = start
				return slog.Value{}, false, d.fail("malformed array element")
			}
			if len(s) > maxAttrValueBytes {
				s, d.truncated = truncateUTF8(s, maxAttrValueBytes), true
			}
			return slog.StringValue(s), true, nil
		}
	}
	return slog.Value{}, false, d.fail("unterminated array")
}

func typedSlice(vals []slog.Value) slog.Value {
	kind := slog.KindString
	if len(vals) > 0 {
		kind = vals[0].Kind()
		for _, v := range vals[1:] {
			if v.Kind() != kind {
				if (kind == slog.KindInt64 || kind == slog.KindFloat64) &&
					(v.Kind() == slog.KindInt64 || v.Kind() == slog.KindFloat64) {
					kind = slog.KindFloat64
					continue
				}
				kind = slog.KindString
				break
			}
		}
	}
	switch kind {
	case slog.KindInt64:
		out := make([]int64, len(vals))
		for i, v := range vals {
			out[i] = v.Int64()
		}
		return slog.AnyValue(out)
	case slog.KindFloat64:
		out := make([]float64, len(vals))
		for i, v := range vals {
			if v.Kind() == slog.KindInt64 {
				out[i] = float64(v.Int64())
			} else {
				out[i] = v.Float64()
			}
		}
		return slog.AnyValue(out)
	case slog.KindBool:
		out := make([]bool, len(vals))
		for i, v := range vals {
			out[i] = v.Bool()
		}
		return slog.AnyValue(out)
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = v.String()
	}
	return slog.AnyValue(out)
}

func (d *attrDecoder) number() (slog.Value, bool, error) {
	start := d.i
	if d.s[d.i] == '-' {
		d.i++
	}
	digits := func() int {
		n := 0
		for d.i < len(d.s) && d.s[d.i] >= '0' && d.s[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	intStart := d.i
	if digits() == 0 || (d.s[intStart] == '0' && d.i-intStart > 1) {
		return slog.Value{}, false, d.fail("malformed number")
	}
	isFloat := false
	if d.i < len(d.s) && d.s[d.i] == '.' {
		d.i++
		isFloat = true
		if digits() == 0 {
			return slog.Value{}, false, d.fail("malformed number")
		}
	}
	if d.i < len(d.s) && (d.s[d.i] == 'e' || d.s[d.i] == 'E') {
		d.i++
		isFloat = true
		if d.i < len(d.s) && (d.s[d.i] == '+' || d.s[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return slog.Value{}, false, d.fail("malformed number")
		}
	}
	lit := d.s[start:d.i]
	if !isFloat {
		if n, err := strconv.ParseInt(lit, 10, 64); err == nil {
			return slog.Int64Value(n), true, nil
		}
		// Beyond 64 bits (an id, a hash): its digits, not a rounded float.
		return slog.StringValue(lit), true, nil
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil && !math.IsInf(f, 0) {
		return slog.Value{}, false, d.fail("malformed number")
	}
	return slog.Float64Value(f), true, nil
}

// str decodes a JSON string at d.i. Invalid UTF-8 inside it is replaced
// with U+FFFD, never dropped.
func (d *attrDecoder) str() (string, error) {
	if d.i >= len(d.s) || d.s[d.i] != '"' {
		return "", d.fail("expected a string")
	}
	d.i++
	start := d.i
	// Fast path: no escapes, valid UTF-8.
	for d.i < len(d.s) {
		c := d.s[d.i]
		if c == '"' {
			s := d.s[start:d.i]
			d.i++
			return s, nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
		d.i++
	}
	var b strings.Builder
	b.WriteString(d.s[start:d.i])
	for d.i < len(d.s) {
		c := d.s[d.i]
		switch {
		case c == '"':
			d.i++
			return b.String(), nil
		case c < 0x20:
			return "", d.fail("control character in string")
		case c == '\\':
			if d.i+1 >= len(d.s) {
				return "", d.fail("unterminated escape")
			}
			e := d.s[d.i+1]
			d.i += 2
			switch e {
			case '"', '\\', '/':
				b.WriteByte(e)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				r, ok := d.hex4()
				if !ok {
					return "", d.fail("malformed \\u escape")
				}
				if utf16.IsSurrogate(r) {
					r2 := utf8.RuneError
					if strings.HasPrefix(d.s[d.i:], "\\u") {
						save := d.i
						d.i += 2
						if lo, ok := d.hex4(); ok && utf16.DecodeRune(r, lo) != utf8.RuneError {
							r2 = utf16.DecodeRune(r, lo)
						} else {
							d.i = save
						}
					}
					r = r2
				}
				b.WriteRune(r)
			default:
				return "", d.fail("unknown escape")
			}
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			d.i++
		default:
			r, size := utf8.DecodeRuneInString(d.s[d.i:])
			if r == utf8.RuneError && size == 1 {
				b.WriteRune(utf8.RuneError)
			} else {
				b.WriteString(d.s[d.i : d.i+size])
			}
			d.i += size
		}
	}
	return "", d.fail("unterminated string")
}

func (d *attrDecoder) hex4() (rune, bool) {
	if d.i+4 > len(d.s) {
		return 0, false
	}
	n, err := strconv.ParseUint(d.s[d.i:d.i+4], 16, 32)
	if err != nil {
		return 0, false
	}
	d.i += 4
	return rune(n), true
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
