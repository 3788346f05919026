package main

/*
#include "shim.h"
*/
import "C"

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/ffitel/ffitel/bootstrap"
)

// The consumer of ring.c: in phase 2 the typed log calls copy their record
// into a ring slot in C and return without entering Go; ringRun turns the
// slots into records, in order, on a goroutine. A synchronous log call (the
// JSON path, a record the ring declines) first drains the ring under
// ring.mu, so records keep the order they were made in; so do the calls
// that end a span (a queued record still finds its span's ids), flush,
// stats and shutdown.
var ring struct {
	life   sync.Mutex  // serialises ringStart and ringStop
	active atomic.Bool // the ring takes records (phase 2)
	parked atomic.Bool // ringRun sleeps until a synchronous call wakes it
	mu     sync.Mutex  // one drainer at a time
	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}
}

const (
	ringLinger  = time.Millisecond
	ringIdleFor = 100 // lingers without a record before the consumer parks
)

// ringStart opens the ring once phase 2 is running.
func ringStart() {
	ring.life.Lock()
	defer ring.life.Unlock()
	if ring.active.Load() || rt().Phase() != bootstrap.StateTelemetry {
		return
	}
	wake, stop, done := make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	ring.wake, ring.stop, ring.done = wake, stop, done
	ring.active.Store(true)
	off := C.int(0)
	if rt().ConsoleOff() {
		off = 1
	}
	C.ffitel_shim_ring_console_off(off)
	C.ffitel_shim_ring_set(1, C.int32_t(bootstrap.SeverityFromLevel(rt().Config().Level)))
	go ringRun(wake, stop, done)
}

// ringStop closes the ring, turns what it holds into records and stops the
// consumer, waiting for it at most until ctx ends.
func ringStop(ctx context.Context) {
	ring.life.Lock()
	defer ring.life.Unlock()
	if !ring.active.Load() {
		return
	}
	C.ffitel_shim_ring_set(0, 1<<30) // producers take the synchronous path from here
	close(ring.stop)
	select {
	case <-ring.done:
	case <-ctx.Done():
	}
	ringDrain()
	ring.active.Store(false) // only now: until here synchronous calls drain first
}

// ringDrain turns every queued slot into a record. Outside phase 2 it is
// one atomic load: ringStop drains before it clears active.
func ringDrain() {
	if !ring.active.Load() || C.ffitel_shim_ring_head() == C.ffitel_shim_ring_tail() {
		return
	}
	ring.mu.Lock()
	ringDrainLocked()
	ring.mu.Unlock()
}

// ringSync is called by a synchronous log call: it drains the ring and
// returns with ring.mu held, so that the caller's record follows every
// record queued before it; the caller calls the returned function when its
// record is handled. It wakes a parked consumer.
func ringSync() (unlock func()) {
	if !ring.active.Load() { // phase 1 and after shutdown: nothing can be queued
		return func() {}
	}
	ring.mu.Lock()
	ringDrainLocked()
	if ring.parked.Load() && C.ffitel_shim_ring_unpark() == 1 {
		ring.parked.Store(false)
		select {
		case ring.wake <- struct{}{}:
		default:
		}
	}
	return ring.mu.Unlock
}

func ringRun(wake, stop, done chan struct{}) {
	defer close(done)
	quiet := 0
	for {
		select {
		case <-stop:
			return
		default:
		}
		if C.ffitel_shim_ring_head() != C.ffitel_shim_ring_tail() {
			ringDrain()
			quiet = 0
		} else if quiet++; quiet >= ringIdleFor {
			// Parked, producers take the synchronous path, whose first
			// call wakes this goroutine: an idle worker costs no timer.
			ring.parked.Store(true)
			if C.ffitel_shim_ring_park() == 1 {
				select {
				case <-wake:
				case <-stop:
					return
				}
			} else {
				ring.parked.Store(false)
			}
			quiet = 0
			continue
		}
		time.Sleep(ringLinger) // let records gather
	}
}

func pad8(n int) int { return (n + 7) &^ 7 }

// ringDrainLocked turns the queued slots into records. Caller holds ring.mu.
func ringDrainLocked() {
	h := rt().Handler()
	for {
		head, tail := uint64(C.ffitel_shim_ring_head()), uint64(C.ffitel_shim_ring_tail())
		if head == tail {
			return
		}
		for i := tail; i < head; i++ {
			handleSlotSafely(h, C.ffitel_shim_ring_slot(C.uint64_t(i)))
		}
		C.ffitel_shim_ring_release(C.uint64_t(head))
	}
}

// handleSlotSafely is handleSlot with a panic (a bug) counted and the slot
// skipped: the ring and its lock must stay usable, and a panic must never
// reach the host.
func handleSlotSafely(h slog.Handler, s *C.ffitel_ring_slot) {
	defer func() {
		if r := recover(); r != nil {
			rt().CountInputError()
			setError(fmt.Sprintf("ffitel: internal error turning a queued record into a record: %v", r))
		}
	}()
	handleSlot(h, s)
}

// handleSlot builds the record of one slot. The ring took only valid input
// (ring.c checks level, UTF-8, types and sizes), so nothing here can fail
// but a span ended meanwhile -- which the drain before every span end rules
// out for host-ended spans.
func handleSlot(h slog.Handler, s *C.ffitel_ring_slot) {
	data := unsafe.Slice((*byte)(unsafe.Pointer(&s.data[0])), len(s.data))
	level, _ := bootstrap.LevelFromSeverity(int32(s.severity))
	msg := string(data[:s.msg_len])
	off := pad8(int(s.msg_len))
	var buf [8]slog.Attr
	attrs := buf[:0]
	for range int(s.n_attrs) {
		ra := (*C.ffitel_ring_attr)(unsafe.Pointer(&data[off]))
		off += int(unsafe.Sizeof(*ra))
		key := string(data[off : off+int(ra.key_len)])
		off += pad8(int(ra.key_len))
		var str string
		if ra._type == C.FFITEL_ATTR_STRING {
			str = string(data[off : off+int(ra.str_len)])
			off += pad8(int(ra.str_len))
		}
		if v, ok := typedValue(ra._type, str, ra.i, ra.d); ok { // ring.c took known types only
			attrs = append(attrs, slog.Attr{Key: key, Value: v})
		}
	}
	ctx, r, spanKnown := hostRecord(level, msg, attrs, uint64(s.span), int64(s.ts))
	if !spanKnown {
		rt().CountInputError()
	}
	if s.reserved == 1 { // already in the spool (spool.c): the console only
		h = rt().SpooledHandler()
	}
	_ = h.Handle(ctx, r)
}
