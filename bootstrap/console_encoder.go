package bootstrap

import (
	"encoding/hex"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"sync"
	"time"
)

// consoleEncoder is the per-call scratch state, pooled so a record costs no
// allocation for it.
type consoleEncoder struct {
	buf    []byte
	format consoleFormat
	// sep is set when something precedes the next key, so a separator
	// (' ' or ',') is due.
	sep bool
	// prefix is the dotted group prefix of the next key (text and color).
	prefix      []byte
	prefixQuote bool
}

var consoleEncoderPool = sync.Pool{New: func() any {
	return &consoleEncoder{buf: make([]byte, 0, 1024), prefix: make([]byte, 0, 64)}
}}

func newConsoleEncoder(f consoleFormat) *consoleEncoder {
	e := consoleEncoderPool.Get().(*consoleEncoder)
	e.format = f
	return e
}

func (e *consoleEncoder) free() {
	// Keep the pool from pinning the memory of one huge record.
	const maxPooled = 16 << 10
	if cap(e.buf) > maxPooled || cap(e.prefix) > maxPooled {
		return
	}
	e.buf, e.prefix = e.buf[:0], e.prefix[:0]
	e.sep, e.prefixQuote = false, false
	consoleEncoderPool.Put(e)
}

func (e *consoleEncoder) appendBuiltIns(r *slog.Record) {
	switch e.format {
	case consoleJSON:
		e.buf = append(e.buf, '{')
		if !r.Time.IsZero() {
			e.buf = append(e.buf, `"time":"`...)
			e.buf = appendUTCMillis(e.buf, r.Time)
			e.buf = append(e.buf, `",`...)
		}
		e.buf = append(e.buf, `"level":"`...)
		e.buf = append(e.buf, LevelName(r.Level)...)
		e.buf = append(e.buf, `","msg":`...)
		e.buf = appendJSONString(e.buf, r.Message)
	case consoleColor:
		if !r.Time.IsZero() {
			e.buf = appendClockMillis(e.buf, r.Time.Local())
			e.buf = append(e.buf, ' ')
		}
		color, name := levelBand(r.Level)
		e.buf = append(e.buf, color...)
		e.buf = append(e.buf, name...)
		if len(name) < 5 { // INFO and WARN, padded to line up
			e.buf = append(e.buf, ' ')
		}
		e.buf = append(e.buf, ansiReset...)
		e.buf = append(e.buf, ' ')
		if consoleNeedsEscaping(r.Message) {
			e.buf = strconv.AppendQuote(e.buf, r.Message)
		} else {
			e.buf = append(e.buf, r.Message...)
		}
	default:
		if !r.Time.IsZero() {
			e.buf = append(e.buf, "time="...)
			e.buf = appendUTCMillis(e.buf, r.Time)
			e.buf = append(e.buf, ' ')
		}
		e.buf = append(e.buf, "level="...)
		e.buf = append(e.buf, LevelName(r.Level)...)
		e.buf = append(e.buf, " msg="...)
		e.buf = appendTextString(e.buf, r.Message)
	}
	e.sep = true
}

// appendAttrs appends every attribute and reports whether any produced output.
func (e *consoleEncoder) appendAttrs(attrs []slog.Attr) bool {
	wrote := false
	for _, a := range attrs {
		if e.appendAttr(a) {
			wrote = true
		}
	}
	return wrote
}

// appendAttr appends a, following the slog.Handler rules: values are
// resolved, attributes with an empty key and empty groups are dropped, and
// the members of a group with an empty key are inlined. It reports whether
// anything was written.
func (e *consoleEncoder) appendAttr(a slog.Attr) bool {
	a.Value = a.Value.Resolve()
	if a.Value.Kind() == slog.KindGroup {
		attrs := a.Value.Group()
		if len(attrs) == 0 {
			return false
		}
		if a.Key == "" {
			return e.appendAttrs(attrs)
		}
		pos, sep, plen, pq := len(e.buf), e.sep, len(e.prefix), e.prefixQuote
		if e.format == consoleJSON {
			e.openJSONGroup(a.Key)
		} else {
			e.prefix = append(e.prefix, a.Key...)
			e.prefix = append(e.prefix, '.')
			e.prefixQuote = pq || consoleNeedsQuoting(a.Key)
		}
		wrote := e.appendAttrs(attrs)
		if !wrote {
			e.buf, e.sep = e.buf[:pos], sep
		} else if e.format == consoleJSON {
			e.buf = append(e.buf, '}')
			e.sep = true
		}
		e.prefix, e.prefixQuote = e.prefix[:plen], pq
		return wrote
	}
	if a.Key == "" {
		return false
	}
	e.appendKey(a.Key)
	e.appendValue(a.Value)
	e.sep = true
	return true
}

