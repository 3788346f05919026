package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/ffitel/ffitel/internal/promhook"
	"github.com/ffitel/ffitel/metrics"
)

// promReader returns a Prometheus reader over a private registry, and the
// handler serving it, when FFITEL_METRICS_ADDR is set or
// OTEL_METRICS_EXPORTER=prometheus and the program links bootstrap/promexport.
// The reader is registered with the phase-1 MeterProvider (collection happens
// on scrape; no goroutine), and served from phase 2 on. linked is false when
// Prometheus is wanted but bootstrap/promexport is not imported.
func promReader(c Config) (r sdkmetric.Reader, h http.Handler, linked bool, err error) {
	if c.MetricsAddr == "" && c.MetricsExporter != "prometheus" {
		return nil, nil, true, nil
	}
	newExporter := promhook.Get()
	if newExporter == nil {
		return nil, nil, false, nil
	}
	r, h, err = newExporter()
	return r, h, true, err
}

// promNotLinked is what /metrics answers, and phase 2 warns once, when the
// program does not import bootstrap/promexport.
const promNotLinked = "the Prometheus exporter is not linked into this program: add " + promhook.Import

// metricsEndpoint serves /metrics (Prometheus text), /metrics/events (the
// stats document) and /healthz.
type metricsEndpoint struct {
	server *http.Server
	addr   string
}

// startEndpoint listens on addr (synchronously, so a bad address is reported
// at once) and serves in the background.
func (rt *Runtime) startEndpoint(addr string, prom http.Handler, linked bool) (*metricsEndpoint, error) {
	mux := http.NewServeMux()
	switch {
	case prom != nil:
		mux.Handle("/metrics", prom)
	case !linked:
		mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "ffitel: "+promNotLinked, http.StatusNotImplemented)
		})
	}
	mux.Handle("/metrics/events", metrics.EventsHandler(rt.Snapshot))
	mux.Handle("/healthz", metrics.HealthReportHandler(rt.Health))
	l, err := listenRange(addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			rt.internal.Warn("metrics endpoint stopped", slog.String("error", err.Error()))
		}
	}()
	return &metricsEndpoint{server: srv, addr: l.Addr().String()}, nil
}

// listenRange listens on addr, host:port, or host:first-last: then on the
// first port of the range nobody listens on, so that every process of a
// prefork pool sharing FFITEL_METRICS_ADDR gets its own port.
func listenRange(addr string) (net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	first, last, isRange := strings.Cut(port, "-")
	if !isRange {
		return net.Listen("tcp", addr)
	}
	lo, err1 := strconv.Atoi(first)
	hi, err2 := strconv.Atoi(last)
	if err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return nil, fmt.Errorf("ffitel: bad port range %q in %s (want first-last, 1-65535)", port, addr)
	}
	var lastErr error
	for p := lo; p <= hi; p++ {
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			return l, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("ffitel: every port of %s is taken (%d processes already serve it?): %w", addr, hi-lo+1, lastErr)
}

func (e *metricsEndpoint) shutdown(ctx context.Context) {
	if e == nil {
		return
	}
	if err := e.server.Shutdown(ctx); err != nil {
		_ = e.server.Close()
	}
}

// MetricsEndpoint returns the address the metrics endpoint listens on, or ""
// when it is not running (FFITEL_METRICS_ADDR unset, or before phase 2).
func (rt *Runtime) MetricsEndpoint() string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.endpoint == nil {
		return ""
	}
	return rt.endpoint.addr
}
