package bootstrap

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/metric"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ffitel/ffitel/metrics"
)

// Doctor exit statuses, as `ffitel doctor` returns them.
const (
	DoctorOK       = 0 // every exported signal got through
	DoctorFailed   = 1 // at least one exported signal did not
	DoctorDisabled = 2 // export is off (DoctorReport.DisabledReason says why)
)

// DoctorSetting is one line of the resolved configuration, fit to print
// (header values and URL passwords redacted).
type DoctorSetting struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// DoctorSignal is the result of sending one test item of a signal.
type DoctorSignal struct {
	Signal   string `json:"signal"`   // logs, traces, metrics
	Exporter string `json:"exporter"` // otlp, console, none, prometheus
	Endpoint string `json:"endpoint"` // where it was sent (redacted); "" when not OTLP
	Protocol string `json:"protocol,omitempty"`
	// Tested is false when the signal is not pushed (exporter none, or
	// metrics scraped from the Prometheus endpoint); OK and Millis are then
	// meaningless.
	Tested bool   `json:"tested"`
	OK     bool   `json:"ok"`
	Millis int64  `json:"ms"`
	Error  string `json:"error,omitempty"` // the exporter's error, redacted
}

// DoctorReport is what Runtime.Doctor found: the configuration, the result
// per signal and the pipeline stats afterwards.
type DoctorReport struct {
	Version        string                `json:"version"`
	ExitCode       int                   `json:"exit_code"` // DoctorOK, DoctorFailed, DoctorDisabled
	Status         string                `json:"status"`    // ok, failed, disabled
	DisabledReason string                `json:"disabled_reason,omitempty"`
	TimeoutMillis  int64                 `json:"timeout_ms"`
	Config         []DoctorSetting       `json:"config"`
	Signals        []DoctorSignal        `json:"signals"`
	Stats          metrics.PipelineStats `json:"stats"`
}

