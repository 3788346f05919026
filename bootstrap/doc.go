// Package bootstrap owns the ffitel lifecycle: configuration from the
// environment, the console handler, the swappable slog handler that is
// upgraded in place, the phase-2 OpenTelemetry providers, early-record
// replay, loss accounting and bounded shutdown.
//
// A worker starts in two steps:
//
//	bootstrap.InitConsoleOnly()             // phase 1: console only, no network, no goroutines
//	...                                     // wire up the rest of the process
//	bootstrap.InitTelemetry(ctx)            // phase 2: the same loggers now also export
//	defer bootstrap.Shutdown(context.Background())
//
// Everything logged in phase 1 (up to FFITEL_EARLY_BUFFER records) is replayed
// to OTLP with its original timestamp, and counters recorded in phase 1 keep
// their values. Configuration is read from the environment only; see the
// README for the table of variables.
package bootstrap
