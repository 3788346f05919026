package metrics

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Propagation says how a task's span relates to the trace of the code that
// enqueued it. The numbers are those of the C ABI's propagation argument.
type Propagation int

const (
	// PropagationAuto is child on the first attempt and link on retries, so
	// a retry does not stretch the first trace across its back-off. In a
	// TaskInfo it means "the configured default" (FFITEL_TASK_PROPAGATION).
	PropagationAuto Propagation = iota - 1
	// PropagationChild makes the task span a child of the producer's span.
	PropagationChild
	// PropagationLink starts a new trace linked to the producer's span.
	PropagationLink
	// PropagationNone ignores the carrier.
	PropagationNone
)

// ParsePropagation reads FFITEL_TASK_PROPAGATION values.
func ParsePropagation(s string) (Propagation, bool) {
	switch s {
	case "auto", "":
		return PropagationAuto, true
	case "child":
		return PropagationChild, true
	case "link":
		return PropagationLink, true
	case "none":
		return PropagationNone, true
	}
	return PropagationAuto, false
}

// Instrument names and the bucket boundaries of messaging.process.duration
// (seconds), as apalis records them.
const (
	ConsumedMessagesName = "messaging.client.consumed.messages"
	ProcessDurationName  = "messaging.process.duration"
	// MessagingSystem is the messaging.system value of ffitel tasks.
	MessagingSystem = "ffitel"
)

var ProcessDurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 20, 30, 60, 120, 300, 600}

// Tasks instruments background jobs: a PRODUCER span where a job is
// enqueued, a CONSUMER span per attempt where it runs, and the two messaging
// metrics per attempt. It is safe for concurrent use.
type Tasks struct {
	sets        sync.Map // metric attribute set per type, worker and error type
	nsets       atomic.Int32
	tracer      trace.Tracer
	propagator  propagation.TextMapPropagator
	consumed    metric.Int64Counter
	duration    metric.Float64Histogram
	malformed   metric.Int64Counter
	defaultMode Propagation
}

// NewTasks builds the task instrumentation on the given providers.
func NewTasks(tp trace.TracerProvider, mp metric.MeterProvider, prop propagation.TextMapPropagator,
	defaultMode Propagation, scope string) (*Tasks, error) {
	m := mp.Meter(scope)
	consumed, err := m.Int64Counter(ConsumedMessagesName, metric.WithUnit("{message}"),
		metric.WithDescription("Number of task attempts a worker has processed."))
	if err != nil {
		return nil, err
	}
	duration, err := m.Float64Histogram(ProcessDurationName, metric.WithUnit("s"),
		metric.WithDescription("Duration of processing one task attempt."),
		metric.WithExplicitBucketBoundaries(ProcessDurationBuckets...))
	if err != nil {
		return nil, err
	}
	malformed, err := m.Int64Counter("ffitel.task.malformed_carriers", metric.WithUnit("{carrier}"),
		metric.WithDescription("Task carriers whose trace context could not be read; the task started a new trace."))
	if err != nil {
		return nil, err
	}
	if defaultMode < PropagationAuto || defaultMode > PropagationNone {
		defaultMode = PropagationAuto
	}
	return &Tasks{tracer: tp.Tracer(scope), propagator: prop, consumed: consumed, duration: duration,
		malformed: malformed, defaultMode: defaultMode}, nil
}

// StartSend starts the PRODUCER span "send <taskType>". Inject its context
// into the job with Inject.
func (t *Tasks) StartSend(ctx context.Context, taskType string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	attrs = append(attrs, semconv.MessagingSystemKey.String(MessagingSystem),
		semconv.MessagingOperationNameKey.String("send"),
		semconv.MessagingOperationTypeKey.String("send"),
		semconv.MessagingDestinationNameKey.String(taskType))
	return t.tracer.Start(ctx, "send "+taskType, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attrs...))
}

