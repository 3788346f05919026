package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
//
// A full queue either refuses the item at once (drop policy) or, under the
// backpressure policy, makes the caller wait for room while exports are
// succeeding, at most fullWait per call: a burst from fast producers is
// delivered whole instead of being thrown away because the exporter is
// briefly slower. While exports are failing nobody waits: the overflow is
// dropped and counted, and the host thread never waits on a dead network.
//
// A batch whose export fails is retried with backoff for as long as the
// queue still has room for the producers (or until shutdown's deadline):
// a collector restart loses nothing. Only what is finally given up counts
// as failed.
type batcher[T any] struct {
	export   func(context.Context, []T) error
	maxQueue int
	maxBatch int
	// wakeAt is how many queued items wake the worker before its
	// schedule: one batch unless set (the export queues use wakeThreshold).
	wakeAt   int
	delay    time.Duration
	timeout  time.Duration
	onLoss   func(dropped, failed uint64, lastErr error) // periodic loss report; may be nil
	lossTick time.Duration
	// fullWait > 0 selects the backpressure policy: how long add waits for
	// room in a full queue while exports succeed. Zero drops at once.
	fullWait time.Duration
	// retryFor is how long a failed batch is retried (while the queue has
	// room); zero gives up after the first failure.
	retryFor time.Duration
	// health follows the exports for /healthz and the pipeline metrics
	// (selfmetrics.go); nil-safe.
	health *exportHealth
	// prepare, when set, is applied to each item on the caller's goroutine
	// before it is queued (the wire paths encode items there). It takes and
	// returns the item by value, as size does: a pointer to add's item would
	// move every item to the heap (an allocation per record).
	prepare func(T) T
	// release, when set, is called once for each item the queue is done
	// with: exported, failed, or refused by add (the wire paths give the
	// item's slab back). Items still queued when the worker stops are left
	// to the garbage collector.
	release func(T)
	// size, when set, is an item's size in a request: a batch holds at
	// most maxBytes of them (and at least one item).
	size     func(T) int
	maxBytes int // guarded by mu once the worker runs (shrink lowers it)
	// onShrink reports that the receiver refused a request of refused
	// bytes for its size and that later requests are at most now bytes.
	onShrink func(refused, now int)

	mu       sync.Mutex
	chunks   [][]T // full chunks, then the tail being filled; each has cap maxBatch
	queued   int   // items in chunks
	inflight int   // taken by the worker, not yet finished
	free     [][]T // drained chunks kept for reuse
	tailSize int   // size of the items in the tail chunk
	closed   bool
	lastErr  error
	waiters  int           // callers waiting for room
	stalled  bool          // a wait timed out; nobody waits until room appears
	room     chan struct{} // closed when room appears; replaced after

	// Owned by the worker goroutine: chunks taken from the queue.
	local [][]T

	wake    chan struct{}
	stop    chan context.Context
	done    chan struct{}
	flushes chan chan struct{}
	// stopping is closed when shutdown starts: a retry waiting for its
	// backoff tries again at once.
	stopping chan struct{}

	// base bounds every export; shutdown cancels it when its deadline
	// passes so that an export stuck on a dead collector gives up.
	base       context.Context
	cancelBase context.CancelFunc

	emitted, exported, dropped, failed atomic.Uint64
	// retried counts export attempts repeated after a failure; waited
	// counts adds that waited for room (backpressure).
	retried, waited atomic.Uint64
	// failing is set while the last export attempt failed: producers do
	// not wait for room then.
	failing atomic.Bool
}

// tooLargeError is an export the receiver refused for the request's size
// (wire_export.go): the batch is split and its halves sent, not retried.
type tooLargeError struct{ err error }

func (e *tooLargeError) Error() string { return e.err.Error() }
func (e *tooLargeError) Unwrap() error { return e.err }

// Retry backoff for a failed batch: short enough that delivery resumes
// within a second or two of a collector coming back.
const (
	retryInitial = 100 * time.Millisecond
	retryMax     = 2 * time.Second
)

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
		wakeAt:     maxBatch,
		delay:      delay,
		timeout:    timeout,
		lossTick:   10 * time.Second,
		wake:       make(chan struct{}, 1),
		stop:       make(chan context.Context, 1),
		done:       make(chan struct{}),
		flushes:    make(chan chan struct{}),
		stopping:   make(chan struct{}),
	}
}

