package bootstrap

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// A recording span is also the context tracer.Start returns: the context
// it was started in (parent), with the span as its current span. It is
// what trace.ContextWithSpan(parent, s) gives, without that allocation
// (one of the five a span costs its caller at 10 000 spans a second).
// Everything but the span's own key is the parent's: values, deadline,
// cancellation (context.WithCancel of it registers with the parent's
// cancelCtx, found through Value, as for any context).

// currentSpanKey is the key trace.ContextWithSpan stores a span under. The
// trace package does not export it; SpanFromContext asks a context for it,
// so a context that records the key it is asked for learns it. nil if
// SpanFromContext ever stops asking: Start then uses ContextWithSpan.
var currentSpanKey = func() any {
	var k keyRecorder
	trace.SpanFromContext(&k)
	return k.key
}()

type keyRecorder struct {
	context.Context // nil: only Value is called
	key             any
}

func (k *keyRecorder) Value(key any) any {
	k.key = key
	return nil
}

// context returns the context of a span started in parent.
func (s *span) context(parent context.Context) context.Context {
	if currentSpanKey == nil {
		return trace.ContextWithSpan(parent, s)
	}
	s.parent = parent
	return s
}

func (s *span) Deadline() (time.Time, bool) { return s.parent.Deadline() }
func (s *span) Done() <-chan struct{}       { return s.parent.Done() }
func (s *span) Err() error                  { return s.parent.Err() }

func (s *span) Value(key any) any {
	if key == currentSpanKey {
		return s
	}
	return s.parent.Value(key)
}

// String names the context as context.WithValue's would.
func (s *span) String() string {
	return contextName(s.parent) + ".WithValue(trace.Span)"
}

func contextName(c context.Context) string {
	if sc, ok := c.(interface{ String() string }); ok {
		return sc.String()
	}
	return "context"
}