// Inject returns the carrier to store with a job: traceparent, tracestate
// and baggage of ctx, as the configured propagators write them.
func (t *Tasks) Inject(ctx context.Context) map[string]string {
	c := propagation.MapCarrier{}
	t.propagator.Inject(ctx, c)
	return c
}

// TaskInfo describes one attempt of a task.
type TaskInfo struct {
	Type   string // the task type; the messaging destination unless Destination is set
	Worker string // the worker (consumer group) name
	// System is the messaging.system of a task taken from another job
	// framework ("celery", "sidekiq"); empty means MessagingSystem.
	System string
	// Destination is the messaging.destination.name, say the queue the
	// framework took the task from; empty means Type.
	Destination string
	ID          string // the task id: on the span, never on metrics
	Attempt     int    // 1 for the first attempt
	// Carrier is what Inject returned at the producer (may be nil).
	Carrier map[string]string
	// Propagation overrides the configured default; PropagationAuto (the
	// zero value is PropagationChild, so set it) keeps the default.
	Propagation Propagation
}

// Task is one running attempt.
type Task struct {
	tasks   *Tasks
	span    trace.Span
	start   time.Time
	metrics []attribute.KeyValue
	setKey  string // the metric attribute set's cache key, without error.type
	ended   bool
}

// Span returns the attempt's CONSUMER span.
func (k *Task) Span() trace.Span { return k.span }

// Start starts the CONSUMER span "process <type>" for one attempt. With a
// remote parent from the carrier (child mode), a span current in ctx is kept
// as a link. A malformed carrier starts a new root trace and is counted;
// it is never an error.
func (t *Tasks) Start(ctx context.Context, info TaskInfo) (context.Context, *Task) {
	mode := info.Propagation
	if mode == PropagationAuto {
		mode = t.defaultMode
	}
	if mode == PropagationAuto {
		mode = PropagationChild
		if info.Attempt > 1 {
			mode = PropagationLink
		}
	}
	var remote trace.SpanContext
	var remoteCtx context.Context
	if len(info.Carrier) > 0 && mode != PropagationNone {
		remoteCtx = t.propagator.Extract(context.Background(), propagation.MapCarrier(info.Carrier))
		remote = trace.SpanContextFromContext(remoteCtx)
		if !remote.IsValid() {
			t.malformed.Add(ctx, 1, metric.WithAttributes(semconv.MessagingDestinationNameKey.String(info.Type)))
		}
	}
	ambient := trace.SpanContextFromContext(ctx)
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}
	switch {
	case remote.IsValid() && mode == PropagationChild:
		// The remote parent (with its tracestate) and the baggage replace
		// what ctx carried; the ambient span becomes a link below.
		ctx = trace.ContextWithRemoteSpanContext(ctx, remote)
		if b := baggage.FromContext(remoteCtx); b.Len() > 0 {
			ctx = baggage.ContextWithBaggage(ctx, b)
		}
		if ambient.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: ambient,
				Attributes: []attribute.KeyValue{attribute.String("ffitel.link", "ambient")}}))
		}
	case remote.IsValid() && mode == PropagationLink:
		opts = append(opts, trace.WithNewRoot(), trace.WithLinks(trace.Link{SpanContext: remote,
			Attributes: []attribute.KeyValue{attribute.String("ffitel.link", "producer")}}))
	case len(info.Carrier) > 0 && !remote.IsValid() && mode != PropagationNone:
		opts = append(opts, trace.WithNewRoot())
	}
	system, destination := info.System, info.Destination
	if system == "" {
		system = MessagingSystem
	}
	if destination == "" {
		destination = info.Type
	}
	metricAttrs := t.metricAttrs(system, destination, info.Worker)
	spanAttrs := append([]attribute.KeyValue{
		semconv.MessagingOperationTypeKey.String("process"),
		attribute.Int("ffitel.task.attempt", info.Attempt),
	}, metricAttrs...)
	if info.ID != "" {
		spanAttrs = append(spanAttrs, semconv.MessagingMessageIDKey.String(info.ID))
	}
	opts = append(opts, trace.WithAttributes(spanAttrs...))
	ctx, span := t.tracer.Start(ctx, "process "+info.Type, opts...)
	return ctx, &Task{tasks: t, span: span, start: time.Now(), metrics: metricAttrs,
		setKey: system + "\x00" + destination + "\x00" + info.Worker}
}

