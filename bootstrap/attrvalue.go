package bootstrap

import (
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
)

// AttributeValue converts a slog value to an OpenTelemetry attribute value.
// Strings, integers, floats and booleans keep their type (uint64 becomes
// int64, a duration its nanoseconds, a time RFC 3339 text); a LogValuer is
// resolved; []string, []int64, []float64 and []bool held as KindAny become
// slices. Anything else becomes its fmt text.
func AttributeValue(v slog.Value) attribute.Value {
	switch v.Kind() {
	case slog.KindString:
		return attribute.StringValue(v.String())
	case slog.KindInt64:
		return attribute.Int64Value(v.Int64())
	case slog.KindUint64:
		return attribute.Int64Value(int64(v.Uint64()))
	case slog.KindFloat64:
		return attribute.Float64Value(v.Float64())
	case slog.KindBool:
		return attribute.BoolValue(v.Bool())
	case slog.KindDuration:
		return attribute.Int64Value(int64(v.Duration()))
	case slog.KindTime:
		return attribute.StringValue(v.Time().Format(time.RFC3339Nano))
	case slog.KindLogValuer:
		return AttributeValue(v.Resolve())
	case slog.KindAny:
		switch s := v.Any().(type) {
		case []string:
			return attribute.StringSliceValue(s)
		case []int64:
			return attribute.Int64SliceValue(s)
		case []float64:
			return attribute.Float64SliceValue(s)
		case []bool:
			return attribute.BoolSliceValue(s)
		}
	}
	return attribute.StringValue(fmt.Sprint(v.Any()))
}

// KeyValues converts slog attributes to OpenTelemetry attributes with
// AttributeValue; it returns nil for none.
func KeyValues(attrs []slog.Attr) []attribute.KeyValue {
	if len(attrs) == 0 {
		return nil
	}
	out := make([]attribute.KeyValue, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, attribute.KeyValue{Key: attribute.Key(a.Key), Value: AttributeValue(a.Value)})
	}
	return out
}
