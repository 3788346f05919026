package bootstrap

import (
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"
)

// The JSON side of the console encoder (FormatJSON): groups as nested
// objects, values through encoding/json, strings escaped as JSON.

func (e *consoleEncoder) openJSONGroup(name string) {
	e.appendKey(name)
	e.buf = append(e.buf, '{')
	e.sep = false
}

// appendAnyJSON encodes x with encoding/json, an error as its message
// (unless it marshals itself).
func (e *consoleEncoder) appendAnyJSON(x any) {
	pos := len(e.buf)
	_, isMarshaler := x.(json.Marshaler)
	if err, ok := x.(error); ok && !isMarshaler {
		e.buf = appendJSONString(e.buf, err.Error())
		return
	}
	enc := json.NewEncoder((*consoleAppender)(&e.buf))
	enc.SetEscapeHTML(false)
	if err := enc.Encode(x); err != nil {
		// Encode writes nothing when marshalling fails.
		e.buf = appendJSONString(e.buf[:pos], err.Error())
		return
	}
	if n := len(e.buf); n > pos && e.buf[n-1] == '\n' {
		e.buf = e.buf[:n-1]
	}
}

// consoleAppender lets json.Encoder write straight into the line buffer.
type consoleAppender []byte

func (a *consoleAppender) Write(p []byte) (int, error) {
	*a = append(*a, p...)
	return len(p), nil
}

const lowerHex = "0123456789abcdef"

// appendJSONString appends s as a JSON string: '"' and '\\' and control
// characters escaped (DEL and the C1 controls U+0080-U+009F too, such as
// NEL and CSI, which terminals and log shippers act on), invalid UTF-8
// replaced by \ufffd, U+2028 and U+2029 escaped; no HTML escaping.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != 0x7f {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', lowerHex[c>>4], lowerHex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', lowerHex[r&0xf])
			i += size
			start = i
			continue
		}
		if r >= 0x80 && r <= 0x9f { // C1 controls
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '0', '0', lowerHex[r>>4], lowerHex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendJSONFloat appends f the way encoding/json does; NaN and infinities,
// which JSON cannot hold, become the strings "NaN", "+Inf" and "-Inf".
func appendJSONFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		b = append(b, '"')
		b = strconv.AppendFloat(b, f, 'g', -1, 64)
		return append(b, '"')
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	n := len(b)
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// Shorten e-09 to e-9, as encoding/json does.
		if m := len(b) - n; m >= 4 && b[len(b)-4] == 'e' && b[len(b)-3] == '-' && b[len(b)-2] == '0' {
			b[len(b)-2] = b[len(b)-1]
			b = b[:len(b)-1]
		}
	}
	return b
}
