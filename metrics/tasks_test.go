package metrics

import (
	"context"
	"errors"
	"slices"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

type taskFixture struct {
	tasks  *Tasks
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	tp     *sdktrace.TracerProvider
}

func newTaskFixture(t testing.TB, mode Propagation) *taskFixture {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSpanProcessor(NewSpanMetrics(mp, "test")))
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	tasks, err := NewTasks(tp, mp, prop, mode, "test")
	if err != nil {
		t.Fatal(err)
	}
	return &taskFixture{tasks: tasks, spans: rec, reader: reader, tp: tp}
}

// produce returns the carrier of a "send" span and that span's context.
func (f *taskFixture) produce() (map[string]string, trace.SpanContext) {
	ctx, send := f.tasks.StartSend(context.Background(), "SendReport")
	carrier := f.tasks.Inject(ctx)
	send.End()
	return carrier, send.SpanContext()
}

func (f *taskFixture) span(t *testing.T, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	ended := f.spans.Ended()
	for i := len(ended) - 1; i >= 0; i-- {
		if ended[i].Name() == name {
			return ended[i]
		}
	}
	t.Fatalf("no ended span %q", name)
	return nil
}

func run(f *taskFixture, info TaskInfo, err error) {
	_, k := f.tasks.Start(context.Background(), info)
	if err != nil {
		k.End("ValueError", err.Error())
	} else {
		k.End("", "")
	}
}

func TestTaskFirstAttemptIsChildOfSendSpan(t *testing.T) {
	f := newTaskFixture(t, PropagationAuto)
	carrier, send := f.produce()
	run(f, TaskInfo{Type: "SendReport", Worker: "w", ID: "t1", Attempt: 1, Carrier: carrier, Propagation: PropagationAuto}, nil)
	s := f.span(t, "process SendReport")
	if s.Parent().SpanID() != send.SpanID() || s.SpanContext().TraceID() != send.TraceID() {
		t.Errorf("attempt 1 parent %s, want the send span %s", s.Parent().SpanID(), send.SpanID())
	}
	if s.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("kind %v", s.SpanKind())
	}
	if got := f.span(t, "send SendReport").SpanKind(); got != trace.SpanKindProducer {
		t.Errorf("send kind %v", got)
	}
}

func TestTaskRetryStartsNewTraceLinkedToProducer(t *testing.T) {
	f := newTaskFixture(t, PropagationAuto)
	carrier, send := f.produce()
	run(f, TaskInfo{Type: "SendReport", Attempt: 2, Carrier: carrier, Propagation: PropagationAuto}, nil)
	s := f.span(t, "process SendReport")
	if s.SpanContext().TraceID() == send.TraceID() || s.Parent().IsValid() {
		t.Errorf("retry stayed in the producer's trace")
	}
	if len(s.Links()) != 1 || s.Links()[0].SpanContext.SpanID() != send.SpanID() {
		t.Errorf("retry links %+v, want the send span", s.Links())
	}
}

func TestTaskExplicitModesOverrideTheDefault(t *testing.T) {
	f := newTaskFixture(t, PropagationLink) // FFITEL_TASK_PROPAGATION=link
	carrier, send := f.produce()
	run(f, TaskInfo{Type: "A", Attempt: 1, Carrier: carrier, Propagation: PropagationAuto}, nil)
	if s := f.span(t, "process A"); s.SpanContext().TraceID() == send.TraceID() {
		t.Errorf("default link mode ignored")
	}
	run(f, TaskInfo{Type: "B", Attempt: 3, Carrier: carrier, Propagation: PropagationChild}, nil)
	if s := f.span(t, "process B"); s.Parent().SpanID() != send.SpanID() {
		t.Errorf("explicit child mode ignored")
	}
	run(f, TaskInfo{Type: "C", Attempt: 1, Carrier: carrier, Propagation: PropagationNone}, nil)
	if s := f.span(t, "process C"); s.SpanContext().TraceID() == send.TraceID() || len(s.Links()) != 0 {
		t.Errorf("none mode used the carrier")
	}
}

func TestTaskMalformedCarrierStartsRootAndIsCounted(t *testing.T) {
	f := newTaskFixture(t, PropagationAuto)
	ctx, ambient := f.tp.Tracer("t").Start(context.Background(), "ambient")
	_, k := f.tasks.Start(ctx, TaskInfo{Type: "X", Attempt: 1, Carrier: map[string]string{"traceparent": "00-zz"},
		Propagation: PropagationAuto})
	k.End("", "")
	ambient.End()
	s := f.span(t, "process X")
	if s.Parent().IsValid() {
		t.Errorf("malformed carrier: span has parent %s, want a new root", s.Parent().SpanID())
	}
	if v := sumValue(t, f.reader, "ffitel.task.malformed_carriers", nil); v != 1 {
		t.Errorf("malformed carriers counted %v, want 1", v)
	}
}

