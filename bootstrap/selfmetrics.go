package bootstrap

import (
	"context"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/ffitel/ffitel/events"
	"github.com/ffitel/ffitel/metrics"
)

// ffitel's own pipeline metrics. They are observable instruments on the
// Runtime's MeterProvider, so they reach both readers: the Prometheus
// endpoint (/metrics) and the OTLP metric pump. Their callbacks read the same
// atomic counters Stats reads, so /metrics and the stats document agree.
//
// The OpenTelemetry names below become the Prometheus names of
// docs/OPERATIONS.md (and deploy/prometheus/ffitel-rules.yml) through the
// exporter's default translation: dots become underscores, a counter gets
// "_total", a unit in braces is dropped and "s" becomes "_seconds".
// selfmetrics_test.go checks every name of the rules on a real /metrics.

// The signals, as the `signal` label spells them.
const (
	sigLogs = iota
	sigTraces
	sigMetrics
	numSignals
)

var signalLabels = [numSignals]string{"logs", "traces", "metrics"}

// exportDurationBuckets are the bounds (seconds) of ffitel.export.duration:
// from a local Collector's milliseconds to an export timeout's 30 s.
var exportDurationBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// exportHealth follows the exports of one signal for /healthz and the
// ffitel_export_healthy / ffitel_last_export_success_timestamp_seconds
// gauges. Its methods are safe on nil (a signal without health tracking).
type exportHealth struct {
	lastSuccess  atomic.Int64 // unix ns of the last successful export; 0 before the first
	troubleSince atomic.Int64 // unix ns when the first attempt not followed by a success started; 0 after a success
	lastLoss     atomic.Int64 // unix ns when an item was last dropped or failed
	lastErr      atomic.Pointer[string]
	duration     metric.Float64Histogram // nil when the instrument could not be made
	attrs        metric.MeasurementOption
	redact       func(string) string
}

// attempt is called when an export attempt starts.
func (h *exportHealth) attempt(start time.Time) {
	if h != nil {
		h.troubleSince.CompareAndSwap(0, start.UnixNano())
	}
}

// attempted is called when an export attempt ends.
func (h *exportHealth) attempted(err error) {
	if h == nil {
		return
	}
	if err == nil {
		h.lastSuccess.Store(time.Now().UnixNano())
		h.troubleSince.Store(0)
		return
	}
	msg := err.Error()
	if h.redact != nil {
		msg = h.redact(msg)
	}
	h.lastErr.Store(&msg)
}

// exported records the time one export call took, retries included.
func (h *exportHealth) exported(d time.Duration) {
	if h != nil && h.duration != nil {
		h.duration.Record(context.Background(), d.Seconds(), h.attrs)
	}
}

// lost records that items were dropped or failed now.
func (h *exportHealth) lost() {
	if h != nil {
		h.lastLoss.Store(time.Now().UnixNano())
	}
}

// report is the signal's health at now: unhealthy when exports have been
// failing (or one has been in flight) for longer than failAfter while there
// is something to deliver, or when items were dropped or failed within the
// last failAfter. pending < 0 means the signal has no queue (metrics: the
// pump always has something to deliver).
func (h *exportHealth) report(now time.Time, failAfter time.Duration, pending int64) metrics.SignalHealth {
	s := metrics.SignalHealth{Healthy: true}
	if t := h.lastSuccess.Load(); t != 0 {
		ts := time.Unix(0, t).UTC()
		s.LastSuccess = &ts
	}
	if t := h.troubleSince.Load(); t != 0 && now.Sub(time.Unix(0, t)) > failAfter && pending != 0 {
		ts := time.Unix(0, t).UTC()
		s.Healthy, s.FailingSince = false, &ts
		if e := h.lastErr.Load(); e != nil {
			s.LastError = *e
		}
	}
	if t := h.lastLoss.Load(); t != 0 && now.Sub(time.Unix(0, t)) < failAfter {
		ts := time.Unix(0, t).UTC()
		s.Healthy, s.LastLoss = false, &ts
	}
	return s
}

// selfMetrics owns the pipeline instruments and the health of each signal.
type selfMetrics struct {
	health    [numSignals]exportHealth
	failAfter time.Duration
	pipeline  atomic.Pointer[exportPipeline] // set at phase 2 when exporting
	early     *EarlyBuffer
	spanEnds  *spanRouter
	events    *events.Publisher
	inputErrs *atomic.Uint64
}

// signalHealth returns the health tracker of signal i.
func (m *selfMetrics) signalHealth(i int) *exportHealth {
	if m == nil {
		return nil
	}
	return &m.health[i]
}

