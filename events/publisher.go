package events

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Publisher publishes domain events: it builds the event, routes it, and
// traces and counts every publication.
//
// Metrics (prefix = FFITEL_METRICS_NAMESPACE, default "tasker"); the names
// Prometheus sees are in parentheses:
//   - <prefix>.domain_events.published (tasker_domain_events_published_total):
//     event_name, namespace, delivery_mode
//   - <prefix>.domain_events.failed (tasker_domain_events_failed_total): the
//     same labels, initialised at 0 when a label set is first published, so
//     rate(failed) / rate(published) always matches series
//   - <prefix>.domain_events.publish_duration, ms
//     (tasker_domain_events_publish_duration_milliseconds_bucket): namespace,
//     delivery_mode, result
//   - <prefix>.domain_events.routed: path (durable, fast)
type Publisher struct {
	router     *Router
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
	logger     *slog.Logger
	firedBy    string

	published, failed, routed metric.Int64Counter
	duration                  metric.Float64Histogram

	seen  sync.Map // label sets whose failed counter is initialised
	nseen atomic.Int32
}

// maxInitialisedLabelSets bounds the failed-at-0 initialisation memory.
const maxInitialisedLabelSets = 4096

// NewPublisher builds a publisher over router. firedBy fills
// metadata.fired_by when the caller leaves it empty (the worker id).
func NewPublisher(router *Router, tp trace.TracerProvider, mp metric.MeterProvider, prop propagation.TextMapPropagator,
	logger *slog.Logger, prefix, scope, firedBy string) (*Publisher, error) {
	m := mp.Meter(scope)
	p := &Publisher{router: router, tracer: tp.Tracer(scope), propagator: prop, logger: logger, firedBy: firedBy}
	var err error
	if p.published, err = m.Int64Counter(prefix+".domain_events.published", metric.WithDescription("Domain events published.")); err != nil {
		return nil, err
	}
	if p.failed, err = m.Int64Counter(prefix+".domain_events.failed", metric.WithDescription("Domain event publications that failed.")); err != nil {
		return nil, err
	}
	if p.routed, err = m.Int64Counter(prefix+".domain_events.routed", metric.WithDescription("Domain events routed, by path.")); err != nil {
		return nil, err
	}
	if p.duration, err = m.Float64Histogram(prefix+".domain_events.publish_duration", metric.WithUnit("ms"),
		metric.WithDescription("Time to publish a domain event."),
		metric.WithExplicitBucketBoundaries(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)); err != nil {
		return nil, err
	}
	return p, nil
}

// Router returns the publisher's router.
func (p *Publisher) Router() *Router { return p.router }

// Publish builds, routes, traces and counts one event. The returned event
// carries its id even when routing failed.
func (p *Publisher) Publish(ctx context.Context, name string, payload json.RawMessage, md Metadata,
	mode DeliveryMode) (DomainEvent, error) {
	start := time.Now()
	ctx, span := p.tracer.Start(ctx, "publish_domain_event", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("event_name", name), attribute.String("namespace", md.Namespace),
			attribute.String("correlation_id", md.CorrelationID), attribute.String("delivery_mode", mode.String())))
	defer span.End()
	if md.FiredBy == "" {
		md.FiredBy = p.firedBy
	}
	carrier := propagation.MapCarrier{}
	p.propagator.Inject(ctx, carrier)
	md.TraceParent, md.TraceState = carrier["traceparent"], carrier["tracestate"]

	ev, err := NewEvent(name, payload, md)
	labels := metric.WithAttributeSet(attribute.NewSet(attribute.String("event_name", name),
		attribute.String("namespace", md.Namespace), attribute.String("delivery_mode", mode.String())))
	if p.nseen.Load() < maxInitialisedLabelSets {
		if _, seen := p.seen.LoadOrStore(name+"\x00"+md.Namespace+"\x00"+mode.String(), true); !seen {
			p.nseen.Add(1)
			p.failed.Add(ctx, 0, labels)
		}
	}
	if err == nil {
		span.SetAttributes(attribute.String("event_id", ev.EventID))
		err = p.route(ctx, ev, mode)
	}
	result := "ok"
	if err != nil {
		result = "error"
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		p.failed.Add(ctx, 1, labels)
		p.logger.WarnContext(ctx, "domain event not published", slog.String("event_name", name),
			slog.String("correlation_id", md.CorrelationID), slog.String("delivery_mode", mode.String()),
			slog.String("error", err.Error()))
	} else {
		p.published.Add(ctx, 1, labels)
		p.logger.DebugContext(ctx, "domain event published", slog.String("event_name", name),
			slog.String("event_id", ev.EventID), slog.String("correlation_id", md.CorrelationID),
			slog.String("delivery_mode", mode.String()))
	}
	p.duration.Record(ctx, float64(time.Since(start).Microseconds())/1000, metric.WithAttributes(
		attribute.String("namespace", md.Namespace), attribute.String("delivery_mode", mode.String()),
		attribute.String("result", result)))
	return ev, err
}

func (p *Publisher) route(ctx context.Context, ev DomainEvent, mode DeliveryMode) error {
	ctx, span := p.tracer.Start(ctx, "route_event", trace.WithAttributes(attribute.String("delivery_mode", mode.String())))
	defer span.End()
	if mode == Durable || mode == Broadcast {
		_, ds := p.tracer.Start(ctx, "publish_durable", trace.WithAttributes(
			attribute.String("queue_name", ev.Metadata.Namespace+"_domain_events"),
			attribute.Int("message_size", len(ev.Payload))))
		if mode == Durable {
			defer ds.End()
		} else {
			ds.End()
		}
	}
	res, err := p.router.Route(ctx, ev, mode)
	if mode == Fast || mode == Broadcast {
		_, fs := p.tracer.Start(ctx, "publish_fast", trace.WithAttributes(attribute.Int("subscriber_count", res.Subscribers)))
		if res.FastErr != nil {
			fs.RecordError(res.FastErr)
			fs.SetStatus(codes.Error, res.FastErr.Error())
		}
		fs.End()
	}
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		return err
	}
	if mode == Durable || mode == Broadcast {
		p.routed.Add(ctx, 1, metric.WithAttributes(attribute.String("path", "durable")))
	}
	if mode == Fast || mode == Broadcast {
		p.routed.Add(ctx, 1, metric.WithAttributes(attribute.String("path", "fast")))
	}
	return nil
}
