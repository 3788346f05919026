package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/log/global"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ffitel/ffitel/events"
	"github.com/ffitel/ffitel/metrics"
)

// State is a lifecycle phase. The numbers are those of ffitel_phase.
type State int32

const (
	StateNone      State = 0 // nothing initialised yet
	StateConsole   State = 1 // phase 1: console only
	StateTelemetry State = 2 // phase 2 (also when exporting is off; Stats says so)
	StateShutdown  State = 3 // shut down: console only, nothing exported
)

func (s State) String() string {
	switch s {
	case StateConsole:
		return "console"
	case StateTelemetry:
		return "telemetry"
	case StateShutdown:
		return "shutdown"
	}
	return "none"
}

// ScopeName is the instrumentation scope of ffitel's own logs, spans and
// metrics.
const ScopeName = "github.com/ffitel/ffitel"

// ErrShutdown is returned by InitTelemetry after Shutdown.
var ErrShutdown = errors.New("ffitel: already shut down")

// Options tune a Runtime. The zero value reads the process environment and
// writes to stderr or stdout as FFITEL_LOG_OUTPUT says.
type Options struct {
	// Getenv replaces os.Getenv (tests) for ffitel's own configuration.
	// The OTLP exporters still read their variables (endpoints, headers,
	// TLS, compression) from the process environment themselves, as the
	// SDK does: set those with os.Setenv (t.Setenv) too.
	Getenv func(string) string
	// Output replaces the console writer (tests, benchmarks).
	Output io.Writer
	// SetGlobals makes phase 2 set the OpenTelemetry globals (tracer, meter
	// and logger providers, propagator, error handler) and phase 1 the
	// slog default. The package-level functions use a Runtime with it set.
	SetGlobals bool
	// LossReportInterval is how often dropped or failed items are reported
	// on the console; zero means 10 s.
	LossReportInterval time.Duration

	// testExporters, when set, replaces the exporters phase 2 builds from
	// the environment (in-package tests: fakes without a network).
	testExporters *exporters
	// testRouteDiagnostics routes the SDK's diagnostics (a process-wide
	// setting) without setting the provider globals.
	testRouteDiagnostics bool
}

// Runtime is one ffitel lifecycle. Most programs use the package-level
// functions, which share a process-wide Runtime; tests create their own.
type Runtime struct {
	cfg      Config
	warnings []string
	opts     Options
	out      io.Writer

	mu    sync.Mutex // serialises transitions
	state atomic.Int32
	gen   uint64
	route atomic.Pointer[route] // where the Handler sends records now

	console slog.Handler // the ConsoleHandler, or a discarding one for FFITEL_LOG_OUTPUT=none
	// asyncOut is the phase-2 console (see asyncconsole.go) and console2
	// the console handler it formats with; nil before phase 2 and for
	// FFITEL_LOG_OUTPUT=none.
	asyncOut *asyncConsole
	console2 slog.Handler
	internal *slog.Logger // console only: loss reports, exporter errors
	early    *EarlyBuffer
	spanEnds *spanRouter
	tasks    *metrics.Tasks
	events   *events.Publisher

	watchStop chan struct{} // stops watchEventDrops

	self         *selfMetrics // pipeline metrics and export health; nil if they could not be registered
	promHandler  http.Handler // serves /metrics; set when Prometheus is wanted and linked
	promUnlinked bool         // Prometheus wanted, bootstrap/promexport not imported
	endpoint     *metricsEndpoint
	handler      *Handler
	// spooledHandler handles records the C writer already spooled: the
	// console only (FFITEL_SPOOL_DIR, spool.go).
	spooledHandler *Handler
	consoleOff     bool // FFITEL_LOG_OUTPUT=none: records go nowhere but OTLP (and the spool)
	logger         *slog.Logger

	res        *resource.Resource
	tp         *tracerProvider
	mp         *sdkmetric.MeterProvider
	reader     *sdkmetric.ManualReader
	propagator propagation.TextMapPropagator

	export         *exportPipeline // phase 2's export path; nil when export is off
	disabledReason string          // why export is off; "" when export is nil

	spansEndedAtShutdown atomic.Uint64
	inputErrors          atomic.Uint64
}

// New resolves the configuration and returns a Runtime in StateNone. It does
// nothing else: no output, no goroutine, no network.
func New(opts Options) *Runtime {
	cfg, warnings := LoadConfig(opts.Getenv)
	return &Runtime{cfg: cfg, warnings: warnings, opts: opts, disabledReason: "phase 2 not started"}
}

