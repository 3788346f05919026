package bootstrap

import (
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ffitel/ffitel/events"
)

// LevelTrace is the slog level ffitel uses for TRACE (OpenTelemetry severity 1).
const LevelTrace = slog.Level(-8)

// LevelFatal is the slog level ffitel uses for FATAL (OpenTelemetry severity 21).
const LevelFatal = slog.Level(12)

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
	LogScheduleDelay  time.Duration
	LogExportTimeout  time.Duration
	SpanQueueSize     int
	SpanBatchSize     int
	SpanScheduleDelay time.Duration
	SpanExportTimeout time.Duration

	MetricExportInterval time.Duration
	MetricExportTimeout  time.Duration

	getenv func(string) string
}

// Default queue sizes are larger than the OpenTelemetry specification's
// (2048): the product promises that a burst of 100 000 records from four
// threads is delivered whole to a live collector. The queue grows on demand,
// so an idle worker does not pay for it.
const (
	defaultLogQueueSize  = 1 << 17
	defaultSpanQueueSize = 1 << 16
	defaultBatchSize     = 512
	// defaultQueueFullWaitMS bounds one caller's wait for room in a full
	// export queue while the collector keeps accepting.
	defaultQueueFullWaitMS = 5000
)

// LoadConfig resolves the configuration from getenv (os.Getenv when nil).
// A bad value is never fatal: it yields a warning that names the variable and
// the value used instead.
func LoadConfig(getenv func(string) string) (Config, []string) {
	if getenv == nil {
		getenv = os.Getenv
	}
	r := resolver{getenv: getenv}
	c := Config{getenv: getenv}

	c.TelemetryEnabled = r.boolean("TELEMETRY_ENABLED", false)
	c.SDKDisabled = r.boolean("OTEL_SDK_DISABLED", false)

	c.ServiceName = strings.TrimSpace(getenv("OTEL_SERVICE_NAME"))
	if c.ServiceName == "" {
		c.ServiceName = resourceAttr(getenv("OTEL_RESOURCE_ATTRIBUTES"), "service.name")
	}
	if c.ServiceName == "" {
		c.ServiceName = "unknown_service:" + filepath.Base(executable())
	}
	c.ServiceVersion = strings.TrimSpace(getenv("OTEL_SERVICE_VERSION"))
	if c.ServiceVersion == "" {
		c.ServiceVersion = resourceAttr(getenv("OTEL_RESOURCE_ATTRIBUTES"), "service.version")
	}

	c.Environment = "development"
	for _, k := range []string{"DEPLOYMENT_ENVIRONMENT", "TASKER_ENV", "APP_ENV"} {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			c.Environment = v
			break
		}
	}
	defaultLevel := slog.LevelDebug
	if isProduction(c.Environment) {
		defaultLevel = slog.LevelInfo
	}
	c.Level = r.level("LOG_LEVEL", defaultLevel)

	c.LogFormat = r.oneOf("FFITEL_LOG_FORMAT", "auto", "auto", "text", "json")
	c.LogOutput = r.oneOf("FFITEL_LOG_OUTPUT", "stderr", "stderr", "stdout", "none")
	c.NoColor = getenv("NO_COLOR") != ""

	c.EarlyBuffer = r.integer("FFITEL_EARLY_BUFFER", 1024, 0, 1<<20)
	c.ShutdownTimeout = time.Duration(r.integer("FFITEL_SHUTDOWN_TIMEOUT_MS", 5000, 0, 10*60*1000)) * time.Millisecond
	c.QueueFull = r.oneOf("FFITEL_QUEUE_FULL", "backpressure", "backpressure", "drop")
	c.QueueFullWait = time.Duration(r.integer("FFITEL_QUEUE_FULL_WAIT_MS", defaultQueueFullWaitMS, 0, 10*60*1000)) * time.Millisecond
	if c.QueueFull == "drop" {
		c.QueueFullWait = 0
	}

	c.MetricsAddr = strings.TrimSpace(getenv("FFITEL_METRICS_ADDR"))
	if c.MetricsAddr != "" && !strings.Contains(c.MetricsAddr, ":") {
		// A bare port means loopback: the endpoint is never exposed by accident.
		c.MetricsAddr = "127.0.0.1:" + c.MetricsAddr
	} else if strings.HasPrefix(c.MetricsAddr, ":") {
		c.MetricsAddr = "127.0.0.1" + c.MetricsAddr
	}
	c.MetricsNamespace = r.identifier("FFITEL_METRICS_NAMESPACE", "tasker")
	c.WorkerID = strings.TrimSpace(getenv("FFITEL_WORKER_ID"))
	if c.WorkerID == "" {
		host, _ := os.Hostname()
		c.WorkerID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	c.EventsDurableURL = strings.TrimSpace(getenv("FFITEL_EVENTS_DURABLE_URL"))
	c.TaskPropagation = r.oneOf("FFITEL_TASK_PROPAGATION", "auto", "auto", "child", "link", "none")

	c.TracesExporter = r.oneOf("OTEL_TRACES_EXPORTER", "otlp", "otlp", "console", "none")
	c.LogsExporter = r.oneOf("OTEL_LOGS_EXPORTER", "otlp", "otlp", "console", "none")
	c.MetricsExporter = r.oneOf("OTEL_METRICS_EXPORTER", "otlp", "otlp", "console", "none", "prometheus")

	proto := r.oneOf("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "grpc", "http/protobuf")
	c.TracesProtocol = r.oneOf("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", proto, "grpc", "http/protobuf")
	c.LogsProtocol = r.oneOf("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", proto, "grpc", "http/protobuf")
	c.MetricsProtocol = r.oneOf("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", proto, "grpc", "http/protobuf")

	c.Sampler, c.SamplerArg = r.sampler()
	c.Propagators = r.propagators()

	c.LogQueueSize = r.integer("OTEL_BLRP_MAX_QUEUE_SIZE", defaultLogQueueSize, 1, 1<<24)
	c.LogBatchSize = r.integer("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", defaultBatchSize, 1, 1<<20)
	c.LogScheduleDelay = r.millis("OTEL_BLRP_SCHEDULE_DELAY", time.Second)
	c.LogExportTimeout = r.millis("OTEL_BLRP_EXPORT_TIMEOUT", 30*time.Second)
	c.SpanQueueSize = r.integer("OTEL_BSP_MAX_QUEUE_SIZE", defaultSpanQueueSize, 1, 1<<24)
	c.SpanBatchSize = r.integer("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", defaultBatchSize, 1, 1<<20)
	c.SpanScheduleDelay = r.millis("OTEL_BSP_SCHEDULE_DELAY", 5*time.Second)
	c.SpanExportTimeout = r.millis("OTEL_BSP_EXPORT_TIMEOUT", 30*time.Second)
	c.MetricExportInterval = r.millis("OTEL_METRIC_EXPORT_INTERVAL", 60*time.Second)
	c.MetricExportTimeout = r.millis("OTEL_METRIC_EXPORT_TIMEOUT", 30*time.Second)

	if c.MetricsExporter == "prometheus" && c.MetricsAddr == "" {
		r.warnings = append(r.warnings, "OTEL_METRICS_EXPORTER=prometheus needs FFITEL_METRICS_ADDR (where /metrics is served); metrics are not exported")
	}

	// Validate what the exporters will read themselves, so a bad value is
	// reported once here rather than failing silently later. Header values
	// are secrets: a warning names the variable, never the value.
	for _, k := range []string{"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
		"OTEL_EXPORTER_OTLP_LOGS_HEADERS", "OTEL_EXPORTER_OTLP_METRICS_HEADERS"} {
		if v := getenv(k); v != "" && !validHeaders(v) {
			r.warnings = append(r.warnings, fmt.Sprintf(
				"invalid %s (value not shown): entries must be name=value separated by commas; malformed entries are ignored by the exporters", k))
		}
	}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
		"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"} {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			if u, err := url.Parse(v); err != nil || u.Scheme == "" || u.Host == "" {
				r.warn(k, RedactURL(v), "the default endpoint")
			}
		}
	}
	return c, r.warnings
}

