package bootstrap

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ffitel/ffitel/metrics"
)

// recordingExport is an export func that keeps what it was given and
// returns err (when set) for every batch.
type recordingExport struct {
	mu      sync.Mutex
	items   []int
	batches [][]int
	err     error
}

func (r *recordingExport) export(_ context.Context, batch []int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, slices.Clone(batch))
	if r.err != nil {
		return r.err
	}
	r.items = append(r.items, batch...)
	return nil
}

func (r *recordingExport) exported() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.items)
}

func stopBatcher[T any](t *testing.T, b *batcher[T]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

func flushBatcher[T any](t *testing.T, b *batcher[T]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

func checkIdentity(t *testing.T, s metrics.SignalStats) {
	t.Helper()
	if s.Emitted != s.Exported+s.Dropped+s.Failed+s.Pending {
		t.Errorf("emitted %d != exported %d + dropped %d + failed %d + pending %d",
			s.Emitted, s.Exported, s.Dropped, s.Failed, s.Pending)
	}
}

func TestBatcherAccountsForEveryItem(t *testing.T) {
	const writers, perWriter = 4, 3000
	var okItems, failedItems, batches atomic.Uint64
	export := func(_ context.Context, batch []int) error {
		if batches.Add(1)%3 == 0 {
			failedItems.Add(uint64(len(batch)))
			return errors.New("collector said no")
		}
		okItems.Add(uint64(len(batch)))
		return nil
	}
	b := newBatcher(export, 64, 8, time.Millisecond, time.Second)
	b.start()

	var refused atomic.Uint64
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				if !b.add(w*perWriter + i) {
					refused.Add(1)
				}
				if i%500 == 0 {
					checkIdentity(t, b.stats())
				}
			}
		})
	}
	wg.Wait()
	stopBatcher(t, b)

	s := b.stats()
	checkIdentity(t, s)
	want := metrics.SignalStats{Emitted: writers * perWriter, Exported: okItems.Load(), Failed: failedItems.Load(),
		Dropped: refused.Load()}
	if s != want {
		t.Errorf("stats %+v, want %+v (what the exporter and the callers saw)", s, want)
	}
	if s.Failed == 0 {
		t.Error("no batch failed: the test did not exercise failures")
	}
}

func TestBatcherQueueFullDropsNewestAndCountsIt(t *testing.T) {
	rec := &recordingExport{}
	b := newBatcher(rec.export, 4, 2, time.Hour, time.Second)
	// The worker is not running yet, so nothing leaves the queue.
	var accepted []bool
	for i := range 6 {
		accepted = append(accepted, b.add(i))
	}
	if want := []bool{true, true, true, true, false, false}; !slices.Equal(accepted, want) {
		t.Errorf("add results %v, want %v", accepted, want)
	}
	if s := b.stats(); s.Dropped != 2 || s.Pending != 4 {
		t.Errorf("with a full queue: stats %+v, want 2 dropped, 4 pending", s)
	}
	b.start()
	defer stopBatcher(t, b)
	flushBatcher(t, b)

	if got := rec.exported(); !slices.Equal(got, []int{0, 1, 2, 3}) {
		t.Errorf("exported %v, want the oldest items [0 1 2 3]", got)
	}
	s := b.stats()
	checkIdentity(t, s)
	if s.Exported != 4 || s.Dropped != 2 || s.Pending != 0 {
		t.Errorf("stats %+v, want 4 exported, 2 dropped, none pending", s)
	}
}

func TestBatcherCountsExportErrorsAsFailed(t *testing.T) {
	rec := &recordingExport{err: errors.New("collector down")}
	b := newBatcher(rec.export, 100, 2, time.Hour, time.Second)
	b.start()
	defer stopBatcher(t, b)
	for i := range 5 {
		b.add(i)
	}
	flushBatcher(t, b)

	s := b.stats()
	checkIdentity(t, s)
	if s.Failed != 5 || s.Exported != 0 || s.Pending != 0 {
		t.Errorf("stats %+v, want all 5 failed", s)
	}
	b.mu.Lock()
	lastErr := b.lastErr
	b.mu.Unlock()
	if lastErr == nil || lastErr.Error() != "collector down" {
		t.Errorf("last error %v, want the exporter's", lastErr)
	}
}

