package e2e_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/ffitel/ffitel/bootstrap"
	"github.com/ffitel/ffitel/e2e"
)

// docs/OPERATIONS.md, "Failure modes": a Collector restart (stopped, then a
// new process on the same address) loses nothing while the outage is shorter
// than the export timeout: the batch in flight is retried by the export
// queue with backoff, the records logged meanwhile wait in the queue, and
// gRPC redials within about a second. Issue #12: a 15-s outage with logging
// going on lost two batches, one after the Collector was back; now nothing
// queued is lost. The time from the restart to the first delivery is
// logged (not asserted).
func TestCollectorRestartLosesNoRecords(t *testing.T) {
	grpcPort, httpPort := e2e.FreePort(t), e2e.FreePort(t)
	start := func() *e2e.Collector { return startCollectorOn(t, grpcPort, httpPort) }
	first := start()
	// The outage must stay well inside the export timeout on a loaded
	// machine, so the timeout is raised; the point is the retry, not its bound.
	getenv := setCollectorEnv(t, first, "OTEL_SERVICE_NAME=e2e-restart", "OTEL_BLRP_EXPORT_TIMEOUT=60000")
	rt := bootstrap.New(bootstrap.Options{Getenv: getenv, Output: io.Discard})
	if err := rt.InitTelemetry(context.Background()); err != nil {
		t.Fatal(err)
	}
	const perPhase = 1000
	logPhase := func(phase string) {
		for i := 0; i < perPhase; i++ {
			rt.Logger().Info("restart", slog.String("phase", phase), slog.Int("i", i))
		}
	}
	logPhase("before")
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	if err := rt.ForceFlush(ctx); err != nil {
		t.Fatalf("flush before the restart: %v", err)
	}

	first.Stop()
	// Logging goes on through a 15-s outage: the queue meets the closed
	// port every 100 ms and retries.
	const outage = 15 * time.Second
	for i := 0; i < perPhase; i++ {
		rt.Logger().Info("restart", slog.String("phase", "down"), slog.Int("i", i))
		time.Sleep(outage / perPhase)
	}
	second := start()
	restarted := time.Now()
	logPhase("after")
	resumed := e2e.WaitFor(60*time.Second, func() bool {
		logs, _ := second.Logs()
		return len(findLogs(logs, "restart")) > 0
	})
	t.Logf("first delivery %v after the restart (resumed %v); stats %+v", time.Since(restarted).Round(100*time.Millisecond),
		resumed, rt.Stats().Logs)
	if err := rt.ForceFlush(ctx); err != nil {
		t.Errorf("flush after the restart: %v (stats %+v)", err, rt.Stats().Logs)
	}
	if err := rt.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	st := rt.Stats().Logs

	var seen map[string]int
	read := func() int {
		seen = map[string]int{}
		for _, c := range []*e2e.Collector{first, second} {
			logs, err := c.Logs()
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range findLogs(logs, "restart") {
				phase, _ := r.Attributes.Get("phase")
				i, _ := r.Attributes.Get("i")
				seen[phase+"/"+i]++
			}
		}
		return len(seen)
	}
	e2e.WaitFor(30*time.Second, func() bool { return read() >= 3*perPhase }) // the file exporter writes asynchronously
	var missing []string
	for _, phase := range []string{"before", "down", "after"} {
		for i := 0; i < perPhase; i++ {
			if seen[phase+"/"+strconv.Itoa(i)] == 0 {
				missing = append(missing, phase+"/"+strconv.Itoa(i))
			}
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d records lost across the restart (first: %v); stats %+v",
			len(missing), 3*perPhase, missing[:min(5, len(missing))], st)
	}
	if st.Dropped != 0 || st.Failed != 0 || st.Exported != st.Emitted {
		t.Errorf("stats report loss across a short restart: %+v", st)
	}
	// The restart really interrupted exporting: the second Collector got
	// records logged while the first was gone.
	secondLogs, _ := second.Logs()
	down := 0
	for _, r := range findLogs(secondLogs, "restart") {
		if p, _ := r.Attributes.Get("phase"); p == "down" {
			down++
		}
	}
	if down == 0 {
		t.Errorf("the second Collector got none of the records logged while the first was down")
	}
}