// Config returns the resolved configuration.
func (rt *Runtime) Config() Config { return rt.cfg }

// Phase returns the current lifecycle state.
func (rt *Runtime) Phase() State { return State(rt.state.Load()) }

// InitConsoleOnly starts phase 1: console logging, a tracer provider that
// records but does not export, and a meter provider whose counts phase 2
// will export. It opens no socket, starts no goroutine and sets no
// OpenTelemetry global. It is idempotent.
func (rt *Runtime) InitConsoleOnly() error {
	if rt.Phase() != StateNone {
		return nil
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.Phase() != StateNone {
		return nil
	}
	out := rt.opts.Output
	format := rt.cfg.LogFormat
	if out == nil {
		f := os.Stderr
		if rt.cfg.LogOutput == "stdout" {
			f = os.Stdout
		}
		out = f
		format = ResolveConsoleFormat(format, f, rt.cfg.NoColor)
	} else {
		format = ResolveConsoleFormat(format, nil, true)
	}
	rt.out = out
	console := NewConsoleHandler(out, &ConsoleOptions{Level: rt.cfg.Level, Format: format})
	rt.console = console
	if rt.cfg.LogOutput == "none" && rt.opts.Output == nil {
		// Records go to OTLP only; ffitel's own warnings (loss reports,
		// exporter errors) still reach stderr.
		rt.console = slog.DiscardHandler
		rt.consoleOff = true
		rt.out = io.Discard
		console = NewConsoleHandler(os.Stderr, &ConsoleOptions{Level: slog.LevelWarn, Format: format})
	}
	rt.internal = slog.New(newRedactingHandler(console, rt.cfg.secretValues())).With(slog.String("component", "ffitel"))
	rt.early = newEarlyBuffer(rt.cfg.EarlyBuffer)
	rt.spanEnds = newSpanRouter(rt.cfg.EarlyBuffer)
	rt.handler = &Handler{level: rt.cfg.Level, route: &rt.route}
	rt.spooledHandler = &Handler{level: rt.cfg.Level, route: &rt.route, spooled: true}
	rt.logger = slog.New(rt.handler)

	rt.res = newResource(rt.cfg)
	rt.propagator = newPropagator(rt.cfg)
	rt.tp = newTracerProvider(rt.res, newSampler(rt.cfg), newIDGenerator(), sdktrace.NewSpanLimits(), rt.spanEnds)
	rt.reader = sdkmetric.NewManualReader(metricReaderOptions(rt.cfg)...)
	mpOpts := []sdkmetric.Option{sdkmetric.WithResource(rt.res), sdkmetric.WithReader(rt.reader)}
	if prom, h, linked, err := promReader(rt.cfg); err != nil {
		rt.warnings = append(rt.warnings, "prometheus exporter could not be built: "+err.Error())
	} else if prom != nil {
		mpOpts = append(mpOpts, sdkmetric.WithReader(prom))
		rt.promHandler = h
	} else {
		rt.promUnlinked = !linked
	}
	rt.mp = sdkmetric.NewMeterProvider(mpOpts...)
	// RED metrics from spans that ask for them (metric_name attribute).
	rt.tp.RegisterSpanProcessor(metrics.NewSpanMetrics(rt.mp, ScopeName))
	mode, _ := metrics.ParsePropagation(rt.cfg.TaskPropagation) // validated by LoadConfig
	tasks, err := metrics.NewTasks(rt.tp, rt.mp, rt.propagator, mode, ScopeName)
	if err != nil {
		return err
	}
	rt.tasks = tasks
	rt.events, err = events.NewPublisher(events.NewRouter(events.NewBus(0)), rt.tp, rt.mp, rt.propagator,
		rt.logger, rt.cfg.MetricsNamespace, ScopeName, rt.cfg.WorkerID)
	if err != nil {
		return err
	}

	if rt.self, err = newSelfMetrics(rt.mp, rt.cfg.HealthFailAfter, rt.early, rt.spanEnds, rt.events, &rt.inputErrors,
		func(s string) string { return redactSecrets(s, rt.cfg.secretValues()) }); err != nil {
		rt.warnings = append(rt.warnings, "pipeline metrics could not be registered: "+err.Error())
	}

	rt.gen++
	rt.route.Store(&route{gen: rt.gen, console: rt.console, early: rt.early})
	rt.state.Store(int32(StateConsole))
	if rt.opts.SetGlobals {
		slog.SetDefault(rt.logger)
	}
	for _, w := range rt.warnings {
		rt.notice(slog.LevelWarn, w)
	}
	return nil
}

// InitTelemetry starts phase 2, running phase 1 first if needed. Loggers
// made earlier now also export; the phase-1 records are replayed with their
// original timestamps. It never waits on the network. When exporting is off
// (TELEMETRY_ENABLED, OTEL_SDK_DISABLED) or the exporters cannot be built,
// it stays console-only, says why in one log line, and returns nil.
// It is idempotent; after Shutdown it returns ErrShutdown.
func (rt *Runtime) InitTelemetry(ctx context.Context) error {
	if err := rt.InitConsoleOnly(); err != nil {
		return err
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	switch rt.Phase() {
	case StateTelemetry:
		return nil
	case StateShutdown:
		return ErrShutdown
	}
	defer rt.notice(slog.LevelInfo, "ffitel telemetry configuration", slog.Any("config", slog.GroupValue(rt.cfg.LogAttrs()...)))
	rt.startServices(ctx)

	if reason := rt.cfg.ExportReason(); reason != "" {
		rt.consoleOnly(reason)
		rt.notice(slog.LevelInfo, "telemetry export is off; phase 2 stays console-only", slog.String("reason", reason))
		return nil
	}
	if rt.opts.SetGlobals || rt.opts.testRouteDiagnostics {
		rt.routeSDKDiagnostics()
	}
	exps, err := exporters{}, error(nil)
	if rt.opts.testExporters != nil {
		exps = *rt.opts.testExporters
	} else {
		exps, err = newExporters(ctx, rt.cfg, rt.out)
	}
	if err != nil {
		reason := "exporters could not be built: " + strings.TrimPrefix(err.Error(), "ffitel: ")
		rt.consoleOnly(reason)
		rt.notice(slog.LevelWarn, "telemetry export is off; phase 2 stays console-only", slog.String("reason", reason))
		return nil
	}
	rt.export = newExportPipeline(exps, pipelineSettings{cfg: rt.cfg, res: rt.res, reader: rt.reader,
		lossInterval: rt.lossInterval(), lossReporter: rt.lossReporter, warn: rt.internal.Warn, self: rt.self})
	if rt.self != nil {
		rt.self.pipeline.Store(rt.export)
	}
	rt.disabledReason = ""
	rt.spanEnds.setSpool(rt.export.spool)
	rt.spanEnds.upgrade(rt.export.spanQueue())
	if rt.opts.SetGlobals {
		otel.SetTracerProvider(rt.tp)
		otel.SetMeterProvider(rt.mp)
		otel.SetTextMapPropagator(rt.propagator)
		if rt.export.lp != nil {
			global.SetLoggerProvider(rt.export.lp)
		}
	}

	// Store the new route before draining the early buffer: a record that
	// finds the buffer closed reloads and finds the export path.
	logs := rt.export.logQueue()
	r2 := rt.phase2Route(logs)
	r2.spool = rt.export.spool
	rt.route.Store(r2)
	rt.state.Store(int32(StateTelemetry))
	early := rt.early.drain()
	if logs == nil {
		rt.early.countReplayed(0, len(early))
		return nil
	}
	replayed := 0
	for _, e := range early {
		if logs.add(e) { // a refused record is counted as dropped
			replayed++
		}
	}
	rt.early.countReplayed(replayed, 0)
	rt.reportEarlyOverflow()
	return nil
}

// reportEarlyOverflow warns once, at the upgrade, when phase 1 kept fewer
// records or spans than it saw: those reached the console only, never the
// collector, and nothing is lost without a word.
func (rt *Runtime) reportEarlyOverflow() {
	logs := rt.early.stats().Overflowed
	_, spans, _, _ := rt.spanEnds.stats()
	if logs == 0 && spans == 0 {
		return
	}
	rt.internal.Warn(fmt.Sprintf("phase 1 kept only the last %d log records and spans for replay; the older ones reached the console only (raise %s)",
		rt.cfg.EarlyBuffer, envEarlyBuffer),
		slog.Uint64("log_records_not_replayed", logs), slog.Uint64("spans_not_replayed", spans))
}

// startServices starts what phase 2 runs with or without OTLP export: the
// durable event sink, the metrics endpoint and the event-drop reports.
// Caller holds rt.mu.
func (rt *Runtime) startServices(ctx context.Context) {
	// The durable event sink connects now, never in phase 1.
	if url := rt.cfg.EventsDurableURL; url != "" {
		sink, err := events.OpenSink(ctx, url)
		if err != nil {
			rt.notice(slog.LevelWarn, "durable event sink not opened; durable publishes will fail",
				slog.String("url", RedactURL(url)), slog.String("error", redactSecrets(err.Error(), rt.cfg.secretValues())))
		} else {
			rt.events.Router().SetSink(sink)
		}
	}
	if rt.promUnlinked {
		rt.notice(slog.LevelWarn, "/metrics serves no Prometheus text: "+promNotLinked,
			slog.String("metrics_addr", rt.cfg.MetricsAddr), slog.String("metrics_exporter", rt.cfg.MetricsExporter))
	}
	if rt.cfg.MetricsAddr != "" {
		ep, err := rt.startEndpoint(rt.cfg.MetricsAddr, rt.promHandler, !rt.promUnlinked)
		if err != nil {
			rt.notice(slog.LevelWarn, "metrics endpoint not started ("+envMetricsAddr+")", slog.String("addr", rt.cfg.MetricsAddr),
				slog.String("error", err.Error()))
		} else {
			rt.endpoint = ep
			rt.notice(slog.LevelInfo, "serving /metrics, /metrics/events and /healthz", slog.String("addr", ep.addr))
		}
	}
	rt.watchStop = make(chan struct{})
	go rt.watchEventDrops(rt.lossInterval(), rt.watchStop)
}

// phase2Route returns a phase-2 route: phase 1's console, formatted and
// written by an asyncConsole so the host thread does not wait for it.
// Caller holds rt.mu.
func (rt *Runtime) phase2Route(export *batcher[logItem]) *route {
	if rt.console2 == nil {
		rt.console2 = rt.console
		if ch, ok := rt.console.(*ConsoleHandler); ok {
			rt.asyncOut = newAsyncConsole(ch.w)
			rt.console2 = ch.withWriter(asyncSink{rt.asyncOut})
		}
	}
	rt.gen++
	return &route{gen: rt.gen, console: rt.console2, async: rt.asyncOut, export: export}
}

// consoleOnly enters phase 2 without exporting. Caller holds rt.mu.
func (rt *Runtime) consoleOnly(reason string) {
	rt.disabledReason = reason
	rt.route.Store(rt.phase2Route(nil))
	rt.state.Store(int32(StateTelemetry))
	rt.early.countReplayed(0, len(rt.early.drain()))
	rt.spanEnds.upgrade(nil)
}

// Shutdown flushes and stops everything, bounded by ctx's deadline, or by
// FFITEL_SHUTDOWN_TIMEOUT_MS when ctx has none, with the collector up or down.
// Whatever cannot be sent in time is counted as dropped. Logging keeps
// working afterwards, to the console only. It is idempotent.
func (rt *Runtime) Shutdown(ctx context.Context) error {
	_ = rt.InitConsoleOnly() // logging after Shutdown needs the console
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, rt.cfg.ShutdownTimeout)
		defer cancel()
	}
	// Stop the endpoint before taking rt.mu: an in-flight /metrics/events
	// request needs rt.mu for the stats, and the server waits for it.
	rt.mu.Lock()
	ep := rt.endpoint
	rt.endpoint = nil
	rt.mu.Unlock()
	ep.shutdown(ctx)

	rt.mu.Lock()
	defer rt.mu.Unlock()
	prev := rt.Phase()
	if prev == StateShutdown || prev == StateNone {
		if prev == StateNone {
			rt.state.Store(int32(StateShutdown))
		}
		return nil
	}
	if rt.watchStop != nil {
		close(rt.watchStop)
		rt.watchStop = nil
	}

	// From now on records go to the console only, written synchronously.
	// The phase-2 console closes first: until the new pipeline is stored,
	// records reaching it are written after what it holds, in order.
	if rt.asyncOut != nil {
		_ = rt.asyncOut.Close(ctx)
	}
	rt.gen++
	rt.route.Store(&route{gen: rt.gen, console: rt.console})
	rt.state.Store(int32(StateShutdown))
	if prev == StateConsole {
		rt.early.countReplayed(0, len(rt.early.drain()))
		rt.spanEnds.upgrade(nil)
	}

	err := rt.export.shutdown(ctx)
	_ = rt.events.Router().Close(ctx)
	_ = rt.tp.Shutdown(ctx)
	_ = rt.mp.Shutdown(ctx)
	rt.reportUndelivered()
	return err
}

