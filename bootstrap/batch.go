package bootstrap

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ffitel/ffitel/metrics"
)

// batcher is the export queue shared by logs and spans. Unlike the SDK's
// batch processors it never loses an item without counting it: a full queue
// refuses the newest item and counts it as dropped, an exporter error counts
// the batch as failed, and whatever shutdown cannot send in time is counted
// as dropped. Emitted = Exported + Dropped + Failed + Pending at all times.
//
// Adding never blocks on the network: it takes a mutex and stores the item
// in the tail chunk. The queue is a list of fixed chunks of maxBatch items,
// so a deep queue never copies itself to grow, and drained chunks are reused.
type batcher[T any] struct {
	export   func(context.Context, []T) error
	maxQueue int
	maxBatch int
	delay    time.Duration
	timeout  time.Duration
	onLoss   func(dropped, failed uint64, lastErr error) // periodic loss report; may be nil
	lossTick time.Duration

	mu       sync.Mutex
	chunks   [][]T // full chunks, then the tail being filled; each has cap maxBatch
	queued   int   // items in chunks
	inflight int   // taken by the worker, not yet finished
	free     [][]T // drained chunks kept for reuse
	closed   bool
	lastErr  error

	// Owned by the worker goroutine: chunks taken from the queue.
	local [][]T

	wake    chan struct{}
	stop    chan context.Context
	done    chan struct{}
	flushes chan chan struct{}

	// base bounds every export; shutdown cancels it when its deadline
	// passes so that an export stuck on a dead collector gives up.
	base       context.Context
	cancelBase context.CancelFunc

	emitted, exported, dropped, failed atomic.Uint64
}

// shutdownGrace is how long shutdown waits, after its deadline, for the
// worker to count what it could not send.
const shutdownGrace = 250 * time.Millisecond

func newBatcher[T any](export func(context.Context, []T) error, maxQueue, maxBatch int, delay, timeout time.Duration) *batcher[T] {
	if maxBatch > maxQueue {
		maxBatch = maxQueue
	}
	base, cancel := context.WithCancel(context.Background())
	return &batcher[T]{
		base:       base,
		cancelBase: cancel,
		export:     export,
		maxQueue:   maxQueue,
		maxBatch:   maxBatch,
		delay:      delay,
		timeout:    timeout,
		lossTick:   10 * time.Second,
		wake:       make(chan struct{}, 1),
		stop:       make(chan context.Context, 1),
		done:       make(chan struct{}),
		flushes:    make(chan chan struct{}),
	}
}

func (b *batcher[T]) start() { go b.run() }

// maxFreeChunks bounds the drained chunks kept for reuse.
const maxFreeChunks = 8

// add queues item; it reports false when the item was dropped.
func (b *batcher[T]) add(item T) bool {
	b.emitted.Add(1)
	b.mu.Lock()
	if b.closed || b.queued+b.inflight >= b.maxQueue {
		b.mu.Unlock()
		b.dropped.Add(1)
		return false
	}
	n := len(b.chunks)
	if n == 0 || len(b.chunks[n-1]) == b.maxBatch {
		var c []T
		if f := len(b.free); f > 0 {
			c, b.free = b.free[f-1], b.free[:f-1]
		} else {
			c = make([]T, 0, b.maxBatch)
		}
		b.chunks = append(b.chunks, c)
		n++
	}
	b.chunks[n-1] = append(b.chunks[n-1], item)
	b.queued++
	full := len(b.chunks[n-1]) == b.maxBatch
	b.mu.Unlock()
	if full {
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
	return true
}

func (b *batcher[T]) stats() metrics.SignalStats {
	// Read the terminal counters before emitted so pending never underflows.
	exported, dropped, failed := b.exported.Load(), b.dropped.Load(), b.failed.Load()
	emitted := b.emitted.Load()
	s := metrics.SignalStats{Emitted: emitted, Exported: exported, Dropped: dropped, Failed: failed}
	if done := exported + dropped + failed; emitted > done {
		s.Pending = emitted - done
	}
	return s
}

// take returns the next batch (one chunk). The worker takes all queued
// chunks at once and walks them. Only the worker goroutine calls take.
func (b *batcher[T]) take() []T {
	if len(b.local) == 0 {
		b.mu.Lock()
		b.local, b.chunks = b.chunks, b.local[:0]
		b.inflight += b.queued
		b.queued = 0
		b.mu.Unlock()
		if len(b.local) == 0 {
			return nil
		}
	}
	batch := b.local[0]
	b.local[0] = nil
	b.local = b.local[1:]
	return batch
}

// finished marks a taken batch as done, making room in the queue, and
// keeps its chunk for reuse.
func (b *batcher[T]) finished(batch []T) {
	clear(batch)
	b.mu.Lock()
	b.inflight -= len(batch)
	if len(b.free) < maxFreeChunks {
		b.free = append(b.free, batch[:0])
	}
	b.mu.Unlock()
}

func (b *batcher[T]) exportBatch(ctx context.Context, batch []T) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	err := b.export(ctx, batch)
	cancel()
	if err != nil {
		b.failed.Add(uint64(len(batch)))
		b.mu.Lock()
		b.lastErr = err
		b.mu.Unlock()
	} else {
		b.exported.Add(uint64(len(batch)))
	}
	b.finished(batch)
}