func TestTaskWithRemoteParentLinksTheAmbientSpan(t *testing.T) {
	f := newTaskFixture(t, PropagationAuto)
	carrier, send := f.produce()
	ctx, ambient := f.tp.Tracer("t").Start(context.Background(), "poll queue")
	_, k := f.tasks.Start(ctx, TaskInfo{Type: "Y", Attempt: 1, Carrier: carrier, Propagation: PropagationAuto})
	k.End("", "")
	ambient.End()
	s := f.span(t, "process Y")
	if s.Parent().SpanID() != send.SpanID() {
		t.Errorf("parent %s, want the remote send span", s.Parent().SpanID())
	}
	if len(s.Links()) != 1 || s.Links()[0].SpanContext.SpanID() != ambient.SpanContext().SpanID() {
		t.Errorf("links %+v, want the ambient span", s.Links())
	}
}

func TestTaskMetricsCarryMessagingAttributesNeverTheTaskID(t *testing.T) {
	f := newTaskFixture(t, PropagationAuto)
	run(f, TaskInfo{Type: "SendReport", Worker: "report-worker", ID: "task-123", Attempt: 1, Propagation: PropagationAuto}, nil)
	run(f, TaskInfo{Type: "SendReport", Worker: "report-worker", ID: "task-124", Attempt: 1, Propagation: PropagationAuto},
		errors.New("boom"))
	want := []attribute.KeyValue{attribute.String("messaging.system", "ffitel"),
		attribute.String("messaging.operation.name", "process"), attribute.String("messaging.destination.name", "SendReport"),
		attribute.String("messaging.consumer.group.name", "report-worker")}
	if v := sumValue(t, f.reader, ConsumedMessagesName, want); v != 1 {
		t.Errorf("consumed (ok) = %v, want 1", v)
	}
	if v := sumValue(t, f.reader, ConsumedMessagesName, append(want, attribute.String("error.type", "ValueError"))); v != 1 {
		t.Errorf("consumed (error.type=ValueError) = %v, want 1", v)
	}
	var rm metricdata.ResourceMetrics
	_ = f.reader.Collect(context.Background(), &rm)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != ProcessDurationName {
				continue
			}
			h := m.Data.(metricdata.Histogram[float64])
			for _, dp := range h.DataPoints {
				if !slices.Equal(dp.Bounds, ProcessDurationBuckets) {
					t.Errorf("bounds %v", dp.Bounds)
				}
				if _, ok := dp.Attributes.Value("messaging.message.id"); ok {
					t.Errorf("task id on a metric: %v", dp.Attributes)
				}
			}
			if m.Unit != "s" || len(h.DataPoints) != 2 {
				t.Errorf("histogram unit %q points %d", m.Unit, len(h.DataPoints))
			}
		}
	}
	if s := f.span(t, "process SendReport"); s.Status().Code != codes.Error {
		t.Errorf("failed attempt status %v", s.Status())
	}
}

func TestTaskFromAFrameworkQueueCarriesItsSystemAndQueue(t *testing.T) {
	f := newTaskFixture(t, PropagationAuto)
	info := TaskInfo{Type: "app.add", Worker: "celery@host", Attempt: 1, System: "celery", Destination: "mail",
		Propagation: PropagationAuto}
	run(f, info, nil)
	run(f, TaskInfo{Type: "app.add", Worker: "celery@host", Attempt: 1, Propagation: PropagationAuto}, nil)
	want := []attribute.KeyValue{attribute.String("messaging.system", "celery"),
		attribute.String("messaging.operation.name", "process"), attribute.String("messaging.destination.name", "mail"),
		attribute.String("messaging.consumer.group.name", "celery@host")}
	if v := sumValue(t, f.reader, ConsumedMessagesName, want); v != 1 {
		t.Errorf("consumed (celery, mail) = %v, want 1", v)
	}
	// The same type and worker without a system keeps ffitel's defaults: a
	// separate series, not the cached celery one.
	plain := []attribute.KeyValue{attribute.String("messaging.system", "ffitel"),
		attribute.String("messaging.operation.name", "process"), attribute.String("messaging.destination.name", "app.add"),
		attribute.String("messaging.consumer.group.name", "celery@host")}
	if v := sumValue(t, f.reader, ConsumedMessagesName, plain); v != 1 {
		t.Errorf("consumed (ffitel, app.add) = %v, want 1", v)
	}
	ended := f.spans.Ended()
	first := ended[0]
	attrs := attribute.NewSet(first.Attributes()...)
	if v, _ := attrs.Value("messaging.system"); v.AsString() != "celery" {
		t.Errorf("span messaging.system = %q", v.AsString())
	}
	if v, _ := attrs.Value("messaging.destination.name"); v.AsString() != "mail" {
		t.Errorf("span messaging.destination.name = %q", v.AsString())
	}
	if first.Name() != "process app.add" {
		t.Errorf("span name %q, want the task type", first.Name())
	}
}

