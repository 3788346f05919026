package bootstrap

import (
	"context"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mattn/go-isatty"
	"go.opentelemetry.io/otel/trace"
)

// Console formats, the values of ConsoleOptions.Format.
const (
	// FormatText is plain logfmt, one record a line:
	//	time=2026-11-22T01:44:14.123Z level=INFO msg="charged card" order_id=42
	FormatText = "text"
	// FormatJSON is one JSON object a line:
	//	{"time":"2026-11-22T01:44:14.123Z","level":"INFO","msg":"charged card","order_id":42}
	FormatJSON = "json"
	// FormatColor is for people at a terminal: local wall-clock time, a
	// coloured level and dim keys:
	//	01:44:14.123 INFO  charged card order_id=42
	FormatColor = "color"
)

// ConsoleOptions configures NewConsoleHandler. The zero value logs
// FormatText at slog.LevelInfo and above.
type ConsoleOptions struct {
	Level  slog.Leveler // minimum level; nil means slog.LevelInfo
	Format string       // one of the Format* constants; "" means FormatText
}

// ResolveConsoleFormat turns the FFITEL_LOG_FORMAT setting into a concrete
// format for output f. "json" and "text" are taken as given, and so is
// "color" (an explicit choice wins over NO_COLOR, as no-color.org asks).
// "auto", "" and anything unrecognised mean FormatColor when f is a terminal
// (a Cygwin/MSYS one included) and noColor is false, FormatText otherwise.
// Reporting an unrecognised setting is the caller's job.
func ResolveConsoleFormat(setting string, f *os.File, noColor bool) string {
	switch strings.ToLower(strings.TrimSpace(setting)) {
	case FormatJSON:
		return FormatJSON
	case FormatText:
		return FormatText
	case FormatColor:
		return FormatColor
	}
	if noColor || f == nil {
		return FormatText
	}
	if fd := f.Fd(); isatty.IsTerminal(fd) || isatty.IsCygwinTerminal(fd) {
		return FormatColor
	}
	return FormatText
}

type consoleFormat uint8

const (
	consoleText consoleFormat = iota
	consoleJSON
	consoleColor
)

// consoleLevelFatal is the slog level ffitel uses for FATAL (OpenTelemetry
// severity 21); anything below slog.LevelDebug is TRACE.
const consoleLevelFatal = slog.Level(12)

// ConsoleHandler is a slog.Handler that writes one line per record to an
// io.Writer in FormatText, FormatJSON or FormatColor.
//
// After the built-ins (time, level, msg) a line carries, at top level, the
// trace_id and span_id of a valid span context in the record's context and the
// fields attached with WithFields; then the attributes added with WithAttrs and
// those of the record, inside any groups opened with WithGroup.
//
// Handlers derived with WithAttrs and WithGroup share their parent's writer
// and lock, and each record reaches the writer in a single Write call, so
// lines from concurrent goroutines never interleave.
type ConsoleHandler struct {
	w      io.Writer
	mu     *sync.Mutex
	level  slog.Leveler
	format consoleFormat

	// pre is the output of every WithAttrs call so far, encoded once, with
	// the groups open at the time of each call already applied.
	pre []byte
	// groups holds the WithGroup names, outermost first.
	groups []string
	// nOpen counts the groups whose opening ("g":{) is already in pre (JSON).
	nOpen int
	// prefix is the dotted key prefix of groups ("g.h.") for text and color;
	// prefixQuote records whether any of those names needs quoting.
	prefix      string
	prefixQuote bool
}

// NewConsoleHandler returns a handler writing to w. A nil opts means the zero
// ConsoleOptions; an unknown Format means FormatText.
func NewConsoleHandler(w io.Writer, opts *ConsoleOptions) *ConsoleHandler {
	h := &ConsoleHandler{w: w, mu: new(sync.Mutex), level: slog.LevelInfo}
	if opts != nil {
		if opts.Level != nil {
			h.level = opts.Level
		}
		switch opts.Format {
		case FormatJSON:
			h.format = consoleJSON
		case FormatColor:
			h.format = consoleColor
		}
	}
	return h
}

// Enabled reports whether level reaches the handler's minimum level.
func (h *ConsoleHandler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= h.level.Level()
}

// WithAttrs returns a handler whose records carry attrs. They are encoded
// here, once, not on every record.
func (h *ConsoleHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	e := newConsoleEncoder(h.format)
	defer e.free()
	e.buf = append(e.buf, h.pre...)
	e.sep = len(h.pre) > 0 && !(h.format == consoleJSON && h.pre[len(h.pre)-1] == '{')
	e.prefix = append(e.prefix, h.prefix...)
	e.prefixQuote = h.prefixQuote
	if h.format == consoleJSON {
		for _, g := range h.groups[h.nOpen:] {
			e.openJSONGroup(g)
		}
	}
	if !e.appendAttrs(attrs) {
		// Nothing but empty groups and empty keys: no change at all, not
		// even the groups just opened.
		return h
	}
	h2 := *h
	h2.pre = slices.Clone(e.buf)
	h2.nOpen = len(h.groups)
	return &h2
}

