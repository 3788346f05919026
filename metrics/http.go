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
	// Status is "ok", "degraded" (an exported signal has been failing for
	// longer than the threshold, or lost items within it) or
	// "shutting down".
	Status string    `json:"status"`
	Phase  string    `json:"phase"`
	Time   time.Time `json:"time"`
	// Reasons says, one line per problem, why Status is "degraded".
	Reasons []string `json:"reasons,omitempty"`
	// Signals has one entry per exported signal ("logs", "traces",
	// "metrics"); absent while nothing is exported.
	Signals map[string]SignalHealth `json:"signals,omitempty"`
}

// SignalHealth is the export health of one signal.
type SignalHealth struct {
	Healthy bool `json:"healthy"`
	// LastSuccess is the time of the last successful export; absent before
	// the first.
	LastSuccess *time.Time `json:"last_success,omitempty"`
	// FailingSince is when the exports that have not succeeded since began,
	// set only once that is longer ago than the threshold.
	FailingSince *time.Time `json:"failing_since,omitempty"`
	// LastError is the last export error, with FailingSince.
	LastError string `json:"last_error,omitempty"`
	// LastLoss is when items were last dropped or failed, set only within
	// the threshold.
	LastLoss *time.Time `json:"last_loss,omitempty"`
}

// HealthHandler serves /healthz with the phase only: 200 while telemetry
// runs, 503 once it has shut down.
func HealthHandler(phase func() string) http.Handler {
	return HealthReportHandler(func() Health {
		h := Health{Status: "ok", Phase: phase(), Time: time.Now().UTC()}
		if h.Phase == "shutdown" {
			h.Status = "shutting down"
		}
		return h
	})
}

// HealthReportHandler serves /healthz from report: 200 when its Status is
// "ok", 503 otherwise ("degraded", "shutting down").
func HealthReportHandler(report func() Health) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := report()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if h.Status != "ok" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(h)
	})
}