// Doctor runs phase 2 if needed, then sends one test log record, one span
// and one metric collection to the configured exporters, all at once and
// each bounded by timeout, and reports per signal whether it got through
// (and how long it took) or the exporter's error. It bypasses the log level
// and the sampler, so the test items are sent whatever they say. It leaves
// the Runtime running; what it could not send stays counted in the stats.
func (rt *Runtime) Doctor(ctx context.Context, timeout time.Duration) DoctorReport {
	rep := DoctorReport{Version: Version, TimeoutMillis: timeout.Milliseconds()}
	for _, a := range rt.cfg.LogAttrs() {
		rep.Config = append(rep.Config, DoctorSetting{a.Key, a.Value.String()})
	}
	if err := rt.InitTelemetry(ctx); err != nil {
		rep.ExitCode, rep.Status, rep.DisabledReason = DoctorDisabled, "disabled", err.Error()
		rep.Stats = rt.Stats()
		return rep
	}
	rt.mu.Lock()
	p, reason := rt.export, rt.disabledReason
	rt.mu.Unlock()
	if p == nil {
		if reason == "" {
			reason = "telemetry export is off"
		}
		rep.ExitCode, rep.Status, rep.DisabledReason = DoctorDisabled, "disabled", reason
		rep.Stats = rt.Stats()
		return rep
	}

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := rt.cfg
	rep.Signals = []DoctorSignal{
		rt.doctorSignal(sigLogs, c.LogsExporter, c.LogsProtocol, signalLogs),
		rt.doctorSignal(sigTraces, c.TracesExporter, c.TracesProtocol, signalTraces),
		rt.doctorSignal(sigMetrics, c.MetricsExporter, c.MetricsProtocol, signalMetrics),
	}
	var wg sync.WaitGroup
	run := func(i int, send func(context.Context) error) {
		rep.Signals[i].Tested = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			err := send(ctx)
			rep.Signals[i].Millis = time.Since(start).Milliseconds()
			if err == nil {
				rep.Signals[i].OK = true
				return
			}
			rep.Signals[i].Error = redactSecrets(err.Error(), c.secretValues())
		}()
	}

	// Logs and spans go straight to their exporters with the doctor's
	// deadline, so the result is the exporter's own (the queues would retry
	// past it); the metric point goes through the pump, which is also direct.
	if exp := p.exporters.logs; exp != nil {
		run(sigLogs, func(ctx context.Context) error {
			var errs errorSink
			lp := sdklog.NewLoggerProvider(sdklog.WithResource(rt.res), sdklog.WithProcessor(exportNow{exp, &errs}))
			var r otellog.Record
			r.SetTimestamp(time.Now())
			r.SetSeverity(otellog.SeverityInfo)
			r.SetSeverityText("INFO")
			r.SetBody(attribute.StringValue("ffitel doctor: test log record"))
			r.AddAttributes(attribute.Bool("ffitel.doctor", true))
			lp.Logger(doctorScope).Emit(ctx, r)
			return errs.err
		})
	}
	if exp := p.exporters.spans; exp != nil {
		run(sigTraces, func(ctx context.Context) error {
			var ended endedSpans
			tp := sdktrace.NewTracerProvider(sdktrace.WithResource(rt.res),
				sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(&ended))
			_, span := tp.Tracer(doctorScope).Start(ctx, "ffitel doctor",
				trace.WithAttributes(attribute.Bool("ffitel.doctor", true)))
			span.End()
			return exp.ExportSpans(ctx, ended.spans)
		})
	}
	if m := p.pump; m != nil {
		run(sigMetrics, func(ctx context.Context) error {
			exports, failures := m.exports.Load(), m.failures.Load()
			h := rt.self.signalHealth(sigMetrics)
			var errBefore *string
			if h != nil {
				errBefore = h.lastErr.Load()
			}
			if ctr, err := rt.mp.Meter(doctorScope).Int64Counter("ffitel.doctor.checks",
				metric.WithDescription("Test points sent by ffitel doctor.")); err == nil {
				ctr.Add(ctx, 1)
			}
			m.exportOnce(ctx)
			switch {
			case m.failures.Load() != failures:
				if h != nil {
					if e := h.lastErr.Load(); e != nil && e != errBefore {
						return errors.New(*e) // the exporter's own error, already redacted
					}
				}
				return errors.New("metric export failed")
			case m.exports.Load() == exports:
				return errors.New("metric export did not finish")
			}
			return nil
		})
	}
	wg.Wait()

	rep.ExitCode, rep.Status = DoctorOK, "ok"
	tested := 0
	for _, s := range rep.Signals {
		if s.Tested {
			tested++
		}
		if s.Tested && !s.OK {
			rep.ExitCode, rep.Status = DoctorFailed, "failed"
		}
	}
	if tested == 0 {
		// OTEL_{TRACES,LOGS,METRICS}_EXPORTER=none (or a pull-only
		// Prometheus): nothing is pushed anywhere, which is export off.
		rep.ExitCode, rep.Status = DoctorDisabled, "disabled"
		rep.DisabledReason = "no signal is exported: OTEL_TRACES_EXPORTER, OTEL_LOGS_EXPORTER and OTEL_METRICS_EXPORTER are none (or prometheus)"
	}
	rep.Stats = rt.Stats()
	return rep
}

// doctorSignal describes signal i before it is tested.
func (rt *Runtime) doctorSignal(i int, exporter, protocol, signal string) DoctorSignal {
	s := DoctorSignal{Signal: signalLabels[i], Exporter: exporter}
	if exporter == "otlp" {
		s.Protocol = protocol
		s.Endpoint = "localhost:4317 (default)"
		if protocol != "grpc" {
			s.Endpoint = "http://localhost:4318 (default)"
		}
		if v := rt.cfg.endpoint(signal); v != "" {
			s.Endpoint = RedactURL(v)
		}
	}
	return s
}

const doctorScope = "github.com/ffitel/ffitel/doctor"

// errorSink keeps the error of the one synchronous export.
type errorSink struct{ err error }

// exportNow exports each record at once, with the caller's context.
type exportNow struct {
	exp  sdklog.Exporter
	errs *errorSink
}

func (e exportNow) Enabled(context.Context, sdklog.EnabledParameters) bool { return true }
func (e exportNow) OnEmit(ctx context.Context, r *sdklog.Record) error {
	e.errs.err = e.exp.Export(ctx, []sdklog.Record{r.Clone()})
	return nil
}
func (exportNow) Shutdown(context.Context) error   { return nil }
func (exportNow) ForceFlush(context.Context) error { return nil }

// endedSpans keeps the spans that end, past the sampler.
type endedSpans struct{ spans []sdktrace.ReadOnlySpan }

func (*endedSpans) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (e *endedSpans) OnEnd(sp sdktrace.ReadOnlySpan)                { e.spans = append(e.spans, sp) }
func (*endedSpans) Shutdown(context.Context) error                  { return nil }
func (*endedSpans) ForceFlush(context.Context) error                { return nil }
