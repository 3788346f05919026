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

// APIInstruments is the table of instruments a host's OpenTelemetry API
// bridge creates (Python's ffitel.opentelemetry): handles, so a record names
// its instrument without a lookup by name. Observable instruments are read
// at each collection: Observe(handle) asks the host to run its callbacks,
// which hand their observations back through Record while it runs.
type APIInstruments struct {
	// Observe runs the host's callbacks of an observable instrument. Set once
	// before the first observable instrument is created.
	Observe func(handle uint64)

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
	attrs []attribute.KeyValue
}

type apiInstrument struct {
	kind    InstrumentKind
	counter metric.Float64Counter
	updown  metric.Float64UpDownCounter
	hist    metric.Float64Histogram
	gauge   metric.Float64Gauge

	collect    sync.Mutex // one collection at a time
	pendingMu  sync.Mutex
	collecting bool
	pending    []observation
}

// Errors of Create and Record.
var (
	ErrInstrumentKind   = errors.New("unknown instrument kind")
	ErrInstrumentFull   = errors.New("too many instruments (4096)")
	ErrInstrumentHandle = errors.New("unknown instrument handle")
	ErrNotObserving     = errors.New("an observable instrument records only inside its callback")
	ErrNegative         = errors.New("a counter only adds finite values >= 0")
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
			metric.WithFloat64Callback(t.callback(h, in)))
	case KindObservableUpDownCounter:
		_, err = m.Float64ObservableUpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(description),
			metric.WithFloat64Callback(t.callback(h, in)))
	case KindObservableGauge:
		_, err = m.Float64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(description),
			metric.WithFloat64Callback(t.callback(h, in)))
	}
	if err != nil {
		return 0, err
	}
	t.next = h
	t.byKey[key] = h
	t.byHandle[h] = in
	return h, nil
}

func (t *APIInstruments) callback(h uint64, in *apiInstrument) metric.Float64Callback {
	return func(_ context.Context, o metric.Float64Observer) error {
		in.collect.Lock()
		defer in.collect.Unlock()
		in.pendingMu.Lock()
		in.collecting, in.pending = true, nil
		in.pendingMu.Unlock()
		if t.Observe != nil {
			t.Observe(h)
		}
		in.pendingMu.Lock()
		obs := in.pending
		in.collecting, in.pending = false, nil
		in.pendingMu.Unlock()
		for _, x := range obs {
			o.Observe(x.value, metric.WithAttributes(x.attrs...))
		}
		return nil
	}
}

// Record adds to a counter, records into a histogram or gauge, or (inside
// Observe) hands an observation of an observable instrument back.
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
		in.pendingMu.Lock()
		defer in.pendingMu.Unlock()
		if !in.collecting {
			return ErrNotObserving
		}
		in.pending = append(in.pending, observation{v, attrs})
	}
	return nil
}
