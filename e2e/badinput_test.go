package e2e_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ffitel/ffitel/bootstrap"
	"github.com/ffitel/ffitel/e2e"
)

// runBadInput runs tests/c/badinput with env (over the process's, without
// any OTEL_/FFITEL_ variable of the test's own) and returns stdout+stderr.
func runBadInput(t *testing.T, bin string, shutdownMS string, env ...string) string {
	t.Helper()
	cmd := exec.Command(bin, shutdownMS)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OTEL_") && !strings.HasPrefix(kv, "FFITEL_") && !strings.HasPrefix(kv, "TELEMETRY_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("badinput: %v\n%s", err, tail(string(out), 2000))
	}
	return string(out)
}

// Issue #12: what the Collector receives from hostile C input. Past 128
// attributes the exported record is marked truncated (not only the console
// line); a list inside a list keeps the record's other attributes; an
// integer beyond 64 bits keeps its digits.
func TestBadInputRecordsAtTheCollector(t *testing.T) {
	bin := buildCProgram(t, "tests/c/badinput.c", "-lm")
	col := e2e.StartCollector(t)
	runBadInput(t, bin, "10000", append(col.Env(), "OTEL_SERVICE_NAME=e2e-badinput")...)
	var logs []e2e.LogRecord
	var readErr error
	e2e.WaitFor(20*time.Second, func() bool {
		logs, readErr = col.Logs()
		return len(findLogs(logs, "odd typed")) > 0
	})
	if readErr != nil {
		t.Fatalf("reading the Collector's logs: %v", readErr)
	}
	if odd := findLogs(logs, "odd typed"); len(odd) == 1 {
		if v, _ := odd[0].Attributes.Get("nan"); v != "NaN" {
			t.Errorf("odd typed: nan = %q", v)
		}
	}
	for _, body := range []string{"many typed", "many json"} {
		recs := findLogs(logs, body)
		if len(recs) != 1 {
			t.Fatalf("%q: %d records at the Collector", body, len(recs))
		}
		if v, _ := recs[0].Attributes.Get("ffitel.truncated"); v != "true" {
			t.Errorf("%q: the exported record is not marked truncated (%d attributes)", body, len(recs[0].Attributes))
		}
		if v, ok := recs[0].Attributes.Get("k0"); !ok || v != "0" {
			t.Errorf("%q: k0 = %q", body, v)
		}
	}
	nested := findLogs(logs, "nested in list")
	if len(nested) != 1 {
		t.Fatalf("nested in list: %d records", len(nested))
	}
	for k, want := range map[string]string{"a": "1", "big": "18446744073709551615"} {
		if v, _ := nested[0].Attributes.Get(k); v != want {
			t.Errorf("nested in list: %s = %q, want %q", k, v, want)
		}
	}
	if _, bad := nested[0].Attributes.Get("ffitel.invalid_attributes"); bad {
		t.Errorf("nested in list is marked invalid: the list is kept as JSON text")
	}
	if l, _ := nested[0].Attributes.Get("l"); !strings.Contains(l, "[1,2]") {
		t.Errorf("nested in list: l = %q, want the inner list as JSON text", l)
	}
}

