package bootstrap

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// mapEnv turns a map into a getenv function.
func mapEnv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// configCase is one LoadConfig resolution: env in, a Config field out, and
// the one warning expected (naming the variable and the value used), if any.
type configCase struct {
	name string
	env  map[string]string
	got  func(Config) any
	want any
	// warn lists substrings of the single expected warning; nil means the
	// environment must resolve without any warning.
	warn []string
}

func runConfigCases(t *testing.T, cases []configCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, warnings := LoadConfig(mapEnv(tc.env))
			if got := tc.got(c); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
			if tc.warn == nil {
				if len(warnings) != 0 {
					t.Errorf("want no warning, got %q", warnings)
				}
				return
			}
			if len(warnings) != 1 {
				t.Fatalf("want exactly one warning, got %q", warnings)
			}
			for _, s := range tc.warn {
				if !strings.Contains(warnings[0], s) {
					t.Errorf("warning %q does not mention %q", warnings[0], s)
				}
			}
		})
	}
}

func TestLoadConfigReadsBooleansAnyCase(t *testing.T) {
	enabled := func(c Config) any { return c.TelemetryEnabled }
	var cases []configCase
	for _, v := range []string{"true", "TRUE", "True", "1", "yes", "YES", " yes "} {
		cases = append(cases, configCase{name: "TELEMETRY_ENABLED=" + v,
			env: map[string]string{"TELEMETRY_ENABLED": v}, got: enabled, want: true})
	}
	for _, v := range []string{"", "false", "FALSE", "0", "no"} {
		cases = append(cases, configCase{name: "TELEMETRY_ENABLED=" + v,
			env: map[string]string{"TELEMETRY_ENABLED": v}, got: enabled, want: false})
	}
	cases = append(cases,
		configCase{name: "bad TELEMETRY_ENABLED warns and keeps false",
			env: map[string]string{"TELEMETRY_ENABLED": "maybe"}, got: enabled, want: false,
			warn: []string{"TELEMETRY_ENABLED", "maybe", "using false"}},
		configCase{name: "bad OTEL_SDK_DISABLED warns and keeps false",
			env: map[string]string{"OTEL_SDK_DISABLED": "sure"}, got: func(c Config) any { return c.SDKDisabled }, want: false,
			warn: []string{"OTEL_SDK_DISABLED", "sure", "using false"}},
	)
	runConfigCases(t, cases)
}

func TestLoadConfigSDKDisabledWinsOverTelemetryEnabled(t *testing.T) {
	reason := func(c Config) any { return c.ExportReason() }
	runConfigCases(t, []configCase{
		{name: "enabled exports", env: map[string]string{"TELEMETRY_ENABLED": "true"}, got: reason, want: ""},
		{name: "unset does not export", env: nil, got: reason, want: "TELEMETRY_ENABLED is not true"},
		{name: "disabled wins", env: map[string]string{"TELEMETRY_ENABLED": "true", "OTEL_SDK_DISABLED": "TRUE"},
			got: reason, want: "OTEL_SDK_DISABLED is true"},
	})
}

func TestLoadConfigResolvesServiceNameAndVersion(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	name := func(c Config) any { return c.ServiceName }
	version := func(c Config) any { return c.ServiceVersion }
	runConfigCases(t, []configCase{
		{name: "default names the executable", env: nil, got: name, want: "unknown_service:" + filepath.Base(exe)},
		{name: "OTEL_SERVICE_NAME", env: map[string]string{"OTEL_SERVICE_NAME": "billing"}, got: name, want: "billing"},
		{name: "from OTEL_RESOURCE_ATTRIBUTES",
			env: map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "team=core,service.name=billing%20api"},
			got: name, want: "billing api"},
		{name: "OTEL_SERVICE_NAME wins over resource attributes",
			env: map[string]string{"OTEL_SERVICE_NAME": "payments", "OTEL_RESOURCE_ATTRIBUTES": "service.name=billing"},
			got: name, want: "payments"},
		{name: "version from OTEL_SERVICE_VERSION", env: map[string]string{"OTEL_SERVICE_VERSION": "2.0.1"},
			got: version, want: "2.0.1"},
		{name: "version from resource attributes",
			env: map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "service.version=1.2.3"}, got: version, want: "1.2.3"},
	})
}