// reportUndelivered ends a shutdown with one line stating what was not
// delivered over the process's life, when anything was not: nothing is
// lost without a word, even when the process exits right after.
func (rt *Runtime) reportUndelivered() {
	var attrs []any
	lost := uint64(0)
	for _, sig := range []struct {
		name  string
		stats func() metrics.SignalStats
	}{{"log_records", statsOf(rt.export.logQueue())}, {"spans", statsOf(rt.export.spanQueue())}} {
		s := sig.stats()
		if n := s.Dropped + s.Failed + s.Pending; n > 0 {
			lost += n
			attrs = append(attrs, slog.Group(sig.name, slog.Uint64("emitted", s.Emitted),
				slog.Uint64("exported", s.Exported), slog.Uint64("dropped", s.Dropped),
				slog.Uint64("failed", s.Failed), slog.Uint64("pending", s.Pending)))
		}
	}
	if lost > 0 {
		rt.internal.Warn(fmt.Sprintf("telemetry shutdown: %d items not delivered", lost), attrs...)
	}
}

func statsOf[T any](b *batcher[T]) func() metrics.SignalStats {
	return func() metrics.SignalStats {
		if b == nil {
			return metrics.SignalStats{}
		}
		return b.stats()
	}
}

// Logger returns the process logger, starting phase 1 if needed. It stays
// valid across the upgrade and after shutdown.
func (rt *Runtime) Logger() *slog.Logger {
	_ = rt.InitConsoleOnly()
	return rt.logger
}

