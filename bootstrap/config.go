package bootstrap

import (
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ffitel/ffitel/internal/redact"
)

// Config is the configuration resolved once from the environment. Nothing in
// ffitel reads the environment after it has been resolved.
type Config struct {
	TelemetryEnabled bool
	SDKDisabled      bool

	ServiceName    string
	ServiceVersion string
	Environment    string

	Level     slog.Level
	LogFormat string // auto, text, json
	LogOutput string // stderr, stdout, none (OTLP only)
	NoColor   bool

	EarlyBuffer     int
	ShutdownTimeout time.Duration
	// QueueFullWait is how long a caller waits for room in a full export
	// queue while exports succeed (FFITEL_QUEUE_FULL=backpressure, with
	// FFITEL_QUEUE_FULL_WAIT_MS); zero is the drop policy.
	QueueFull     string
	QueueFullWait time.Duration

	MetricsAddr      string
	MetricsNamespace string
	WorkerID         string
	// SpoolDir turns the on-disk spool on (FFITEL_SPOOL_DIR, docs/SPOOL.md);
	// SpoolMaxBytes caps the directory (FFITEL_SPOOL_MAX_MB).
	SpoolDir         string
	SpoolMaxBytes    uint64
	EventsDurableURL string
	TaskPropagation  string

	TracesExporter  string // otlp, console, none
	LogsExporter    string // otlp, console, none
	MetricsExporter string // otlp, console, none, prometheus

	TracesProtocol  string // grpc, http/protobuf
	LogsProtocol    string
	MetricsProtocol string

	Sampler    string
	SamplerArg float64

	Propagators []string

	LogQueueSize      int
	LogBatchSize      int
	LogWireBatchSize  int // records per request on the wire path (env.go)
	LogScheduleDelay  time.Duration
	LogExportTimeout  time.Duration
	SpanQueueSize     int
	SpanBatchSize     int
	SpanWireBatchSize int
	SpanScheduleDelay time.Duration
	SpanExportTimeout time.Duration

	MetricExportInterval time.Duration
	MetricExportTimeout  time.Duration
	// MetricsTemporality (cumulative, delta, lowmemory) and
	// HistogramAggregation (explicit_bucket_histogram,
	// base2_exponential_bucket_histogram) shape the points the phase-1
	// reader collects for the OTLP metric exporter.
	MetricsTemporality   string
	HistogramAggregation string

	// TracesTimeout, LogsTimeout and MetricsTimeout are the OTLP request
	// timeouts: OTEL_EXPORTER_OTLP_<SIGNAL>_TIMEOUT, else
	// OTEL_EXPORTER_OTLP_TIMEOUT, else 10 s; an invalid value is skipped.
	TracesTimeout  time.Duration
	LogsTimeout    time.Duration
	MetricsTimeout time.Duration

	// HealthFailAfter is FFITEL_HEALTH_FAIL_AFTER_MS (see Runtime.Health).
	HealthFailAfter time.Duration

	// TracesEndpoint, LogsEndpoint and MetricsEndpoint are the OTLP
	// endpoints set in the environment for each signal: its own variable
	// (OTEL_EXPORTER_OTLP_LOGS_ENDPOINT), else OTEL_EXPORTER_OTLP_ENDPOINT,
	// skipping a value that is not a URL with a scheme and a host (as the
	// SDK's exporters do); "" means ffitel's plain-text localhost default.
	// They may hold a password: print them with RedactURL.
	TracesEndpoint  string
	LogsEndpoint    string
	MetricsEndpoint string
	// Headers is OTEL_EXPORTER_OTLP_HEADERS with every value replaced
	// (RedactHeaders): the header names, fit to print.
	Headers string

	// secrets are the raw values that must never be printed (header
	// values, URL passwords); see secretValues.
	secrets []string
	// invalid names the variables LoadConfig warned about: the SDK's own
	// complaints about them are not repeated (see sdkDiagnosticFilter).
	invalid []string
}