// ExportReason says why phase 2 exports nothing, or "" when it exports.
func (c Config) ExportReason() string {
	switch {
	case c.SDKDisabled:
		return "OTEL_SDK_DISABLED is true"
	case !c.TelemetryEnabled:
		return "TELEMETRY_ENABLED is not true"
	}
	return ""
}

// endpointSet reports whether the exporter of signal (TRACES, LOGS, METRICS)
// will find an endpoint in the environment.
func (c Config) endpointSet(signal string) bool {
	return strings.TrimSpace(c.getenv("OTEL_EXPORTER_OTLP_ENDPOINT")) != "" ||
		strings.TrimSpace(c.getenv("OTEL_EXPORTER_OTLP_"+signal+"_ENDPOINT")) != ""
}

// LogAttrs renders the resolved configuration for the one log line phase 2
// writes. Header values and URL passwords are redacted.
func (c Config) LogAttrs() []slog.Attr {
	endpoint := func(signal string) string {
		if v := strings.TrimSpace(c.getenv("OTEL_EXPORTER_OTLP_" + signal + "_ENDPOINT")); v != "" {
			return RedactURL(v)
		}
		if v := strings.TrimSpace(c.getenv("OTEL_EXPORTER_OTLP_ENDPOINT")); v != "" {
			return RedactURL(v)
		}
		return "default"
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
		slog.String("traces_endpoint", endpoint("TRACES")),
		slog.String("logs_endpoint", endpoint("LOGS")),
		slog.String("metrics_endpoint", endpoint("METRICS")),
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
		slog.Duration("metric_export_interval", c.MetricExportInterval),
		slog.String("metrics_addr", c.MetricsAddr),
		slog.String("worker_id", c.WorkerID),
		slog.String("task_propagation", c.TaskPropagation),
	}
	if h := c.getenv("OTEL_EXPORTER_OTLP_HEADERS"); h != "" {
		attrs = append(attrs, slog.String("headers", RedactHeaders(h)))
	}
	if c.EventsDurableURL != "" {
		// events.RedactURL also knows libpq's key=value form.
		attrs = append(attrs, slog.String("events_durable_url", events.RedactURL(c.EventsDurableURL)))
	}
	return attrs
}