// drain exports until the queue is empty or ctx ends.
func (b *batcher[T]) drain(ctx context.Context) {
	for ctx.Err() == nil {
		batch := b.take()
		if batch == nil {
			return
		}
		b.exportBatch(ctx, batch)
	}
}

func (b *batcher[T]) run() {
	defer close(b.done)
	defer func() {
		// A panic here would kill the host process: count what is left
		// as dropped and stop exporting instead.
		if r := recover(); r != nil {
			b.mu.Lock()
			b.closed = true
			left := b.queued
			for _, c := range b.local {
				left += len(c)
			}
			b.chunks, b.local, b.queued = nil, nil, 0
			b.lastErr = fmt.Errorf("ffitel: export worker stopped: %v", r)
			b.mu.Unlock()
			b.dropped.Add(uint64(left))
			if b.onLoss != nil {
				b.onLoss(uint64(left), 0, fmt.Errorf("ffitel: export worker stopped: %v", r))
			}
		}
	}()
	timer := time.NewTimer(b.delay)
	defer timer.Stop()
	loss := time.NewTicker(b.lossTick)
	defer loss.Stop()
	var reportedDropped, reportedFailed uint64
	for {
		select {
		case <-b.wake:
			b.drain(b.base)
		case <-timer.C:
			b.drain(b.base)
			timer.Reset(b.delay)
		case ack := <-b.flushes:
			b.drain(b.base)
			close(ack)
		case <-loss.C:
			d, f := b.dropped.Load(), b.failed.Load()
			if (d > reportedDropped || f > reportedFailed) && b.onLoss != nil {
				b.mu.Lock()
				err := b.lastErr
				b.mu.Unlock()
				b.onLoss(d-reportedDropped, f-reportedFailed, err)
			}
			reportedDropped, reportedFailed = d, f
		case ctx := <-b.stop:
			ctx, cancel := context.WithCancel(ctx)
			stopOnBase := context.AfterFunc(b.base, cancel)
			b.drain(ctx)
			stopOnBase()
			cancel()
			// What could not be sent in time is lost: count it.
			b.mu.Lock()
			left := b.queued
			for _, c := range b.local {
				left += len(c)
			}
			b.chunks, b.local, b.queued = nil, nil, 0
			b.mu.Unlock()
			b.dropped.Add(uint64(left))
			return
		}
	}
}

// flush exports everything queued so far, or gives up when ctx ends.
func (b *batcher[T]) flush(ctx context.Context) error {
	ack := make(chan struct{})
	select {
	case b.flushes <- ack:
	case <-b.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ack:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// shutdown refuses new items, exports what is queued within ctx and stops
// the worker. Items still queued when ctx ends are counted as dropped.
func (b *batcher[T]) shutdown(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	// The grace for counting leftovers comes out of the caller's budget.
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-shutdownGrace))
		defer cancel()
	}
	b.stop <- ctx
	select {
	case <-b.done:
		return nil
	case <-ctx.Done():
	}
	b.cancelBase()
	select {
	case <-b.done:
	case <-time.After(shutdownGrace):
	}
	return ctx.Err()
}
