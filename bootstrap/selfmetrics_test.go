package bootstrap

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestListenRangeTakesTheFirstFreePort(t *testing.T) {
	// Find three consecutive free ports.
	var base int
	for attempt := 0; attempt < 50 && base == 0; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		free := p+2 <= 65535
		for q := p; q <= p+2 && free; q++ {
			if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(q)); err != nil {
				free = false
			} else {
				l.Close()
			}
		}
		if free {
			base = p
		}
	}
	if base == 0 {
		t.Fatal("no three consecutive free ports")
	}
	addr := "127.0.0.1:" + strconv.Itoa(base) + "-" + strconv.Itoa(base+2)
	for i := 0; i < 3; i++ {
		l, err := listenRange(addr)
		if err != nil {
			t.Fatalf("listener %d: %v", i, err)
		}
		defer l.Close()
		if got := l.Addr().(*net.TCPAddr).Port; got != base+i {
			t.Errorf("listener %d on port %d, want %d", i, got, base+i)
		}
	}
	if l, err := listenRange(addr); err == nil {
		l.Close()
		t.Error("a fourth listener on a range of three ports succeeded")
	} else if !strings.Contains(err.Error(), "every port of") {
		t.Errorf("error %q does not say the range is taken", err)
	}
	for _, bad := range []string{"127.0.0.1:9-2", "127.0.0.1:a-3", "127.0.0.1:0-5", "127.0.0.1:1-70000"} {
		if l, err := listenRange(bad); err == nil {
			l.Close()
			t.Errorf("listenRange(%q) succeeded", bad)
		}
	}
}

func TestExportHealthReport(t *testing.T) {
	const failAfter = time.Second
	now := time.Unix(1000, 0)
	var h exportHealth
	if s := h.report(now, failAfter, 5); !s.Healthy || s.LastSuccess != nil {
		t.Errorf("fresh: %+v", s)
	}
	h.lastSuccess.Store(now.Add(-3 * time.Second).UnixNano())
	h.troubleSince.Store(now.Add(-2 * time.Second).UnixNano())
	h.attempted(errors.New("connection refused"))
	h.lastSuccess.Store(now.Add(-3 * time.Second).UnixNano()) // attempted(err) leaves it
	s := h.report(now, failAfter, 5)
	if s.Healthy || s.FailingSince == nil || !s.FailingSince.Equal(now.Add(-2*time.Second)) ||
		s.LastError != "connection refused" || s.LastSuccess == nil || !s.LastSuccess.Equal(now.Add(-3*time.Second)) {
		t.Errorf("failing for 2s with items pending: %+v", s)
	}
	if s := h.report(now, failAfter, 0); !s.Healthy {
		t.Errorf("failing with nothing to deliver and nothing lost: %+v", s)
	}
	if s := h.report(now, failAfter, -1); s.Healthy {
		t.Errorf("metrics (no queue) failing for 2s: %+v", s)
	}
	if s := h.report(now, 3*time.Second, 5); !s.Healthy {
		t.Errorf("failing for 2s under a 3s threshold: %+v", s)
	}
	h.attempted(nil)
	if s := h.report(time.Now(), failAfter, 5); !s.Healthy || s.FailingSince != nil {
		t.Errorf("after a success: %+v", s)
	}
	h.lastLoss.Store(now.Add(-500 * time.Millisecond).UnixNano())
	if s := h.report(now, failAfter, 0); s.Healthy || s.LastLoss == nil {
		t.Errorf("items lost 0.5s ago: %+v", s)
	}
	if s := h.report(now.Add(2*time.Second), failAfter, 0); !s.Healthy {
		t.Errorf("items lost 2.5s ago, threshold 1s: %+v", s)
	}
	var none *exportHealth // nil-safe hooks
	none.attempt(now)
	none.attempted(nil)
	none.exported(time.Second)
	none.lost()
}

// The pipeline metrics reach the OTLP metric exporter too, with the figures
// of Stats after a flush; the pump's final collection at Shutdown (taken
// while Shutdown holds the Runtime's lock) does not deadlock.
func TestPipelineMetricsReachTheMetricExporter(t *testing.T) {
	rt, _, f := newTestRuntime(t, map[string]string{"TELEMETRY_ENABLED": "true"})
	if err := rt.InitTelemetry(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 25; i++ {
		rt.Logger().Info("counted")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rt.ForceFlush(ctx); err != nil { // logs, then one metric collection
		t.Fatal(err)
	}
	st := rt.Stats().Logs
	f.metrics.mu.Lock()
	defer f.metrics.mu.Unlock()
	for name, want := range map[string]uint64{"ffitel.logs.emitted": st.Emitted, "ffitel.logs.exported": st.Exported,
		"ffitel.logs.dropped": st.Dropped, "ffitel.logs.failed": st.Failed} {
		if got, ok := f.metrics.sums[name]; !ok || got != int64(want) {
			t.Errorf("%s = %d (present %v) in the final export, stats say %d", name, got, ok, want)
		}
	}
	if st.Exported < 25 {
		t.Errorf("stats %+v", st)
	}
	calls := f.metrics.calls
	f.metrics.mu.Unlock()
	if err := rt.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	f.metrics.mu.Lock()
	if f.metrics.calls <= calls {
		t.Errorf("no final metric export at shutdown (%d calls before, %d after)", calls, f.metrics.calls)
	}
}
