package metrics

import (
	"context"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Span attributes that ask for RED metrics from a span.
const (
	MetricNameAttr        = "metric_name"
	MetricLabelAttrPrefix = "metric_label_"
)

// SpanMetrics is a span processor that derives a counter <metric_name> and a
// duration histogram <metric_name>.duration (seconds), labelled result=ok or
// error and by every metric_label_<key> attribute, from any span that carries
// a metric_name attribute: an instrumented function gets its rate, errors and
// duration with no extra code. It starts no goroutine.
type SpanMetrics struct {
	meter   metric.Meter
	mu      sync.Mutex
	inst    map[string]spanInstruments
	refused uint64 // spans whose metric_name exceeded maxSpanMetricNames
}

type spanInstruments struct {
	count    metric.Int64Counter
	duration metric.Float64Histogram
}

// NewSpanMetrics derives metrics on mp.
func NewSpanMetrics(mp metric.MeterProvider, scope string) *SpanMetrics {
	return &SpanMetrics{meter: mp.Meter(scope), inst: map[string]spanInstruments{}}
}

// maxSpanMetricNames bounds the metric names spans may create: a name built
// from an id by mistake must not grow memory and series without end.
const maxSpanMetricNames = 256

func (p *SpanMetrics) instruments(name string) (spanInstruments, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if in, ok := p.inst[name]; ok {
		return in, true
	}
	if len(p.inst) >= maxSpanMetricNames {
		p.refused++
		return spanInstruments{}, false
	}
	count, err := p.meter.Int64Counter(name, metric.WithUnit("{call}"))
	if err != nil {
		return spanInstruments{}, false
	}
	duration, err := p.meter.Float64Histogram(name+".duration", metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(ProcessDurationBuckets...))
	if err != nil {
		return spanInstruments{}, false
	}
	in := spanInstruments{count: count, duration: duration}
	p.inst[name] = in
	return in, true
}

func (p *SpanMetrics) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

func (p *SpanMetrics) OnEnd(s sdktrace.ReadOnlySpan) {
	var name string
	var labels []attribute.KeyValue
	for _, kv := range s.Attributes() {
		k := string(kv.Key)
		switch {
		case k == MetricNameAttr:
			name = kv.Value.Emit()
		case strings.HasPrefix(k, MetricLabelAttrPrefix) && len(k) > len(MetricLabelAttrPrefix):
			labels = append(labels, attribute.String(k[len(MetricLabelAttrPrefix):], kv.Value.Emit()))
		}
	}
	if name == "" {
		return
	}
	in, ok := p.instruments(name)
	if !ok {
		return
	}
	result := "ok"
	if s.Status().Code == codes.Error {
		result = "error"
	}
	labels = append(labels, attribute.String("result", result))
	set := metric.WithAttributeSet(attribute.NewSet(labels...))
	in.count.Add(context.Background(), 1, set)
	in.duration.Record(context.Background(), s.EndTime().Sub(s.StartTime()).Seconds(), set)
}

func (p *SpanMetrics) Shutdown(context.Context) error   { return nil }
func (p *SpanMetrics) ForceFlush(context.Context) error { return nil }
