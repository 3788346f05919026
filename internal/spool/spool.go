// Package spool is the on-disk format of ffitel's spool (FFITEL_SPOOL_DIR):
// segment headers, record payloads, and a reader that survives torn,
// truncated and corrupted segments. The writer of the hot path is C
// (cshim/spool.c); this package encodes the records of the Go path, decodes
// everything, and is what the shipper (bootstrap/spool.go) reads with.
// docs/SPOOL.md describes the format; this file and spool.c must agree.
package spool

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
)

// Layout of a segment.
const (
	Magic      = "FFSPOOL1"
	Version    = 1
	HeaderSize = 4096

	OffCommitted = 16
	OffShipped   = 24
	OffInflight  = 32
	OffSealed    = 40
	offPID       = 44
	offCreated   = 48
	offResLen    = 56
	offResCRC    = 60
	offRes       = 64

	KindLog = 1

	// Attribute value types: the FFITEL_ATTR_* numbers of ffitel.h.
	TypeString = 1
	TypeInt    = 2
	TypeDouble = 3
	TypeBool   = 4

	logFixed = 48 // fixed part of a log payload
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum is the CRC-32C of a payload, as spool.c computes it.
func Checksum(p []byte) uint32 { return crc32.Checksum(p, castagnoli) }

// Attr is one typed attribute: Str for strings, Int for integers and
// booleans (0 or 1), Float for doubles.
type Attr struct {
	Key   string
	Type  uint8
	Str   string
	Int   int64
	Float float64
}

// Log is one log record.
type Log struct {
	Severity int32
	Time     int64 // Unix nanoseconds
	TraceID  [16]byte
	SpanID   [8]byte
	Body     string
	Attrs    []Attr
	Fields   []Attr // context fields (top-level attributes after the record's own)
}

// Resource is what a segment header says about the process that wrote it.
type Resource struct {
	PID     uint32
	Created int64
	Attrs   []Attr // resource attributes, service.name among them
}

// Header is a segment's header.
type Header struct {
	Committed, Shipped, Inflight uint64
	Sealed                       bool
	Resource                     Resource
	ResourceBlock                []byte // the raw block: the same bytes mean the same resource
}

var (
	ErrNotSegment = errors.New("spool: not a segment (bad magic or version)")
	ErrResource   = errors.New("spool: resource block fails its checksum")
)

// ParseHeader reads a header (at least HeaderSize bytes).
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderSize || string(b[:8]) != Magic || binary.LittleEndian.Uint32(b[8:]) != Version ||
		binary.LittleEndian.Uint32(b[12:]) != HeaderSize {
		return h, ErrNotSegment
	}
	h.Committed = binary.LittleEndian.Uint64(b[OffCommitted:])
	h.Shipped = binary.LittleEndian.Uint64(b[OffShipped:])
	h.Inflight = binary.LittleEndian.Uint64(b[OffInflight:])
	h.Sealed = binary.LittleEndian.Uint32(b[OffSealed:]) != 0
	h.Resource.PID = binary.LittleEndian.Uint32(b[offPID:])
	h.Resource.Created = int64(binary.LittleEndian.Uint64(b[offCreated:]))
	n := int(binary.LittleEndian.Uint32(b[offResLen:]))
	if n > HeaderSize-offRes {
		return h, ErrResource
	}
	block := b[offRes : offRes+n]
	if Checksum(block) != binary.LittleEndian.Uint32(b[offResCRC:]) {
		return h, ErrResource
	}
	h.ResourceBlock = append([]byte(nil), block...)
	attrs, ok := decodeAttrs(block, 0)
	if !ok {
		return h, ErrResource
	}
	h.Resource.Attrs = attrs
	return h, nil
}

// EncodeResource makes the resource block of segment headers: a count and
// the attributes. Attributes past the block's room are left out.
func EncodeResource(attrs []Attr) []byte {
	b := []byte{0, 0}
	n := 0
	for _, a := range attrs {
		next := appendAttr(append([]byte(nil), b...), a)
		if len(next) > HeaderSize-offRes {
			continue
		}
		b = next
		n++
	}
	binary.LittleEndian.PutUint16(b, uint16(n))
	return b
}

// decodeAttrs reads a u16 count and the attributes from b.
func decodeAttrs(b []byte, _ int) ([]Attr, bool) {
	if len(b) < 2 {
		return nil, false
	}
	n := int(binary.LittleEndian.Uint16(b))
	attrs, _, ok := readAttrs(b[2:], n)
	return attrs, ok
}

func appendAttr(b []byte, a Attr) []byte {
	b = append(b, a.Type)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(a.Key)))
	b = append(b, a.Key...)
	switch a.Type {
	case TypeString:
		b = binary.LittleEndian.AppendUint32(b, uint32(len(a.Str)))
		b = append(b, a.Str...)
	case TypeDouble:
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(a.Float))
	default:
		b = binary.LittleEndian.AppendUint64(b, uint64(a.Int))
	}
	return b
}

