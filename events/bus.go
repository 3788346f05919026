package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ffitel/ffitel/metrics"
)

// Match reports whether an event name matches a subscription pattern: "*"
// matches everything, "payment.*" every name under "payment.", anything else
// only itself.
func Match(pattern, name string) bool {
	switch {
	case pattern == "*":
		return true
	case strings.HasSuffix(pattern, ".*"):
		return strings.HasPrefix(name, pattern[:len(pattern)-1])
	}
	return pattern == name
}

// ValidPattern reports whether a subscription pattern is well formed.
func ValidPattern(p string) bool {
	if p == "" || strings.ContainsAny(p, " \t\n") {
		return false
	}
	return !strings.Contains(strings.TrimSuffix(p, ".*"), "*") || p == "*"
}

// Handler handles an event in-process. Its error is counted, never returned
// to the publisher.
type Handler func(context.Context, DomainEvent) error

// DefaultQueueCapacity bounds a poll subscription's queue.
const DefaultQueueCapacity = 1024

// Bus dispatches events to in-process subscribers: Go handlers, run with a
// timeout, and poll queues read by host-language subscribers over the C ABI.
type Bus struct {
	timeout time.Duration

	mu       sync.RWMutex
	handlers map[uint64]handlerSub
	queues   map[uint64]*Subscription
	next     uint64

	running atomic.Int64 // handler goroutines still running (some past their timeout)

	dispatched, goDispatches, ffiDispatches, handlerErrors, ffiDrops atomic.Uint64
}

// maxRunningHandlers bounds the goroutines of handlers that overran their
// timeout and are still running: past it, handlers are refused (counted as
// errors) rather than piling up goroutines.
const maxRunningHandlers = 256

type handlerSub struct {
	pattern string
	fn      Handler
}

// NewBus returns a bus whose Go handlers each get timeout (default 5 s).
func NewBus(timeout time.Duration) *Bus {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	return &Bus{timeout: timeout, handlers: map[uint64]handlerSub{}, queues: map[uint64]*Subscription{}}
}

// Subscribe registers a Go handler for pattern and returns a function that
// removes it.
func (b *Bus) Subscribe(pattern string, h Handler) (unsubscribe func()) {
	b.mu.Lock()
	b.next++
	id := b.next
	b.handlers[id] = handlerSub{pattern: pattern, fn: h}
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		delete(b.handlers, id)
		b.mu.Unlock()
	}
}

// SubscribeQueue opens a poll subscription for pattern holding at most
// capacity events; when full, the oldest is dropped and counted.
func (b *Bus) SubscribeQueue(pattern string, capacity int) *Subscription {
	if capacity <= 0 {
		capacity = DefaultQueueCapacity
	}
	s := &Subscription{bus: b, pattern: pattern, capacity: capacity, notify: make(chan struct{}, 1)}
	b.mu.Lock()
	b.next++
	s.id = b.next
	b.queues[s.id] = s
	b.mu.Unlock()
	return s
}

// Dispatch delivers ev to every matching subscriber and returns how many
// there were. Handler errors and timeouts are counted and joined into the
// returned error, which callers count but do not propagate.
func (b *Bus) Dispatch(ctx context.Context, ev DomainEvent) (int, error) {
	b.mu.RLock()
	var hs []Handler
	for _, h := range b.handlers {
		if Match(h.pattern, ev.EventName) {
			hs = append(hs, h.fn)
		}
	}
	var qs []*Subscription
	for _, q := range b.queues {
		if Match(q.pattern, ev.EventName) {
			qs = append(qs, q)
		}
	}
	b.mu.RUnlock()
	b.dispatched.Add(1)
	if len(qs) > 0 {
		doc, err := json.Marshal(ev)
		if err != nil {
			return 0, err
		}
		for _, q := range qs {
			if q.push(doc) {
				b.ffiDrops.Add(1)
			}
			b.ffiDispatches.Add(1)
		}
	}
	var errs []error
	for _, h := range hs {
		b.goDispatches.Add(1)
		if err := b.runHandler(ctx, h, ev); err != nil {
			b.handlerErrors.Add(1)
			errs = append(errs, err)
		}
	}
	return len(hs) + len(qs), errors.Join(errs...)
}