func TestLoadConfigEnvironmentPrecedenceAndDefaultLevel(t *testing.T) {
	env := func(c Config) any { return c.Environment }
	level := func(c Config) any { return c.Level }
	runConfigCases(t, []configCase{
		{name: "default development", env: nil, got: env, want: "development"},
		{name: "APP_ENV", env: map[string]string{"APP_ENV": "staging"}, got: env, want: "staging"},
		{name: "TASKER_ENV over APP_ENV", env: map[string]string{"TASKER_ENV": "qa", "APP_ENV": "staging"},
			got: env, want: "qa"},
		{name: "DEPLOYMENT_ENVIRONMENT over both",
			env: map[string]string{"DEPLOYMENT_ENVIRONMENT": "production", "TASKER_ENV": "qa", "APP_ENV": "staging"},
			got: env, want: "production"},
		{name: "debug by default in development", env: nil, got: level, want: slog.LevelDebug},
		{name: "debug by default in staging", env: map[string]string{"APP_ENV": "staging"}, got: level, want: slog.LevelDebug},
		{name: "info by default in production", env: map[string]string{"DEPLOYMENT_ENVIRONMENT": "production"},
			got: level, want: slog.LevelInfo},
		{name: "production found through TASKER_ENV", env: map[string]string{"TASKER_ENV": "Production"},
			got: level, want: slog.LevelInfo},
	})
}

func TestLoadConfigLogLevel(t *testing.T) {
	level := func(c Config) any { return c.Level }
	runConfigCases(t, []configCase{
		{name: "trace", env: map[string]string{"LOG_LEVEL": "trace"}, got: level, want: LevelTrace},
		{name: "debug", env: map[string]string{"LOG_LEVEL": "debug", "APP_ENV": "production"}, got: level, want: slog.LevelDebug},
		{name: "info", env: map[string]string{"LOG_LEVEL": "INFO"}, got: level, want: slog.LevelInfo},
		{name: "warn", env: map[string]string{"LOG_LEVEL": "warn"}, got: level, want: slog.LevelWarn},
		{name: "error", env: map[string]string{"LOG_LEVEL": "error"}, got: level, want: slog.LevelError},
		{name: "bad value warns with the development default", env: map[string]string{"LOG_LEVEL": "loud"},
			got: level, want: slog.LevelDebug, warn: []string{"LOG_LEVEL", "loud", "using debug"}},
		{name: "bad value warns with the production default",
			env: map[string]string{"LOG_LEVEL": "verbose", "DEPLOYMENT_ENVIRONMENT": "production"},
			got: level, want: slog.LevelInfo, warn: []string{"LOG_LEVEL", "verbose", "using info"}},
	})
}

func TestLoadConfigConsoleSettings(t *testing.T) {
	format := func(c Config) any { return c.LogFormat }
	output := func(c Config) any { return c.LogOutput }
	runConfigCases(t, []configCase{
		{name: "format default auto", env: nil, got: format, want: "auto"},
		{name: "format json", env: map[string]string{"FFITEL_LOG_FORMAT": "JSON"}, got: format, want: "json"},
		{name: "format text", env: map[string]string{"FFITEL_LOG_FORMAT": "text"}, got: format, want: "text"},
		{name: "bad format warns", env: map[string]string{"FFITEL_LOG_FORMAT": "xml"}, got: format, want: "auto",
			warn: []string{"FFITEL_LOG_FORMAT", "xml", "using auto"}},
		{name: "output default stderr", env: nil, got: output, want: "stderr"},
		{name: "output stdout", env: map[string]string{"FFITEL_LOG_OUTPUT": "stdout"}, got: output, want: "stdout"},
		{name: "output none", env: map[string]string{"FFITEL_LOG_OUTPUT": "none"}, got: output, want: "none"},
		{name: "bad output warns", env: map[string]string{"FFITEL_LOG_OUTPUT": "/var/log/x"}, got: output, want: "stderr",
			warn: []string{"FFITEL_LOG_OUTPUT", "/var/log/x", "using stderr"}},
		{name: "NO_COLOR", env: map[string]string{"NO_COLOR": "1"}, got: func(c Config) any { return c.NoColor }, want: true},
	})
}

