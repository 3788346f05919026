// Package otlpwire writes protobuf wire format by hand: the few primitives
// ffitel needs to encode OTLP export requests straight from its queued
// records into one reused buffer, without building the generated message
// structs first and without reflection. It knows the wire format only; which
// field numbers mean what is the caller's business (see the OTLP .proto
// files; the constants below name the ones ffitel writes).
package otlpwire

import (
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
)

// Wire types.
const (
	wtVarint = 0
	wtI64    = 1
	wtLen    = 2
	wtI32    = 5
)

// Field numbers of the OTLP messages ffitel encodes
// (opentelemetry/proto/{collector/logs,collector/trace,logs,trace,common,resource}/v1).
const (
	ExportLogsRequestResourceLogs = 1

	ResourceLogsResource  = 1
	ResourceLogsScopeLogs = 2
	ResourceLogsSchemaURL = 3

	ResourceAttributes = 1

	ScopeLogsScope      = 1
	ScopeLogsLogRecords = 2
	ScopeLogsSchemaURL  = 3

	ScopeName       = 1
	ScopeVersion    = 2
	ScopeAttributes = 3

	LogRecordTime              = 1
	LogRecordSeverityNumber    = 2
	LogRecordSeverityText      = 3
	LogRecordBody              = 5
	LogRecordAttributes        = 6
	LogRecordDroppedAttributes = 7
	LogRecordFlags             = 8
	LogRecordTraceID           = 9
	LogRecordSpanID            = 10
	LogRecordObservedTime      = 11
	LogRecordEventName         = 12

	ExportTraceRequestResourceSpans = 1

	ResourceSpansResource   = 1
	ResourceSpansScopeSpans = 2
	ResourceSpansSchemaURL  = 3

	ScopeSpansScope     = 1
	ScopeSpansSpans     = 2
	ScopeSpansSchemaURL = 3

	SpanTraceID                = 1
	SpanSpanID                 = 2
	SpanTraceState             = 3
	SpanParentSpanID           = 4
	SpanName                   = 5
	SpanKind                   = 6
	SpanStartTime              = 7
	SpanEndTime                = 8
	SpanAttributes             = 9
	SpanDroppedAttributesCount = 10
	SpanEvents                 = 11
	SpanDroppedEventsCount     = 12
	SpanLinks                  = 13
	SpanDroppedLinksCount      = 14
	SpanStatus                 = 15
	SpanFlags                  = 16

	EventTime                   = 1
	EventName                   = 2
	EventAttributes             = 3
	EventDroppedAttributesCount = 4

	LinkTraceID                = 1
	LinkSpanID                 = 2
	LinkTraceState             = 3
	LinkAttributes             = 4
	LinkDroppedAttributesCount = 5
	LinkFlags                  = 6

	StatusMessage = 2
	StatusCode    = 3

	KeyValueKey   = 1
	KeyValueValue = 2

	AnyString = 1
	AnyBool   = 2
	AnyInt    = 3
	AnyDouble = 4
	AnyArray  = 5
	AnyKvlist = 6
	AnyBytes  = 7

	ArrayValues  = 1
	KvlistValues = 1
)

// Buffer is a growing protobuf encoding. The zero value is ready; Reset
// keeps the memory for the next message.
type Buffer struct {
	B []byte
}

// Reset empties the buffer, keeping its capacity.
func (b *Buffer) Reset() { b.B = b.B[:0] }

// Len is the number of bytes written.
func (b *Buffer) Len() int { return len(b.B) }

func (b *Buffer) varint(v uint64) {
	b.B = binary.AppendUvarint(b.B, v)
}

func (b *Buffer) tag(field int, wt int) {
	b.varint(uint64(field)<<3 | uint64(wt))
}

// Uvarint writes field as a varint (uint32, uint64, enum, int64 as two's
// complement). proto3: callers skip zero values of non-oneof fields.
func (b *Buffer) Uvarint(field int, v uint64) {
	b.tag(field, wtVarint)
	b.varint(v)
}

// Int64 writes an int64 field (varint of its two's complement).
func (b *Buffer) Int64(field int, v int64) { b.Uvarint(field, uint64(v)) }

