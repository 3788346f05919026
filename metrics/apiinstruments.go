package metrics

import (
	"context"
	"errors"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// InstrumentKind says what an API instrument is (the values of the C ABI's
// FFITEL_INSTRUMENT_* constants).
type InstrumentKind int32

const (
	KindCounter InstrumentKind = iota
	KindUpDownCounter
	KindHistogram
	KindGauge
	KindObservableCounter
	KindObservableUpDownCounter
	KindObservableGauge
	kindCount
)

// Observable reports whether instruments of kind k are read through callbacks.
func (k InstrumentKind) Observable() bool { return k >= KindObservableCounter && k < kindCount }

// MaxAPIInstruments bounds the instrument table.
const MaxAPIInstruments = 4096

// MaxObservedSets bounds the attribute sets one observable instrument keeps.
const MaxObservedSets = 2000

// APIInstruments is the table of instruments a host's OpenTelemetry API
// bridge creates (Python's ffitel.opentelemetry): handles, so a record names
// its instrument without a lookup by name. The host drives observable
// instruments: it runs their callbacks itself (before each export, flush and
// shutdown) and pushes each observation through Record, which keeps the
// latest value per attribute set; each collection reports those values.
// Nothing here calls into the host.
type APIInstruments struct {
	mu       sync.RWMutex
	next     uint64
	byKey    map[apiKey]uint64
	byHandle map[uint64]*apiInstrument
}

type apiKey struct {
	scope, name, unit, description string
	kind                           InstrumentKind
}

type observation struct {
	value float64
	attrs attribute.Set
}

type apiInstrument struct {
	kind    InstrumentKind
	counter metric.Float64Counter
	updown  metric.Float64UpDownCounter
	hist    metric.Float64Histogram
	gauge   metric.Float64Gauge

	latestMu sync.Mutex
	latest   map[attribute.Distinct]observation // observable kinds: the last value per attribute set
}

// Errors of Create and Record.
var (
	ErrInstrumentKind   = errors.New("unknown instrument kind")
	ErrInstrumentFull   = errors.New("too many instruments (4096)")
	ErrInstrumentHandle = errors.New("unknown instrument handle")
	ErrNegative         = errors.New("a counter only adds finite values >= 0")
	ErrObservedSetsFull = errors.New("an observable instrument keeps at most 2000 attribute sets")
)

// Create returns the handle of the instrument (scope, kind, name, unit,
// description), creating it on meter m the first time.
func (t *APIInstruments) Create(m metric.Meter, scope string, kind InstrumentKind, name, unit,
	description string) (uint64, error) {
	if kind < 0 || kind >= kindCount {
		return 0, ErrInstrumentKind
	}
	key := apiKey{scope, name, unit, description, kind}
	t.mu.RLock()
	h, ok := t.byKey[key]
	t.mu.RUnlock()
	if ok {
		return h, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if h, ok := t.byKey[key]; ok {
		return h, nil
	}
	if len(t.byHandle) >= MaxAPIInstruments {
		return 0, ErrInstrumentFull
	}
	if t.byKey == nil {
		t.byKey = map[apiKey]uint64{}
		t.byHandle = map[uint64]*apiInstrument{}
	}
	h = t.next + 1
	in := &apiInstrument{kind: kind}
	var err error
	switch kind {
	case KindCounter:
		in.counter, err = m.Float64Counter(name, metric.WithUnit(unit), metric.WithDescription(description))
	case KindUpDownCounter:
		in.updown, err = m.Float64UpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(description))
	case KindHistogram:
		in.hist, err = m.Float64Histogram(name, metric.WithUnit(unit), metric.WithDescription(description))
	case KindGauge:
		in.gauge, err = m.Float64Gauge(name, metric.WithUnit(unit), metric.WithDescription(description))
	case KindObservableCounter:
		_, err = m.Float64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(description),
			metric.WithFloat64Callback(in.observe))
	case KindObservableUpDownCounter:
		_, err = m.Float64ObservableUpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(description),
			metric.WithFloat64Callback(in.observe))
	case KindObservableGauge:
		_, err = m.Float64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(description),
			metric.WithFloat64Callback(in.observe))
	}
	if err != nil {
		return 0, err
	}
	t.next = h
	t.byKey[key] = h
	t.byHandle[h] = in
	return h, nil
}

// observe reports the latest value of each attribute set at a collection.
func (in *apiInstrument) observe(_ context.Context, o metric.Float64Observer) error {
	in.latestMu.Lock()
	defer in.latestMu.Unlock()
	for _, x := range in.latest {
		o.Observe(x.value, metric.WithAttributeSet(x.attrs))
	}
	return nil
}

// Record adds to a counter, records into a histogram or gauge, or sets the
// latest observation of an observable instrument for attrs' attribute set
// (reported at every collection from then on; an observable counter's value
// is the cumulative total, as the API's callbacks return it).
func (t *APIInstruments) Record(h uint64, v float64, attrs []attribute.KeyValue) error {
	t.mu.RLock()
	in, ok := t.byHandle[h]
	t.mu.RUnlock()
	if !ok {
		return ErrInstrumentHandle
	}
	ctx := context.Background()
	switch in.kind {
	case KindCounter:
		if v < 0 {
			return ErrNegative
		}
		in.counter.Add(ctx, v, metric.WithAttributes(attrs...))
	case KindUpDownCounter:
		in.updown.Add(ctx, v, metric.WithAttributes(attrs...))
	case KindHistogram:
		in.hist.Record(ctx, v, metric.WithAttributes(attrs...))
	case KindGauge:
		in.gauge.Record(ctx, v, metric.WithAttributes(attrs...))
	default:
		set := attribute.NewSet(attrs...)
		in.latestMu.Lock()
		defer in.latestMu.Unlock()
		if in.latest == nil {
			in.latest = map[attribute.Distinct]observation{}
		}
		if _, ok := in.latest[set.Equivalent()]; !ok && len(in.latest) >= MaxObservedSets {
			return ErrObservedSetsFull
		}
		in.latest[set.Equivalent()] = observation{v, set}
	}
	return nil
}