// wakeThreshold is how many queued items make the worker export before
// its schedule: a quarter of the queue, and at least one batch. The SDK's
// processors export as soon as one batch is full; in a Go process each
// export that finds the process idle costs far more CPU than the export
// itself (the runtime's monitor thread spins for a millisecond after every
// wake from idle, and the gRPC transport's goroutines wake), so a worker
// logging 10 000 records/s paid ~1.4 ms of CPU per 512-record export, 20
// times a second. Exporting on the schedule (OTEL_BLRP_SCHEDULE_DELAY),
// the batches one after another, costs one wake per delay instead; a
// quarter of the queue leaves the producers three quarters of room while
// the worker catches up. Each request still carries at most maxBatch items.
func wakeThreshold(maxQueue, maxBatch int) int {
	return max(maxBatch, maxQueue/4)
}

func (b *batcher[T]) start() {
	go b.run()
	if b.onLoss != nil {
		go b.reportLoss()
	}
}

// Chunks start at chunkCap items (or maxBatch, if smaller) and grow to
// maxBatch; at most maxFreeItems items' worth of drained chunks, and at
// least two chunks, are kept for reuse.
const (
	chunkCap     = 1024
	maxFreeItems = 4096
)

func (b *batcher[T]) maxFree() int {
	return max(2, maxFreeItems/b.maxBatch)
}

// add queues item; it reports false when the item was dropped.
func (b *batcher[T]) add(item T) bool {
	b.emitted.Add(1)
	if b.prepare != nil {
		item = b.prepare(item)
	}
	b.mu.Lock()
	if b.queued+b.inflight >= b.maxQueue && !b.closed {
		b.waitForRoom()
	}
	if b.closed || b.queued+b.inflight >= b.maxQueue {
		b.mu.Unlock()
		b.dropped.Add(1)
		b.health.lost()
		if b.release != nil {
			b.release(item)
		}
		return false
	}
	size := 0
	if b.size != nil {
		size = b.size(item)
	}
	n := len(b.chunks)
	if n == 0 || len(b.chunks[n-1]) == b.maxBatch ||
		(b.maxBytes > 0 && b.tailSize+size > b.maxBytes && len(b.chunks[n-1]) > 0) {
		var c []T
		if f := len(b.free); f > 0 {
			c, b.free = b.free[f-1], b.free[:f-1] // the largest: finished keeps it last
		} else {
			c = make([]T, 0, min(b.maxBatch, chunkCap))
		}
		b.chunks = append(b.chunks, c)
		b.tailSize = 0
		n++
	}
	if c := b.chunks[n-1]; len(c) == cap(c) && cap(c) < b.maxBatch {
		// A full chunk grows fourfold (append doubles): two allocations and
		// copies on its way from chunkCap to a batch of 16 384, not four.
		b.chunks[n-1] = slices.Grow(c, min(b.maxBatch, 4*cap(c))-len(c))
	}
	b.chunks[n-1] = append(b.chunks[n-1], item)
	b.tailSize += size
	b.queued++
	wake := b.queued == b.wakeAt
	b.mu.Unlock()
	if wake {
		b.wakeWorker()
	}
	return true
}

