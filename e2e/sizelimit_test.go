package e2e_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ffitel/ffitel/bootstrap"
	"github.com/ffitel/ffitel/e2e"
)

// lockedBuffer is a bytes.Buffer the runtime's goroutines may write to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// ffitel's OTLP/gRPC requests carry up to 2 MiB by default. A Collector
// whose receiver takes at most 1 MiB refuses them (ResourceExhausted):
// the queue splits them instead of retrying or dropping, every record
// arrives, nothing counts as failed, and one warning names the variable.
func TestCollectorSizeLimitBelowTheRequestLosesNothing(t *testing.T) {
	grpcPort, httpPort := e2e.FreePort(t), e2e.FreePort(t)
	col := startCollectorOn(t, grpcPort, httpPort, "small-messages.yaml")
	// A long schedule: the records wait and leave in requests of the
	// default bound (2 MiB), twice the receiver's limit.
	getenv := setCollectorEnv(t, col, "OTEL_SERVICE_NAME=e2e-sizelimit", "OTEL_BLRP_SCHEDULE_DELAY=60000",
		"OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none", "FFITEL_LOG_OUTPUT=none")
	var out lockedBuffer
	rt := bootstrap.New(bootstrap.Options{Getenv: getenv, Output: &out})
	if err := rt.InitTelemetry(context.Background()); err != nil {
		t.Fatal(err)
	}
	const n = 20000
	pad := strings.Repeat("p", 200)
	for i := 0; i < n; i++ {
		rt.Logger().Info("sizelimit", slog.Int("i", i), slog.String("pad", pad))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := rt.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
	logs := rt.Stats().Logs
	if !e2e.WaitFor(30*time.Second, func() bool { return col.CountLogBodies("sizelimit") >= n }) {
		t.Errorf("the Collector has %d of %d records", col.CountLogBodies("sizelimit"), n)
	}
	// ffitel's own "telemetry enabled" line is exported too.
	if logs.Exported < n || logs.Exported != logs.Emitted || logs.Failed != 0 || logs.Dropped != 0 {
		t.Errorf("stats %+v, want all %d+ exported, none failed or dropped", logs, n)
	}
	if err := rt.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if c := strings.Count(out.String(), "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE"); c != 1 {
		t.Errorf("%d warnings naming OTEL_BLRP_MAX_EXPORT_BATCH_SIZE, want 1:\n%s", c, out.String())
	}
}