// LevelName is the name ffitel prints for a slog level.
func LevelName(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "TRACE"
	case l < slog.LevelInfo:
		return "DEBUG"
	case l < slog.LevelWarn:
		return "INFO"
	case l < slog.LevelError:
		return "WARN"
	case l < LevelFatal:
		return "ERROR"
	}
	return "FATAL"
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
			names = append(names, name+"=REDACTED")
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
		name, _, ok := strings.Cut(part, "=")
		if !ok || !isHeaderToken(strings.TrimSpace(name)) {
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
// header values of every OTLP headers variable and passwords of URLs. The
// error handler ffitel installs for the OpenTelemetry SDK redacts them.
func (c Config) secretValues() []string {
	var out []string
	for _, k := range []string{"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
		"OTEL_EXPORTER_OTLP_LOGS_HEADERS", "OTEL_EXPORTER_OTLP_METRICS_HEADERS"} {
		v := c.getenv(k)
		if v == "" {
			continue
		}
		out = append(out, v)
		for _, part := range strings.Split(v, ",") {
			name, val, ok := strings.Cut(part, "=")
			if ok {
				out = append(out, strings.TrimSpace(val))
			} else {
				out = append(out, strings.TrimSpace(name))
			}
		}
	}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
		"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "FFITEL_EVENTS_DURABLE_URL"} {
		if u, err := url.Parse(c.getenv(k)); err == nil && u.User != nil {
			if p, ok := u.User.Password(); ok && p != "" {
				out = append(out, p)
			}
		}
	}
	if p := events.PasswordOf(c.EventsDurableURL); p != "" {
		out = append(out, p)
	}
	kept := out[:0]
	for _, v := range out {
		if len(v) >= 3 { // never redact a trivially short string everywhere
			kept = append(kept, v)
		}
	}
	// Longest first, so a whole value is replaced before its parts.
	slices.SortFunc(kept, func(a, b string) int { return len(b) - len(a) })
	return kept
}

// redactSecrets replaces every secret value in s.
func redactSecrets(s string, secrets []string) string {
	for _, v := range secrets {
		s = strings.ReplaceAll(s, v, "REDACTED")
	}
	return s
}