func (b *batcher[T]) wakeWorker() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// waitForRoom is the backpressure policy: called with b.mu held and the
// queue full, it waits (releasing the lock) until the worker makes room,
// exports start failing, the queue closes, or fullWait has passed. It
// returns with b.mu held; the caller checks for room again.
func (b *batcher[T]) waitForRoom() {
	if b.fullWait <= 0 || b.failing.Load() || b.stalled {
		return
	}
	b.waited.Add(1)
	deadline := time.Now().Add(b.fullWait)
	var timer *time.Timer
	for b.queued+b.inflight >= b.maxQueue && !b.closed && !b.failing.Load() {
		left := time.Until(deadline)
		if left <= 0 {
			// The exporter made no room within a whole wait: until it
			// does, later callers drop at once instead of each waiting
			// the full bound (a black-holed collector answers nothing
			// until the export timeout).
			b.stalled = true
			break
		}
		if b.room == nil {
			b.room = make(chan struct{})
		}
		room := b.room
		b.waiters++
		b.mu.Unlock()
		// The queue is full: export now rather than at the next tick.
		b.wakeWorker()
		if timer == nil {
			timer = time.NewTimer(left)
		} else {
			timer.Reset(left)
		}
		select {
		case <-room:
		case <-timer.C:
		case <-b.done:
		}
		b.mu.Lock()
		b.waiters--
	}
	if timer != nil {
		timer.Stop()
	}
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

// take returns the next batch (one chunk). The worker takes the queued
// chunks at once and walks them: all of them, or, with leaveTail, all but a
// tail chunk still filling when there are others (a wake comes when the
// queue reaches its threshold; the records arriving just after it would
// otherwise make a small request of their own). Only the worker goroutine
// calls take.
func (b *batcher[T]) take(leaveTail bool) []T {
	if len(b.local) == 0 {
		b.mu.Lock()
		n := len(b.chunks)
		// (A tail left here has fewer than maxBatch <= wakeAt items, so add
		// still meets wakeAt exactly on its way up.)
		if tail := n - 1; leaveTail && n > 1 && len(b.chunks[tail]) < b.maxBatch &&
			(b.maxBytes == 0 || b.tailSize < b.maxBytes) {
			b.local = append(b.local[:0], b.chunks[:tail]...)
			kept := len(b.chunks[tail])
			b.chunks[0] = b.chunks[tail]
			clear(b.chunks[1:])
			b.chunks = b.chunks[:1]
			b.inflight += b.queued - kept
			b.queued = kept
		} else {
			b.local, b.chunks = b.chunks, b.local[:0]
			b.inflight += b.queued
			b.queued = 0
			b.tailSize = 0
		}
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
	if b.release != nil {
		for i := range batch {
			b.release(batch[i])
		}
	}
	clear(batch)
	b.mu.Lock()
	b.inflight -= len(batch)
	b.keepFree(batch[:0])
	b.signalRoom()
	b.mu.Unlock()
}

// keepFree keeps a drained chunk for reuse, the largest last: a chunk
// grows (add) up to maxBatch, and reusing a small one while a grown one
// waits would allocate the growth again. With maxFree chunks kept, the
// smallest gives way. Called with b.mu held.
func (b *batcher[T]) keepFree(c []T) {
	if len(b.free) >= b.maxFree() {
		if cap(b.free[0]) >= cap(c) {
			return
		}
		b.free = slices.Delete(b.free, 0, 1)
	}
	i := len(b.free)
	for i > 0 && cap(b.free[i-1]) > cap(c) {
		i--
	}
	b.free = slices.Insert(b.free, i, c)
}

// signalRoom wakes the callers waiting for room. Called with b.mu held.
func (b *batcher[T]) signalRoom() {
	b.stalled = false
	if b.waiters > 0 && b.room != nil {
		close(b.room)
		b.room = nil
	}
}

// exportBatch exports one batch, retrying a failure with backoff while
// retrying costs nobody anything: the queue still has room for the
// producers, retryFor has not passed and ctx has not ended. What is finally given up counts as
// failed.
func (b *batcher[T]) exportBatch(ctx context.Context, batch []T) {
	start := time.Now()
	b.send(ctx, batch, start)
	b.health.exported(time.Since(start))
	b.finished(batch)
}

// send exports batch (all or part of a taken chunk), counting its items as
// exported or failed; start is when the chunk's export began.
func (b *batcher[T]) send(ctx context.Context, batch []T, start time.Time) {
	backoff := retryInitial
	for {
		ectx, cancel := context.WithTimeout(ctx, b.timeout)
		b.health.attempt(time.Now())
		err := b.export(ectx, batch)
		cancel()
		b.health.attempted(err)
		if err == nil {
			b.failing.Store(false)
			b.exported.Add(uint64(len(batch)))
			break
		}
		if r, ok := err.(*rejectedError); ok {
			// Delivered, but the receiver rejected some: those count as
			// failed, and resending would not change its mind.
			b.failing.Store(false)
			b.exported.Add(uint64(len(batch) - r.n))
			b.failed.Add(uint64(r.n))
			b.mu.Lock()
			b.lastErr = err
			b.mu.Unlock()
			break
		}
		var big *tooLargeError
		if errors.As(err, &big) {
			// The receiver refuses requests this large: resending would not
			// change its mind, halves may pass. Later batches are cut
			// smaller too.
			b.failing.Store(false)
			if len(batch) > 1 {
				b.shrink(batch)
				b.send(ctx, batch[:len(batch)/2], start)
				b.send(ctx, batch[len(batch)/2:], start)
				return
			}
			b.mu.Lock()
			b.lastErr = err
			b.mu.Unlock()
			b.failed.Add(1)
			b.health.lost()
			return
		}
		b.mu.Lock()
		b.lastErr = err
		// Producers waiting for room stop waiting: the overflow is
		// dropped while the collector is away.
		wasFailing := b.failing.Swap(true)
		if !wasFailing {
			b.signalRoom()
		}
		retry := ctx.Err() == nil && b.queued+b.inflight < b.maxQueue &&
			time.Since(start)+backoff < b.retryFor
		b.mu.Unlock()
		if !retry || !b.sleep(ctx, backoff) {
			b.failed.Add(uint64(len(batch)))
			b.health.lost()
			break
		}
		b.retried.Add(1)
		backoff = min(backoff*2, retryMax)
	}
}

// minRequestBytes is the least shrink lowers maxBytes to.
const minRequestBytes = 64 << 10

// shrink lowers the bound of later batches below the size of batch, which
// the receiver refused as too large, and reports it once per change.
func (b *batcher[T]) shrink(batch []T) {
	size := len(batch)
	if b.size != nil {
		size = 0
		for i := range batch {
			size += b.size(batch[i])
		}
	}
	b.mu.Lock()
	before := b.maxBytes
	if b.size != nil && (b.maxBytes == 0 || b.maxBytes >= size) {
		b.maxBytes = max(size/2, minRequestBytes)
	}
	after := b.maxBytes
	b.mu.Unlock()
	if after != before && b.onShrink != nil {
		b.onShrink(size, after)
	}
}

// sleep waits d, or less when ctx ends (false) or shutdown starts (the
// retry then happens at once, within shutdown's deadline).
func (b *batcher[T]) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-b.stopping:
		return ctx.Err() == nil
	case <-ctx.Done():
		return false
	}
}