// newSelfMetrics registers the pipeline instruments on mp. The callbacks
// take no Runtime lock: the metric pump collects while Shutdown holds rt.mu.
func newSelfMetrics(mp metric.MeterProvider, failAfter time.Duration, early *EarlyBuffer, spanEnds *spanRouter,
	ev *events.Publisher, inputErrs *atomic.Uint64, redact func(string) string) (*selfMetrics, error) {
	m := &selfMetrics{failAfter: failAfter, early: early, spanEnds: spanEnds, events: ev, inputErrs: inputErrs}
	meter := mp.Meter(ScopeName)
	dur, err := meter.Float64Histogram("ffitel.export.duration", metric.WithUnit("s"),
		metric.WithDescription("Time of one export call to the Collector, retries included."),
		metric.WithExplicitBucketBoundaries(exportDurationBuckets...))
	if err != nil {
		return nil, err
	}
	for i := range m.health {
		m.health[i].duration = dur
		m.health[i].attrs = metric.WithAttributeSet(attribute.NewSet(attribute.String("signal", signalLabels[i])))
		m.health[i].redact = redact
	}

	var errs []error
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := meter.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	gauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		g, err := meter.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}
	type signalInstruments struct{ emitted, exported, dropped, failed, depth metric.Int64Observable }
	sigInstr := func(what, unit string) signalInstruments {
		return signalInstruments{
			emitted:  counter("ffitel."+what+".emitted", unit, "Items handed to the export pipeline."),
			exported: counter("ffitel."+what+".exported", unit, "Items the Collector accepted."),
			dropped:  counter("ffitel."+what+".dropped", unit, "Items refused on a full queue or left unsent at shutdown."),
			failed:   counter("ffitel."+what+".failed", unit, "Items in batches the exporter gave up on."),
			depth:    gauge("ffitel."+what+".queue_depth", unit, "Items queued or in flight now."),
		}
	}
	logs, spans := sigInstr("logs", "{record}"), sigInstr("spans", "{span}")
	healthy := gauge("ffitel.export.healthy", "", "1 while exports of the signal succeed and nothing is lost; 0 otherwise.")
	lastOK, err := meter.Float64ObservableGauge("ffitel.last_export_success_timestamp", metric.WithUnit("s"),
		metric.WithDescription("Unix time of the last successful export of the signal; 0 before the first."))
	errs = append(errs, err)
	overflow := counter("ffitel.early_buffer.overflow", "{record}", "Phase-1 items pushed out of the early buffer before phase 2.")
	inputErrors := counter("ffitel.input_errors", "{call}", "Bad input received over the C ABI.")
	metricExports := counter("ffitel.metric_exports", "{export}", "Metric collections exported.")
	metricFailures := counter("ffitel.metric_export_failures", "{export}", "Metric collections that could not be exported.")
	evCounters := []struct {
		inst metric.Int64ObservableCounter
		get  func(metrics.EventRouterStats, metrics.InProcessEventBusStats) uint64
	}{
		{counter("ffitel.events.routed", "{event}", "Domain events routed."), func(r metrics.EventRouterStats, _ metrics.InProcessEventBusStats) uint64 { return r.TotalRouted }},
		{counter("ffitel.events.durable_routed", "{event}", "Domain events routed to the durable sink."), func(r metrics.EventRouterStats, _ metrics.InProcessEventBusStats) uint64 { return r.DurableRouted }},
		{counter("ffitel.events.fast_routed", "{event}", "Domain events routed to the in-process bus."), func(r metrics.EventRouterStats, _ metrics.InProcessEventBusStats) uint64 { return r.FastRouted }},
		{counter("ffitel.events.broadcast_routed", "{event}", "Domain events routed to both."), func(r metrics.EventRouterStats, _ metrics.InProcessEventBusStats) uint64 { return r.BroadcastRouted }},
		{counter("ffitel.events.fast_delivery_errors", "{event}", "In-process deliveries that failed."), func(r metrics.EventRouterStats, _ metrics.InProcessEventBusStats) uint64 { return r.FastDeliveryErrors }},
		{counter("ffitel.events.routing_errors", "{event}", "Durable routes that failed."), func(r metrics.EventRouterStats, _ metrics.InProcessEventBusStats) uint64 { return r.RoutingErrors }},
		{counter("ffitel.events.dispatched", "{event}", "Events the in-process bus dispatched."), func(_ metrics.EventRouterStats, b metrics.InProcessEventBusStats) uint64 {
			return b.TotalEventsDispatched
		}},
		{counter("ffitel.events.go_handler_dispatches", "{event}", "Events delivered to Go handlers."), func(_ metrics.EventRouterStats, b metrics.InProcessEventBusStats) uint64 {
			return b.GoHandlerDispatches
		}},
		{counter("ffitel.events.ffi_channel_dispatches", "{event}", "Events queued for host-language subscriptions."), func(_ metrics.EventRouterStats, b metrics.InProcessEventBusStats) uint64 {
			return b.FFIChannelDispatches
		}},
		{counter("ffitel.events.handler_errors", "{event}", "Go handlers that returned an error."), func(_ metrics.EventRouterStats, b metrics.InProcessEventBusStats) uint64 { return b.HandlerErrors }},
		{counter("ffitel.events.ffi_channel_drops", "{event}", "Events dropped on a full host-language subscription queue."), func(_ metrics.EventRouterStats, b metrics.InProcessEventBusStats) uint64 { return b.FFIChannelDrops }},
	}
	subscriptions := gauge("ffitel.events.subscriptions", "{subscription}", "Subscriptions on the in-process bus.")
	for _, e := range errs {
		if e != nil {
			return nil, e
		}
	}

	sigAttrs := [numSignals]metric.ObserveOption{}
	for i := range sigAttrs {
		sigAttrs[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("signal", signalLabels[i])))
	}
	observables := []metric.Observable{logs.emitted, logs.exported, logs.dropped, logs.failed, logs.depth,
		spans.emitted, spans.exported, spans.dropped, spans.failed, spans.depth,
		healthy, lastOK, overflow, inputErrors, metricExports, metricFailures, subscriptions}
	for _, e := range evCounters {
		observables = append(observables, e.inst)
	}
	_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		var ps metrics.PipelineStats
		p := m.pipeline.Load()
		p.stats(&ps)
		observeSignal := func(in signalInstruments, s metrics.SignalStats) {
			o.ObserveInt64(in.emitted, int64(s.Emitted))
			o.ObserveInt64(in.exported, int64(s.Exported))
			o.ObserveInt64(in.dropped, int64(s.Dropped))
			o.ObserveInt64(in.failed, int64(s.Failed))
			o.ObserveInt64(in.depth, int64(s.Pending))
		}
		if p.logQueue() != nil {
			observeSignal(logs, ps.Logs)
		}
		if p.spanQueue() != nil {
			observeSignal(spans, ps.Spans)
		}
		if p != nil {
			if p.pump != nil {
				o.ObserveInt64(metricExports, int64(ps.MetricExports))
				o.ObserveInt64(metricFailures, int64(ps.MetricExportFailures))
			}
			for i, h := range m.report(time.Now(), p, &ps) {
				if h == nil {
					continue
				}
				v := int64(0)
				if h.Healthy {
					v = 1
				}
				o.ObserveInt64(healthy, v, sigAttrs[i])
				ts := 0.0
				if h.LastSuccess != nil {
					ts = float64(h.LastSuccess.UnixNano()) / 1e9
				}
				o.ObserveFloat64(lastOK, ts, sigAttrs[i])
			}
		}
		if m.early != nil {
			o.ObserveInt64(overflow, int64(m.early.stats().Overflowed), sigAttrs[sigLogs])
		}
		if m.spanEnds != nil {
			_, over, _, _ := m.spanEnds.stats()
			o.ObserveInt64(overflow, int64(over), sigAttrs[sigTraces])
		}
		o.ObserveInt64(inputErrors, int64(m.inputErrs.Load()))
		if m.events != nil {
			r, b := m.events.Router().Stats(), m.events.Router().Bus().Stats()
			for _, e := range evCounters {
				o.ObserveInt64(e.inst, int64(e.get(r, b)))
			}
			o.ObserveInt64(subscriptions, int64(b.Subscriptions))
		}
		return nil
	}, observables...)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// report returns the health of each exported signal (nil for a signal not
