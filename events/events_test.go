package events

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

var md = Metadata{Namespace: "payments", CorrelationID: "corr-1", TaskUUID: "t-1"}

func TestNewEventValidatesAndOrdersIDs(t *testing.T) {
	for _, c := range []struct {
		name string
		md   Metadata
		want string
	}{{"", md, "event_name"}, {"x", Metadata{CorrelationID: "c"}, "namespace"}, {"x", Metadata{Namespace: "n"}, "correlation_id"}} {
		if _, err := NewEvent(c.name, nil, c.md); !errors.Is(err, ErrInvalidEvent) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewEvent(%q, %+v) = %v, want an error naming %s", c.name, c.md, err, c.want)
		}
	}
	if _, err := NewEvent("x", json.RawMessage("{oops"), md); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("bad payload accepted: %v", err)
	}
	var ids []string
	for i := 0; i < 100; i++ {
		ev, err := NewEvent("x", nil, md)
		if err != nil {
			t.Fatal(err)
		}
		if ev.EventVersion != "1.0" || string(ev.Payload) != "{}" || ev.EventID[14] != '7' {
			t.Fatalf("event %+v", ev)
		}
		ids = append(ids, ev.EventID)
	}
	if !slices.IsSorted(ids) {
		t.Errorf("UUIDv7 ids not in creation order: %v", ids)
	}
}

func TestMatchPatterns(t *testing.T) {
	for _, c := range []struct {
		pattern, name string
		want          bool
	}{{"*", "a.b", true}, {"payment.*", "payment.processed", true}, {"payment.*", "payment", false},
		{"payment.*", "payments.x", false}, {"order.created", "order.created", true}, {"order.created", "order.updated", false}} {
		if got := Match(c.pattern, c.name); got != c.want {
			t.Errorf("Match(%q, %q) = %v", c.pattern, c.name, got)
		}
	}
	for p, want := range map[string]bool{"*": true, "a.*": true, "a": true, "": false, "a*b": false, "*.a": false} {
		if ValidPattern(p) != want {
			t.Errorf("ValidPattern(%q) != %v", p, want)
		}
	}
}

type memSink struct {
	events []DomainEvent
	err    error
}

func (s *memSink) Enqueue(_ context.Context, ev DomainEvent) error {
	if s.err != nil {
		return s.err
	}
	s.events = append(s.events, ev)
	return nil
}
func (s *memSink) Close() error { return nil }

func TestRouterMatrix(t *testing.T) {
	for _, c := range []struct {
		mode                      DeliveryMode
		sinkErr, handlerErr       error
		wantErr                   bool
		wantDurable, wantHandlers int
	}{
		{Durable, nil, nil, false, 1, 0},
		{Fast, nil, nil, false, 0, 1},
		{Broadcast, nil, nil, false, 1, 1},
		{Durable, errors.New("down"), nil, true, 0, 0},
		{Broadcast, errors.New("down"), nil, true, 0, 0},
		{Fast, nil, errors.New("handler failed"), false, 0, 1},
		{Broadcast, nil, errors.New("handler failed"), false, 1, 1},
	} {
		sink := &memSink{err: c.sinkErr}
		bus := NewBus(time.Second)
		var calls atomic.Int32
		bus.Subscribe("*", func(context.Context, DomainEvent) error { calls.Add(1); return c.handlerErr })
		r := NewRouter(bus)
		r.SetSink(sink)
		ev, _ := NewEvent("payment.processed", nil, md)
		_, err := r.Route(context.Background(), ev, c.mode)
		if (err != nil) != c.wantErr {
			t.Errorf("%v sinkErr=%v handlerErr=%v: err %v", c.mode, c.sinkErr, c.handlerErr, err)
		}
		if len(sink.events) != c.wantDurable || int(calls.Load()) != c.wantHandlers {
			t.Errorf("%v: durable %d handlers %d, want %d and %d", c.mode, len(sink.events), calls.Load(), c.wantDurable, c.wantHandlers)
		}
		st := r.Stats()
		if c.sinkErr != nil && st.RoutingErrors != 1 {
			t.Errorf("%v: routing errors %d", c.mode, st.RoutingErrors)
		}
		if c.handlerErr != nil && (st.FastDeliveryErrors != 1 || bus.Stats().HandlerErrors != 1) {
			t.Errorf("%v: fast errors %d handler errors %d", c.mode, st.FastDeliveryErrors, bus.Stats().HandlerErrors)
		}
		if c.mode == Broadcast && c.sinkErr == nil && sink.events[0].EventID != ev.EventID {
			t.Errorf("broadcast changed the id")
		}
	}
	r := NewRouter(NewBus(0))
	ev, _ := NewEvent("x", nil, md)
	if _, err := r.Route(context.Background(), ev, Durable); !errors.Is(err, ErrNoDurableSink) {
		t.Errorf("durable without a sink: %v", err)
	}
}