// drain exports until the queue is empty or ctx ends.
func (b *batcher[T]) drain(ctx context.Context) {
	for ctx.Err() == nil {
		batch := b.take(false)
		if batch == nil {
			return
		}
		b.exportBatch(ctx, batch)
	}
}

// exportDue is what a wake or the schedule does: it exports the items
// queued at that moment, batch after batch, and returns. What is queued
// while those exports are under way waits for the next wake (a quarter of
// the queue, a producer waiting for room) or the schedule. drain instead
// runs until the queue is empty; with a receiver that answers each request
// only once its pipeline has taken it (the Collector, tens of milliseconds
// for a large request), every export found new items and the worker sent a
// small request after each one: 20 a second at 10 000 records/s instead of
// one a second, and each request wakes an idle process.
func (b *batcher[T]) exportDue(ctx context.Context, woken bool) {
	for ctx.Err() == nil {
		batch := b.take(woken)
		if batch == nil {
			return
		}
		b.exportBatch(ctx, batch)
		if len(b.local) == 0 {
			return
		}
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
	for {
		select {
		case <-b.wake:
			b.exportDue(b.base, true)
		case <-timer.C:
			b.exportDue(b.base, false)
			timer.Reset(b.delay)
		case ack := <-b.flushes:
			b.drain(b.base)
			close(ack)
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

// reportLoss warns once per interval in which items were dropped or
// failed. It runs beside the worker, so a drain that takes the whole
// interval (an outage, a long burst) does not silence it. The loss left at
// shutdown is reported by the caller of shutdown.
func (b *batcher[T]) reportLoss() {
	tick := time.NewTicker(b.lossTick)
	defer tick.Stop()
	var reportedDropped, reportedFailed uint64
	for {
		select {
		case <-b.done:
			return
		case <-tick.C:
		}
		d, f := b.dropped.Load(), b.failed.Load()
		if d > reportedDropped || f > reportedFailed {
			b.mu.Lock()
			err := b.lastErr
			b.mu.Unlock()
			b.onLoss(d-reportedDropped, f-reportedFailed, err)
		}
		reportedDropped, reportedFailed = d, f
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
	b.signalRoom()
	b.mu.Unlock()
	close(b.stopping)
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
