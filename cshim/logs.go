package main

/*
#include <stdint.h>
#include <stddef.h>
#include "include/ffitel.h"
*/
import "C"

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/ffitel/ffitel/bootstrap"
)

// logScratch is the per-call attribute buffer of the log path, pooled: a
// buffer on the stack would escape through the recursive JSON decoder and
// cost an allocation on every call.
type logScratch struct{ attrs [16]slog.Attr }

var logScratchPool = sync.Pool{New: func() any { return new(logScratch) }}

//export ffitelgo_log
func ffitelgo_log(severity C.int32_t, msg *C.char, msgLen C.size_t, attrsJSON *C.char, attrsLen C.size_t,
	span C.uint64_t, nowNS C.int64_t) (rc C.int) {
	defer recoverInto(&rc)
	return logCall(severity, msg, msgLen, span, nowNS, func(in *input, buf []slog.Attr) []slog.Attr {
		return in.attrsInto(buf, attrsJSON, attrsLen)
	})
}

//export ffitelgo_log_attrs
func ffitelgo_log_attrs(severity C.int32_t, msg *C.char, msgLen C.size_t, attrs *C.ffitel_attr, n C.size_t,
	span C.uint64_t, nowNS C.int64_t) (rc C.int) {
	defer recoverInto(&rc)
	return logCall(severity, msg, msgLen, span, nowNS, func(in *input, buf []slog.Attr) []slog.Attr {
		return in.typedAttrsInto(buf, attrs, n)
	})
}

// logCall is the synchronous log path of both encodings: level check,
// ring drained first (order), attributes decoded into pooled scratch.
func logCall(severity C.int32_t, msg *C.char, msgLen C.size_t, span C.uint64_t, nowNS C.int64_t,
	decode func(in *input, buf []slog.Attr) []slog.Attr) C.int {
	level, known := bootstrap.LevelFromSeverity(int32(severity))
	if known && !rt().Handler().Enabled(context.Background(), level) {
		return C.FFITEL_OK
	}
	defer ringSync()()
	var in input
	sc := logScratchPool.Get().(*logScratch)
	attrs := decode(&in, sc.attrs[:0])
	rc := logRecord(&in, severity, level, known, in.text("msg", msg, msgLen, maxMessageBytes), attrs, span, nowNS)
	clear(attrs)
	logScratchPool.Put(sc)
	return rc
}

// logRecord builds and handles the record of a synchronous log call, with
// the markers of what was wrong with its input.
func logRecord(in *input, severity C.int32_t, level slog.Level, known bool, text string, attrs []slog.Attr,
	span C.uint64_t, nowNS C.int64_t) C.int {
	if !known {
		in.problem(C.FFITEL_E_INVALID, "ffitel_log: unknown severity; logged as INFO")
	}
	// The record keeps at most maxAttrs attributes, markers included: the
	// OTLP record has the same limit (the SDK's default attribute count
	// limit), and a marker past it would reach the console but not the
	// collector. Room for the markers is taken from the last attributes.
	markers := 0
	if !known {
		markers++
	}
	if in.badAttrs {
		markers++
	}
	if in.truncated || len(attrs)+markers > maxAttrs {
		markers++ // ffitel.truncated
	}
	if len(attrs)+markers > maxAttrs {
		attrs, in.truncated = attrs[:maxAttrs-markers], true
	}
	ctx, r, spanKnown := hostRecord(level, text, attrs, uint64(span), int64(nowNS))
	if !spanKnown {
		in.problem(C.FFITEL_E_HANDLE, "ffitel_log: unknown or ended span handle; logged without trace ids")
	}
	if !known {
		r.AddAttrs(slog.Int("ffitel.invalid_severity", int(severity)))
	}
	r.AddAttrs(in.markers()...)
	_ = logHandler().Handle(ctx, r)
	return in.result()
}

