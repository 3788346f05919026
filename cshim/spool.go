package main

/*
#include <stdlib.h>
#include "spool.h"
*/
import "C"

import (
	"encoding/binary"
	"log/slog"
	"math"
	"unsafe"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ffitel/ffitel/bootstrap"
	"github.com/ffitel/ffitel/internal/spool"
)

// cSpool is the spool's writer (spool.c) for bootstrap's shipper
// (bootstrap/spool.go, docs/SPOOL.md).
type cSpool struct{}

func init() { bootstrap.SetSpoolBackend(cSpool{}) }

func (cSpool) Open(dir string, res []byte, maxBytes, segSize uint64, threshold int32) (string, error) {
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))
	var key [64]C.char
	var resPtr *C.uchar
	if len(res) > 0 {
		resPtr = (*C.uchar)(unsafe.Pointer(&res[0]))
	}
	rc, err := C.ffitel_shim_spool_open(cdir, resPtr, C.size_t(len(res)), C.uint64_t(maxBytes), C.uint64_t(segSize),
		C.int32_t(threshold), &key[0])
	if rc != 0 {
		return "", err
	}
	// The span limits the tracer provider reads from the environment, for
	// the spans of a forked child, which has no Go (spool_fork.c).
	l := sdktrace.NewSpanLimits()
	C.ffitel_shim_spool_limits(C.int32_t(l.AttributeCountLimit), C.int32_t(l.EventCountLimit),
		C.int32_t(l.AttributePerEventCountLimit), C.int32_t(l.AttributeValueLengthLimit))
	return C.GoString(&key[0]), nil
}

func (cSpool) Append(payload []byte) int {
	if len(payload) == 0 {
		return bootstrap.SpoolOff
	}
	return int(C.ffitel_shim_spool_raw((*C.uchar)(unsafe.Pointer(&payload[0])), C.size_t(len(payload))))
}

func (cSpool) Counts() (written, refused, ownBytes uint64) {
	var w, r, b C.uint64_t
	var seq C.uint32_t
	C.ffitel_shim_spool_counts(&w, &r, &b, &seq)
	return uint64(w), uint64(r), uint64(b)
}

func (cSpool) Budget(other, freed uint64) {
	C.ffitel_shim_spool_budget(C.uint64_t(other), C.uint64_t(freed))
}

func (cSpool) Seal() { C.ffitel_shim_spool_seal() }

func (cSpool) Prefault() { C.ffitel_shim_spool_prefault() }

func (cSpool) Close() { C.ffitel_shim_spool_close() }

// spoolSpanIDs tells spool.c the ids of span handle h, so that a record
// naming h carries them without entering Go.
func spoolSpanIDs(h uint64, s trace.Span) {
	if s == nil {
		return
	}
	sc := s.SpanContext()
	var ids [25]byte
	tid, sid := sc.TraceID(), sc.SpanID()
	copy(ids[:16], tid[:])
	copy(ids[16:24], sid[:])
	ids[24] = byte(sc.TraceFlags())
	C.ffitel_shim_spool_span_ids(C.uint64_t(h), (*C.uchar)(unsafe.Pointer(&ids[0])))
}

// logHandler is the handler of a synchronous log call: the console only when
// spool.c already wrote the record (ffitel_shim_log_attrs marks the call).
func logHandler() slog.Handler {
	if C.ffitel_shim_spool_marked() != 0 {
		return rt().SpooledHandler()
	}
	return rt().Handler()
}

// spoolSwaps is the number of rotations that took the spare segment the
// shipper's thread made ready (tests).
func spoolSwaps() uint64 { return uint64(C.ffitel_shim_spool_swaps()) }

// cJSONAttrs decodes an attributes document with spool_attrs.c, the decoder
// of a forked child (tests hold it against decodeAttrs). ok is false for
// malformed input; attrs is what decoded.
func cJSONAttrs(doc string) (attrs []spool.Attr, ok bool) {
	cdoc := C.CString(doc)
	defer C.free(unsafe.Pointer(cdoc))
	var out *C.uchar
	var n C.size_t
	var count C.uint32_t
	rc := C.ffitel_shim_json_attrs(cdoc, C.size_t(len(doc)), &out, &n, &count)
	defer C.free(unsafe.Pointer(out))
	b := C.GoBytes(unsafe.Pointer(out), C.int(n))
	for len(b) >= 5 {
		a := spool.Attr{Type: b[0]}
		kl := int(binary.LittleEndian.Uint32(b[1:]))
		a.Key, b = string(b[5:5+kl]), b[5+kl:]
		if a.Type == spool.TypeString {
			sl := int(binary.LittleEndian.Uint32(b))
			a.Str, b = string(b[4:4+sl]), b[4+sl:]
		} else {
			v := binary.LittleEndian.Uint64(b)
			b = b[8:]
			if a.Type == spool.TypeDouble {
				a.Float = math.Float64frombits(v)
			} else {
				a.Int = int64(v)
			}
		}
		attrs = append(attrs, a)
	}
	if len(attrs) != int(count) {
		panic("spool_attrs.c: count and attributes disagree")
	}
	return attrs, rc == 0
}