func TestBusHandlerTimeoutAndPanicAreCounted(t *testing.T) {
	bus := NewBus(50 * time.Millisecond)
	bus.Subscribe("slow", func(ctx context.Context, _ DomainEvent) error { time.Sleep(time.Second); return nil })
	bus.Subscribe("boom", func(context.Context, DomainEvent) error { panic("boom") })
	for _, name := range []string{"slow", "boom"} {
		ev, _ := NewEvent(name, nil, md)
		start := time.Now()
		if _, err := bus.Dispatch(context.Background(), ev); err == nil {
			t.Errorf("%s: no error", name)
		}
		if time.Since(start) > 900*time.Millisecond {
			t.Errorf("%s: dispatch waited for the slow handler", name)
		}
	}
	if st := bus.Stats(); st.HandlerErrors != 2 || st.GoHandlerDispatches != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestPollQueueDropsOldestAndKeepsUnconsumedEvent(t *testing.T) {
	bus := NewBus(0)
	sub := bus.SubscribeQueue("payment.*", 3)
	var ids []string
	for i := 0; i < 5; i++ {
		ev, _ := NewEvent("payment.processed", nil, md)
		ids = append(ids, ev.EventID)
		_, _ = bus.Dispatch(context.Background(), ev)
	}
	if st := bus.Stats(); st.FFIChannelDrops != 2 || st.FFIChannelDispatches != 5 {
		t.Errorf("stats %+v, want 2 drops of 5", st)
	}
	doc, taken := sub.Take(0, func(n int) bool { return false })
	if doc2, _ := sub.Take(0, func(n int) bool { return false }); taken || string(doc) != string(doc2) {
		t.Errorf("Take consumed an event that did not fit")
	}
	var got []string
	for {
		ev, ok := sub.Poll(0)
		if !ok {
			break
		}
		got = append(got, ev.EventID)
	}
	if !slices.Equal(got, ids[2:]) {
		t.Errorf("kept %v, want the newest 3 %v", got, ids[2:])
	}
	start := time.Now()
	if _, ok := sub.Poll(100 * time.Millisecond); ok || time.Since(start) < 90*time.Millisecond {
		t.Errorf("empty poll returned early or with an event")
	}
	sub.Close()
	if st := bus.Stats(); st.Subscriptions != 0 {
		t.Errorf("subscription not removed: %+v", st)
	}
}

func TestPublisherTracesCountsAndInitialisesFailed(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	p, err := NewPublisher(NewRouter(NewBus(0)), tp, mp, propagation.TraceContext{},
		slog.New(slog.NewTextHandler(io.Discard, nil)), "tasker", "test", "worker-1")
	if err != nil {
		t.Fatal(err)
	}
	sub := p.Router().Bus().SubscribeQueue("*", 10)
	ev, err := p.Publish(context.Background(), "payment.processed", json.RawMessage(`{"amount":5}`), md, Fast)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Metadata.TraceParent == "" || ev.Metadata.FiredBy != "worker-1" {
		t.Errorf("metadata %+v lacks the trace context or fired_by", ev.Metadata)
	}
	got, ok := sub.Poll(0)
	if !ok || got.EventID != ev.EventID || string(got.Payload) != `{"amount":5}` {
		t.Errorf("subscriber got %+v", got)
	}
	if _, err := p.Publish(context.Background(), "payment.processed", nil, md, Durable); err == nil {
		t.Error("durable publish without a sink succeeded")
	}
	names := map[string]bool{}
	for _, s := range rec.Ended() {
		names[s.Name()] = true
	}
	for _, n := range []string{"publish_domain_event", "route_event", "publish_fast", "publish_durable"} {
		if !names[n] {
			t.Errorf("no %s span (got %v)", n, names)
		}
	}
	var rm metricdata.ResourceMetrics
	_ = reader.Collect(context.Background(), &rm)
	values := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if sum, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, dp := range sum.DataPoints {
					mode, _ := dp.Attributes.Value("delivery_mode")
					values[m.Name+"/"+mode.AsString()] = dp.Value
				}
			}
			if m.Name == "tasker.domain_events.publish_duration" && m.Unit != "ms" {
				t.Errorf("duration unit %q", m.Unit)
			}
		}
	}
	for k, want := range map[string]int64{"tasker.domain_events.published/fast": 1, "tasker.domain_events.failed/fast": 0,
		"tasker.domain_events.failed/durable": 1} {
		if got, ok := values[k]; !ok || got != want {
			t.Errorf("%s = %d (present %v), want %d", k, got, ok, want)
		}
	}
}