func TestLoadConfigEarlyBufferAndShutdownTimeout(t *testing.T) {
	early := func(c Config) any { return c.EarlyBuffer }
	timeout := func(c Config) any { return c.ShutdownTimeout }
	runConfigCases(t, []configCase{
		{name: "early default", env: nil, got: early, want: 1024},
		{name: "early set", env: map[string]string{"FFITEL_EARLY_BUFFER": "16"}, got: early, want: 16},
		{name: "early zero keeps nothing", env: map[string]string{"FFITEL_EARLY_BUFFER": "0"}, got: early, want: 0},
		{name: "early not a number", env: map[string]string{"FFITEL_EARLY_BUFFER": "lots"}, got: early, want: 1024,
			warn: []string{"FFITEL_EARLY_BUFFER", "lots", "using 1024"}},
		{name: "early negative", env: map[string]string{"FFITEL_EARLY_BUFFER": "-5"}, got: early, want: 1024,
			warn: []string{"FFITEL_EARLY_BUFFER", "-5", "using 1024"}},
		{name: "shutdown default", env: nil, got: timeout, want: 5 * time.Second},
		{name: "shutdown set", env: map[string]string{"FFITEL_SHUTDOWN_TIMEOUT_MS": "1500"}, got: timeout,
			want: 1500 * time.Millisecond},
		{name: "shutdown bad", env: map[string]string{"FFITEL_SHUTDOWN_TIMEOUT_MS": "2s"}, got: timeout,
			want: 5 * time.Second, warn: []string{"FFITEL_SHUTDOWN_TIMEOUT_MS", "2s", "using 5000"}},
	})
}

func TestLoadConfigMetricsEndpointAndNamespace(t *testing.T) {
	addr := func(c Config) any { return c.MetricsAddr }
	ns := func(c Config) any { return c.MetricsNamespace }
	runConfigCases(t, []configCase{
		{name: "off by default", env: nil, got: addr, want: ""},
		{name: "bare port means loopback", env: map[string]string{"FFITEL_METRICS_ADDR": "9464"}, got: addr,
			want: "127.0.0.1:9464"},
		{name: "colon port means loopback", env: map[string]string{"FFITEL_METRICS_ADDR": ":9464"}, got: addr,
			want: "127.0.0.1:9464"},
		{name: "explicit address kept", env: map[string]string{"FFITEL_METRICS_ADDR": "0.0.0.0:9464"}, got: addr,
			want: "0.0.0.0:9464"},
		{name: "namespace default", env: nil, got: ns, want: "tasker"},
		{name: "namespace set", env: map[string]string{"FFITEL_METRICS_NAMESPACE": "pay_v2"}, got: ns, want: "pay_v2"},
		{name: "namespace with a dash warns", env: map[string]string{"FFITEL_METRICS_NAMESPACE": "my-app"}, got: ns,
			want: "tasker", warn: []string{"FFITEL_METRICS_NAMESPACE", "my-app", "using tasker"}},
		{name: "namespace starting with a digit warns", env: map[string]string{"FFITEL_METRICS_NAMESPACE": "9lives"},
			got: ns, want: "tasker", warn: []string{"FFITEL_METRICS_NAMESPACE", "9lives", "using tasker"}},
	})
}

