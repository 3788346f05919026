package events

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ffitel/ffitel/metrics"
)

// DeliveryMode is where an event goes. The numbers are the C ABI's.
type DeliveryMode int

const (
	Durable   DeliveryMode = 0 // the durable sink only
	Fast      DeliveryMode = 1 // in-process subscribers only
	Broadcast DeliveryMode = 2 // both, one event, one id
)

func (m DeliveryMode) String() string {
	switch m {
	case Durable:
		return "durable"
	case Fast:
		return "fast"
	case Broadcast:
		return "broadcast"
	}
	return fmt.Sprintf("delivery(%d)", int(m))
}

// ParseDeliveryMode reads "durable", "fast" or "broadcast".
func ParseDeliveryMode(s string) (DeliveryMode, bool) {
	switch strings.ToLower(s) {
	case "durable":
		return Durable, true
	case "fast":
		return Fast, true
	case "broadcast":
		return Broadcast, true
	}
	return Durable, false
}

// ErrNoDurableSink is returned by a durable publish without a sink.
var ErrNoDurableSink = errors.New("events: no durable sink: set FFITEL_EVENTS_DURABLE_URL (postgres://... or file:///path.jsonl); it opens at phase 2")

// Router sends events down the durable path, the fast path, or both.
type Router struct {
	bus *Bus

	mu   sync.RWMutex
	sink Sink

	total, durable, fast, broadcast, fastErrors, routingErrors atomic.Uint64
}

// NewRouter routes to bus and, once SetSink is called, a durable sink.
func NewRouter(bus *Bus) *Router { return &Router{bus: bus} }

// SetSink sets the durable sink (nil removes it) and returns the old one.
func (r *Router) SetSink(s Sink) Sink {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.sink
	r.sink = s
	return old
}

// Bus returns the in-process bus.
func (r *Router) Bus() *Bus { return r.bus }

// RouteResult says what one routing did.
type RouteResult struct {
	Subscribers int   // in-process subscribers reached
	FastErr     error // counted, never returned
}

// Route delivers ev. A durable failure is counted (routing_errors) and
// returned; a fast-path failure is counted (fast_delivery_errors) and does
// not fail the publish.
func (r *Router) Route(ctx context.Context, ev DomainEvent, mode DeliveryMode) (RouteResult, error) {
	var res RouteResult
	r.total.Add(1)
	switch mode {
	case Durable:
		r.durable.Add(1)
	case Fast:
		r.fast.Add(1)
	case Broadcast:
		r.broadcast.Add(1)
	default:
		r.routingErrors.Add(1)
		return res, fmt.Errorf("events: unknown delivery mode %d", int(mode))
	}
	if mode == Durable || mode == Broadcast {
		if err := r.routeDurable(ctx, ev); err != nil {
			r.routingErrors.Add(1)
			return res, err
		}
	}
	if mode == Fast || mode == Broadcast {
		n, err := r.bus.Dispatch(ctx, ev)
		res.Subscribers = n
		if err != nil {
			r.fastErrors.Add(1)
			res.FastErr = err
		}
	}
	return res, nil
}

// DurableTimeout bounds one durable enqueue, so a locked table or a silent
// network never parks the publishing host thread.
const DurableTimeout = 5 * time.Second

func (r *Router) routeDurable(ctx context.Context, ev DomainEvent) error {
	r.mu.RLock()
	sink := r.sink
	r.mu.RUnlock()
	if sink == nil {
		return ErrNoDurableSink
	}
	ctx, cancel := context.WithTimeout(ctx, DurableTimeout)
	defer cancel()
	return sink.Enqueue(ctx, ev)
}

// Stats returns the router counters.
func (r *Router) Stats() metrics.EventRouterStats {
	return metrics.EventRouterStats{
		TotalRouted:        r.total.Load(),
		DurableRouted:      r.durable.Load(),
		FastRouted:         r.fast.Load(),
		BroadcastRouted:    r.broadcast.Load(),
		FastDeliveryErrors: r.fastErrors.Load(),
		RoutingErrors:      r.routingErrors.Load(),
	}
}

// Close closes the durable sink within ctx: a sink whose close waits on a
// stuck connection is left to finish in the background.
func (r *Router) Close(ctx context.Context) error {
	s := r.SetSink(nil)
	if s == nil {
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
