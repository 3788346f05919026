// Package metrics holds what ffitel measures and how it is named: the stats
// snapshot types served by /metrics/events and ffitel_stats_json, the
// instrument catalog, and the HTTP handlers. It imports OpenTelemetry only.
package metrics