// LoadConfig resolves the configuration from getenv (os.Getenv when nil).
// A bad value is never fatal: it yields a warning that names the variable and
// the value used instead.
func LoadConfig(getenv func(string) string) (Config, []string) {
	if getenv == nil {
		getenv = os.Getenv
	}
	r := resolver{getenv: getenv}
	var c Config

	c.TelemetryEnabled = r.boolean(envTelemetryEnabled, dfltTelemetryEnabled)
	c.SDKDisabled = r.boolean(envSDKDisabled, dfltSDKDisabled)

	c.ServiceName = r.text(envServiceName)
	if c.ServiceName == "" {
		c.ServiceName = resourceAttr(getenv(envResourceAttributes), "service.name")
	}
	if c.ServiceName == "" {
		c.ServiceName = dfltServicePrefix + filepath.Base(executable())
	}
	c.ServiceVersion = r.text(envServiceVersion)
	if c.ServiceVersion == "" {
		c.ServiceVersion = resourceAttr(getenv(envResourceAttributes), "service.version")
	}

	c.Environment = dfltEnvironment
	for _, k := range []string{envDeploymentEnvironment, envTaskerEnv, envAppEnv} {
		if v := r.text(k); v != "" {
			c.Environment = v
			break
		}
	}
	defaultLevel := dfltLogLevel
	if isProduction(c.Environment) {
		defaultLevel = dfltProductionLogLevel
	}
	c.Level = r.level(envLogLevel, defaultLevel)

	c.LogFormat = r.oneOf(envLogFormat, dfltLogFormat, "auto", "text", "json")
	c.LogOutput = r.oneOf(envLogOutput, dfltLogOutput, "stderr", "stdout", "none")
	c.NoColor = getenv(envNoColor) != ""

	c.EarlyBuffer = r.integer(envEarlyBuffer, dfltEarlyBuffer, 0, 1<<20)
	c.ShutdownTimeout = time.Duration(r.integer(envShutdownTimeoutMS, dfltShutdownTimeoutMS, 0, 10*60*1000)) * time.Millisecond
	c.QueueFull = r.oneOf(envQueueFull, dfltQueueFull, "backpressure", "drop")
	c.QueueFullWait = time.Duration(r.integer(envQueueFullWaitMS, dfltQueueFullWaitMS, 0, 10*60*1000)) * time.Millisecond
	if c.QueueFull == "drop" {
		c.QueueFullWait = 0
	}

	c.MetricsAddr = r.listenAddr(envMetricsAddr)
	c.HealthFailAfter = time.Duration(r.integer(envHealthFailAfterMS, dfltHealthFailAfterMS, 1, 24*3600*1000)) * time.Millisecond
	c.MetricsNamespace = r.identifier(envMetricsNamespace, dfltMetricsNamespace)
	c.WorkerID = r.text(envWorkerID)
	if c.WorkerID == "" {
		host, _ := os.Hostname()
		c.WorkerID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	c.SpoolDir = r.text(envSpoolDir)
	c.SpoolMaxBytes = uint64(r.integer(envSpoolMaxMB, dfltSpoolMaxMB, 1, 1<<20)) << 20
	c.EventsDurableURL = r.text(envEventsDurableURL)
	c.TaskPropagation = r.oneOf(envTaskPropagation, dfltTaskPropagation, "auto", "child", "link", "none")

	c.TracesExporter = r.oneOf(envTracesExporter, dfltExporter, "otlp", "console", "none")
	c.LogsExporter = r.oneOf(envLogsExporter, dfltExporter, "otlp", "console", "none")
	c.MetricsExporter = r.oneOf(envMetricsExporter, dfltExporter, "otlp", "console", "none", "prometheus")

	proto := r.oneOf(envProtocol, dfltProtocol, "grpc", "http/protobuf")
	c.TracesProtocol = r.oneOf(signalEnv(signalTraces, "PROTOCOL"), proto, "grpc", "http/protobuf")
	c.LogsProtocol = r.oneOf(signalEnv(signalLogs, "PROTOCOL"), proto, "grpc", "http/protobuf")
	c.MetricsProtocol = r.oneOf(signalEnv(signalMetrics, "PROTOCOL"), proto, "grpc", "http/protobuf")

	c.Sampler, c.SamplerArg = r.sampler()
	c.Propagators = r.propagators()

	c.LogQueueSize = r.integer(envLogQueueSize, dfltLogQueueSize, 1, 1<<24)
	c.LogBatchSize = r.integer(envLogBatchSize, dfltBatchSize, 1, 1<<20)
	c.LogWireBatchSize = wireBatchSize(&r, envLogBatchSize, c.LogBatchSize)
	c.LogScheduleDelay = r.millis(envLogScheduleDelay, dfltLogScheduleDelay)
	c.LogExportTimeout = r.millis(envLogExportTimeout, dfltLogExportTimeout)
	c.SpanQueueSize = r.integer(envSpanQueueSize, dfltSpanQueueSize, 1, 1<<24)
	c.SpanBatchSize = r.integer(envSpanBatchSize, dfltBatchSize, 1, 1<<20)
	c.SpanWireBatchSize = wireBatchSize(&r, envSpanBatchSize, c.SpanBatchSize)
	c.SpanScheduleDelay = r.millis(envSpanScheduleDelay, dfltSpanScheduleDelay)
	c.SpanExportTimeout = r.millis(envSpanExportTimeout, dfltSpanExportTimeout)
	c.MetricExportInterval = r.millis(envMetricInterval, dfltMetricInterval)
	c.MetricExportTimeout = r.millis(envMetricExportTimeout, dfltMetricTimeout)
	c.MetricsTemporality = r.oneOf(envTemporality, dfltTemporality, "cumulative", "delta", "lowmemory")
	c.HistogramAggregation = r.oneOf(envHistogramAggregation, dfltHistogramAggregation,
		"explicit_bucket_histogram", "base2_exponential_bucket_histogram")

	if c.MetricsExporter == "prometheus" && c.MetricsAddr == "" {
		r.warnings = append(r.warnings, envMetricsExporter+"=prometheus needs "+envMetricsAddr+
			" (where /metrics is served); metrics are not exported")
	}

	c.resolveOTLP(&r, proto)
	c.invalid = r.invalid
	return c, r.warnings
}

// resolveOTLP resolves the endpoints, the printable header names and the
// secrets, and validates what the SDK's exporters will read themselves, so a
// bad value is reported once here rather than failing silently later.
// Header values are secrets: a warning names the variable, never the value.
func (c *Config) resolveOTLP(r *resolver, proto string) {
	headerVars := []string{envHeaders}
	endpointVars := []string{envEndpoint}
	for _, s := range signals {
		headerVars = append(headerVars, signalEnv(s, "HEADERS"))
		endpointVars = append(endpointVars, signalEnv(s, "ENDPOINT"))
	}
	var secrets []string
	for _, k := range headerVars {
		v := r.getenv(k)
		if v == "" {
			continue
		}
		if !validHeaders(v) {
			r.warnings = append(r.warnings, fmt.Sprintf(
				"invalid %s (value not shown): entries must be name=value separated by commas; malformed entries are ignored by the exporters", k))
			r.invalid = append(r.invalid, k)
		}
		secrets = append(secrets, v)
		for _, part := range strings.Split(v, ",") {
			name, val, ok := strings.Cut(part, "=")
			if ok {
				secrets = append(secrets, strings.TrimSpace(val))
			} else {
				secrets = append(secrets, strings.TrimSpace(name))
			}
		}
	}
	if h := r.getenv(envHeaders); h != "" {
		c.Headers = RedactHeaders(h)
	}

	// An endpoint that is not a URL with a scheme and a host is skipped,
	// as the SDK's exporters skip it: a signal's own variable falls back to
	// the general one, the general one to ffitel's default.
	endpoints := map[string]string{}
	for _, k := range endpointVars {
		v := r.text(k)
		if v == "" {
			continue
		}
		for _, p := range redact.Passwords(v) {
			secrets = append(secrets, p)
		}
		if u, err := url.Parse(v); err != nil || u.Scheme == "" || u.Host == "" {
			used := "the default endpoint " + defaultEndpoint(proto, "")
			if k != envEndpoint {
				used = "the default endpoint " + defaultEndpoint(c.protocol(strings.TrimSuffix(strings.TrimPrefix(k, envOTLPPrefix), "_ENDPOINT")), "")
				if g := endpoints[envEndpoint]; g != "" {
					used = envEndpoint + " (" + RedactURL(g) + ")"
				}
			}
			r.warn(k, RedactURL(v), used)
			continue
		}
		endpoints[k] = v
	}
	signalEndpoint := func(signal string) string {
		if v := endpoints[signalEnv(signal, "ENDPOINT")]; v != "" {
			return v
		}
		return endpoints[envEndpoint]
	}
	c.TracesEndpoint = signalEndpoint(signalTraces)
	c.LogsEndpoint = signalEndpoint(signalLogs)
	c.MetricsEndpoint = signalEndpoint(signalMetrics)

	// The request timeout, read as the SDK reads it (milliseconds), so that
	// a bad value gets one warning with the value used.
	general := dfltOTLPTimeout
	if v := r.text(envOTLPTimeout); v != "" {
		general = r.millis(envOTLPTimeout, dfltOTLPTimeout)
	}
	timeout := func(signal string) time.Duration {
		k := signalEnv(signal, "TIMEOUT")
		if v := r.text(k); v != "" {
			return r.millis(k, general)
		}
		return general
	}
	c.TracesTimeout = timeout(signalTraces)
	c.LogsTimeout = timeout(signalLogs)
	c.MetricsTimeout = timeout(signalMetrics)

	secrets = append(secrets, redact.Passwords(c.EventsDurableURL)...)
	kept := secrets[:0]
	for _, v := range secrets {
		if len(v) >= 3 { // never redact a trivially short string everywhere
			kept = append(kept, v)
		}
	}
	// Longest first, so a whole value is replaced before its parts.
	slices.SortFunc(kept, func(a, b string) int { return len(b) - len(a) })
	c.secrets = kept
}

// ExportReason says why phase 2 exports nothing, or "" when it exports.
func (c Config) ExportReason() string {
	switch {
	case c.SDKDisabled:
		return envSDKDisabled + " is true"
	case !c.TelemetryEnabled:
		return envTelemetryEnabled + " is not true"
	}
	return ""
}

// endpoint returns the OTLP endpoint set for signal (TRACES, LOGS,
// METRICS), or "" when the exporter will use ffitel's default.
func (c Config) endpoint(signal string) string {
	switch signal {
	case signalTraces:
		return c.TracesEndpoint
	case signalLogs:
		return c.LogsEndpoint
	}
	return c.MetricsEndpoint
}

// protocol returns the OTLP protocol of signal.
func (c Config) protocol(signal string) string {
	switch signal {
	case signalTraces:
		return c.TracesProtocol
	case signalLogs:
		return c.LogsProtocol
	}
	return c.MetricsProtocol
}

// timeout returns the OTLP request timeout of signal.
func (c Config) timeout(signal string) time.Duration {
	switch signal {
	case signalTraces:
		return c.TracesTimeout
	case signalLogs:
		return c.LogsTimeout
	}
	return c.MetricsTimeout
}

// endpointSet reports whether the exporter of signal will find an endpoint
// in the environment.
func (c Config) endpointSet(signal string) bool { return c.endpoint(signal) != "" }

// LogAttrs renders the resolved configuration for the one log line phase 2
// writes. Header values and URL passwords are redacted.
func (c Config) LogAttrs() []slog.Attr {
	endpoint := func(signal string) string {
		if v := c.endpoint(signal); v != "" {
			return RedactURL(v)
		}
		return defaultEndpoint(c.protocol(signal), signal)
	}
	attrs := []slog.Attr{
		slog.Bool("telemetry_enabled", c.TelemetryEnabled),
		slog.Bool("sdk_disabled", c.SDKDisabled),
		slog.String("service_name", c.ServiceName),
		slog.String("service_version", c.ServiceVersion),
		slog.String("environment", c.Environment),
		slog.String("log_level", LevelName(c.Level)),
		slog.String("log_format", c.LogFormat),
		slog.String("traces_exporter", c.TracesExporter),
		slog.String("logs_exporter", c.LogsExporter),
		slog.String("metrics_exporter", c.MetricsExporter),
		slog.String("traces_endpoint", endpoint(signalTraces)),
		slog.String("logs_endpoint", endpoint(signalLogs)),
		slog.String("metrics_endpoint", endpoint(signalMetrics)),
		slog.String("protocol", c.TracesProtocol),
		slog.String("sampler", c.Sampler),
		slog.Float64("sampler_arg", c.SamplerArg),
		slog.String("propagators", strings.Join(c.Propagators, ",")),
		slog.Int("early_buffer", c.EarlyBuffer),
		slog.Int("log_queue_size", c.LogQueueSize),
		slog.Int("span_queue_size", c.SpanQueueSize),
		slog.Duration("shutdown_timeout", c.ShutdownTimeout),
		slog.String("queue_full", c.QueueFull),
		slog.Duration("queue_full_wait", c.QueueFullWait),
		slog.String("spool_dir", c.SpoolDir),
		slog.Uint64("spool_max_mb", c.SpoolMaxBytes>>20),
		slog.Duration("metric_export_interval", c.MetricExportInterval),
		slog.String("metrics_temporality", c.MetricsTemporality),
		slog.String("histogram_aggregation", c.HistogramAggregation),
		slog.Duration("otlp_timeout", c.LogsTimeout),
		slog.String("metrics_addr", c.MetricsAddr),
		slog.String("worker_id", c.WorkerID),
		slog.String("task_propagation", c.TaskPropagation),
	}
	if c.Headers != "" {
		attrs = append(attrs, slog.String("headers", c.Headers))
	}
	if c.EventsDurableURL != "" {
		attrs = append(attrs, slog.String("events_durable_url", RedactURL(c.EventsDurableURL)))
	}
	return attrs
}

// RedactHeaders keeps the header names of an OTEL_EXPORTER_OTLP_HEADERS value
// and replaces every value. An entry that is not name=value with a valid
// header name (say "Authorization: Bearer x", HTTP syntax by mistake) is
// shown as MALFORMED, never echoed.
func RedactHeaders(h string) string {
	var names []string
	for _, part := range strings.Split(h, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		name, _, ok := strings.Cut(part, "=")
		if name = strings.TrimSpace(name); ok && isHeaderToken(name) {
			names = append(names, name+"="+redact.Mask)
		} else {
			names = append(names, "MALFORMED")
		}
	}
	return strings.Join(names, ",")
}

func validHeaders(h string) bool {
	for _, part := range strings.Split(h, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		name, value, ok := strings.Cut(part, "=")
		if !ok || !isHeaderToken(strings.TrimSpace(name)) {
			return false
		}
		if _, err := url.PathUnescape(value); err != nil { // the exporters skip it
			return false
		}
	}
	return true
}

// isHeaderToken reports whether s is an HTTP header name (RFC 9110 token).
func isHeaderToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// secretValues returns the raw values that must never appear in output:
// header values of every OTLP headers variable and passwords of URLs,
// longest first. The error handler ffitel installs for the OpenTelemetry
// SDK redacts them.
func (c Config) secretValues() []string { return c.secrets }

// redactSecrets replaces every secret value in s.
func redactSecrets(s string, secrets []string) string { return redact.Secrets(s, secrets) }

// RedactURL replaces the password of a URL or libpq key=value string, and
// the values of credential query parameters, so that it can be logged. It
// is the module's one form (internal/redact), shared with events.RedactURL.
func RedactURL(raw string) string { return redact.URL(raw) }