func TestLoadConfigTaskPropagation(t *testing.T) {
	prop := func(c Config) any { return c.TaskPropagation }
	cases := []configCase{{name: "default auto", env: nil, got: prop, want: "auto"}}
	for _, v := range []string{"child", "link", "none", "auto"} {
		cases = append(cases, configCase{name: v, env: map[string]string{"FFITEL_TASK_PROPAGATION": v}, got: prop, want: v})
	}
	cases = append(cases, configCase{name: "bad value warns", env: map[string]string{"FFITEL_TASK_PROPAGATION": "sibling"},
		got: prop, want: "auto", warn: []string{"FFITEL_TASK_PROPAGATION", "sibling", "using auto"}})
	runConfigCases(t, cases)
}

func TestLoadConfigExporters(t *testing.T) {
	all := func(c Config) any { return [3]string{c.TracesExporter, c.LogsExporter, c.MetricsExporter} }
	runConfigCases(t, []configCase{
		{name: "default otlp", env: nil, got: all, want: [3]string{"otlp", "otlp", "otlp"}},
		{name: "per signal", env: map[string]string{"OTEL_TRACES_EXPORTER": "console", "OTEL_LOGS_EXPORTER": "none",
			"OTEL_METRICS_EXPORTER": "prometheus", "FFITEL_METRICS_ADDR": "9464"}, got: all, want: [3]string{"console", "none", "prometheus"}},
		{name: "prometheus without an address warns", env: map[string]string{"OTEL_METRICS_EXPORTER": "prometheus"},
			got: all, want: [3]string{"otlp", "otlp", "prometheus"}, warn: []string{"OTEL_METRICS_EXPORTER=prometheus needs FFITEL_METRICS_ADDR"}},
		{name: "prometheus is for metrics only", env: map[string]string{"OTEL_TRACES_EXPORTER": "prometheus"},
			got: all, want: [3]string{"otlp", "otlp", "otlp"}, warn: []string{"OTEL_TRACES_EXPORTER", "prometheus", "using otlp"}},
		{name: "unknown exporter warns", env: map[string]string{"OTEL_LOGS_EXPORTER": "zipkin"},
			got: all, want: [3]string{"otlp", "otlp", "otlp"}, warn: []string{"OTEL_LOGS_EXPORTER", "zipkin", "using otlp"}},
	})
}

func TestLoadConfigProtocolsWithPerSignalOverride(t *testing.T) {
	all := func(c Config) any { return [3]string{c.TracesProtocol, c.LogsProtocol, c.MetricsProtocol} }
	runConfigCases(t, []configCase{
		{name: "default grpc", env: nil, got: all, want: [3]string{"grpc", "grpc", "grpc"}},
		{name: "general http", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, got: all,
			want: [3]string{"http/protobuf", "http/protobuf", "http/protobuf"}},
		{name: "per-signal overrides general", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
			"OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "grpc"}, got: all,
			want: [3]string{"http/protobuf", "grpc", "http/protobuf"}},
		{name: "per-signal alone", env: map[string]string{"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf"}, got: all,
			want: [3]string{"grpc", "grpc", "http/protobuf"}},
		{name: "bad protocol warns", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "thrift"}, got: all,
			want: [3]string{"grpc", "grpc", "grpc"}, warn: []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "thrift", "using grpc"}},
		{name: "bad per-signal protocol falls back to the general one",
			env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "udp"},
			got: all, want: [3]string{"http/protobuf", "http/protobuf", "http/protobuf"},
			warn: []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "udp", "using http/protobuf"}},
	})
}