// Bool writes a bool field.
func (b *Buffer) Bool(field int, v bool) {
	var u uint64
	if v {
		u = 1
	}
	b.Uvarint(field, u)
}

// Fixed64 writes a fixed64 field.
func (b *Buffer) Fixed64(field int, v uint64) {
	b.tag(field, wtI64)
	b.B = binary.LittleEndian.AppendUint64(b.B, v)
}

// Double writes a double field.
func (b *Buffer) Double(field int, v float64) { b.Fixed64(field, math.Float64bits(v)) }

// Fixed32 writes a fixed32 field.
func (b *Buffer) Fixed32(field int, v uint32) {
	b.tag(field, wtI32)
	b.B = binary.LittleEndian.AppendUint32(b.B, v)
}

// String writes a string field (also when empty: oneof members are).
func (b *Buffer) String(field int, s string) {
	b.tag(field, wtLen)
	b.varint(uint64(len(s)))
	b.B = append(b.B, s...)
}

// Bytes writes a bytes field (also when empty).
func (b *Buffer) Bytes(field int, p []byte) {
	b.tag(field, wtLen)
	b.varint(uint64(len(p)))
	b.B = append(b.B, p...)
}

// Raw appends bytes already encoded (whole fields).
func (b *Buffer) Raw(p []byte) { b.B = append(b.B, p...) }

// Begin starts an embedded message field; End closes it. One byte is kept
// for the length; End moves the contents when the length needs more.
func (b *Buffer) Begin(field int) int {
	b.tag(field, wtLen)
	b.B = append(b.B, 0)
	return len(b.B)
}

// End closes the embedded message started at mark (Begin's result).
func (b *Buffer) End(mark int) {
	n := len(b.B) - mark
	if n < 0x80 {
		b.B[mark-1] = byte(n)
		return
	}
	size := (bits.Len64(uint64(n)) + 6) / 7
	extra := size - 1
	b.B = append(b.B, make([]byte, extra)...)
	copy(b.B[mark+extra:], b.B[mark:mark+n])
	binary.PutUvarint(b.B[mark-1:], uint64(n))
}

// Scalar is the value of a KeyValue written by KV: an AnyValue of one
// scalar field.
type Scalar struct {
	Field int    // AnyString, AnyBool, AnyInt or AnyDouble
	U     uint64 // AnyBool (0 or 1), AnyInt (two's complement), AnyDouble (bits)
	S     string // AnyString
}

// KV writes an embedded KeyValue message (field) of key and v in one pass
// when it is short (every length under 128, a field under 16): the common
// attribute, written as Begin, String, Begin, the value, End, End would
// write it. It writes nothing and returns false otherwise. An empty key is
// written only with keyAlways, as callers that skip it do.
func (b *Buffer) KV(field int, key string, keyAlways bool, v Scalar) bool {
	var inner int
	switch v.Field {
	case AnyString:
		inner = 2 + len(v.S)
	case AnyBool, AnyInt:
		inner = 1 + uvarintLen(v.U)
	case AnyDouble:
		inner = 9
	default:
		return false
	}
	keyLen := 0
	if keyAlways || key != "" {
		keyLen = 2 + len(key)
	}
	total := keyLen + 2 + inner
	if field >= 16 || len(key) >= 0x80 || len(v.S) >= 0x80 || total >= 0x80 {
		return false
	}
	p := slices.Grow(b.B, 2+total)
	p = append(p, byte(field<<3|wtLen), byte(total))
	if keyLen > 0 {
		p = append(p, KeyValueKey<<3|wtLen, byte(len(key)))
		p = append(p, key...)
	}
	p = append(p, KeyValueValue<<3|wtLen, byte(inner))
	switch v.Field {
	case AnyString:
		p = append(p, AnyString<<3|wtLen, byte(len(v.S)))
		p = append(p, v.S...)
	case AnyDouble:
		p = append(p, AnyDouble<<3|wtI64)
		p = binary.LittleEndian.AppendUint64(p, v.U)
	default:
		p = append(p, byte(v.Field<<3|wtVarint))
		p = binary.AppendUvarint(p, v.U)
	}
	b.B = p
	return true
}

func uvarintLen(u uint64) int {
	return (bits.Len64(u|1) + 6) / 7
}
