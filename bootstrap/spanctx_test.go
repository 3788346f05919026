package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

type ctxKey string

// The context Start returns (the span itself, spanctx.go) behaves as
// trace.ContextWithSpan's: the span is current, everything else is the
// parent's, and cancellation reaches contexts derived from it.
func TestStartContextIsTheParentWithTheSpan(t *testing.T) {
	if currentSpanKey == nil {
		t.Fatal("the trace package's span key was not learned: Start falls back to ContextWithSpan")
	}
	tr := newTracerProvider(nil, nil, nil, sdktrace.NewSpanLimits()).Tracer("ctx")
	deadline := time.Now().Add(time.Hour)
	parent, cancel := context.WithDeadline(context.WithValue(context.Background(), ctxKey("k"), "v"), deadline)
	defer cancel()
	ctx, s := tr.Start(parent, "outer", trace.WithAttributes(attribute.Int("i", 1)))
	if _, ok := ctx.(*span); !ok {
		t.Fatalf("Start returned a %T, not the span", ctx)
	}
	if trace.SpanFromContext(ctx) != s || !trace.SpanContextFromContext(ctx).Equal(s.SpanContext()) {
		t.Fatal("the span is not the context's current span")
	}
	if ctx.Value(ctxKey("k")) != "v" || ctx.Value(ctxKey("other")) != nil {
		t.Fatal("the parent's values are not the context's")
	}
	if d, ok := ctx.Deadline(); !ok || !d.Equal(deadline) {
		t.Fatalf("deadline %v %v", d, ok)
	}
	if got := fmt.Sprint(ctx); !strings.HasPrefix(got, "context.Background.WithValue(") || !strings.HasSuffix(got, ").WithValue(trace.Span)") {
		t.Fatalf("String: %s", got)
	}

	// A child span's parent is found in it, and derived contexts keep it.
	vctx := context.WithValue(ctx, ctxKey("k2"), "v2")
	cctx, ccancel := context.WithCancel(vctx)
	defer ccancel()
	_, child := tr.Start(cctx, "inner")
	if child.(*span).Parent().SpanID() != s.SpanContext().SpanID() || trace.SpanFromContext(cctx) != s {
		t.Fatal("a span started in a derived context is not the span's child")
	}
	child.End()
	if s.(*span).ChildSpanCount() != 1 {
		t.Fatal("child not counted")
	}

	// Cancelling the parent cancels the span's context and what derives from it.
	cancel()
	select {
	case <-cctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a context derived from the span's context was not cancelled with the parent")
	}
	if !errors.Is(ctx.Err(), context.Canceled) || ctx.Done() == nil || !errors.Is(context.Cause(cctx), context.Canceled) {
		t.Fatalf("after cancel: Err %v, Cause %v", ctx.Err(), context.Cause(cctx))
	}
	s.End()
	// After End the context still works (a goroutine may outlive the span).
	if ctx.Value(ctxKey("k")) != "v" || trace.SpanFromContext(ctx) != s {
		t.Fatal("the context changed at End")
	}
}
