package bootstrap

import (
	"context"
	"log/slog"
)

type fieldsKey struct{}

// WithFields returns a context whose log records carry attrs, in addition to
// any fields ctx already carries. A later field with the same key replaces the
// earlier one, so a step can narrow a correlation id its job set.
//
// Fields flow the way a parent span's context flows into its children: every
// record logged with the returned context (or one derived from it) carries
// them, on the console and in the OTLP export.
func WithFields(ctx context.Context, attrs ...slog.Attr) context.Context {
	if len(attrs) == 0 {
		return ctx
	}
	old := Fields(ctx)
	merged := make([]slog.Attr, 0, len(old)+len(attrs))
	for _, a := range old {
		if !containsKey(attrs, a.Key) {
			merged = append(merged, a)
		}
	}
	for i, a := range attrs {
		if !containsKey(attrs[i+1:], a.Key) {
			merged = append(merged, a)
		}
	}
	return context.WithValue(ctx, fieldsKey{}, merged)
}

// Fields returns the fields attached to ctx by WithFields. The slice must not
// be modified.
func Fields(ctx context.Context) []slog.Attr {
	if ctx == nil {
		return nil
	}
	f, _ := ctx.Value(fieldsKey{}).([]slog.Attr)
	return f
}

func containsKey(attrs []slog.Attr, key string) bool {
	for _, a := range attrs {
		if a.Key == key {
			return true
		}
	}
	return false
}
