package e2e_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ffitel/ffitel/e2e"
)

// lbCollectorBinary is FFITEL_OTELCOL_LB or the Collector with the contrib
// load-balancing exporter that `make collector-lb` builds from
// e2e/collector/builder-lb.yaml.
func lbCollectorBinary() string {
	if p := os.Getenv("FFITEL_OTELCOL_LB"); p != "" {
		return p
	}
	return filepath.Join(e2e.RepoRoot(), ".cache", "otelcol-lb", "otelcol-ffitel-lb")
}

// startTier starts one Collector of the two-tier topology from the example
// configurations under deploy/collector (plus test overlays).
func startTier(t *testing.T, name string, configs []string, env ...string) *e2e.Collector {
	t.Helper()
	grpcPort, telemetryPort := e2e.FreePort(t), e2e.FreePort(t)
	dir := t.TempDir()
	env = append(env, "FFITEL_COLLECTOR_OUT="+dir, "FFITEL_TELEMETRY_HOST=127.0.0.1",
		"FFITEL_TELEMETRY_PORT="+strconv.Itoa(telemetryPort))
	spec := e2e.ProcessSpec{Binary: lbCollectorBinary(), Env: env, GRPCPort: grpcPort, Dir: dir}
	for _, c := range configs {
		spec.Configs = append(spec.Configs, filepath.Join(e2e.RepoRoot(), c))
	}
	switch name {
	case "agent":
		httpPort := e2e.FreePort(t)
		spec.HTTPPort = httpPort
		spec.Env = append(spec.Env, fmt.Sprintf("FFITEL_AGENT_GRPC_ENDPOINT=127.0.0.1:%d", grpcPort),
			fmt.Sprintf("FFITEL_AGENT_HTTP_ENDPOINT=127.0.0.1:%d", httpPort))
	default:
		spec.Env = append(spec.Env, fmt.Sprintf("FFITEL_GATEWAY_GRPC_ENDPOINT=127.0.0.1:%d", grpcPort),
			"FFITEL_BACKEND_ENDPOINT=127.0.0.1:1") // replaced by files in the overlay
	}
	c, err := e2e.StartProcess(spec)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() {
		c.Stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, c.Output())
		}
	})
	return c
}

func hostPort(c *e2e.Collector) string { return c.GRPCEndpoint[len("http://"):] }

