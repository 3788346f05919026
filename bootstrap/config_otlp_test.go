package bootstrap

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func TestLoadConfigMetricsTemporalityAndAggregation(t *testing.T) {
	temp := func(c Config) any { return c.MetricsTemporality }
	agg := func(c Config) any { return c.HistogramAggregation }
	runConfigCases(t, []configCase{
		{name: "cumulative by default", got: temp, want: "cumulative"},
		{name: "delta", env: map[string]string{envTemporality: "Delta"}, got: temp, want: "delta"},
		{name: "lowmemory", env: map[string]string{envTemporality: "lowmemory"}, got: temp, want: "lowmemory"},
		{name: "bad temporality warns", env: map[string]string{envTemporality: "sometimes"}, got: temp,
			want: "cumulative", warn: []string{envTemporality, "sometimes", "using cumulative"}},
		{name: "explicit buckets by default", got: agg, want: "explicit_bucket_histogram"},
		{name: "exponential", env: map[string]string{envHistogramAggregation: "base2_exponential_bucket_histogram"},
			got: agg, want: "base2_exponential_bucket_histogram"},
		{name: "bad aggregation warns", env: map[string]string{envHistogramAggregation: "linear"}, got: agg,
			want: "explicit_bucket_histogram", warn: []string{envHistogramAggregation, "linear", "using explicit_bucket_histogram"}},
	})
}

func TestLoadConfigOTLPTimeouts(t *testing.T) {
	all := func(c Config) any { return [3]time.Duration{c.TracesTimeout, c.LogsTimeout, c.MetricsTimeout} }
	d := func(a, b, c int) [3]time.Duration {
		return [3]time.Duration{time.Duration(a) * time.Millisecond, time.Duration(b) * time.Millisecond, time.Duration(c) * time.Millisecond}
	}
	runConfigCases(t, []configCase{
		{name: "10 s by default", got: all, want: d(10000, 10000, 10000)},
		{name: "general", env: map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "2500"}, got: all, want: d(2500, 2500, 2500)},
		{name: "per signal wins", env: map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
			"OTEL_EXPORTER_OTLP_LOGS_TIMEOUT": "700"}, got: all, want: d(2500, 700, 2500)},
		{name: "bad general warns with the fallback", env: map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "soon"},
			got: all, want: d(10000, 10000, 10000), warn: []string{"OTEL_EXPORTER_OTLP_TIMEOUT", "soon", "using 10000 ms"}},
		{name: "bad per signal falls back to the general", env: map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
			"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "1s"}, got: all, want: d(2500, 2500, 2500),
			warn: []string{"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1s", "using 2500 ms"}},
	})
}