func TestBatcherFlushExportsEverythingInOrder(t *testing.T) {
	rec := &recordingExport{}
	b := newBatcher(rec.export, 100, 3, time.Hour, time.Second)
	b.start()
	defer stopBatcher(t, b)
	var want []int
	for i := range 10 {
		b.add(i)
		want = append(want, i)
	}
	flushBatcher(t, b)

	if got := rec.exported(); !slices.Equal(got, want) {
		t.Errorf("flush exported %v, want %v", got, want)
	}
	rec.mu.Lock()
	for _, batch := range rec.batches {
		if len(batch) > 3 {
			t.Errorf("batch of %d items exceeds the maximum of 3", len(batch))
		}
	}
	rec.mu.Unlock()
	if s := b.stats(); s.Exported != 10 || s.Pending != 0 {
		t.Errorf("stats %+v, want 10 exported, none pending", s)
	}
}

// blockingExport blocks every export until release is closed or, when
// honourCtx is set, until the export's context ends.
type blockingExport struct {
	honourCtx bool
	entered   chan struct{}
	release   chan struct{}
	once      sync.Once
}

func newBlockingExport(honourCtx bool) *blockingExport {
	return &blockingExport{honourCtx: honourCtx, entered: make(chan struct{}), release: make(chan struct{})}
}

func (e *blockingExport) export(ctx context.Context, _ []int) error {
	e.once.Do(func() { close(e.entered) })
	if e.honourCtx {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-e.release:
			return nil
		}
	}
	<-e.release
	return nil
}

func TestBatcherShutdownIsBoundedWithBlockingExporter(t *testing.T) {
	const deadline = 100 * time.Millisecond
	const slack = 2 * time.Second // generous: a bound, not a benchmark
	for _, tc := range []struct {
		name      string
		honourCtx bool
	}{{"exporter honours its context", true}, {"exporter ignores its context", false}} {
		t.Run(tc.name, func(t *testing.T) {
			exp := newBlockingExport(tc.honourCtx)
			// Export timeout far beyond the shutdown deadline: only
			// shutdown can unblock the worker.
			b := newBatcher(exp.export, 100, 2, time.Hour, time.Hour)
			b.start()
			for i := range 10 {
				b.add(i)
			}
			<-exp.entered // the worker holds the first batch of 2

			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			result := make(chan error, 1)
			go func() { result <- b.shutdown(ctx) }()
			var err error
			select {
			case err = <-result:
			case <-time.After(deadline + shutdownGrace + slack):
				t.Fatalf("shutdown still running after %v", deadline+shutdownGrace+slack)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("shutdown returned %v, want the context's deadline error", err)
			}

			if !tc.honourCtx {
				// Still stuck: nothing is counted as lost while the
				// worker might yet send it.
				if s := b.stats(); s.Pending != 10 {
					t.Errorf("while the exporter is stuck: stats %+v, want 10 pending", s)
				}
				close(exp.release)
			}
			select {
			case <-b.done:
			case <-time.After(10 * time.Second):
				t.Fatal("worker did not stop")
			}
			s := b.stats()
			checkIdentity(t, s)
			if s.Pending != 0 || s.Dropped != 8 || s.Exported+s.Failed != 2 {
				t.Errorf("stats %+v, want the 8 queued items dropped and the batch in flight settled", s)
			}
		})
	}
}