func TestLoadConfigSampler(t *testing.T) {
	type sampler struct {
		Name string
		Arg  float64
	}
	got := func(c Config) any { return sampler{c.Sampler, c.SamplerArg} }
	runConfigCases(t, []configCase{
		{name: "default parent-based always-on", env: nil, got: got, want: sampler{"parentbased_always_on", 1}},
		{name: "ARG alone means parent-based ratio", env: map[string]string{"OTEL_TRACES_SAMPLER_ARG": "0.25"},
			got: got, want: sampler{"parentbased_traceidratio", 0.25}},
		{name: "bad ARG warns and uses 1.0", env: map[string]string{"OTEL_TRACES_SAMPLER_ARG": "abc"},
			got: got, want: sampler{"parentbased_always_on", 1}, warn: []string{"OTEL_TRACES_SAMPLER_ARG", "abc", "using 1.0"}},
		{name: "ARG out of range warns", env: map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5"},
			got: got, want: sampler{"traceidratio", 1}, warn: []string{"OTEL_TRACES_SAMPLER_ARG", "1.5", "using 1.0"}},
		{name: "ratio with ARG", env: map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"},
			got: got, want: sampler{"traceidratio", 0.1}},
		{name: "always_off", env: map[string]string{"OTEL_TRACES_SAMPLER": "always_off"},
			got: got, want: sampler{"always_off", 1}},
		{name: "unknown sampler warns", env: map[string]string{"OTEL_TRACES_SAMPLER": "jaeger_remote"},
			got: got, want: sampler{"parentbased_always_on", 1},
			warn: []string{"OTEL_TRACES_SAMPLER", "jaeger_remote", "using parentbased_always_on"}},
	})
}

func TestLoadConfigPropagators(t *testing.T) {
	got := func(c Config) any { return c.Propagators }
	runConfigCases(t, []configCase{
		{name: "default", env: nil, got: got, want: []string{"tracecontext", "baggage"}},
		{name: "tracecontext only", env: map[string]string{"OTEL_PROPAGATORS": "tracecontext"}, got: got,
			want: []string{"tracecontext"}},
		{name: "none", env: map[string]string{"OTEL_PROPAGATORS": "none"}, got: got, want: []string{"none"}},
		{name: "unsupported one is skipped with a warning", env: map[string]string{"OTEL_PROPAGATORS": "b3, baggage"},
			got: got, want: []string{"baggage"}, warn: []string{"OTEL_PROPAGATORS", "b3"}},
	})
}

func TestLoadConfigBatching(t *testing.T) {
	type batching struct {
		LogQueue, LogBatch, SpanQueue, SpanBatch             int
		LogDelay, LogTimeout, SpanDelay, SpanTimeout, Metric time.Duration
	}
	got := func(c Config) any {
		return batching{c.LogQueueSize, c.LogBatchSize, c.SpanQueueSize, c.SpanBatchSize,
			c.LogScheduleDelay, c.LogExportTimeout, c.SpanScheduleDelay, c.SpanExportTimeout, c.MetricExportInterval}
	}
	defaults := batching{1 << 17, 512, 1 << 16, 512, time.Second, 30 * time.Second, 5 * time.Second, 30 * time.Second, time.Minute}
	runConfigCases(t, []configCase{
		{name: "defaults", env: nil, got: got, want: defaults},
		{name: "all set", env: map[string]string{
			"OTEL_BLRP_MAX_QUEUE_SIZE": "4096", "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "128",
			"OTEL_BLRP_SCHEDULE_DELAY": "200", "OTEL_BLRP_EXPORT_TIMEOUT": "3000",
			"OTEL_BSP_MAX_QUEUE_SIZE": "2048", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "64",
			"OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_BSP_EXPORT_TIMEOUT": "2000",
			"OTEL_METRIC_EXPORT_INTERVAL": "15000",
		}, got: got, want: batching{4096, 128, 2048, 64, 200 * time.Millisecond, 3 * time.Second,
			100 * time.Millisecond, 2 * time.Second, 15 * time.Second}},
		{name: "bad log queue size warns", env: map[string]string{"OTEL_BLRP_MAX_QUEUE_SIZE": "0"}, got: got,
			want: defaults, warn: []string{"OTEL_BLRP_MAX_QUEUE_SIZE", "0", "using 131072"}},
		{name: "bad span delay warns", env: map[string]string{"OTEL_BSP_SCHEDULE_DELAY": "5s"}, got: got,
			want: defaults, warn: []string{"OTEL_BSP_SCHEDULE_DELAY", "5s", "using 5000"}},
		{name: "bad metric interval warns", env: map[string]string{"OTEL_METRIC_EXPORT_INTERVAL": "-1"}, got: got,
			want: defaults, warn: []string{"OTEL_METRIC_EXPORT_INTERVAL", "-1", "using 60000"}},
	})
}

