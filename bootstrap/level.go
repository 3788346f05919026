package bootstrap

import "log/slog"

// ffitel's levels are slog levels placed so that the OpenTelemetry bridge
// maps them to the severity numbers of the same name: severity = level + 9.
// slog.LevelDebug (-4) is DEBUG (5), slog.LevelInfo (0) INFO (9) and so on.
const (
	// LevelTrace is the slog level ffitel uses for TRACE (OpenTelemetry severity 1).
	LevelTrace = slog.Level(-8)
	// LevelFatal is the slog level ffitel uses for FATAL (OpenTelemetry severity 21).
	LevelFatal = slog.Level(12)
)

// severityOffset is the distance between a slog level and the
// OpenTelemetry severity number the otelslog bridge gives it.
const severityOffset = 9

// The OpenTelemetry severity numbers, 1 (TRACE) to 24 (FATAL4).
const (
	minSeverity = 1
	maxSeverity = 24
)

// LevelFromSeverity returns the slog level of an OpenTelemetry severity
// number (1..24), the one the OTLP bridge maps back to the same number. It
// reports false, with slog.LevelInfo, for a number outside that range.
func LevelFromSeverity(severity int32) (slog.Level, bool) {
	if severity < minSeverity || severity > maxSeverity {
		return slog.LevelInfo, false
	}
	return slog.Level(severity - severityOffset), true
}

// SeverityFromLevel returns the OpenTelemetry severity number of a slog
// level, clamped to 1..24.
func SeverityFromLevel(l slog.Level) int32 {
	return min(max(int32(l)+severityOffset, minSeverity), maxSeverity)
}

// LevelName is the name ffitel prints for a slog level: the name of its
// band. Levels between two named ones (slog.LevelInfo+2) take the lower
// name, as OpenTelemetry severity ranges do; anything below
// slog.LevelDebug is TRACE.
func LevelName(l slog.Level) string {
	_, name := levelBand(l)
	return name
}

// levelBands are the named levels, highest first, with the console colour of
// each.
var levelBands = [...]struct {
	min   slog.Level
	name  string
	color string
}{
	{LevelFatal, "FATAL", "\x1b[1;31m"},
	{slog.LevelError, "ERROR", "\x1b[31m"},
	{slog.LevelWarn, "WARN", "\x1b[33m"},
	{slog.LevelInfo, "INFO", "\x1b[32m"},
	{slog.LevelDebug, "DEBUG", "\x1b[34m"},
}

const traceColor = ansiDim

// levelBand returns the console colour and the name of l's band.
func levelBand(l slog.Level) (color, name string) {
	for _, b := range levelBands {
		if l >= b.min {
			return b.color, b.name
		}
	}
	return traceColor, "TRACE"
}

// parseLevel reads a LOG_LEVEL value (lower case, trimmed).
func parseLevel(v string) (slog.Level, bool) {
	switch v {
	case "trace":
		return LevelTrace, true
	case "debug":
		return slog.LevelDebug, true
	case "info":
		return slog.LevelInfo, true
	case "warn", "warning":
		return slog.LevelWarn, true
	case "error":
		return slog.LevelError, true
	}
	return 0, false
}
