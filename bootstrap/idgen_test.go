package bootstrap

import (
	"context"
	"testing"
)

func TestIDGeneratorsSeededIndependently(t *testing.T) {
	a, b := newIDGenerator(), newIDGenerator()
	ta, sa := a.NewIDs(context.Background())
	tb, sb := b.NewIDs(context.Background())
	if ta == tb || sa == sb {
		t.Fatalf("two generators produced the same ids: %s/%s", ta, sa)
	}
	seen := map[[8]byte]bool{}
	for i := 0; i < 10000; i++ {
		id := a.NewSpanID(context.Background(), ta)
		if !id.IsValid() || seen[id] {
			t.Fatalf("span id %s invalid or repeated after %d", id, i)
		}
		seen[id] = true
	}
}
