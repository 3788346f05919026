package bootstrap

import (
	"context"
	"log/slog"
	"sync"

	"github.com/ffitel/ffitel/metrics"
)

// EarlyBuffer keeps the last N phase-1 records for replay at the upgrade.
// Older records are pushed out and counted.
type EarlyBuffer struct {
	mu         sync.Mutex
	ring       []logItem
	start, n   int
	closed     bool
	overflowed uint64
	replayed   uint64
	discarded  uint64
}

func newEarlyBuffer(capacity int) *EarlyBuffer {
	return &EarlyBuffer{ring: make([]logItem, 0, min(capacity, 64)), start: 0, n: capacity}
}

// add keeps r; it reports false once the buffer has been drained, so the
// caller sends the record down the phase-2 path instead.
func (b *EarlyBuffer) add(ctx context.Context, c *chain, r slog.Record) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	if b.n == 0 {
		b.overflowed++
		return true
	}
	e := newLogItem(ctx, c, r)
	if len(b.ring) < b.n {
		b.ring = append(b.ring, e)
		return true
	}
	b.ring[b.start] = e
	b.start = (b.start + 1) % b.n
	b.overflowed++
	return true
}

// drain closes the buffer and returns its records oldest first.
func (b *EarlyBuffer) drain() []logItem {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	out := make([]logItem, 0, len(b.ring))
	out = append(out, b.ring[b.start:]...)
	out = append(out, b.ring[:b.start]...)
	b.ring, b.start = nil, 0
	return out
}

func (b *EarlyBuffer) countReplayed(replayed, discarded int) {
	b.mu.Lock()
	b.replayed += uint64(replayed)
	b.discarded += uint64(discarded)
	b.mu.Unlock()
}

func (b *EarlyBuffer) stats() metrics.EarlyStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return metrics.EarlyStats{
		Capacity:   b.n,
		Buffered:   uint64(len(b.ring)),
		Overflowed: b.overflowed,
		Replayed:   b.replayed,
		Discarded:  b.discarded,
	}
}
