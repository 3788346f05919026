package main

/*
#include <stddef.h>
#include "include/ffitel.h"
*/
import "C"

import (
	"log/slog"
	"strings"
	"unicode/utf8"
)

// input collects what was wrong with one call's arguments: the call still
// does what it can, then returns the worst code with its message.
type input struct {
	code      int
	msg       string
	truncated bool
	badAttrs  bool
}

func (in *input) problem(code int, msg string) {
	if in.code == 0 {
		in.code, in.msg = code, msg
	}
}

// result counts bad input in the stats and returns the call's code.
func (in *input) result() C.int {
	if in.code == 0 {
		return C.FFITEL_OK
	}
	if in.code == C.FFITEL_E_INVALID {
		rt().CountInputError()
	}
	setError(in.msg)
	return C.int(in.code)
}

// text copies a C string argument into Go, replacing invalid UTF-8 and
// cutting it at limit bytes.
func (in *input) text(what string, p *C.char, n C.size_t, limit int) string {
	if n == 0 {
		return ""
	}
	if p == nil {
		in.problem(C.FFITEL_E_INVALID, "ffitel: "+what+" is NULL with a non-zero length")
		return ""
	}
	size := int(n)
	if n > C.size_t(limit) {
		// Room to cut on a rune boundary, never past the caller's bytes;
		// compared as size_t, so a length like (size_t)-1 cannot wrap.
		size = limit + utf8.UTFMax
		if n < C.size_t(size) {
			size = int(n)
		}
		in.truncated = true
	}
	s := C.GoStringN(p, C.int(size))
	if in.truncated && len(s) > limit {
		s = truncateUTF8(s, limit)
	}
	if !utf8.ValidString(s) {
		in.problem(C.FFITEL_E_INVALID, "ffitel: "+what+" is not valid UTF-8 (replaced with U+FFFD)")
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}

// attrs decodes an attributes document argument.
func (in *input) attrs(p *C.char, n C.size_t) []slog.Attr { return in.attrsInto(nil, p, n) }

// attrsInto decodes an attributes document argument, appending to buf.
func (in *input) attrsInto(buf []slog.Attr, p *C.char, n C.size_t) []slog.Attr {
	if n == 0 {
		return nil
	}
	if p == nil {
		in.problem(C.FFITEL_E_INVALID, "ffitel: attrs_json is NULL with a non-zero length")
		in.badAttrs = true
		return nil
	}
	if n > maxAttrsJSONBytes {
		in.problem(C.FFITEL_E_INVALID, "ffitel: attrs_json exceeds 1 MiB; attributes ignored")
		in.badAttrs = true
		return nil
	}
	// The bytes are only read during decoding; strings that survive are
	// copied by the decoder's builder or are substrings of this copy.
	doc := C.GoStringN(p, C.int(n))
	attrs, truncated, err := decodeAttrsInto(buf, doc)
	if truncated {
		in.truncated = true
	}
	if err != nil {
		in.problem(C.FFITEL_E_INVALID, "ffitel: "+err.Error())
		in.badAttrs = true
	}
	return attrs
}

// markers returns the attributes that flag what was wrong with the input,
// so a reader of the record sees it too.
func (in *input) markers() []slog.Attr {
	var m []slog.Attr
	if in.badAttrs {
		m = append(m, slog.Bool("ffitel.invalid_attributes", true))
	}
	if in.truncated {
		m = append(m, slog.Bool("ffitel.truncated", true))
		rt().CountInputError()
	}
	return m
}
