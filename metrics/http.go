package metrics

import (
	"encoding/json"
	"net/http"
	"time"
)

// EventsHandler serves the stats document (the /metrics/events endpoint, the
// same document as ffitel_stats_json) as JSON.
func EventsHandler(snapshot func() Snapshot) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(snapshot())
	})
}

// Health is the /healthz document.
type Health struct {
	Status string    `json:"status"` // "ok"
	Phase  string    `json:"phase"`
	Time   time.Time `json:"time"`
}

// HealthHandler serves /healthz: 200 with the phase while telemetry runs,
// 503 once it has shut down.
func HealthHandler(phase func() string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := Health{Status: "ok", Phase: phase(), Time: time.Now().UTC()}
		w.Header().Set("Content-Type", "application/json")
		if h.Phase == "shutdown" {
			h.Status = "shutting down"
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(h)
	})
}
