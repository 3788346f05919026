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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/ffitel/ffitel/metrics"
)

// promReader returns a Prometheus reader over a private registry when
// FFITEL_METRICS_ADDR is set or OTEL_METRICS_EXPORTER=prometheus. It is
// registered with the phase-1 MeterProvider (collection happens on scrape;
// no goroutine), and served from phase 2 on.
func promReader(c Config) (sdkmetric.Reader, *prometheus.Registry, error) {
	if c.MetricsAddr == "" && c.MetricsExporter != "prometheus" {
		return nil, nil, nil
	}
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, nil, err
	}
	return exp, reg, nil
}

// metricsEndpoint serves /metrics (Prometheus text), /metrics/events (the
// stats document) and /healthz.
type metricsEndpoint struct {
	server *http.Server
	addr   string
}

// startEndpoint listens on addr (synchronously, so a bad address is reported
// at once) and serves in the background.
func (rt *Runtime) startEndpoint(addr string, reg *prometheus.Registry) (*metricsEndpoint, error) {
	mux := http.NewServeMux()
	if reg != nil {
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
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
