package main

/*
#include <stdint.h>
#include <stddef.h>
*/
import "C"

import (
	"context"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// levelOf maps an OpenTelemetry severity number (1..24) to the slog level
// the OTLP bridge maps back to the same number (level = severity - 9).
func levelOf(severity int32) (slog.Level, bool) {
	if severity < 1 || severity > 24 {
		return slog.LevelInfo, false
	}
	return slog.Level(severity - 9), true
}

//export ffitelgo_log
func ffitelgo_log(severity C.int32_t, msg *C.char, msgLen C.size_t, attrsJSON *C.char, attrsLen C.size_t,
	span C.uint64_t) (rc C.int) {
	defer recoverInto(&rc)
	h := rt().Handler()
	ctx := context.Background()
	level, known := levelOf(int32(severity))
	if known && !h.Enabled(ctx, level) {
		return codeOK
	}
	var in input
	if !known {
		in.problem(codeInvalid, "ffitel_log: unknown severity; logged as INFO")
	}
	text := in.text("msg", msg, msgLen, maxMessageBytes)
	var buf [8]slog.Attr
	attrs := in.attrsInto(buf[:0], attrsJSON, attrsLen)
	if span != 0 {
		if s, ok := spans.get(uint64(span)); ok {
			ctx = trace.ContextWithSpan(ctx, s)
		} else {
			in.problem(codeHandle, "ffitel_log: unknown or ended span handle; logged without trace ids")
		}
	}
	// The record is built by hand rather than through slog.Logger so that
	// no caller PC is captured: the Go frames say nothing about the host.
	r := slog.NewRecord(time.Now(), level, text, 0)
	r.AddAttrs(attrs...)
	if !known {
		r.AddAttrs(slog.Int("ffitel.invalid_severity", int(severity)))
	}
	r.AddAttrs(in.markers()...)
	_ = h.Handle(ctx, r)
	return in.result()
}

//export ffitelgo_log_enabled
func ffitelgo_log_enabled(severity C.int32_t) (rc C.int) {
	defer recoverInto(&rc)
	level, _ := levelOf(int32(severity))
	if rt().Handler().Enabled(context.Background(), level) {
		return 1
	}
	return 0
}
