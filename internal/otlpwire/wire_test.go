package otlpwire

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// Nested messages of every length class decode back to what was written.
func TestBeginEndLengths(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 300, 16383, 16384, 70000, 3 << 20} {
		var b Buffer
		b.String(1, "pre")
		m := b.Begin(2)
		s := strings.Repeat("x", n)
		b.String(1, s)
		b.End(m)
		b.Fixed32(3, 7)
		p := b.B
		// field 1
		_, _, l := protowire.ConsumeField(p)
		p = p[l:]
		num, typ, l := protowire.ConsumeTag(p)
		if num != 2 || typ != protowire.BytesType {
			t.Fatalf("n=%d: tag %d %d", n, num, typ)
		}
		inner, m2 := protowire.ConsumeBytes(p[l:])
		if m2 < 0 {
			t.Fatalf("n=%d: bad length", n)
		}
		_, _, l2 := protowire.ConsumeTag(inner)
		got, _ := protowire.ConsumeString(inner[l2:])
		if got != s {
			t.Fatalf("n=%d: inner string of %d bytes", n, len(got))
		}
		rest := p[l+m2:]
		if num, _, _ := protowire.ConsumeTag(rest); num != 3 {
			t.Fatalf("n=%d: trailing field %d", n, num)
		}
	}
}

// KV writes byte for byte what Begin, String, Begin, the value's field,
// End, End write, and nothing when a length does not fit in one byte.
func TestKVEqualsTheNestedWrites(t *testing.T) {
	long := func(n int) string { return strings.Repeat("k", n) }
	values := []Scalar{
		{Field: AnyString}, {Field: AnyString, S: "v"}, {Field: AnyString, S: long(100)}, {Field: AnyString, S: long(127)}, {Field: AnyString, S: long(128)},
		{Field: AnyBool}, {Field: AnyBool, U: 1},
		{Field: AnyInt}, {Field: AnyInt, U: 127}, {Field: AnyInt, U: 128}, {Field: AnyInt, U: 1 << 40}, {Field: AnyInt, U: ^uint64(0)},
		{Field: AnyDouble}, {Field: AnyDouble, U: math.Float64bits(-2.5)},
	}
	var written, fellBack int
	for _, field := range []int{1, 2, 6, 15, 16} {
		for _, key := range []string{"", "k", long(60), long(110), long(127), long(128)} {
			for _, keyAlways := range []bool{false, true} {
				for _, v := range values {
					var want Buffer
					m := want.Begin(field)
					if keyAlways || key != "" {
						want.String(KeyValueKey, key)
					}
					vm := want.Begin(KeyValueValue)
					switch v.Field {
					case AnyString:
						want.String(AnyString, v.S)
					case AnyDouble:
						want.Fixed64(AnyDouble, v.U)
					default:
						want.Uvarint(v.Field, v.U)
					}
					want.End(vm)
					want.End(m)

					got := Buffer{B: []byte{0xff}} // appends after what is there
					if !got.KV(field, key, keyAlways, v) {
						fellBack++
						if len(got.B) != 1 {
							t.Fatalf("KV wrote %d bytes and returned false", len(got.B)-1)
						}
						if field < 16 && len(want.B) < 0x80 {
							t.Fatalf("field %d, key %d bytes, %+v: fell back from %d bytes", field, len(key), v, len(want.B))
						}
						continue
					}
					written++
					if !bytes.Equal(got.B[1:], want.B) {
						t.Fatalf("field %d, key %q, keyAlways %v, %+v:\n got %x\nwant %x", field, key, keyAlways, v, got.B[1:], want.B)
					}
				}
			}
		}
	}
	if written == 0 || fellBack == 0 {
		t.Fatalf("%d written, %d fell back: both paths must be covered", written, fellBack)
	}
}