func readAttrs(b []byte, n int) ([]Attr, []byte, bool) {
	if n == 0 {
		return nil, b, true
	}
	attrs := make([]Attr, 0, n)
	for range n {
		if len(b) < 5 {
			return nil, nil, false
		}
		var a Attr
		a.Type = b[0]
		kl := int(binary.LittleEndian.Uint32(b[1:]))
		b = b[5:]
		if kl > len(b) {
			return nil, nil, false
		}
		a.Key, b = string(b[:kl]), b[kl:]
		switch a.Type {
		case TypeString:
			if len(b) < 4 {
				return nil, nil, false
			}
			sl := int(binary.LittleEndian.Uint32(b))
			b = b[4:]
			if sl > len(b) {
				return nil, nil, false
			}
			a.Str, b = string(b[:sl]), b[sl:]
		case TypeInt, TypeBool, TypeDouble:
			if len(b) < 8 {
				return nil, nil, false
			}
			v := binary.LittleEndian.Uint64(b)
			b = b[8:]
			if a.Type == TypeDouble {
				a.Float = math.Float64frombits(v)
			} else {
				a.Int = int64(v)
			}
		default:
			return nil, nil, false
		}
		attrs = append(attrs, a)
	}
	return attrs, b, true
}

// AppendLog appends the payload of l to b (the Go path's encoder; spool.c
// writes the same bytes for the typed C path).
func AppendLog(b []byte, l *Log) []byte {
	var fixed [logFixed]byte
	fixed[0] = KindLog
	binary.LittleEndian.PutUint32(fixed[4:], uint32(l.Severity))
	binary.LittleEndian.PutUint64(fixed[8:], uint64(l.Time))
	copy(fixed[16:32], l.TraceID[:])
	copy(fixed[32:40], l.SpanID[:])
	binary.LittleEndian.PutUint32(fixed[40:], uint32(len(l.Body)))
	binary.LittleEndian.PutUint16(fixed[44:], uint16(len(l.Attrs)))
	binary.LittleEndian.PutUint16(fixed[46:], uint16(len(l.Fields)))
	b = append(b, fixed[:]...)
	b = append(b, l.Body...)
	for _, a := range l.Attrs {
		b = appendAttr(b, a)
	}
	for _, a := range l.Fields {
		b = appendAttr(b, a)
	}
	return b
}

// DecodeLog decodes a log payload.
func DecodeLog(p []byte) (Log, bool) {
	var l Log
	if len(p) < logFixed || p[0] != KindLog {
		return l, false
	}
	l.Severity = int32(binary.LittleEndian.Uint32(p[4:]))
	l.Time = int64(binary.LittleEndian.Uint64(p[8:]))
	copy(l.TraceID[:], p[16:32])
	copy(l.SpanID[:], p[32:40])
	bl := int(binary.LittleEndian.Uint32(p[40:]))
	na, nf := int(binary.LittleEndian.Uint16(p[44:])), int(binary.LittleEndian.Uint16(p[46:]))
	rest := p[logFixed:]
	if bl > len(rest) {
		return l, false
	}
	l.Body, rest = string(rest[:bl]), rest[bl:]
	var ok bool
	if l.Attrs, rest, ok = readAttrs(rest, na); !ok {
		return l, false
	}
	if l.Fields, rest, ok = readAttrs(rest, nf); !ok {
		return l, false
	}
	return l, len(rest) == 0
}

// Frame wraps a payload as spool.c does: length, CRC-32C, payload, padding.
func Frame(payload []byte) []byte {
	total := (8 + len(payload) + 7) &^ 7
	b := make([]byte, total)
	binary.LittleEndian.PutUint32(b, uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[4:], Checksum(payload))
	copy(b[8:], payload)
	return b
}

// Record is one record read from a segment: its payload (nil when it was
// corrupt) and the offset just past it.
type Record struct {
	Payload []byte
	End     uint64
}

// Scan reads the records in data (the segment's bytes from offset start on,
// data[0] being at start) up to limit, calling each for every record. A
// record whose checksum fails is reported with a nil payload and skipped; a
// length that cannot be right (past the end) stops the scan, which then
// reports one corrupt record and returns the offset where it stopped and
// false. data may end before limit (a window): unless complete says there
// is nothing more, the scan then stops at the last whole record. With beyond set it reads on past limit while records check out
// (a dead writer's header may lag its records after a machine crash).
func Scan(data []byte, start, limit uint64, beyond, complete bool, each func(Record) bool) (uint64, bool) {
	off := start
	end := start + uint64(len(data))
	for {
		if off+8 > end || (!beyond && off >= limit) {
			return off, true
		}
		b := data[off-start:]
		n := uint64(binary.LittleEndian.Uint32(b))
		if n == 0 {
			if off < limit {
				each(Record{End: limit}) // zeros inside the committed part: torn
				return limit, false
			}
			return off, true
		}
		total := (8 + n + 7) &^ 7
		if off+total > end {
			if off < limit && (end >= limit || complete) { // cut short: torn or truncated
				each(Record{End: limit})
				return limit, false
			}
			return off, true // data ends inside a record: read it next time
		}
		payload := b[8 : 8+n]
		next := off + total
		if Checksum(payload) != binary.LittleEndian.Uint32(b[4:]) {
			if off >= limit { // past the committed end: not a record after all
				return off, true
			}
			if !each(Record{End: next}) {
				return next, true
			}
		} else if !each(Record{Payload: payload, End: next}) {
			return next, true
		}
		off = next
	}
}