// Handler returns the swappable handler behind Logger.
func (rt *Runtime) Handler() slog.Handler {
	_ = rt.InitConsoleOnly()
	return rt.handler
}

// SpooledHandler is Handler for records the spool's C writer already put on
// disk: they go to the console, and to the collector from the spool.
func (rt *Runtime) SpooledHandler() slog.Handler {
	_ = rt.InitConsoleOnly()
	return rt.spooledHandler
}

// ConsoleOff reports whether records have no console (FFITEL_LOG_OUTPUT=none
// and no Options.Output): a record the spool's C writer took then needs
// nothing from Go (cshim/ring.c skips the ring for it).
func (rt *Runtime) ConsoleOff() bool {
	_ = rt.InitConsoleOnly()
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.consoleOff
}

// TracerProvider returns the tracer provider: recording in phase 1,
// exporting from phase 2.
func (rt *Runtime) TracerProvider() trace.TracerProvider {
	_ = rt.InitConsoleOnly()
	return rt.tp
}

// MeterProvider returns the meter provider. Counts made in phase 1 are
// exported from phase 2 on.
func (rt *Runtime) MeterProvider() metric.MeterProvider {
	_ = rt.InitConsoleOnly()
	return rt.mp
}

// LoggerProvider returns the OpenTelemetry logger provider of phase 2, or a
// no-op provider when phase 2 does not export.
func (rt *Runtime) LoggerProvider() otellog.LoggerProvider {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.export == nil || rt.export.lp == nil {
		return global.GetLoggerProvider()
	}
	return rt.export.lp
}

// Events returns the domain-event publisher (its Router and Bus hold the
// subscriptions and the durable sink).
func (rt *Runtime) Events() *events.Publisher {
	_ = rt.InitConsoleOnly()
	return rt.events
}

func (rt *Runtime) eventsIfStarted() *events.Publisher {
	if rt.Phase() == StateNone {
		return nil
	}
	return rt.events
}

// Tasks returns the job instrumentation: producer spans, per-attempt
// consumer spans and the messaging metrics.
func (rt *Runtime) Tasks() *metrics.Tasks {
	_ = rt.InitConsoleOnly()
	return rt.tasks
}

// Propagator returns the configured text-map propagator (OTEL_PROPAGATORS).
func (rt *Runtime) Propagator() propagation.TextMapPropagator {
	_ = rt.InitConsoleOnly()
	return rt.propagator
}