// A Python producer starts traces and a Ruby consumer continues them, both
// sending OTLP to one agent Collector (deploy/collector/agent.yaml) that
// routes by trace id through the contrib load-balancing exporter to two
// gateway Collectors (deploy/collector/gateway.yaml). Every trace lands whole
// on exactly one gateway, its log records with it, and both gateways get a
// share.
func TestTwoTierTopologyKeepsEachTraceOnOneGateway(t *testing.T) {
	const traces = 40
	gateways := []*e2e.Collector{
		startTier(t, "gateway-1", []string{"deploy/collector/gateway.yaml", "e2e/collector/gateway-files.yaml"}),
		startTier(t, "gateway-2", []string{"deploy/collector/gateway.yaml", "e2e/collector/gateway-files.yaml"}),
	}
	agent := startTier(t, "agent", []string{"deploy/collector/agent.yaml"},
		fmt.Sprintf("FFITEL_GATEWAYS=[%s, %s]", hostPort(gateways[0]), hostPort(gateways[1])),
		"FFITEL_GATEWAY_ENDPOINT="+hostPort(gateways[0]))

	jobs := filepath.Join(t.TempDir(), "jobs.jsonl")
	runWorker(t, agent, "twotier-producer", "python3", "e2e/twotier/producer.py", strconv.Itoa(traces), jobs)
	runWorker(t, agent, "twotier-consumer", "ruby", "-Iruby/lib", "e2e/twotier/consumer.rb", jobs)

	want := map[string]bool{} // trace ids the producer started
	f, err := os.Open(jobs)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var job struct {
			TraceID string            `json:"trace_id"`
			Carrier map[string]string `json:"carrier"`
		}
		if err := json.Unmarshal(sc.Bytes(), &job); err != nil {
			t.Fatalf("job line %q: %v", sc.Text(), err)
		}
		if len(job.TraceID) != 32 || job.Carrier["traceparent"] == "" {
			t.Fatalf("job without a trace: %s", sc.Text())
		}
		want[job.TraceID] = true
	}
	f.Close()
	if len(want) != traces {
		t.Fatalf("producer wrote %d distinct traces, want %d", len(want), traces)
	}

	// Per trace: python "place order" + "send ProcessOrder", Ruby
	// "process ProcessOrder" + "charge card"; one log record from each side.
	const spansPerTrace, logsPerTrace = 4, 2
	var spans [2][]e2e.Span
	var logs [2][]e2e.LogRecord
	received := func() int {
		n := 0
		for i, g := range gateways {
			var err error
			if spans[i], err = g.Spans(); err != nil {
				t.Fatal(err)
			}
			if logs[i], err = g.Logs(); err != nil {
				t.Fatal(err)
			}
			n += len(spans[i])
			for _, r := range logs[i] {
				if r.TraceID != "" { // the library's own lines (configuration) carry none
					n++
				}
			}
		}
		return n
	}
	total := traces * (spansPerTrace + logsPerTrace)
	if !e2e.WaitFor(60*time.Second, func() bool { return received() >= total }) {
		t.Fatalf("gateways received %d spans+logs in 60 s, want %d\nagent output:\n%s", received(), total, agent.Output())
	}
	time.Sleep(500 * time.Millisecond) // anything beyond the expected count would be a duplicate
	received()

	// trace id -> gateway index -> spans / log records seen there.
	spanHome := map[string]map[int][]e2e.Span{}
	logHome := map[string]map[int]int{}
	for i := range gateways {
		for _, s := range spans[i] {
			if spanHome[s.TraceID] == nil {
				spanHome[s.TraceID] = map[int][]e2e.Span{}
			}
			spanHome[s.TraceID][i] = append(spanHome[s.TraceID][i], s)
		}
		for _, r := range logs[i] {
			if r.TraceID == "" {
				continue
			}
			if logHome[r.TraceID] == nil {
				logHome[r.TraceID] = map[int]int{}
			}
			logHome[r.TraceID][i]++
		}
	}
	perGateway := [2]int{}
	for id := range want {
		homes := spanHome[id]
		if len(homes) != 1 {
			t.Errorf("trace %s is split over %d gateways (want exactly 1)", id, len(homes))
			continue
		}
		for gw, ss := range homes {
			perGateway[gw]++
			services := map[string]string{} // span name -> service.name
			byID := map[string]e2e.Span{}
			for _, s := range ss {
				svc, _ := s.Resource.Attributes.Get("service.name")
				services[s.Name] = svc
				byID[s.SpanID] = s
			}
			if len(ss) != spansPerTrace {
				t.Errorf("trace %s: %d spans on gateway-%d, want %d: %v", id, len(ss), gw+1, spansPerTrace, services)
				continue
			}
			if services["place order"] != "twotier-producer" || services["send ProcessOrder"] != "twotier-producer" ||
				services["process ProcessOrder"] != "twotier-consumer" || services["charge card"] != "twotier-consumer" {
				t.Errorf("trace %s: spans by service %v", id, services)
			}
			for _, s := range ss { // one tree: every parent is in the trace
				if s.Name != "place order" {
					if _, ok := byID[s.ParentSpanID]; !ok {
						t.Errorf("trace %s: span %q has parent %s outside the trace", id, s.Name, s.ParentSpanID)
					}
				}
			}
			if got := logHome[id]; len(got) != 1 || got[gw] != logsPerTrace {
				t.Errorf("trace %s: log records by gateway %v, want %d on gateway-%d with its spans", id, got, logsPerTrace, gw+1)
			}
		}
	}
	for id := range spanHome {
		if !want[id] {
			t.Errorf("gateways got spans of trace %s the producer never started", id)
		}
	}
	t.Logf("traces per gateway: %v (spans %d + %d, logs %d + %d)", perGateway,
		len(spans[0]), len(spans[1]), len(logs[0]), len(logs[1]))
	if perGateway[0] == 0 || perGateway[1] == 0 {
		t.Errorf("traces per gateway %v: the load-balancing exporter did not spread %d traces over both gateways", perGateway, traces)
	}
}

// The example configurations are valid as shipped, with only their required
// variables set (every other one at its default).
func TestCollectorExamplesValidateWithDefaults(t *testing.T) {
	var base []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FFITEL_") {
			base = append(base, kv)
		}
	}
	for config, required := range map[string][]string{
		"deploy/collector/agent.yaml":   {"FFITEL_GATEWAYS=[gw-1:4317, gw-2:4317]", "FFITEL_GATEWAY_ENDPOINT=gw:4317"},
		"deploy/collector/gateway.yaml": {"FFITEL_BACKEND_ENDPOINT=backend:4317"},
	} {
		cmd := exec.Command(lbCollectorBinary(), "validate", "--config", filepath.Join(e2e.RepoRoot(), config))
		cmd.Env = append(append([]string{}, base...), required...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s does not validate: %v\n%s", config, err, out)
		}
		cmd = exec.Command(lbCollectorBinary(), "validate", "--config", filepath.Join(e2e.RepoRoot(), config))
		cmd.Env = base
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("%s validates without its required variables %v:\n%s", config, required, out)
		}
	}
}
