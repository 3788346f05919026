package bootstrap

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func TestDoctorWithExportOffReportsWhy(t *testing.T) {
	rt, _, _ := newTestRuntime(t, map[string]string{})
	rep := rt.Doctor(context.Background(), time.Second)
	if rep.ExitCode != DoctorDisabled || rep.Status != "disabled" || !strings.Contains(rep.DisabledReason, "TELEMETRY_ENABLED") {
		t.Fatalf("report = %+v; want exit 2 naming TELEMETRY_ENABLED", rep)
	}
	if len(rep.Config) == 0 {
		t.Error("no configuration in the report")
	}
}

// The test items go out past the log level and the sampler.
func TestDoctorSendsEverySignalPastLevelAndSampler(t *testing.T) {
	rt, _, f := newTestRuntime(t, map[string]string{"TELEMETRY_ENABLED": "true", "LOG_LEVEL": "error",
		"OTEL_TRACES_SAMPLER": "always_off", "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer SECRET123"})
	rep := rt.Doctor(context.Background(), 5*time.Second)
	if rep.ExitCode != DoctorOK || rep.Status != "ok" {
		t.Fatalf("report = %+v; want ok", rep)
	}
	for _, s := range rep.Signals {
		if !s.Tested || !s.OK {
			t.Errorf("%s: %+v; want tested and ok", s.Signal, s)
		}
	}
	if len(f.logs.withMsg("ffitel doctor: test log record", false)) != 1 {
		t.Errorf("the test record was not exported: %v", f.logs.all())
	}
	if n := f.spans.all(); len(n) != 1 || n[0] != "ffitel doctor" {
		t.Errorf("spans exported = %v; want the test span", n)
	}
	f.metrics.mu.Lock()
	got := f.metrics.sums["ffitel.doctor.checks"]
	f.metrics.mu.Unlock()
	if got != 1 {
		t.Errorf("ffitel.doctor.checks = %d; want 1", got)
	}
	for _, c := range rep.Config {
		if strings.Contains(c.Value, "SECRET123") {
			t.Errorf("config %s shows the secret: %q", c.Key, c.Value)
		}
	}
}

type failingSpanExporter struct{ err error }

func (e failingSpanExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error {
	return e.err
}
func (failingSpanExporter) Shutdown(context.Context) error { return nil }

func TestDoctorReportsTheExportersErrorRedacted(t *testing.T) {
	f := fakes{logs: &fakeLogExporter{}, metrics: &fakeMetricExporter{}}
	rt := New(Options{Getenv: mapEnv(map[string]string{"TELEMETRY_ENABLED": "true",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector.example:4317",
		"OTEL_EXPORTER_OTLP_HEADERS":         "authorization=Bearer SECRET123"}), Output: &syncBuffer{},
		testExporters: &exporters{logs: f.logs, metrics: f.metrics,
			spans: failingSpanExporter{errors.New("refused: header authorization=Bearer SECRET123 not accepted")}}})
	t.Cleanup(func() { _ = rt.Shutdown(context.Background()) })
	rep := rt.Doctor(context.Background(), 5*time.Second)
	if rep.ExitCode != DoctorFailed || rep.Status != "failed" {
		t.Fatalf("report = %+v; want failed", rep)
	}
	for _, s := range rep.Signals {
		switch s.Signal {
		case "traces":
			if s.OK || !strings.Contains(s.Error, "refused") || strings.Contains(s.Error, "SECRET123") {
				t.Errorf("traces: %+v; want the exporter's error, redacted", s)
			}
			if s.Endpoint != "http://collector.example:4317" {
				t.Errorf("traces endpoint = %q", s.Endpoint)
			}
		default:
			if !s.OK {
				t.Errorf("%s: %+v; want ok", s.Signal, s)
			}
		}
	}
}

// Every exporter none: nothing is pushed anywhere, which is export off (2),
// not "every signal got through".
func TestDoctorWithEveryExporterNoneIsExportOff(t *testing.T) {
	env := map[string]string{"TELEMETRY_ENABLED": "true", "OTEL_TRACES_EXPORTER": "none",
		"OTEL_LOGS_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"}
	rt := New(Options{Getenv: func(k string) string { return env[k] }, Output: &syncBuffer{}})
	t.Cleanup(func() { _ = rt.Shutdown(context.Background()) })
	rep := rt.Doctor(context.Background(), time.Second)
	if rep.ExitCode != DoctorDisabled || !strings.Contains(rep.DisabledReason, "none") {
		t.Fatalf("report = %+v; want exit 2 saying no signal is exported", rep)
	}
}