func TestBatcherAddAfterShutdownIsDropped(t *testing.T) {
	rec := &recordingExport{}
	b := newBatcher(rec.export, 100, 10, time.Hour, time.Second)
	b.start()
	b.add(1)
	stopBatcher(t, b)
	if b.add(2) {
		t.Error("add after shutdown reported the item as queued")
	}
	if got := rec.exported(); !slices.Equal(got, []int{1}) {
		t.Errorf("exported %v, want [1]: shutdown sends what was queued, nothing after", got)
	}
	s := b.stats()
	checkIdentity(t, s)
	if s.Emitted != 2 || s.Exported != 1 || s.Dropped != 1 || s.Pending != 0 {
		t.Errorf("stats %+v, want 2 emitted, 1 exported, 1 dropped", s)
	}
	if err := b.shutdown(context.Background()); err != nil {
		t.Errorf("second shutdown: %v", err)
	}
}

type lossReport struct {
	dropped, failed uint64
	err             error
}

func TestBatcherReportsLossPeriodically(t *testing.T) {
	var fail atomic.Bool
	export := func(_ context.Context, _ []int) error {
		if fail.Load() {
			return errors.New("collector down")
		}
		return nil
	}
	b := newBatcher(export, 2, 2, time.Hour, time.Second)
	reports := make(chan lossReport, 100)
	b.lossTick = 5 * time.Millisecond
	b.onLoss = func(dropped, failed uint64, err error) { reports <- lossReport{dropped, failed, err} }

	next := func() lossReport {
		t.Helper()
		select {
		case r := <-reports:
			return r
		case <-time.After(10 * time.Second):
			t.Fatal("no loss report")
		}
		return lossReport{}
	}

	// Before the worker runs, the queue fills and refuses 3 items.
	for i := range 5 {
		b.add(i)
	}
	b.start()
	defer stopBatcher(t, b)
	if r := next(); r.dropped != 3 || r.failed != 0 || r.err != nil {
		t.Errorf("first report %+v, want 3 dropped, 0 failed, no error", r)
	}

	fail.Store(true)
	b.add(5)
	b.add(6) // a full batch: the worker exports it at once, and fails
	r := next()
	if r.dropped != 0 || r.failed != 2 || r.err == nil || r.err.Error() != "collector down" {
		t.Errorf("second report %+v, want 0 dropped, 2 failed, the exporter's error", r)
	}
	// No new loss, no new report.
	time.Sleep(20 * b.lossTick)
	select {
	case r := <-reports:
		t.Errorf("report %+v without new loss", r)
	default:
	}
}

func TestBatcherBackpressureDeliversBurstWhole(t *testing.T) {
	const writers, perWriter = 8, 5000
	var exported atomic.Uint64
	export := func(_ context.Context, batch []int) error {
		time.Sleep(200 * time.Microsecond) // an exporter slower than the producers
		exported.Add(uint64(len(batch)))
		return nil
	}
	b := newBatcher(export, 64, 16, time.Hour, time.Second)
	b.fullWait = time.Minute
	b.start()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				b.add(w*perWriter + i)
			}
		})
	}
	wg.Wait()
	flushBatcher(t, b)
	stopBatcher(t, b)
	s := b.stats()
	checkIdentity(t, s)
	if s.Exported != writers*perWriter || s.Dropped != 0 {
		t.Errorf("stats %+v, want all %d exported and none dropped", s, writers*perWriter)
	}
	if b.waited.Load() == 0 {
		t.Error("no caller waited for room: the test did not fill the queue")
	}
}

func TestBatcherDropPolicyNeverWaits(t *testing.T) {
	rec := &recordingExport{}
	b := newBatcher(rec.export, 4, 2, time.Hour, time.Second)
	// The worker is not running: nothing makes room, and with fullWait
	// zero a full queue refuses at once.
	for i := range 6 {
		b.add(i)
	}
	if s := b.stats(); s.Dropped != 2 || b.waited.Load() != 0 {
		t.Errorf("stats %+v waited %d, want 2 dropped without waiting", s, b.waited.Load())
	}
}

