package spool

import (
	"encoding/binary"
	"reflect"
	"testing"
)

func TestLogRoundTrip(t *testing.T) {
	l := Log{Severity: 13, Time: 1234567890123, Body: "héllo",
		Attrs:  []Attr{{Key: "s", Type: TypeString, Str: "v"}, {Key: "i", Type: TypeInt, Int: -7}, {Key: "d", Type: TypeDouble, Float: 1.5}, {Key: "b", Type: TypeBool, Int: 1}},
		Fields: []Attr{{Key: "request_id", Type: TypeString, Str: "r1"}}}
	l.TraceID[0], l.SpanID[7] = 1, 2
	got, ok := DecodeLog(AppendLog(nil, &l))
	if !ok || !reflect.DeepEqual(got, l) {
		t.Fatalf("round trip: %v %+v", ok, got)
	}
	if _, ok := DecodeLog(AppendLog(nil, &l)[:60]); ok {
		t.Fatal("a cut payload decoded")
	}
}

// segment builds records framed as spool.c frames them.
func segment(payloads ...[]byte) []byte {
	var b []byte
	for _, p := range payloads {
		b = append(b, Frame(p)...)
	}
	return b
}

func TestScanSkipsCorruptAndStopsAtTorn(t *testing.T) {
	l := Log{Severity: 9, Body: "x"}
	p := AppendLog(nil, &l)
	data := segment(p, p, p)
	rec := len(data) / 3
	data[rec+10] ^= 0xFF // record 2: bad checksum
	var good, bad int
	end, _ := Scan(data, HeaderSize, HeaderSize+uint64(len(data)), false, true, func(r Record) bool {
		if r.Payload == nil {
			bad++
		} else {
			good++
		}
		return true
	})
	if good != 2 || bad != 1 || end != HeaderSize+uint64(len(data)) {
		t.Fatalf("good %d bad %d end %d", good, bad, end)
	}
	// A length past the end inside the committed part: one corrupt, stop.
	torn := segment(p, p)
	binary.LittleEndian.PutUint32(torn[rec:], 1<<30)
	good, bad = 0, 0
	Scan(torn, HeaderSize, HeaderSize+uint64(len(torn)), false, true, func(r Record) bool {
		if r.Payload == nil {
			bad++
		} else {
			good++
		}
		return true
	})
	if good != 1 || bad != 1 {
		t.Fatalf("torn: good %d bad %d", good, bad)
	}
	// A window ending inside a record, with more to come: no corruption.
	good, bad = 0, 0
	next, _ := Scan(data[:rec+5], HeaderSize, HeaderSize+uint64(len(data)), false, false, func(r Record) bool {
		if r.Payload == nil {
			bad++
		} else {
			good++
		}
		return true
	})
	if good != 1 || bad != 0 || next != HeaderSize+uint64(rec) {
		t.Fatalf("window: good %d bad %d next %d", good, bad, next)
	}
}

func TestParseHeaderRejectsGarbage(t *testing.T) {
	if _, err := ParseHeader(make([]byte, HeaderSize)); err != ErrNotSegment {
		t.Fatalf("zeros: %v", err)
	}
	if _, err := ParseHeader([]byte("FFSPOOL1")); err != ErrNotSegment {
		t.Fatalf("short: %v", err)
	}
	res := EncodeResource([]Attr{{Key: "service.name", Type: TypeString, Str: "svc"}})
	b := make([]byte, HeaderSize)
	copy(b, Magic)
	binary.LittleEndian.PutUint32(b[8:], Version)
	binary.LittleEndian.PutUint32(b[12:], HeaderSize)
	binary.LittleEndian.PutUint32(b[offResLen:], uint32(len(res)))
	binary.LittleEndian.PutUint32(b[offResCRC:], Checksum(res))
	copy(b[offRes:], res)
	h, err := ParseHeader(b)
	if err != nil || len(h.Resource.Attrs) != 1 || h.Resource.Attrs[0].Str != "svc" {
		t.Fatalf("good header: %v %+v", err, h)
	}
	b[offRes] ^= 1
	if _, err := ParseHeader(b); err != ErrResource {
		t.Fatalf("bad resource: %v", err)
	}
}

func TestSpanRoundTrip(t *testing.T) {
	s := Span{Name: "job", Kind: 2, Flags: 1, StatusCode: 1, StatusDescription: "boom", TraceState: "a=b",
		Start: 10, End: 20, ParentRemote: true, ScopeName: "ffitel", ScopeVer: "1",
		Attrs:  []Attr{{Key: "k", Type: TypeInt, Int: 3}},
		Events: []Event{{Name: "exception", Time: 15, Attrs: []Attr{{Key: "m", Type: TypeString, Str: "x"}}}},
		Links:  []Link{{Flags: 1, Attrs: []Attr{{Key: "l", Type: TypeBool, Int: 1}}}}}
	s.TraceID[3], s.SpanID[1], s.ParentSpanID[2] = 7, 8, 9
	p := AppendSpan(nil, &s)
	got, ok := DecodeSpan(p)
	if !ok || !reflect.DeepEqual(got, s) || Kind(p) != KindSpan {
		t.Fatalf("round trip: %v\n%+v\n%+v", ok, got, s)
	}
	if _, ok := DecodeSpan(p[:len(p)-1]); ok {
		t.Fatal("a cut span decoded")
	}
}
