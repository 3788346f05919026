package spool

import (
	"encoding/binary"
)

// KindSpan is the payload kind of an ended span.
const KindSpan = 2

// Span is one ended span.
type Span struct {
	Name                 string
	Kind                 uint8 // trace.SpanKind
	Flags                uint8 // trace flags
	StatusCode           uint8 // codes.Code
	StatusDescription    string
	TraceState           string
	Start, End           int64 // Unix nanoseconds
	TraceID              [16]byte
	SpanID, ParentSpanID [8]byte
	ParentRemote         bool
	ScopeName, ScopeVer  string
	Attrs                []Attr
	Events               []Event
	Links                []Link
}

// Event is a span event.
type Event struct {
	Name  string
	Time  int64
	Attrs []Attr
}

// Link is a span link.
type Link struct {
	TraceID [16]byte
	SpanID  [8]byte
	Flags   uint8
	Attrs   []Attr
}

func appendStr(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func appendAttrList(b []byte, attrs []Attr) []byte {
	b = binary.LittleEndian.AppendUint16(b, uint16(len(attrs)))
	for _, a := range attrs {
		b = appendAttr(b, a)
	}
	return b
}

// AppendSpan appends the payload of s to b.
func AppendSpan(b []byte, s *Span) []byte {
	remote := uint8(0)
	if s.ParentRemote {
		remote = 1
	}
	b = append(b, KindSpan, s.Flags, s.Kind, s.StatusCode, remote, 0, 0, 0)
	b = binary.LittleEndian.AppendUint64(b, uint64(s.Start))
	b = binary.LittleEndian.AppendUint64(b, uint64(s.End))
	b = append(b, s.TraceID[:]...)
	b = append(b, s.SpanID[:]...)
	b = append(b, s.ParentSpanID[:]...)
	b = appendStr(b, s.Name)
	b = appendStr(b, s.StatusDescription)
	b = appendStr(b, s.TraceState)
	b = appendStr(b, s.ScopeName)
	b = appendStr(b, s.ScopeVer)
	b = appendAttrList(b, s.Attrs)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(s.Events)))
	for _, e := range s.Events {
		b = binary.LittleEndian.AppendUint64(b, uint64(e.Time))
		b = appendStr(b, e.Name)
		b = appendAttrList(b, e.Attrs)
	}
	b = binary.LittleEndian.AppendUint16(b, uint16(len(s.Links)))
	for _, l := range s.Links {
		b = append(b, l.TraceID[:]...)
		b = append(b, l.SpanID[:]...)
		b = append(b, l.Flags)
		b = appendAttrList(b, l.Attrs)
	}
	return b
}

// reader consumes a payload; ok turns false at the first short read.
type reader struct {
	b  []byte
	ok bool
}

func (r *reader) take(n int) []byte {
	if !r.ok || n > len(r.b) {
		r.ok = false
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}
func (r *reader) u16() int {
	if v := r.take(2); v != nil {
		return int(binary.LittleEndian.Uint16(v))
	}
	return 0
}
func (r *reader) u64() uint64 {
	if v := r.take(8); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}
func (r *reader) str() string {
	v := r.take(4)
	if v == nil {
		return ""
	}
	return string(r.take(int(binary.LittleEndian.Uint32(v))))
}
func (r *reader) attrs() []Attr {
	n := r.u16()
	if !r.ok {
		return nil
	}
	a, rest, ok := readAttrs(r.b, n)
	if !ok {
		r.ok = false
		return nil
	}
	r.b = rest
	return a
}

// DecodeSpan decodes a span payload.
func DecodeSpan(p []byte) (Span, bool) {
	var s Span
	r := &reader{b: p, ok: true}
	fixed := r.take(8)
	if fixed == nil || fixed[0] != KindSpan {
		return s, false
	}
	s.Flags, s.Kind, s.StatusCode, s.ParentRemote = fixed[1], fixed[2], fixed[3], fixed[4] != 0
	s.Start, s.End = int64(r.u64()), int64(r.u64())
	copy(s.TraceID[:], r.take(16))
	copy(s.SpanID[:], r.take(8))
	copy(s.ParentSpanID[:], r.take(8))
	s.Name, s.StatusDescription, s.TraceState = r.str(), r.str(), r.str()
	s.ScopeName, s.ScopeVer = r.str(), r.str()
	s.Attrs = r.attrs()
	for range r.u16() {
		if !r.ok {
			break
		}
		e := Event{Time: int64(r.u64())}
		e.Name = r.str()
		e.Attrs = r.attrs()
		s.Events = append(s.Events, e)
	}
	for range r.u16() {
		if !r.ok {
			break
		}
		var l Link
		copy(l.TraceID[:], r.take(16))
		copy(l.SpanID[:], r.take(8))
		if f := r.take(1); f != nil {
			l.Flags = f[0]
		}
		l.Attrs = r.attrs()
		s.Links = append(s.Links, l)
	}
	return s, r.ok && len(r.b) == 0
}

// Kind is the payload kind of a record (KindLog, KindSpan), 0 if empty.
func Kind(p []byte) uint8 {
	if len(p) == 0 {
		return 0
	}
	return p[0]
}