// exported). ps holds p's stats.
func (m *selfMetrics) report(now time.Time, p *exportPipeline, ps *metrics.PipelineStats) [numSignals]*metrics.SignalHealth {
	var out [numSignals]*metrics.SignalHealth
	if m == nil || p == nil {
		return out
	}
	if p.logs != nil {
		h := m.health[sigLogs].report(now, m.failAfter, int64(ps.Logs.Pending))
		out[sigLogs] = &h
	}
	if p.spans != nil {
		h := m.health[sigTraces].report(now, m.failAfter, int64(ps.Spans.Pending))
		out[sigTraces] = &h
	}
	if p.pump != nil {
		h := m.health[sigMetrics].report(now, m.failAfter, -1)
		out[sigMetrics] = &h
	}
	return out
}

// Health returns the /healthz document: "ok", "degraded" (an exported signal
// has been failing for longer than FFITEL_HEALTH_FAIL_AFTER_MS, or lost items
// within that time) or "shutting down".
func (rt *Runtime) Health() metrics.Health {
	now := time.Now()
	h := metrics.Health{Status: "ok", Phase: rt.Phase().String(), Time: now.UTC()}
	if rt.Phase() == StateShutdown {
		h.Status = "shutting down"
		return h
	}
	m := rt.self
	if m == nil {
		return h
	}
	p := m.pipeline.Load()
	if p == nil {
		return h
	}
	var ps metrics.PipelineStats
	p.stats(&ps)
	for i, s := range m.report(now, p, &ps) {
		if s == nil {
			continue
		}
		if h.Signals == nil {
			h.Signals = map[string]metrics.SignalHealth{}
		}
		h.Signals[signalLabels[i]] = *s
		if s.Healthy {
			continue
		}
		h.Status = "degraded"
		if s.FailingSince != nil {
			r := signalLabels[i] + ": exports failing since " + s.FailingSince.Format(time.RFC3339)
			if s.LastError != "" {
				r += " (" + s.LastError + ")"
			}
			h.Reasons = append(h.Reasons, r)
		}
		if s.LastLoss != nil {
			h.Reasons = append(h.Reasons, signalLabels[i]+": items dropped or failed at "+s.LastLoss.Format(time.RFC3339)+
				" (within the last "+m.failAfter.String()+")")
		}
	}
	return h
}
