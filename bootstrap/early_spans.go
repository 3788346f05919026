package bootstrap

import (
	"context"
	"sync"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

var _ sdktrace.SpanProcessor = (*spanRouter)(nil)

// spanRouter is the TracerProvider's one span processor, registered in
// phase 1 so that spans ended before the upgrade are kept: in phase 1 it
// keeps the last FFITEL_EARLY_BUFFER ended spans (older ones are counted as
// overflowed), at the upgrade it hands them to the export queue and from then
// on forwards every ended span there. It starts no goroutine.
type spanRouter struct {
	mu         sync.Mutex
	ring       []sdktrace.ReadOnlySpan
	start, n   int
	closed     bool // drained: forward to target, or drop if target is nil
	target     *batcher[spanItem]
	spool      *spoolShipper // ended spans go to the spool first when it is on (spool_spans.go)
	overflowed uint64
	replayed   uint64
	discarded  uint64
}

func newSpanRouter(capacity int) *spanRouter {
	return &spanRouter{ring: make([]sdktrace.ReadOnlySpan, 0, min(capacity, 64)), n: capacity}
}

func (p *spanRouter) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

func (p *spanRouter) OnEnd(s sdktrace.ReadOnlySpan) {
	if !sampled(s) {
		return
	}
	p.mu.Lock()
	if p.closed {
		target, sp := p.target, p.spool
		p.mu.Unlock()
		if sp != nil && sp.appendSpan(s) {
			return
		}
		if target != nil {
			target.add(spanItem{span: s})
		}
		return
	}
	defer p.mu.Unlock()
	if p.n == 0 {
		p.overflowed++
		return
	}
	if len(p.ring) < p.n {
		p.ring = append(p.ring, s)
		return
	}
	p.ring[p.start] = s
	p.start = (p.start + 1) % p.n
	p.overflowed++
}

// upgrade hands the kept spans to target (nil: export is off, they are
// discarded and counted) and forwards later spans there. Holding the lock
// while queueing keeps the early spans ahead of any span ended meanwhile.
func (p *spanRouter) upgrade(target *batcher[spanItem]) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed, p.target = true, target
	kept := append(p.ring[p.start:], p.ring[:p.start]...)
	p.ring, p.start = nil, 0
	if target == nil {
		p.discarded += uint64(len(kept))
		return
	}
	for _, s := range kept {
		if target.add(spanItem{span: s}) {
			p.replayed++
		}
	}
}

// setSpool sends later ended spans to the spool (nil: off).
func (p *spanRouter) setSpool(s *spoolShipper) {
	p.mu.Lock()
	p.spool = s
	p.mu.Unlock()
}

func (p *spanRouter) stats() (buffered, overflowed, replayed, discarded uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return uint64(len(p.ring)), p.overflowed, p.replayed, p.discarded
}

func (p *spanRouter) Shutdown(context.Context) error   { return nil }
func (p *spanRouter) ForceFlush(context.Context) error { return nil }

// sampled reports whether an ended span is sampled (ffitel's own span
// without building its SpanContext).
func sampled(s sdktrace.ReadOnlySpan) bool {
	if o, ok := s.(*span); ok {
		return o.flags.IsSampled()
	}
	return s.SpanContext().IsSampled()
}
