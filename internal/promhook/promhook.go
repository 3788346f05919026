// Package promhook is where the Prometheus exporter plugs into bootstrap:
// bootstrap/promexport sets New when imported, so bootstrap itself links
// neither the Prometheus client nor the OpenTelemetry Prometheus exporter.
package promhook

import (
	"net/http"
	"sync"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// Import is the line a program adds to get the Prometheus exporter.
const Import = `import _ "github.com/ffitel/ffitel/bootstrap/promexport"`

// NewFunc builds a Prometheus reader over a private registry, to register
// with a MeterProvider, and the handler that serves that registry as
// Prometheus text.
type NewFunc func() (sdkmetric.Reader, http.Handler, error)

var (
	mu         sync.RWMutex
	registered NewFunc
)

// Register installs f; bootstrap/promexport calls it from init.
func Register(f NewFunc) {
	mu.Lock()
	defer mu.Unlock()
	registered = f
}

// Get returns the registered NewFunc, or nil when the program does not link
// bootstrap/promexport.
func Get() NewFunc {
	mu.RLock()
	defer mu.RUnlock()
	return registered
}
