package metrics

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

// BenchmarkEmptyTask is the overhead of one task attempt (consumer span,
// carrier extraction, the two messaging metrics) beside an empty span, on
// SDK providers that record but export nothing.
func BenchmarkEmptyTask(b *testing.B) {
	f := newTaskFixture(b, PropagationAuto)
	carrier, _ := f.produce()
	b.Run("span", func(b *testing.B) {
		tr := f.tp.Tracer("bench")
		b.ReportAllocs()
		for b.Loop() {
			_, s := tr.Start(context.Background(), "empty", trace.WithSpanKind(trace.SpanKindConsumer))
			s.End()
		}
	})
	b.Run("task", func(b *testing.B) {
		info := TaskInfo{Type: "SendReport", Worker: "w", ID: "t", Attempt: 1, Carrier: carrier, Propagation: PropagationAuto}
		b.ReportAllocs()
		for b.Loop() {
			_, k := f.tasks.Start(context.Background(), info)
			k.End("", "")
		}
	})
}