func (e *consoleEncoder) appendSep() {
	if e.format == consoleJSON {
		e.buf = append(e.buf, ',')
	} else {
		e.buf = append(e.buf, ' ')
	}
}

// appendKey appends the separator if one is due, then the key and its
// delimiter; text keys carry the group prefix.
func (e *consoleEncoder) appendKey(key string) {
	if e.sep {
		e.appendSep()
	}
	e.sep = true
	if e.format == consoleJSON {
		e.buf = appendJSONString(e.buf, key)
		e.buf = append(e.buf, ':')
		return
	}
	if e.format == consoleColor {
		e.buf = append(e.buf, ansiDim...)
	}
	switch {
	case len(e.prefix) == 0:
		e.buf = appendTextString(e.buf, key)
	case !e.prefixQuote && !consoleNeedsQuoting(key):
		e.buf = append(e.buf, e.prefix...)
		e.buf = append(e.buf, key...)
	default:
		e.buf = strconv.AppendQuote(e.buf, string(e.prefix)+key)
	}
	e.buf = append(e.buf, '=')
	if e.format == consoleColor {
		e.buf = append(e.buf, ansiReset...)
	}
}

func (e *consoleEncoder) appendHexValue(id []byte) {
	if e.format != consoleJSON {
		e.buf = hex.AppendEncode(e.buf, id)
		return
	}
	e.buf = append(e.buf, '"')
	e.buf = hex.AppendEncode(e.buf, id)
	e.buf = append(e.buf, '"')
}

func (e *consoleEncoder) appendValue(v slog.Value) {
	isJSON := e.format == consoleJSON
	switch v.Kind() {
	case slog.KindString:
		if isJSON {
			e.buf = appendJSONString(e.buf, v.String())
		} else {
			e.buf = appendTextString(e.buf, v.String())
		}
	case slog.KindInt64:
		e.buf = strconv.AppendInt(e.buf, v.Int64(), 10)
	case slog.KindUint64:
		e.buf = strconv.AppendUint(e.buf, v.Uint64(), 10)
	case slog.KindFloat64:
		if isJSON {
			e.buf = appendJSONFloat(e.buf, v.Float64())
		} else {
			e.buf = strconv.AppendFloat(e.buf, v.Float64(), 'g', -1, 64)
		}
	case slog.KindBool:
		e.buf = strconv.AppendBool(e.buf, v.Bool())
	case slog.KindDuration:
		// JSON carries nanoseconds, like slog.JSONHandler and the OTLP bridge.
		if isJSON {
			e.buf = strconv.AppendInt(e.buf, int64(v.Duration()), 10)
		} else {
			e.buf = append(e.buf, v.Duration().String()...)
		}
	case slog.KindTime:
		if isJSON {
			e.buf = append(e.buf, '"')
			e.buf = v.Time().AppendFormat(e.buf, time.RFC3339Nano)
			e.buf = append(e.buf, '"')
		} else {
			e.buf = v.Time().AppendFormat(e.buf, time.RFC3339Nano)
		}
	default:
		e.appendAny(v.Any())
	}
}

// appendAny encodes a value of kind Any. It is the only place that runs the
// caller's code (Error, MarshalText, MarshalJSON, String), so it is the only
// place that guards against a panic, typically a method on a nil pointer.
func (e *consoleEncoder) appendAny(x any) {
	pos := len(e.buf)
	defer func() {
		if r := recover(); r != nil {
			e.buf = e.buf[:pos]
			msg := "<nil>"
			if rv := reflect.ValueOf(x); rv.Kind() != reflect.Pointer || !rv.IsNil() {
				msg = fmt.Sprintf("!PANIC: %v", r)
			}
			e.appendString(msg)
		}
	}()
	if e.format == consoleJSON {
		e.appendAnyJSON(x)
	} else {
		e.appendAnyText(x)
	}
}

func (e *consoleEncoder) appendString(s string) {
	if e.format == consoleJSON {
		e.buf = appendJSONString(e.buf, s)
	} else {
		e.buf = appendTextString(e.buf, s)
	}
}

// appendUTCMillis appends t in UTC as 2006-01-02T15:04:05.000Z, by hand:
// this runs for every record and time.AppendFormat is several times slower.
func appendUTCMillis(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	}
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendClockMillis(b, t)
	return append(b, 'Z')
}

// appendClockMillis appends the wall clock of t as 15:04:05.000.
func appendClockMillis(b []byte, t time.Time) []byte {
	hour, minute, second := t.Clock()
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, second, 2)
	b = append(b, '.')
	return appendDigits(b, t.Nanosecond()/int(time.Millisecond), 3)
}

// appendDigits appends n (0 <= n < 10^width) zero-padded to width digits.
func appendDigits(b []byte, n, width int) []byte {
	var d [4]byte
	for i := width - 1; i >= 0; i-- {
		d[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, d[:width]...)
}