func TestLoadConfigBadEndpointsFallBackAsTheExportersDo(t *testing.T) {
	eps := func(c Config) any { return [3]string{c.TracesEndpoint, c.LogsEndpoint, c.MetricsEndpoint} }
	runConfigCases(t, []configCase{
		{name: "garbage general", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "::::"}, got: eps,
			want: [3]string{}, warn: []string{`OTEL_EXPORTER_OTLP_ENDPOINT="::::"`, "using the default endpoint http://localhost:4317"}},
		{name: "garbage per signal uses the general", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317",
			"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "::::"}, got: eps,
			want: [3]string{"http://c:4317", "http://c:4317", "http://c:4317"},
			warn: []string{"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "using OTEL_EXPORTER_OTLP_ENDPOINT (http://c:4317)"}},
		{name: "http default named", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
			"OTEL_EXPORTER_OTLP_ENDPOINT": "::::"}, got: eps, want: [3]string{},
			warn: []string{"using the default endpoint http://localhost:4318"}},
	})
}

func TestLoadConfigBadMetricsAddrNamesTheVariable(t *testing.T) {
	addr := func(c Config) any { return c.MetricsAddr }
	runConfigCases(t, []configCase{
		{name: "too many colons", env: map[string]string{"FFITEL_METRICS_ADDR": "bad:addr:x"}, got: addr, want: "",
			warn: []string{`invalid FFITEL_METRICS_ADDR="bad:addr:x"`, "not served"}},
		{name: "port not a number", env: map[string]string{"FFITEL_METRICS_ADDR": "localhost:http9"}, got: addr, want: "",
			warn: []string{"FFITEL_METRICS_ADDR", "localhost:http9"}},
		{name: "port out of range", env: map[string]string{"FFITEL_METRICS_ADDR": "70000"}, got: addr, want: "",
			warn: []string{"FFITEL_METRICS_ADDR", "70000"}},
	})
}

// runWithEnv starts phase 2 with env (also set in the process, where the
// SDK's exporters read it) and the SDK's diagnostics routed to the
// console, shuts down, and returns the console text.
func runWithEnv(t *testing.T, env map[string]string) string {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	out := &syncBuffer{}
	rt := New(Options{Getenv: mapEnv(env), Output: out, testRouteDiagnostics: true})
	if err := rt.InitTelemetry(context.Background()); err != nil {
		t.Fatal(err)
	}
	rt.Logger().Info("one record")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = rt.Shutdown(ctx)
	return out.String()
}

// Issue #12: one clear warning per bad variable, naming it and the value
// used; the SDK's own complaints (which echoed the raw value) are not
// repeated, and the configuration line shows the endpoint really used.
func TestOneWarningPerBadOTLPVariable(t *testing.T) {
	for _, tc := range []struct {
		key, value string
		mentions   []string // what the one line about it says
		config     string   // in the configuration line
	}{
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "::::", []string{"using the default endpoint http://localhost:431"},
			"logs_endpoint=http://localhost:4317"},
		{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "::::", []string{"using the default endpoint"}, "traces_endpoint=http://localhost:4317"},
		{"OTEL_EXPORTER_OTLP_TIMEOUT", "soon", []string{"using 10000 ms"}, "otlp_timeout=10s"},
		{"OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "soon", []string{"using 10000 ms"}, ""},
		{envTemporality, "sometimes", []string{"using cumulative"}, "metrics_temporality=cumulative"},
		{envHistogramAggregation, "linear", []string{"using explicit_bucket_histogram"}, ""},
	} {
		for _, proto := range []string{"grpc", "http/protobuf"} {
			t.Run(tc.key+"/"+proto, func(t *testing.T) {
				text := runWithEnv(t, map[string]string{
					"TELEMETRY_ENABLED":           "true",
					"OTEL_EXPORTER_OTLP_PROTOCOL": proto,
					"OTEL_BLRP_SCHEDULE_DELAY":    "50",
					tc.key:                        tc.value,
				})
				var about []string
				for _, line := range strings.Split(text, "\n") {
					if strings.Contains(line, tc.key) || strings.Contains(line, tc.value) ||
						strings.Contains(line, "opentelemetry") {
						if !strings.Contains(line, "ffitel telemetry configuration") {
							about = append(about, line)
						}
					}
				}
				if len(about) != 1 {
					t.Fatalf("want one line about %s=%s, got %d:\n%s", tc.key, tc.value, len(about), strings.Join(about, "\n"))
				}
				for _, m := range append(tc.mentions, tc.key, tc.value) {
					if !strings.Contains(about[0], m) {
						t.Errorf("the warning does not say %q: %s", m, about[0])
					}
				}
				if tc.config != "" && proto == "grpc" && !strings.Contains(text, tc.config) {
					t.Errorf("the configuration line does not show %q:\n%s", tc.config, text)
				}
				if strings.Contains(text, "REDACTED-UNPARSEABLE-URL") {
					t.Errorf("an endpoint without user information is shown as unparseable:\n%s", text)
				}
			})
		}
	}
}

// Issue #12: no byte of a password in an OTLP endpoint reaches the console,
// whatever the shape of the value (parseable or not, general or per
// signal, both protocols), SDK diagnostics included. e2e has the same with
// a real process's whole stderr.
func TestEndpointPasswordNeverReachesTheConsole(t *testing.T) {
	const pw = "Pw4Secret-x9"
	for _, key := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
		"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"} {
		for i, value := range []string{
			"http://u:" + pw + "@127.0.0.1:%zz",
			"http://u:" + pw + "/zz@127.0.0.1:%zz",
			"http://u:" + pw + "@127.0.0.1:1",
			"u:" + pw + "@127.0.0.1:1",
			"http://u:" + pw + "@[::1",
		} {
			// Both protocols, alternately (each run waits for its shutdown).
			for _, proto := range []string{[]string{"grpc", "http/protobuf"}[i%2]} {
				t.Run(key+"/"+value+"/"+proto, func(t *testing.T) {
					text := runWithEnv(t, map[string]string{"TELEMETRY_ENABLED": "true",
						"OTEL_EXPORTER_OTLP_PROTOCOL": proto, key: value})
					if strings.Contains(text, pw[:8]) || strings.Contains(text, "Secret-x9") {
						t.Errorf("the password reached the console:\n%s", text)
					}
				})
			}
		}
	}
}

func TestMetricReaderHonoursTemporalityPreference(t *testing.T) {
	for pref, want := range map[string]metricdata.Temporality{"cumulative": metricdata.CumulativeTemporality,
		"delta": metricdata.DeltaTemporality, "lowmemory": metricdata.DeltaTemporality} {
		t.Run(pref, func(t *testing.T) {
			rt := New(Options{Getenv: mapEnv(map[string]string{envTemporality: pref}), Output: &syncBuffer{}})
			if err := rt.InitConsoleOnly(); err != nil {
				t.Fatal(err)
			}
			c, _ := rt.MeterProvider().Meter("t").Int64Counter("c")
			c.Add(context.Background(), 3)
			var rm metricdata.ResourceMetrics
			if err := rt.reader.Collect(context.Background(), &rm); err != nil {
				t.Fatal(err)
			}
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					if m.Name == "c" {
						if got := m.Data.(metricdata.Sum[int64]).Temporality; got != want {
							t.Errorf("temporality %v, want %v", got, want)
						}
						return
					}
				}
			}
			t.Fatal("counter c not collected")
		})
	}
}