// WithGroup returns a handler that puts the attributes that follow (from
// WithAttrs and from records) under name. Context fields and trace ids stay
// at top level. An empty name returns h.
func (h *ConsoleHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.groups = append(slices.Clip(h.groups), name)
	h2.prefix = h.prefix + name + "."
	h2.prefixQuote = h.prefixQuote || consoleNeedsQuoting(name)
	return &h2
}

// Handle writes r as one line with a single Write call.
func (h *ConsoleHandler) Handle(ctx context.Context, r slog.Record) error {
	e := newConsoleEncoder(h.format)
	isJSON := h.format == consoleJSON

	e.appendBuiltIns(&r)

	if ctx != nil {
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			tid, sid := sc.TraceID(), sc.SpanID()
			e.appendKey("trace_id")
			e.appendHexValue(tid[:])
			e.appendKey("span_id")
			e.appendHexValue(sid[:])
		}
		e.appendAttrs(Fields(ctx))
	}

	if len(h.pre) > 0 {
		if e.sep {
			e.appendSep()
		}
		e.buf = append(e.buf, h.pre...)
		e.sep = !(isJSON && h.pre[len(h.pre)-1] == '{')
	}

	// The record's attributes go inside every WithGroup group; a group that
	// would stay empty is not written at all.
	nOpen := h.nOpen
	if r.NumAttrs() > 0 {
		e.prefix = append(e.prefix[:0], h.prefix...)
		e.prefixQuote = h.prefixQuote
		pos, sep := len(e.buf), e.sep
		if isJSON {
			for _, g := range h.groups[h.nOpen:] {
				e.openJSONGroup(g)
			}
		}
		wrote := false
		r.Attrs(func(a slog.Attr) bool {
			if e.appendAttr(a) {
				wrote = true
			}
			return true
		})
		if wrote {
			nOpen = len(h.groups)
		} else {
			e.buf, e.sep = e.buf[:pos], sep
		}
	}
	if isJSON {
		for range nOpen {
			e.buf = append(e.buf, '}')
		}
		e.buf = append(e.buf, '}')
	}
	e.buf = append(e.buf, '\n')

	h.mu.Lock()
	_, err := h.w.Write(e.buf)
	h.mu.Unlock()
	e.free()
	return err
}

// withWriter returns a copy of h writing to w.
func (h *ConsoleHandler) withWriter(w io.Writer) *ConsoleHandler {
	h2 := *h
	h2.w, h2.mu = w, new(sync.Mutex)
	return &h2
}

// consoleLevelName maps a level to the name of its band: levels between two
// named ones (slog.LevelInfo+2) take the lower name, as OpenTelemetry
// severity ranges do.
func consoleLevelName(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "TRACE"
	case l < slog.LevelInfo:
		return "DEBUG"
	case l < slog.LevelWarn:
		return "INFO"
	case l < slog.LevelError:
		return "WARN"
	case l < consoleLevelFatal:
		return "ERROR"
	default:
		return "FATAL"
	}
}

const (
	ansiReset = "\x1b[0m"
	ansiDim   = "\x1b[2m"
)

// consoleLevelColor returns the colour code and the padded name of l.
func consoleLevelColor(l slog.Level) (color, name string) {
	switch {
	case l < slog.LevelDebug:
		return "\x1b[2m", "TRACE"
	case l < slog.LevelInfo:
		return "\x1b[34m", "DEBUG"
	case l < slog.LevelWarn:
		return "\x1b[32m", "INFO "
	case l < slog.LevelError:
		return "\x1b[33m", "WARN "
	case l < consoleLevelFatal:
		return "\x1b[31m", "ERROR"
	default:
		return "\x1b[1;31m", "FATAL"
	}
}

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
		e.buf = append(e.buf, consoleLevelName(r.Level)...)
		e.buf = append(e.buf, `","msg":`...)
		e.buf = appendJSONString(e.buf, r.Message)
	case consoleColor:
		if !r.Time.IsZero() {
			e.buf = appendClockMillis(e.buf, r.Time.Local())
			e.buf = append(e.buf, ' ')
		}
		color, name := consoleLevelColor(r.Level)
		e.buf = append(e.buf, color...)
		e.buf = append(e.buf, name...)
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
		e.buf = append(e.buf, consoleLevelName(r.Level)...)
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

func (e *consoleEncoder) openJSONGroup(name string) {
	e.appendKey(name)
	e.buf = append(e.buf, '{')
	e.sep = false
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
		return
	}
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

func (e *consoleEncoder) appendString(s string) {
	if e.format == consoleJSON {
		e.buf = appendJSONString(e.buf, s)
	} else {
		e.buf = appendTextString(e.buf, s)
	}
}

// consoleAppender lets json.Encoder write straight into the line buffer.
type consoleAppender []byte

func (a *consoleAppender) Write(p []byte) (int, error) {
	*a = append(*a, p...)
	return len(p), nil
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
// quoted to stay on one line and readable: it holds a control character, a
// non-printable rune or invalid UTF-8. Spaces are fine.
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
		if r == utf8.RuneError || !unicode.IsPrint(r) && !unicode.IsSpace(r) || r == '\u2028' || r == '\u2029' {
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

const lowerHex = "0123456789abcdef"

// appendJSONString appends s as a JSON string: '"' and '\\' and control
// characters escaped, invalid UTF-8 replaced by \ufffd, U+2028 and U+2029
// escaped; no HTML escaping.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
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