func (t *Tasks) metricAttrs(system, destination, worker string) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		semconv.MessagingSystemKey.String(system),
		semconv.MessagingOperationNameKey.String("process"),
		semconv.MessagingDestinationNameKey.String(destination),
	}
	if worker != "" {
		attrs = append(attrs, semconv.MessagingConsumerGroupNameKey.String(worker))
	}
	return attrs
}

// maxCachedSets bounds the attribute-set cache; task types, workers and
// error types are few by design, but a host could pass ids by mistake.
const maxCachedSets = 1024

// metricSet returns the metric attributes of one outcome, cached.
func (t *Tasks) metricSet(k *Task, errorType string) attribute.Set {
	key := k.setKey + "\x00" + errorType
	if s, ok := t.sets.Load(key); ok {
		return s.(attribute.Set)
	}
	attrs := k.metrics
	if errorType != "" {
		attrs = append(attrs[:len(attrs):len(attrs)], semconv.ErrorTypeKey.String(errorType))
	}
	set := attribute.NewSet(attrs...)
	if t.nsets.Load() < maxCachedSets {
		if _, loaded := t.sets.LoadOrStore(key, set); !loaded {
			t.nsets.Add(1)
		}
	}
	return set
}

// End ends the attempt. errorType is empty on success; on failure it is the
// error's type name (semconv error.type), and message describes it. With a
// message, End records the exception event; a host binding that recorded a
// richer one itself (with the stack trace) passes an empty message.
func (k *Task) End(errorType, message string) {
	if k.ended {
		return
	}
	k.ended = true
	if errorType != "" {
		k.span.SetAttributes(semconv.ErrorTypeKey.String(errorType))
		description := errorType
		if message != "" {
			k.span.AddEvent("exception", trace.WithAttributes(semconv.ExceptionTypeKey.String(errorType),
				semconv.ExceptionMessageKey.String(message)))
			description = message
		}
		k.span.SetStatus(codes.Error, description)
	}
	elapsed := time.Since(k.start).Seconds()
	set := metric.WithAttributeSet(k.tasks.metricSet(k, errorType))
	ctx := context.Background()
	k.tasks.consumed.Add(ctx, 1, set)
	k.tasks.duration.Record(ctx, elapsed, set)
	k.span.End()
}

// Abandon ends the attempt's span without recording the messaging metrics:
// for an attempt the host never got to run (say the C handle table was
// full), which must not count as a processed message.
func (k *Task) Abandon(reason string) {
	if k.ended {
		return
	}
	k.ended = true
	k.span.SetAttributes(attribute.String("ffitel.abandoned", reason))
	k.span.End()
}

// Run runs handler as one attempt of a task: the Go middleware. The
// handler's error is returned unchanged; a panic ends the attempt as failed
// and is re-raised.
func (t *Tasks) Run(ctx context.Context, info TaskInfo, handler func(context.Context) error) (err error) {
	ctx, task := t.Start(ctx, info)
	defer func() {
		if r := recover(); r != nil {
			task.End("panic", fmt.Sprint(r))
			panic(r)
		}
		if err != nil {
			task.End(errorTypeOf(err), err.Error())
		} else {
			task.End("", "")
		}
	}()
	return handler(ctx)
}

func errorTypeOf(err error) string {
	var typed interface{ ErrorType() string }
	if errors.As(err, &typed) {
		return typed.ErrorType()
	}
	return fmt.Sprintf("%T", err)
}