func TestRunReturnsHandlerErrorUnchangedAndRepanics(t *testing.T) {
	f := newTaskFixture(t, PropagationAuto)
	sentinel := errors.New("sentinel")
	if err := f.tasks.Run(context.Background(), TaskInfo{Type: "R", Attempt: 1}, func(context.Context) error { return sentinel }); err != sentinel {
		t.Errorf("Run returned %v", err)
	}
	defer func() {
		if r := recover(); r != "kaboom" {
			t.Errorf("recovered %v, want the handler's panic", r)
		}
		if s := f.span(t, "process P"); s.Status().Code != codes.Error {
			t.Errorf("panicking attempt status %v", s.Status())
		}
	}()
	_ = f.tasks.Run(context.Background(), TaskInfo{Type: "P", Attempt: 1}, func(context.Context) error { panic("kaboom") })
}

func TestSpanMetricsDerivesREDFromMetricNameAttribute(t *testing.T) {
	f := newTaskFixture(t, PropagationAuto)
	tr := f.tp.Tracer("t")
	for _, fail := range []bool{false, false, true} {
		_, s := tr.Start(context.Background(), "charge", trace.WithAttributes(
			attribute.String("metric_name", "payments.charge"), attribute.String("metric_label_provider", "acme")))
		if fail {
			s.SetStatus(codes.Error, "declined")
		}
		s.End()
	}
	_, plain := tr.Start(context.Background(), "no metric")
	plain.End()
	ok := []attribute.KeyValue{attribute.String("provider", "acme"), attribute.String("result", "ok")}
	if v := sumValue(t, f.reader, "payments.charge", ok); v != 2 {
		t.Errorf("payments.charge{result=ok} = %v, want 2", v)
	}
	bad := []attribute.KeyValue{attribute.String("provider", "acme"), attribute.String("result", "error")}
	if v := sumValue(t, f.reader, "payments.charge", bad); v != 1 {
		t.Errorf("payments.charge{result=error} = %v, want 1", v)
	}
}

// sumValue returns the value of the int64 sum name whose point has exactly
// attrs (any point when attrs is nil).
func sumValue(t *testing.T, r *sdkmetric.ManualReader, name string, attrs []attribute.KeyValue) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	want := attribute.NewSet(attrs...)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				if attrs == nil || dp.Attributes.Equals(&want) {
					return dp.Value
				}
			}
		}
	}
	return -1
}

func TestTaskFrameworkSystemAndQueueLabelSpanAndMetrics(t *testing.T) {
	f := newTaskFixture(t, PropagationAuto)
	info := TaskInfo{Type: "tasks.add", Worker: "celery@host", System: "celery", Destination: "mail",
		Attempt: 1, Propagation: PropagationAuto}
	run(f, info, nil)
	plain := TaskInfo{Type: "tasks.add", Worker: "celery@host", Attempt: 1, Propagation: PropagationAuto}
	run(f, plain, nil)
	want := []attribute.KeyValue{attribute.String("messaging.system", "celery"),
		attribute.String("messaging.operation.name", "process"), attribute.String("messaging.destination.name", "mail"),
		attribute.String("messaging.consumer.group.name", "celery@host")}
	if v := sumValue(t, f.reader, ConsumedMessagesName, want); v != 1 {
		t.Errorf("consumed{system=celery, destination=mail} = %v, want 1", v)
	}
	// The same type without a framework keeps the defaults, in its own series.
	wantPlain := []attribute.KeyValue{attribute.String("messaging.system", "ffitel"),
		attribute.String("messaging.operation.name", "process"), attribute.String("messaging.destination.name", "tasks.add"),
		attribute.String("messaging.consumer.group.name", "celery@host")}
	if v := sumValue(t, f.reader, ConsumedMessagesName, wantPlain); v != 1 {
		t.Errorf("consumed{system=ffitel, destination=tasks.add} = %v, want 1", v)
	}
	var found bool
	for _, s := range f.spans.Ended() {
		attrs := attribute.NewSet(s.Attributes()...)
		if sys, _ := attrs.Value("messaging.system"); sys.AsString() == "celery" {
			found = true
			if d, _ := attrs.Value("messaging.destination.name"); d.AsString() != "mail" || s.Name() != "process tasks.add" {
				t.Errorf("span %q destination %v", s.Name(), d.AsString())
			}
		}
	}
	if !found {
		t.Error("no task span with messaging.system=celery")
	}
}
