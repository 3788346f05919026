package otlpwire

import (
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
