package bootstrap

import (
	"log/slog"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
)

type valuer struct{}

func (valuer) LogValue() slog.Value { return slog.StringValue("resolved") }

func TestAttributeValue(t *testing.T) {
	at := time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)
	cases := []struct {
		in   slog.Value
		want attribute.Value
	}{
		{slog.StringValue("s"), attribute.StringValue("s")},
		{slog.Int64Value(-3), attribute.Int64Value(-3)},
		{slog.Uint64Value(7), attribute.Int64Value(7)},
		{slog.Float64Value(1.5), attribute.Float64Value(1.5)},
		{slog.BoolValue(true), attribute.BoolValue(true)},
		{slog.DurationValue(time.Second), attribute.Int64Value(int64(time.Second))},
		{slog.TimeValue(at), attribute.StringValue("2024-01-02T03:04:05.000000006Z")},
		{slog.AnyValue(valuer{}), attribute.StringValue("resolved")},
		{slog.AnyValue([]string{"a", "b"}), attribute.StringSliceValue([]string{"a", "b"})},
		{slog.AnyValue([]int64{1, 2}), attribute.Int64SliceValue([]int64{1, 2})},
		{slog.AnyValue([]float64{0.5}), attribute.Float64SliceValue([]float64{0.5})},
		{slog.AnyValue([]bool{true, false}), attribute.BoolSliceValue([]bool{true, false})},
		{slog.AnyValue(struct{ A int }{4}), attribute.StringValue("{4}")},
	}
	for _, c := range cases {
		if got := AttributeValue(c.in); got != c.want {
			t.Errorf("AttributeValue(%v) = %v (%v), want %v (%v)", c.in, got.Emit(), got.Type(), c.want.Emit(), c.want.Type())
		}
	}
	kv := KeyValues([]slog.Attr{slog.String("k", "v"), slog.Int("n", 2)})
	if len(kv) != 2 || kv[0] != attribute.String("k", "v") || kv[1] != attribute.Int("n", 2) {
		t.Errorf("KeyValues = %v", kv)
	}
	if KeyValues(nil) != nil {
		t.Error("KeyValues(nil) != nil")
	}
}
