package main

/*
#include "shim.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
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
	mu     sync.Mutex  // one drainer at a time
	stop   chan struct{}
	done   chan struct{}
}

// ringEvents is ring.c's eventfd, read through Go's poller: a parked
// consumer waits here and a producer wakes it without entering Go. Made
// once and never closed (producers write it outside any lock); nil if the
// kernel refused an eventfd, and then the ring stays off (every typed call
// takes the synchronous path).
var (
	ringEventsOnce sync.Once
	ringEvents     *os.File
)

func ringEventFile() *os.File {
	ringEventsOnce.Do(func() {
		if fd := int(C.ffitel_shim_ring_eventfd()); fd >= 0 {
			ringEvents = os.NewFile(uintptr(fd), "ffitel-ring") // non-blocking: a pollable File
		}
	})
	return ringEvents
}

const (
	ringLinger = time.Millisecond
	// ringParkCheck: how often a parked consumer looks without a wake-up.
	ringParkCheck = time.Second
	ringIdleFor   = 1 // lingers without a record before the consumer parks
)

// ringStart opens the ring once phase 2 is running.
func ringStart() {
	ring.life.Lock()
	defer ring.life.Unlock()
	if ring.active.Load() || rt().Phase() != bootstrap.StateTelemetry || ringEventFile() == nil {
		return
	}
	stop, done := make(chan struct{}), make(chan struct{})
	ring.stop, ring.done = stop, done
	ring.active.Store(true)
	off := C.int(0)
	if rt().ConsoleOff() {
		off = 1
	}
	C.ffitel_shim_ring_console_off(off)
	C.ffitel_shim_ring_set(1, C.int32_t(bootstrap.SeverityFromLevel(rt().Config().Level)))
	go ringRun(ringEvents, stop, done)
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
	C.ffitel_shim_ring_signal() // a consumer waiting on the eventfd sees stop
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
// record is handled. A parked consumer stays parked: the next record
// queued in the ring wakes it.
func ringSync() (unlock func()) {
	if !ring.active.Load() { // phase 1 and after shutdown: nothing can be queued
		return func() {}
	}
	ring.mu.Lock()
	ringDrainLocked()
	return ring.mu.Unlock
}

func ringRun(events *os.File, stop, done chan struct{}) {
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
		} else if quiet++; quiet >= ringIdleFor && C.ffitel_shim_ring_park() == 1 {
			// Parked: the next record queued wakes this goroutine through
			// the eventfd, from C; an idle worker costs no timer.
			if !ringWait(events, stop) {
				return
			}
			quiet = 0
		}
		// Let records gather; after a wake-up, the rest of the burst,
		// rather than drain beside a producer still writing.
		time.Sleep(ringLinger)
	}
}

// ringWait waits on the eventfd for a wake-up; false when the ring stops.
func ringWait(events *os.File, stop chan struct{}) bool {
	var b [8]byte
	for {
		// A look every ringParkCheck as well: a lost wake-up (none seen)
		// costs at most that, never a record or a stop.
		_ = events.SetReadDeadline(time.Now().Add(ringParkCheck))
		_, err := events.Read(b[:])
		select {
		case <-stop:
			return false
		default:
		}
		if err == nil || C.ffitel_shim_ring_head() != C.ffitel_shim_ring_tail() {
			return true
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			time.Sleep(ringLinger) // never seen; no busy loop if it happens
		}
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