func TestBatcherDoesNotWaitWhileExportsFail(t *testing.T) {
	release := make(chan struct{})
	export := func(ctx context.Context, _ []int) error {
		<-release
		return errors.New("collector down")
	}
	b := newBatcher(export, 4, 2, time.Hour, time.Second)
	b.fullWait = time.Hour // would hang the test if honoured while failing
	b.start()
	defer stopBatcher(t, b)
	b.add(0)
	b.add(1) // a full batch: the worker takes it and blocks in export
	close(release)
	// Wait until the worker has seen the failure.
	for !b.failing.Load() {
		time.Sleep(time.Millisecond)
	}
	for i := range 10 {
		b.add(2 + i)
	}
	s := b.stats()
	checkIdentity(t, s)
	if s.Dropped == 0 {
		t.Errorf("stats %+v: a full queue with a failing exporter must drop", s)
	}
}

func TestBatcherRetriesFailedBatchUntilCollectorReturns(t *testing.T) {
	var calls atomic.Int32
	rec := &recordingExport{}
	export := func(ctx context.Context, batch []int) error {
		if calls.Add(1) <= 3 { // down for three attempts, then back
			return errors.New("connection refused")
		}
		return rec.export(ctx, batch)
	}
	b := newBatcher(export, 100, 5, time.Hour, time.Second)
	b.retryFor = time.Minute
	b.start()
	defer stopBatcher(t, b)
	for i := range 5 {
		b.add(i)
	}
	flushBatcher(t, b)
	s := b.stats()
	checkIdentity(t, s)
	if s.Exported != 5 || s.Failed != 0 {
		t.Errorf("stats %+v, want all 5 exported after the retries, none failed", s)
	}
	if got := b.retried.Load(); got != 3 {
		t.Errorf("retried %d times, want 3", got)
	}
	if got := rec.exported(); !slices.Equal(got, []int{0, 1, 2, 3, 4}) {
		t.Errorf("exported %v, want [0 1 2 3 4]", got)
	}
}

func TestBatcherGivesUpRetryWhenQueueFills(t *testing.T) {
	rec := &recordingExport{err: errors.New("collector down")}
	b := newBatcher(rec.export, 4, 2, time.Hour, time.Second)
	b.retryFor = time.Hour
	// Fill the queue before the worker runs: the first failure finds no
	// room, so retrying would only make the producers drop; it gives up.
	for i := range 4 {
		b.add(i)
	}
	b.start()
	deadline := time.Now().Add(20 * time.Second)
	for b.stats().Failed < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if s := b.stats(); s.Failed < 2 {
		t.Fatalf("stats %+v: the batch that met a full queue was not given up", s)
	}
	// The second batch finds room and is retried until shutdown gives up.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = b.shutdown(ctx)
	s := b.stats()
	checkIdentity(t, s)
	if s.Pending != 0 || s.Exported != 0 || s.Failed+s.Dropped != 4 {
		t.Errorf("stats %+v, want all 4 failed or dropped, none pending", s)
	}
	if b.retried.Load() == 0 {
		t.Error("the batch that found room was never retried")
	}
}

