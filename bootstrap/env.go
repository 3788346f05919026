package bootstrap

import (
	"log/slog"
	"time"
)

// The environment variables LoadConfig reads, each named once beside its
// default (env* and dflt*). Nothing else in ffitel reads the environment:
// only the OpenTelemetry SDK's OTLP exporters and resource detector read
// their own variables (endpoint, headers, TLS, resource attributes), which
// LoadConfig validates and reports.
const (
	envTelemetryEnabled  = "TELEMETRY_ENABLED"
	dfltTelemetryEnabled = false
	envSDKDisabled       = "OTEL_SDK_DISABLED"
	dfltSDKDisabled      = false

	envServiceName        = "OTEL_SERVICE_NAME"        // else service.name of OTEL_RESOURCE_ATTRIBUTES
	envServiceVersion     = "OTEL_SERVICE_VERSION"     // else service.version of OTEL_RESOURCE_ATTRIBUTES
	envResourceAttributes = "OTEL_RESOURCE_ATTRIBUTES" // also read by the SDK's resource detector
	dfltServicePrefix     = "unknown_service:"         // + the executable's name

	envDeploymentEnvironment = "DEPLOYMENT_ENVIRONMENT" // the first one set wins
	envTaskerEnv             = "TASKER_ENV"
	envAppEnv                = "APP_ENV"
	dfltEnvironment          = "development"

	envLogLevel            = "LOG_LEVEL"
	dfltLogLevel           = slog.LevelDebug
	dfltProductionLogLevel = slog.LevelInfo
	envLogFormat           = "FFITEL_LOG_FORMAT"
	dfltLogFormat          = "auto"
	envLogOutput           = "FFITEL_LOG_OUTPUT"
	dfltLogOutput          = "stderr"
	envNoColor             = "NO_COLOR" // any value

	envEarlyBuffer        = "FFITEL_EARLY_BUFFER"
	dfltEarlyBuffer       = 1024
	envShutdownTimeoutMS  = "FFITEL_SHUTDOWN_TIMEOUT_MS"
	dfltShutdownTimeoutMS = 5000
	// A full export queue makes the caller wait for room while exports
	// succeed (backpressure), at most dfltQueueFullWaitMS per call, or
	// refuses at once (drop).
	envQueueFull           = "FFITEL_QUEUE_FULL"
	dfltQueueFull          = "backpressure"
	envQueueFullWaitMS     = "FFITEL_QUEUE_FULL_WAIT_MS"
	dfltQueueFullWaitMS    = 5000
	envMetricsAddr         = "FFITEL_METRICS_ADDR" // default off; host:port, or host:first-last for a prefork pool
	envMetricsNamespace    = "FFITEL_METRICS_NAMESPACE"
	dfltMetricsNamespace   = "tasker"
	envWorkerID            = "FFITEL_WORKER_ID" // default <hostname>-<pid>
	envSpoolDir            = "FFITEL_SPOOL_DIR" // default off (docs/SPOOL.md)
	envSpoolMaxMB          = "FFITEL_SPOOL_MAX_MB"
	dfltSpoolMaxMB         = 512
	envEventsDurableURL    = "FFITEL_EVENTS_DURABLE_URL"
	envTaskPropagation     = "FFITEL_TASK_PROPAGATION"
	dfltTaskPropagation    = "auto"
	envTracesExporter      = "OTEL_TRACES_EXPORTER"
	envLogsExporter        = "OTEL_LOGS_EXPORTER"
	envMetricsExporter     = "OTEL_METRICS_EXPORTER"
	dfltExporter           = "otlp"
	envProtocol            = "OTEL_EXPORTER_OTLP_PROTOCOL" // per signal: OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL
	dfltProtocol           = "grpc"
	envSampler             = "OTEL_TRACES_SAMPLER"
	dfltSampler            = "parentbased_always_on"
	envSamplerArg          = "OTEL_TRACES_SAMPLER_ARG"
	dfltSamplerArg         = 1.0
	envPropagators         = "OTEL_PROPAGATORS"
	dfltPropagators        = "tracecontext,baggage"
	envLogQueueSize        = "OTEL_BLRP_MAX_QUEUE_SIZE"
	envLogBatchSize        = "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE"
	envLogScheduleDelay    = "OTEL_BLRP_SCHEDULE_DELAY"
	dfltLogScheduleDelay   = time.Second
	envLogExportTimeout    = "OTEL_BLRP_EXPORT_TIMEOUT"
	dfltLogExportTimeout   = 30 * time.Second
	envSpanQueueSize       = "OTEL_BSP_MAX_QUEUE_SIZE"
	envSpanBatchSize       = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"
	envSpanScheduleDelay   = "OTEL_BSP_SCHEDULE_DELAY"
	dfltSpanScheduleDelay  = 5 * time.Second
	envSpanExportTimeout   = "OTEL_BSP_EXPORT_TIMEOUT"
	dfltSpanExportTimeout  = 30 * time.Second
	envMetricInterval      = "OTEL_METRIC_EXPORT_INTERVAL"
	dfltMetricInterval     = 60 * time.Second
	envMetricExportTimeout = "OTEL_METRIC_EXPORT_TIMEOUT"
	dfltMetricTimeout      = 30 * time.Second
	// How metric points are aggregated before they are pushed (the phase-1
	// reader is built with them): cumulative, delta or lowmemory, and
	// explicit_bucket_histogram or base2_exponential_bucket_histogram.
	envTemporality           = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"
	dfltTemporality          = "cumulative"
	envHistogramAggregation  = "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION"
	dfltHistogramAggregation = "explicit_bucket_histogram"

	// The OTLP endpoint and headers, general and per signal
	// (envOTLPPrefix + signal + "_ENDPOINT"). ffitel's default endpoint is
	// plain-text localhost (see exporter.go).
	envEndpoint   = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envHeaders    = "OTEL_EXPORTER_OTLP_HEADERS"
	envOTLPPrefix = "OTEL_EXPORTER_OTLP_"
	// The OTLP request timeout in milliseconds, general and per signal
	// (OTEL_EXPORTER_OTLP_LOGS_TIMEOUT), as the SDK's exporters read it;
	// ffitel validates it and hands the exporters the value it resolved.
	envOTLPTimeout  = "OTEL_EXPORTER_OTLP_TIMEOUT"
	dfltOTLPTimeout = 10 * time.Second
)

