package bootstrap

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr/funcr"
	"go.opentelemetry.io/otel"
)

// ffitel's own voice on the console: lifecycle notices, loss reports and
// the OpenTelemetry SDK's diagnostics, with secrets redacted.

// lossInterval is how often losses (dropped records, events) are reported.
func (rt *Runtime) lossInterval() time.Duration {
	if rt.opts.LossReportInterval > 0 {
		return rt.opts.LossReportInterval
	}
	return 10 * time.Second
}

// routeSDKDiagnostics sends the OpenTelemetry SDK's errors and internal log
// lines to ffitel's console warnings, with header values and URL passwords
// replaced. It runs before the exporters are built, because they report a
// malformed OTEL_EXPORTER_OTLP_HEADERS by quoting it. The SDK's complaints
// about the environment are dropped (see sdkDiagnosticFilter): LoadConfig
// has already said it once, naming the variable and the value used.
func (rt *Runtime) routeSDKDiagnostics() {
	secrets := rt.cfg.secretValues()
	f := newSDKDiagnosticFilter(rt.cfg.invalid)
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		if msg := err.Error(); f.keep(msg) {
			rt.internal.Warn("opentelemetry error", slog.String("error", redactSecrets(msg, secrets)))
		}
	}))
	otel.SetLogger(funcr.New(func(prefix, args string) {
		if line := strings.TrimSpace(prefix + " " + args); f.keep(line) {
			rt.internal.Warn("opentelemetry", slog.String("detail", redactSecrets(line, secrets)))
		}
	}, funcr.Options{}))
}

// sdkDiagnosticFilter decides which SDK diagnostics reach the console. The
// SDK's exporters read the OTLP variables themselves and complain about a
// bad value with the raw value (which may hold a password), once per
// exporter and per reading; LoadConfig validates the same variables and
// warns once. So a diagnostic that names a variable LoadConfig reported, or
// that is one of the SDK's environment-parsing complaints (which do not
// name the variable), is dropped; any other is shown, each distinct text
// once a minute at most.
type sdkDiagnosticFilter struct {
	invalid []string
	mu      sync.Mutex
	seen    map[string]time.Time
}

// envParseMessages are the messages of the SDK's environment parsing
// (otlp internal/envconfig), which carry the raw value but not the name.
var envParseMessages = []string{`"msg"="parse url"`, `"msg"="parse duration"`, `"msg"="parse headers"`,
	`"msg"="escape header value"`, `"msg"="parse bool"`, `"msg"="parse compression"`}

func newSDKDiagnosticFilter(invalid []string) *sdkDiagnosticFilter {
	return &sdkDiagnosticFilter{invalid: invalid, seen: map[string]time.Time{}}
}

func (f *sdkDiagnosticFilter) keep(msg string) bool {
	for _, k := range f.invalid {
		if strings.Contains(msg, k) {
			return false
		}
	}
	for _, m := range envParseMessages {
		if strings.Contains(msg, m) {
			return false
		}
	}
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if t, ok := f.seen[msg]; ok && now.Sub(t) < time.Minute {
		return false
	}
	if len(f.seen) > 256 {
		clear(f.seen)
	}
	f.seen[msg] = now
	return true
}

// watchEventDrops warns, every interval, how many events the in-process
// bus dropped from full poll queues (a subscriber that does not poll fast
// enough): drops are counted in the stats and never silent.
func (rt *Runtime) watchEventDrops(interval time.Duration, stop chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var reported uint64
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if d := rt.events.Router().Bus().Stats().FFIChannelDrops; d > reported {
				rt.internal.Warn("domain events dropped from full subscriber queues in the last interval",
					slog.Uint64("dropped", d-reported), slog.Uint64("total", d))
				reported = d
			}
		}
	}
}

// notice logs one of ffitel's own lifecycle lines (configuration warnings,
// the resolved configuration, why export is off). They bypass LOG_LEVEL:
// an operator who sets LOG_LEVEL=error still learns that export is off.
func (rt *Runtime) notice(level slog.Level, msg string, attrs ...slog.Attr) {
	r := slog.NewRecord(time.Now(), level, msg, 0)
	r.AddAttrs(attrs...)
	r.AddAttrs(slog.String("component", "ffitel"))
	_ = rt.handler.Handle(context.Background(), r)
	if rt.asyncOut != nil { // written at once, like an error (caller holds rt.mu)
		_ = rt.asyncOut.Flush()
	}
}

func (rt *Runtime) lossReporter(what string) func(dropped, failed uint64, lastErr error) {
	return func(dropped, failed uint64, lastErr error) {
		attrs := []any{slog.Uint64("dropped", dropped), slog.Uint64("failed", failed)}
		if lastErr != nil {
			attrs = append(attrs, slog.String("last_error", lastErr.Error()))
		}
		rt.internal.Warn("telemetry loss: "+what+" not exported in the last interval", attrs...)
	}
}