func TestBatcherReportsLossWhileDrainNeverEnds(t *testing.T) {
	// An exporter that fails slowly keeps the worker in one long drain;
	// loss must still be reported every interval.
	export := func(ctx context.Context, _ []int) error {
		time.Sleep(2 * time.Millisecond)
		return errors.New("collector down")
	}
	b := newBatcher(export, 1000, 1, time.Hour, time.Second)
	reports := make(chan lossReport, 100)
	b.lossTick = 20 * time.Millisecond
	b.onLoss = func(dropped, failed uint64, err error) { reports <- lossReport{dropped, failed, err} }
	for i := range 1000 {
		b.add(i) // 1000 batches of one: a drain of about 2 s
	}
	b.start()
	defer stopBatcher(t, b)
	select {
	case r := <-reports:
		if r.failed == 0 {
			t.Errorf("report %+v, want failures", r)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no loss report during a long drain")
	}
	if s := b.stats(); s.Pending == 0 {
		t.Errorf("stats %+v: the drain had already ended, the test proves nothing", s)
	}
}

func TestBatcherStalledQueueMakesOnlyOneCallerWait(t *testing.T) {
	rec := &recordingExport{}
	b := newBatcher(rec.export, 2, 2, time.Hour, time.Second)
	b.fullWait = 20 * time.Millisecond
	// The worker is not running: nothing ever makes room.
	b.add(0)
	b.add(1)
	b.add(2) // waits the whole bound, then drops
	b.add(3) // the queue is known stalled: drops at once
	b.add(4)
	if got := b.waited.Load(); got != 1 {
		t.Errorf("%d callers waited for room, want 1 (the rest drop while the exporter makes none)", got)
	}
	if s := b.stats(); s.Dropped != 3 {
		t.Errorf("stats %+v, want 3 dropped", s)
	}
	// Room appears: the queue is no longer known stalled, so the next
	// caller that finds it full waits again.
	b.start()
	defer stopBatcher(t, b)
	flushBatcher(t, b)
	b.mu.Lock()
	stalled := b.stalled
	b.mu.Unlock()
	if stalled {
		t.Error("still marked stalled after the worker made room")
	}
	if got := rec.exported(); !slices.Equal(got, []int{0, 1}) {
		t.Errorf("exported %v, want [0 1]", got)
	}
}

func TestBatcherWaitsForItsScheduleUntilWakeAt(t *testing.T) {
	rec := &recordingExport{}
	b := newBatcher(rec.export, 100, 4, time.Hour, time.Second)
	b.wakeAt = wakeThreshold(b.maxQueue, b.maxBatch)
	if b.wakeAt != 25 {
		t.Fatalf("wakeAt %d, want a quarter of the queue (25)", b.wakeAt)
	}
	b.start()
	defer stopBatcher(t, b)
	for i := range 24 {
		b.add(i)
	}
	// Six full batches are queued, and the schedule is an hour away:
	// nothing may leave yet (a worker woken per batch would have sent them).
	time.Sleep(100 * time.Millisecond)
	if got := rec.exported(); len(got) != 0 {
		t.Fatalf("exported %v before the schedule or the wake threshold", got)
	}
	b.add(24) // the 25th wakes the worker
	// The six full chunks go; the 25th, alone in the chunk still filling,
	// waits for the next wake or the schedule (here: the flush).
	waitFor(t, "24 items exported after the wake threshold", func() bool { return len(rec.exported()) == 24 })
	flushBatcher(t, b)
	if got := rec.exported(); len(got) != 25 {
		t.Fatalf("exported %d items after the flush, want 25", len(got))
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, batch := range rec.batches {
		if len(batch) > b.maxBatch {
			t.Errorf("a request of %d items, want at most %d", len(batch), b.maxBatch)
		}
	}
}

// gatedBatcher is a batcher (queue 100, batches of 10, waking at 10, its
// schedule an hour away) whose export hands each batch to calls and waits
// for release. Not started; stopped at the test's end.
func gatedBatcher(t *testing.T) (b *batcher[int], calls chan []int, release chan struct{}) {
	calls = make(chan []int)
	release = make(chan struct{})
	b = newBatcher(func(_ context.Context, batch []int) error {
		calls <- slices.Clone(batch)
		<-release
		return nil
	}, 100, 10, time.Hour, time.Minute)
	b.wakeAt = 10
	t.Cleanup(func() {
		go func() { // shutdown exports what is left; let it through
			for range calls {
			}
		}()
		close(release)
		stopBatcher(t, b)
		close(calls)
	})
	return b, calls, release
}

// flushFindsTheWorkerWaiting releases the export under way and checks that
// the worker went back to waiting for a wake, the schedule or a flush: the
// flush's request is taken only there (b.flushes has no buffer), so a worker
// that went on exporting calls export again first (failing with what it
// sent). The flush then exports want, and all total items are exported.
func flushFindsTheWorkerWaiting(t *testing.T, b *batcher[int], calls chan []int, release chan struct{}, want []int, total uint64) {
	t.Helper()
	release <- struct{}{}
	ack := make(chan struct{})
	select {
	case b.flushes <- ack:
	case batch := <-calls:
		t.Fatalf("the worker went on to send %v without a wake, flush or schedule", batch)
	}
	if got := <-calls; !slices.Equal(got, want) {
		t.Fatalf("flushed %v, want %v", got, want)
	}
	release <- struct{}{}
	<-ack
	if s := b.stats(); s.Exported != total || s.Pending != 0 {
		t.Fatalf("stats %+v, want %d exported and none pending", s, total)
	}
}

// A wake exports what is queued at that moment; what arrives while that
// export is under way waits for the next wake or the schedule. Before, the
// worker kept exporting as long as anything had arrived meanwhile: against
// a receiver that answers each request only after its pipeline took it
// (the Collector), a worker logging steadily sent a small request after
// every export, 20 a second instead of one.
func TestBatcherWakeExportsOnlyWhatWasQueued(t *testing.T) {
	b, calls, release := gatedBatcher(t)
	b.start()
	for i := range 10 {
		b.add(i) // the 10th wakes the worker
	}
	if first := <-calls; len(first) != 10 {
		t.Fatalf("first request %v, want the 10 queued items", first)
	}
	for i := 10; i < 13; i++ {
		b.add(i) // arrives while the first export is under way
	}
	flushFindsTheWorkerWaiting(t, b, calls, release, []int{10, 11, 12}, 13)
}

// A wake leaves the tail chunk that is still filling in the queue: the
// records logged just after the queue reached its threshold go with the
// next request instead of making a small one of their own.
func TestBatcherWakeLeavesTheFillingTailChunk(t *testing.T) {
	b, calls, release := gatedBatcher(t)
	for i := range 13 {
		b.add(i) // the 10th fills the first chunk and signals the wake
	}
	b.start() // the worker finds the wake and a tail chunk of 3
	if first := <-calls; len(first) != 10 {
		t.Fatalf("first request %v, want the full chunk of 10", first)
	}
	flushFindsTheWorkerWaiting(t, b, calls, release, []int{10, 11, 12}, 13)
}

// The chunks kept for reuse are the largest: a chunk grows by append up to
// a batch, and reusing a small one while a grown one waited allocated the
// growth again at every export.
func TestBatcherReusesItsLargestDrainedChunk(t *testing.T) {
	b := newBatcher((&recordingExport{}).export, 100000, 4096, time.Hour, time.Second)
	if b.maxFree() != 2 {
		t.Fatalf("maxFree %d, want 2 for batches of 4096", b.maxFree())
	}
	for _, c := range []int{4096, 10, 1024, 2048} {
		b.keepFree(make([]int, 0, c))
	}
	var caps []int
	for _, c := range b.free {
		caps = append(caps, cap(c))
	}
	if !slices.Equal(caps, []int{2048, 4096}) {
		t.Fatalf("kept chunks of capacity %v, want [2048 4096] (the largest two, largest last)", caps)
	}
	b.add(1) // takes a chunk from the free list
	if got := cap(b.chunks[0]); got != 4096 {
		t.Fatalf("the new tail chunk has capacity %d, want the largest kept (4096)", got)
	}
}

func TestBatcherBoundsRequestBytes(t *testing.T) {
	rec := &recordingExport{}
	b := newBatcher(rec.export, 1000, 100, time.Hour, time.Second)
	b.size = func(v int) int { return v } // an item's size is its value
	b.maxBytes = 100
	for _, v := range []int{40, 40, 30, 100, 1, 150, 60, 39} {
		b.add(v)
	}
	b.start()
	defer stopBatcher(t, b)
	flushBatcher(t, b)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	// A batch closes before the item that would take it past 100; an item
	// larger than the bound goes alone.
	want := [][]int{{40, 40}, {30}, {100}, {1}, {150}, {60, 39}}
	if !slices.EqualFunc(rec.batches, want, slices.Equal) {
		t.Errorf("requests %v, want %v", rec.batches, want)
	}
}
