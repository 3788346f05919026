package bootstrap

import (
	"testing"

	"google.golang.org/grpc/mem"
)

// The request copies come back to the free list once gRPC frees them, and
// the next request of the same size takes one without allocating (gRPC's
// default pool allocated and zeroed a buffer for most requests).
func TestRequestBuffersAreReused(t *testing.T) {
	p := &requestPool{}
	body := make([]byte, 90<<10)
	for i := range body {
		body[i] = byte(i)
	}
	send := func() {
		buf := mem.Copy(body, p) // what rawCodec.Marshal hands gRPC
		if got := buf.ReadOnlyData(); len(got) != len(body) || got[len(got)-1] != body[len(body)-1] {
			t.Fatal("the copy is not the request")
		}
		buf.Free() // gRPC, once written
	}
	send()
	if allocs := testing.AllocsPerRun(100, send); allocs > 1 { // the Buffer object itself, at most
		t.Fatalf("%v allocations per request; want the buffer reused", allocs)
	}
	if len(p.free) != 1 {
		t.Fatalf("%d buffers kept, want 1", len(p.free))
	}
	// At most maxFreeRequests are kept, the biggest ones.
	var held []*[]byte
	for i := 1; i <= maxFreeRequests+2; i++ {
		held = append(held, p.Get(i<<20))
	}
	for _, b := range held {
		p.Put(b)
	}
	if len(p.free) != maxFreeRequests {
		t.Fatalf("%d buffers kept, want %d", len(p.free), maxFreeRequests)
	}
	for _, b := range p.free {
		if cap(*b) < 3<<20 {
			t.Fatalf("kept a %d-byte buffer over bigger ones", cap(*b))
		}
	}
}
