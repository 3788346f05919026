package bootstrap

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"math/rand/v2"
	"sync"

	"go.opentelemetry.io/otel/trace"
)

// idGenerator makes trace and span ids from a ChaCha8 stream seeded from
// the kernel when the Runtime is created. The SDK's default generator uses a
// source that a process forked from a common parent can share: a pre-forking
// master (Puma, Unicorn, Gunicorn --preload) whose workers each load the
// library after the fork would see every worker mint the same ids.
type idGenerator struct {
	mu  sync.Mutex
	rng *rand.ChaCha8
}

func newIDGenerator() *idGenerator {
	var seed [32]byte
	_, _ = crand.Read(seed[:]) // never fails on Linux (getrandom)
	return &idGenerator{rng: rand.NewChaCha8(seed)}
}

func (g *idGenerator) NewIDs(context.Context) (trace.TraceID, trace.SpanID) {
	var tid trace.TraceID
	var sid trace.SpanID
	g.mu.Lock()
	for !tid.IsValid() {
		binary.NativeEndian.PutUint64(tid[:8], g.rng.Uint64())
		binary.NativeEndian.PutUint64(tid[8:], g.rng.Uint64())
	}
	for !sid.IsValid() {
		binary.NativeEndian.PutUint64(sid[:], g.rng.Uint64())
	}
	g.mu.Unlock()
	return tid, sid
}

func (g *idGenerator) NewSpanID(context.Context, trace.TraceID) trace.SpanID {
	var sid trace.SpanID
	g.mu.Lock()
	for !sid.IsValid() {
		binary.NativeEndian.PutUint64(sid[:], g.rng.Uint64())
	}
	g.mu.Unlock()
	return sid
}