func TestLoadConfigWarnsAboutEndpointWithoutScheme(t *testing.T) {
	_, warnings := LoadConfig(mapEnv(map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "collector:4317"}))
	if len(warnings) != 1 || !strings.Contains(warnings[0], "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
		t.Fatalf("want one warning naming OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, got %q", warnings)
	}
}

func TestLoadConfigEndpointWarningHidesPassword(t *testing.T) {
	_, warnings := LoadConfig(mapEnv(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "otel:s3cret@collector:4317"}))
	if len(warnings) != 1 || !strings.Contains(warnings[0], "OTEL_EXPORTER_OTLP_ENDPOINT") {
		t.Fatalf("want one warning naming OTEL_EXPORTER_OTLP_ENDPOINT, got %q", warnings)
	}
	if strings.Contains(warnings[0], "s3cret") {
		t.Errorf("warning leaks the password: %q", warnings[0])
	}
}

func TestRedactHeadersHidesEveryValue(t *testing.T) {
	got := RedactHeaders("authorization=Bearer s3cret,x-api-key=abc")
	for _, secret := range []string{"s3cret", "Bearer", "abc"} {
		if strings.Contains(got, secret) {
			t.Errorf("RedactHeaders leaked %q: %q", secret, got)
		}
	}
	if want := "authorization=REDACTED,x-api-key=REDACTED"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRedactURLHidesPasswords(t *testing.T) {
	for _, tc := range []struct {
		in, secret, keep string
	}{
		{"postgres://app:s3cret@db.internal:5432/events?sslmode=disable", "s3cret", "db.internal:5432/events"},
		{"https://user:s3cret@collector:4318/v1/logs", "s3cret", "collector:4318"},
		{"https://collector:4318/?token=s3cret&region=eu", "s3cret", "region=eu"},
		{"postgres://db/events?password=s3cret", "s3cret", "db/events"},
		// No scheme: Go parses this as an opaque URL with scheme "user".
		{"user:s3cret@collector:4317", "s3cret", ""},
		{"postgres://app:s3%cret@db/x", "s3", ""}, // unparseable
	} {
		got := RedactURL(tc.in)
		if strings.Contains(got, tc.secret) {
			t.Errorf("RedactURL(%q) = %q leaks %q", tc.in, got, tc.secret)
		}
		if !strings.Contains(got, tc.keep) {
			t.Errorf("RedactURL(%q) = %q lost %q", tc.in, got, tc.keep)
		}
	}
}

func TestConfigLogAttrsNeverShowSecrets(t *testing.T) {
	secrets := []string{"hdr-s3cret", "key-s3cret", "endpoint-s3cret", "traces-s3cret", "durable-s3cret"}
	env := map[string]string{
		"TELEMETRY_ENABLED":                  "true",
		"OTEL_EXPORTER_OTLP_HEADERS":         "authorization=Bearer hdr-s3cret,x-api-key=key-s3cret",
		"OTEL_EXPORTER_OTLP_ENDPOINT":        "https://otel:endpoint-s3cret@collector.internal:4317",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://otel:traces-s3cret@traces.internal:4317",
		"FFITEL_EVENTS_DURABLE_URL":          "postgres://app:durable-s3cret@db.internal/events",
	}
	c, warnings := LoadConfig(mapEnv(env))
	if len(warnings) != 0 {
		t.Fatalf("unexpected warnings %q", warnings)
	}
	for _, format := range []string{FormatText, FormatJSON} {
		var buf bytes.Buffer
		slog.New(NewConsoleHandler(&buf, &ConsoleOptions{Format: format})).
			Info("ffitel telemetry configuration", slog.Any("config", slog.GroupValue(c.LogAttrs()...)))
		out := buf.String()
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s: configuration line leaks %q: %s", format, s, out)
			}
		}
		// The line does describe the configuration, redacted.
		for _, want := range []string{"authorization=REDACTED", "x-api-key=REDACTED", "collector.internal:4317",
			"traces.internal:4317", "db.internal/events"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: configuration line lacks %q: %s", format, want, out)
			}
		}
	}
}