// Issue #12: no byte of a secret reaches any output of a real process
// (everything it writes, SDK diagnostics forwarded to the console
// included), whatever the shape of the value.
func TestSecretsNeverReachAnyOutputOfAProcess(t *testing.T) {
	bin := buildCProgram(t, "tests/c/badinput.c", "-lm")
	const secret = "Zq8SecretValue"
	port := e2e.FreePort(t)
	dead := fmt.Sprintf("127.0.0.1:%d", port)
	shapes := map[string][]string{
		"headers":              {"OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer " + secret},
		"malformed headers":    {"OTEL_EXPORTER_OTLP_HEADERS=Authorization: Bearer " + secret + ",x-key=%zz" + secret},
		"per-signal headers":   {"OTEL_EXPORTER_OTLP_LOGS_HEADERS=x-api-key=" + secret, "OTEL_EXPORTER_OTLP_TRACES_HEADERS=bad " + secret},
		"parseable userinfo":   {"OTEL_EXPORTER_OTLP_ENDPOINT=http://u:" + secret + "@" + dead},
		"unparseable userinfo": {"OTEL_EXPORTER_OTLP_ENDPOINT=http://u:" + secret + "@127.0.0.1:%zz"},
		"password with slash":  {"OTEL_EXPORTER_OTLP_ENDPOINT=http://u:" + secret + "/x@127.0.0.1:%zz"},
		"no scheme":            {"OTEL_EXPORTER_OTLP_ENDPOINT=u:" + secret + "@" + dead},
		"grpc scheme":          {"OTEL_EXPORTER_OTLP_ENDPOINT=grpc://u:" + secret + "@" + dead},
		"per-signal traces":    {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://u:" + secret + "@127.0.0.1:%zz"},
		"per-signal logs":      {"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT=http://u:" + secret + "@127.0.0.1:%zz"},
		"per-signal metrics":   {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=https://u:" + secret + "@" + dead},
		"http protocol":        {"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf", "OTEL_EXPORTER_OTLP_ENDPOINT=http://u:" + secret + "@127.0.0.1:%zz"},
		"durable url":          {"FFITEL_EVENTS_DURABLE_URL=postgres://app:" + secret + "@" + dead + "/db"},
	}
	for name, env := range shapes {
		t.Run(name, func(t *testing.T) {
			base := []string{"TELEMETRY_ENABLED=true", "OTEL_SERVICE_NAME=e2e-secrets", "FFITEL_LOG_FORMAT=json",
				"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + dead, "OTEL_BLRP_SCHEDULE_DELAY=50", "OTEL_BSP_SCHEDULE_DELAY=50"}
			out := runBadInput(t, bin, "1500", append(base, env...)...)
			if strings.Contains(out, secret) || strings.Contains(out, secret[:8]) {
				t.Errorf("the secret reached the output:\n%s", out)
			}
			if !strings.Contains(out, "ffitel telemetry configuration") {
				t.Errorf("the process did not reach phase 2:\n%s", tail(out, 2000))
			}
		})
	}
}

// Issue #12: OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE reaches the
// Collector: with delta, two collections carry 5 then 7 with delta
// temporality (AGGREGATION_TEMPORALITY_DELTA = 1); cumulative (the
// default) 5 then 12 with temporality 2.
func TestMetricsTemporalityPreferenceReachesTheCollector(t *testing.T) {
	for pref, want := range map[string]struct {
		temporality int
		values      [2]float64
	}{"delta": {1, [2]float64{5, 7}}, "cumulative": {2, [2]float64{5, 12}}} {
		t.Run(pref, func(t *testing.T) {
			col := e2e.StartCollector(t)
			getenv := setCollectorEnv(t, col, "OTEL_SERVICE_NAME=e2e-temporality-"+pref,
				"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE="+pref)
			rt := bootstrap.New(bootstrap.Options{Getenv: getenv, Output: io.Discard})
			if err := rt.InitTelemetry(context.Background()); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, _ := rt.MeterProvider().Meter("e2e").Int64Counter("e2e_temporality_total")
			c.Add(ctx, 5)
			if err := rt.ForceFlush(ctx); err != nil {
				t.Fatal(err)
			}
			c.Add(ctx, 7)
			if err := rt.ForceFlush(ctx); err != nil {
				t.Fatal(err)
			}
			if err := rt.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			var got []float64
			var temporalities []int
			e2e.WaitFor(20*time.Second, func() bool {
				ms, _ := col.Metrics()
				got, temporalities = nil, nil
				for _, m := range ms {
					if m.Name == "e2e_temporality_total" && m.Sum != nil && len(m.Sum.DataPoints) > 0 {
						got = append(got, m.Sum.DataPoints[0].Value())
						temporalities = append(temporalities, m.Sum.AggregationTemporality)
					}
				}
				return len(got) >= 2
			})
			if len(got) < 2 || got[0] != want.values[0] || got[1] != want.values[1] {
				t.Errorf("points %v, want %v first", got, want.values)
			}
			for _, tm := range temporalities {
				if tm != want.temporality {
					t.Errorf("aggregationTemporality %v, want %d", temporalities, want.temporality)
					break
				}
			}
		})
	}
}