// RedactURL replaces the password of a URL (and any query value) so that it
// can be logged. Unparseable input is redacted whole.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || strings.Contains(u.Opaque, "@") { // "user:pw@host:port" parses as opaque
		return "REDACTED-UNPARSEABLE-URL"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "REDACTED")
		}
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if strings.Contains(strings.ToLower(k), "pass") || strings.Contains(strings.ToLower(k), "secret") ||
				strings.Contains(strings.ToLower(k), "token") || strings.Contains(strings.ToLower(k), "key") {
				q.Set(k, "REDACTED")
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

func isProduction(env string) bool {
	switch strings.ToLower(env) {
	case "production", "prod":
		return true
	}
	return false
}

func executable() string {
	if p, err := os.Executable(); err == nil {
		return p
	}
	if len(os.Args) > 0 {
		return os.Args[0]
	}
	return "unknown"
}

// resourceAttr finds key in an OTEL_RESOURCE_ATTRIBUTES value.
func resourceAttr(attrs, key string) string {
	for _, kv := range strings.Split(attrs, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.TrimSpace(k) == key {
			if dec, err := url.PathUnescape(strings.TrimSpace(v)); err == nil {
				return dec
			}
			return strings.TrimSpace(v)
		}
	}
	return ""
}

type resolver struct {
	getenv   func(string) string
	warnings []string
}

func (r *resolver) warn(key, value, used string) {
	r.warnings = append(r.warnings, fmt.Sprintf("invalid %s=%q; using %s", key, value, used))
}

func (r *resolver) boolean(key string, def bool) bool {
	v := strings.TrimSpace(r.getenv(key))
	switch strings.ToLower(v) {
	case "":
		return def
	case "true", "1", "yes", "on":
		return true
	case "false", "0", "no", "off":
		return false
	}
	r.warn(key, v, strconv.FormatBool(def))
	return def
}

func (r *resolver) integer(key string, def, min, max int) int {
	v := strings.TrimSpace(r.getenv(key))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		r.warn(key, v, strconv.Itoa(def))
		return def
	}
	return n
}

// millis reads a positive duration in milliseconds: a zero interval would
// make a ticker panic or an export loop spin.
func (r *resolver) millis(key string, def time.Duration) time.Duration {
	ms := r.integer(key, int(def/time.Millisecond), 1, 24*60*60*1000)
	return time.Duration(ms) * time.Millisecond
}

func (r *resolver) oneOf(key, def string, allowed ...string) string {
	v := strings.ToLower(strings.TrimSpace(r.getenv(key)))
	if v == "" {
		return def
	}
	if key == "OTEL_EXPORTER_OTLP_PROTOCOL" || strings.HasSuffix(key, "_PROTOCOL") {
		if v == "http" || v == "http/proto" {
			v = "http/protobuf"
		}
	}
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.warn(key, v, def)
	return def
}

func (r *resolver) identifier(key, def string) string {
	v := strings.TrimSpace(r.getenv(key))
	if v == "" {
		return def
	}
	for i, c := range v {
		ok := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')
		if !ok {
			r.warn(key, v, def)
			return def
		}
	}
	return v
}

func (r *resolver) level(key string, def slog.Level) slog.Level {
	v := strings.ToLower(strings.TrimSpace(r.getenv(key)))
	switch v {
	case "":
		return def
	case "trace":
		return LevelTrace
	case "debug":
		return slog.LevelDebug
	case "info":
		return slog.LevelInfo
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	r.warn(key, v, strings.ToLower(LevelName(def)))
	return def
}

var samplers = []string{"always_on", "always_off", "traceidratio",
	"parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"}

func (r *resolver) sampler() (string, float64) {
	name := strings.ToLower(strings.TrimSpace(r.getenv("OTEL_TRACES_SAMPLER")))
	argRaw := strings.TrimSpace(r.getenv("OTEL_TRACES_SAMPLER_ARG"))
	arg := 1.0
	if argRaw != "" {
		f, err := strconv.ParseFloat(argRaw, 64)
		if err != nil || f < 0 || f > 1 {
			r.warn("OTEL_TRACES_SAMPLER_ARG", argRaw, "1.0")
			argRaw = ""
		} else {
			arg = f
		}
	}
	if name == "" {
		if argRaw != "" {
			// ARG alone means a parent-based ratio: setting a ratio and
			// silently keeping always-on would surprise.
			return "parentbased_traceidratio", arg
		}
		return "parentbased_always_on", 1
	}
	for _, s := range samplers {
		if s == name {
			return name, arg
		}
	}
	r.warn("OTEL_TRACES_SAMPLER", name, "parentbased_always_on")
	return "parentbased_always_on", 1
}

func (r *resolver) propagators() []string {
	v := strings.TrimSpace(r.getenv("OTEL_PROPAGATORS"))
	if v == "" {
		return []string{"tracecontext", "baggage"}
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		p = strings.ToLower(strings.TrimSpace(p))
		switch p {
		case "tracecontext", "baggage", "none":
			out = append(out, p)
		case "":
		default:
			r.warn("OTEL_PROPAGATORS", p, "nothing for it (supported: tracecontext, baggage, none)")
		}
	}
	if len(out) == 0 {
		return []string{"tracecontext", "baggage"}
	}
	return out
}
