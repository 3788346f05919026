package bootstrap

import (
	"context"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"

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

var _ slog.Handler = (*ConsoleHandler)(nil)

const (
	consoleText consoleFormat = iota
	consoleJSON
	consoleColor
)

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