// runHandler runs h with the bus timeout; a handler that overruns is left
// to finish on its own and counted as an error. A panic is an error too.
func (b *Bus) runHandler(ctx context.Context, h Handler, ev DomainEvent) error {
	if b.running.Load() >= maxRunningHandlers {
		return fmt.Errorf("events: event handler refused: %d handlers still running past their timeout", maxRunningHandlers)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.timeout)
	defer cancel()
	done := make(chan error, 1)
	b.running.Add(1)
	go func() {
		defer b.running.Add(-1)
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("events: event handler panicked: %v", r)
			}
		}()
		done <- h(ctx, ev)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("events: event handler timed out after %v", b.timeout)
	}
}

// Stats returns the bus counters.
func (b *Bus) Stats() metrics.InProcessEventBusStats {
	b.mu.RLock()
	n := len(b.handlers) + len(b.queues)
	b.mu.RUnlock()
	return metrics.InProcessEventBusStats{
		TotalEventsDispatched: b.dispatched.Load(),
		GoHandlerDispatches:   b.goDispatches.Load(),
		FFIChannelDispatches:  b.ffiDispatches.Load(),
		HandlerErrors:         b.handlerErrors.Load(),
		FFIChannelDrops:       b.ffiDrops.Load(),
		Subscriptions:         n,
	}
}

// Subscription is a bounded queue of events (as JSON documents) for a
// subscriber that polls.
type Subscription struct {
	bus      *Bus
	id       uint64
	pattern  string
	capacity int

	mu     sync.Mutex
	queue  [][]byte
	closed bool
	notify chan struct{}
}

// push queues doc and reports whether the oldest event was dropped.
func (s *Subscription) push(doc []byte) (dropped bool) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	if len(s.queue) >= s.capacity {
		s.queue[0] = nil
		s.queue = s.queue[1:]
		dropped = true
	}
	s.queue = append(s.queue, doc)
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return dropped
}

// Take waits up to timeout for an event and removes the oldest one if fits
// accepts its size; otherwise it leaves it queued (so a caller whose buffer
// is too small loses nothing) and still returns it. Checking and removing
// happen under one lock, so a concurrent drop or a second poller can never
// make it remove another event. It returns nil when nothing arrived or the
// subscription is closed.
func (s *Subscription) Take(timeout time.Duration, fits func(n int) bool) (doc []byte, taken bool) {
	deadline := time.Now().Add(timeout)
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, false
		}
		if len(s.queue) > 0 {
			doc = s.queue[0]
			if fits == nil || fits(len(doc)) {
				s.queue[0] = nil
				s.queue = s.queue[1:]
				taken = true
			}
			s.mu.Unlock()
			return doc, taken
		}
		s.mu.Unlock()
		wait := time.Until(deadline)
		if wait <= 0 {
			return nil, false
		}
		t := time.NewTimer(wait)
		select {
		case <-s.notify:
		case <-t.C:
		}
		t.Stop()
	}
}

// Poll waits up to timeout and returns the next event, if any.
func (s *Subscription) Poll(timeout time.Duration) (DomainEvent, bool) {
	doc, _ := s.Take(timeout, nil)
	if doc == nil {
		return DomainEvent{}, false
	}
	var ev DomainEvent
	if err := json.Unmarshal(doc, &ev); err != nil {
		return DomainEvent{}, false
	}
	return ev, true
}

// Close ends the subscription; queued events are released.
func (s *Subscription) Close() {
	s.bus.mu.Lock()
	delete(s.bus.queues, s.id)
	s.bus.mu.Unlock()
	s.mu.Lock()
	s.closed, s.queue = true, nil
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}
