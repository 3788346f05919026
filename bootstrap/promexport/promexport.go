// Package promexport links the Prometheus pull exporter into bootstrap.
// Import it for its side effect, as database/sql drivers are imported:
//
//	import _ "github.com/ffitel/ffitel/bootstrap/promexport"
//
// With it, FFITEL_METRICS_ADDR serves /metrics as Prometheus text and
// OTEL_METRICS_EXPORTER=prometheus works. Without it, a program links neither
// github.com/prometheus/client_golang nor
// go.opentelemetry.io/otel/exporters/prometheus: /healthz and /metrics/events
// are still served, and /metrics answers 501 naming this import. The C
// library (cshim) imports it, so libffitel.so always has it.
package promexport

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/ffitel/ffitel/internal/promhook"
)

func init() { promhook.Register(newExporter) }

// newExporter returns a Prometheus reader over a private registry (collection
// happens on scrape; no goroutine) and the handler serving that registry.
func newExporter() (sdkmetric.Reader, http.Handler, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, nil, err
	}
	return exp, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), nil
}