// /healthz and ffitel_export_healthy report a signal degraded once its
// exports have been failing for longer than this, or items were lost within
// it (selfmetrics.go).
const (
	envHealthFailAfterMS  = "FFITEL_HEALTH_FAIL_AFTER_MS"
	dfltHealthFailAfterMS = 30000
)

// Default queue sizes are larger than the OpenTelemetry specification's
// (2048): the product promises that a burst of 100 000 records from four
// threads is delivered whole to a live collector. The queue grows on demand,
// so an idle worker does not pay for it.
const (
	dfltLogQueueSize  = 1 << 17
	dfltSpanQueueSize = 1 << 16
	dfltBatchSize     = 512
)

// Requests of the wire path (OTLP/gRPC, records encoded when queued; see
// wire_export.go) carry up to dfltWireBatchSize records, and never more
// than wireRequestBytes of them, unless OTEL_BLRP_MAX_EXPORT_BATCH_SIZE /
// OTEL_BSP_MAX_EXPORT_BATCH_SIZE say otherwise. A request costs the process
// far more than its bytes (docs/PERFORMANCE.md: ~1.4 ms of CPU per request
// in a Go worker, most of it the runtime waking from idle), and the encoded
// size is known, so the request can be large without risking the
// Collector's 4 MiB gRPC limit. Without the wire path a request's size is
// unknown until converted: the specification's 512 stays.
const (
	dfltWireBatchSize = 16384
	wireRequestBytes  = 2 << 20
)

// wireBatchSize is the records per wire request: the variable when set,
// dfltWireBatchSize otherwise.
func wireBatchSize(r *resolver, key string, resolved int) int {
	if r.text(key) != "" {
		return resolved
	}
	return dfltWireBatchSize
}

// The signals, as spelled in the per-signal variable names.
const (
	signalTraces  = "TRACES"
	signalLogs    = "LOGS"
	signalMetrics = "METRICS"
)

var signals = [...]string{signalTraces, signalLogs, signalMetrics}

// signalEnv is the per-signal form of a general OTLP variable
// (OTEL_EXPORTER_OTLP_ENDPOINT -> OTEL_EXPORTER_OTLP_LOGS_ENDPOINT).
func signalEnv(signal, suffix string) string { return envOTLPPrefix + signal + "_" + suffix }
