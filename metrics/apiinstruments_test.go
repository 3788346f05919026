package metrics

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// gaugePoints collects once and returns the observable gauge's points by attribute "k".
func gaugePoints(t *testing.T, r *sdkmetric.ManualReader, name string) map[string]float64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			for _, p := range m.Data.(metricdata.Gauge[float64]).DataPoints {
				v, _ := p.Attributes.Value("k")
				out[v.AsString()] = p.Value
			}
		}
	}
	return out
}

func TestObservableReportsTheLatestPushedValuePerAttributeSet(t *testing.T) {
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	var table APIInstruments
	h, err := table.Create(mp.Meter("test"), "test", KindObservableGauge, "load", "1", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := gaugePoints(t, r, "load"); len(got) != 0 {
		t.Fatalf("before any push: %v, want nothing", got)
	}
	for _, x := range []struct {
		k string
		v float64
	}{{"a", 1}, {"b", 2}, {"a", 3}} {
		if err := table.Record(h, x.v, []attribute.KeyValue{attribute.String("k", x.k)}); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]float64{"a": 3, "b": 2}
	for i := 0; i < 2; i++ { // kept across collections until the host pushes again
		got := gaugePoints(t, r, "load")
		if len(got) != 2 || got["a"] != want["a"] || got["b"] != want["b"] {
			t.Fatalf("collection %d: %v, want %v", i, got, want)
		}
	}
}