// hostRecord is the one record builder of the host's log calls, the
// synchronous path (logRecord) and the ring (handleSlot) alike: the record
// at the host's wall clock nowNS (0: read it here) and the context carrying
// span handle (0: none). spanKnown is false for a handle that is not open;
// the record then carries no trace ids. The record is built by hand rather
// than through slog.Logger so that no caller PC is captured: the Go frames
// say nothing about the host.
func hostRecord(level slog.Level, msg string, attrs []slog.Attr, span uint64, nowNS int64) (
	ctx context.Context, r slog.Record, spanKnown bool) {
	ctx, spanKnown = spanContext(span)
	now := time.Unix(0, nowNS)
	if nowNS == 0 {
		now = time.Now()
	}
	r = slog.NewRecord(now, level, msg, 0)
	r.AddAttrs(attrs...)
	return ctx, r, spanKnown
}

// typedAttrsInto converts an ffitel_attr array, appending to buf. All keys
// and string values are copied into one allocation.
func (in *input) typedAttrsInto(buf []slog.Attr, p *C.ffitel_attr, n C.size_t) []slog.Attr {
	if n == 0 {
		return buf
	}
	if p == nil {
		in.problem(C.FFITEL_E_INVALID, "ffitel_log_attrs: attrs is NULL with a non-zero count")
		in.badAttrs = true
		return buf
	}
	if n > maxAttrs {
		n = maxAttrs
		in.truncated = true
	}
	arr := unsafe.Slice(p, int(n))
	clip := func(l C.size_t) int {
		if l > maxAttrValueBytes {
			return maxAttrValueBytes + utf8.UTFMax // room to cut on a rune boundary
		}
		return int(l)
	}
	total := 0
	for i := range arr {
		a := &arr[i]
		if a.key != nil {
			total += clip(a.key_len)
		}
		if a._type == C.FFITEL_ATTR_STRING && a.str != nil {
			total += clip(a.str_len)
		}
	}
	store := make([]byte, 0, total)
	piece := func(what string, s *C.char, l C.size_t) string {
		if l == 0 {
			return ""
		}
		if s == nil {
			in.problem(C.FFITEL_E_INVALID, "ffitel_log_attrs: "+what+" is NULL with a non-zero length")
			in.badAttrs = true
			return ""
		}
		start := len(store)
		store = append(store, unsafe.Slice((*byte)(unsafe.Pointer(s)), clip(l))...)
		v := unsafe.String(unsafe.SliceData(store[start:]), len(store)-start)
		if l > maxAttrValueBytes {
			v, in.truncated = truncateUTF8(v, maxAttrValueBytes), true
		}
		if !utf8.ValidString(v) {
			in.problem(C.FFITEL_E_INVALID, "ffitel_log_attrs: "+what+" is not valid UTF-8 (replaced with U+FFFD)")
			v = strings.ToValidUTF8(v, "\uFFFD")
		}
		return v
	}
	for i := range arr {
		a := &arr[i]
		key := piece("an attribute key", a.key, a.key_len)
		var str string
		if a._type == C.FFITEL_ATTR_STRING {
			str = piece("a string attribute value", a.str, a.str_len)
		}
		v, ok := typedValue(a._type, str, a.i, a.d)
		if !ok {
			in.problem(C.FFITEL_E_INVALID, "ffitel_log_attrs: attribute "+key+" has an unknown type; skipped")
			in.badAttrs = true
			continue
		}
		buf = append(buf, slog.Attr{Key: key, Value: v})
	}
	return buf
}

// typedValue is the value of an FFITEL_ATTR_* attribute (str for strings,
// i for integers and booleans, d for doubles); false for an unknown type.
// The synchronous path and the ring both decode through it.
func typedValue(typ C.int32_t, str string, i C.int64_t, d C.double) (slog.Value, bool) {
	switch typ {
	case C.FFITEL_ATTR_STRING:
		return slog.StringValue(str), true
	case C.FFITEL_ATTR_INT:
		return slog.Int64Value(int64(i)), true
	case C.FFITEL_ATTR_DOUBLE:
		return slog.Float64Value(float64(d)), true
	case C.FFITEL_ATTR_BOOL:
		return slog.BoolValue(i != 0), true
	}
	return slog.Value{}, false
}

//export ffitelgo_log_enabled
func ffitelgo_log_enabled(severity C.int32_t) (rc C.int) {
	defer recoverInto(&rc)
	level, _ := bootstrap.LevelFromSeverity(int32(severity))
	if rt().Handler().Enabled(context.Background(), level) {
		return 1
	}
	return 0
}