func TestRedactHeadersNeverEchoesMalformedEntries(t *testing.T) {
	got := RedactHeaders("Authorization: Bearer s3cret,x-api-key=abc123,token-only")
	if strings.Contains(got, "s3cret") || strings.Contains(got, "abc123") || strings.Contains(got, "token-only") {
		t.Fatalf("secret in %q", got)
	}
	if got != "MALFORMED,x-api-key=REDACTED,MALFORMED" {
		t.Errorf("got %q", got)
	}
}

// The OTLP exporters quote a malformed headers variable in their own error
// reports; ffitel routes those through a redacting handler.
func TestSDKDiagnosticsAboutMalformedHeadersAreRedacted(t *testing.T) {
	for _, proto := range []string{"grpc", "http/protobuf"} {
		t.Run(proto, func(t *testing.T) {
			env := map[string]string{
				"TELEMETRY_ENABLED":           "true",
				"OTEL_EXPORTER_OTLP_PROTOCOL": proto,
				"OTEL_EXPORTER_OTLP_HEADERS":  "Authorization: Bearer s3cr3t-token-value,x-key=%zz-other-secret",
				"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1",
			}
			for k, v := range env {
				t.Setenv(k, v)
			}
			out := &syncBuffer{}
			rt := New(Options{Getenv: mapEnv(env), Output: out, testRouteDiagnostics: true})
			if err := rt.InitTelemetry(context.Background()); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = rt.Shutdown(ctx)
			text := out.String()
			for _, secret := range []string{"s3cr3t-token-value", "other-secret"} {
				if strings.Contains(text, secret) {
					t.Errorf("secret %q reached the console:\n%s", secret, text)
				}
			}
			if !strings.Contains(text, "invalid OTEL_EXPORTER_OTLP_HEADERS (value not shown)") {
				t.Errorf("no warning about the malformed headers:\n%s", text)
			}
		})
	}
}

func TestDurableURLPasswordNeverLoggedInAnyForm(t *testing.T) {
	for _, url := range []string{"postgres://app:s3cr3t-pw@db:5432/x", "host=db user=app password=s3cr3t-pw dbname=x"} {
		cfg, _ := LoadConfig(mapEnv(map[string]string{"FFITEL_EVENTS_DURABLE_URL": url}))
		var buf bytes.Buffer
		h := NewConsoleHandler(&buf, &ConsoleOptions{Format: FormatText})
		slog.New(h).Info("config", slog.Any("config", slog.GroupValue(cfg.LogAttrs()...)))
		if strings.Contains(buf.String(), "s3cr3t-pw") {
			t.Errorf("password of %q logged: %s", url, buf.String())
		}
		if got := redactSecrets("error mentions s3cr3t-pw", cfg.secretValues()); strings.Contains(got, "s3cr3t-pw") {
			t.Errorf("secretValues misses the password of %q", url)
		}
	}
}

func TestLoadConfigWireBatchSize(t *testing.T) {
	got := func(c Config) any {
		return [4]int{c.LogBatchSize, c.LogWireBatchSize, c.SpanBatchSize, c.SpanWireBatchSize}
	}
	runConfigCases(t, []configCase{
		{name: "unset: 512 for the SDK's conversion, 16384 on the wire path", got: got, want: [4]int{512, 16384, 512, 16384}},
		{name: "set: both paths", env: map[string]string{"OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "100", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "300"},
			got: got, want: [4]int{100, 100, 300, 300}},
	})
}
