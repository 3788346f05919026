package bootstrap

import (
	"encoding"
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// The text side of the console encoder (FormatText and FormatColor): logfmt
// quoting and escaping, as slog.TextHandler does, and the colour codes.

const (
	ansiReset = "\x1b[0m"
	ansiDim   = "\x1b[2m"
)

// appendAnyText encodes x as slog.TextHandler does: an error by its
// message, a TextMarshaler by its text, bytes quoted, anything else by fmt.
func (e *consoleEncoder) appendAnyText(x any) {
	switch x := x.(type) {
	case error:
		e.buf = appendTextString(e.buf, x.Error())
	case encoding.TextMarshaler:
		data, err := x.MarshalText()
		if err != nil {
			e.buf = appendTextString(e.buf, "!ERROR:"+err.Error())
			return
		}
		e.buf = appendTextString(e.buf, string(data))
	case []byte:
		e.buf = strconv.AppendQuote(e.buf, string(x))
	default:
		e.buf = appendTextString(e.buf, fmt.Sprintf("%+v", x))
	}
}

// consoleTextSafe marks the ASCII bytes a logfmt value may hold unquoted:
// printable, and not space, '=' or '"'. A backslash is fine, as in
// slog.TextHandler.
var consoleTextSafe = func() (t [utf8.RuneSelf]bool) {
	for b := 0x21; b < 0x7f; b++ {
		t[b] = b != '=' && b != '"'
	}
	return t
}()

// consoleNeedsQuoting reports whether s must be quoted in logfmt: it is
// empty, or holds a space, '=', '"', a control character, a non-printable
// rune or invalid UTF-8 — the rule of slog.TextHandler.
func consoleNeedsQuoting(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if !consoleTextSafe[b] {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}

// consoleNeedsEscaping reports whether a colour-format message must be
// quoted to stay on one line and readable: it holds a control character
// (C0, DEL, C1 such as NEL and CSI), a non-printable rune or invalid UTF-8.
// Spaces are fine.
func consoleNeedsEscaping(s string) bool {
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b < 0x20 || b == 0x7f {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		// U+0085 (NEL) counts as a space to unicode.IsSpace, yet it breaks
		// lines; it and the other C1 controls are escaped.
		if r == utf8.RuneError || !unicode.IsPrint(r) && !unicode.IsSpace(r) || r == '\u2028' || r == '\u2029' ||
			r >= 0x80 && r <= 0x9f {
			return true
		}
		i += size
	}
	return false
}

// appendTextString appends s to a logfmt line, quoted as strconv.Quote does
// when consoleNeedsQuoting says so.
func appendTextString(b []byte, s string) []byte {
	if !consoleNeedsQuoting(s) {
		return append(b, s...)
	}
	// Fast path for the common case, printable ASCII with spaces: only '"'
	// and '\\' need a backslash. strconv handles everything else.
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return strconv.AppendQuote(b, s)
		}
	}
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', c)
			start = i + 1
		}
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
