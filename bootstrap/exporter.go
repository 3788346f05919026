package bootstrap

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutlog"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// The OTLP exporters read endpoint, headers, timeout, compression,
// certificates and insecure from the environment themselves. ffitel only
// supplies the default endpoint when none is set: plain-text
// http://localhost:4317 (gRPC) or :4318 (HTTP), where the SDK's own default
// would use TLS to a local collector that does not speak it.
const (
	defaultGRPCEndpoint = "http://localhost:4317"
	defaultHTTPEndpoint = "http://localhost:4318"
)

// defaultEndpoint is the endpoint an exporter of protocol uses when none is
// set; with a signal, the HTTP form includes its path (/v1/logs).
func defaultEndpoint(protocol, signal string) string {
	if protocol != "http/protobuf" {
		return defaultGRPCEndpoint
	}
	if signal == "" {
		return defaultHTTPEndpoint
	}
	return defaultHTTPEndpoint + "/v1/" + strings.ToLower(signal)
}

// The exporters the environment can select, pinned to the interfaces the
// pipeline uses.
var (
	_ sdklog.Exporter       = (*otlploggrpc.Exporter)(nil)
	_ sdklog.Exporter       = (*otlploghttp.Exporter)(nil)
	_ sdklog.Exporter       = (*stdoutlog.Exporter)(nil)
	_ sdktrace.SpanExporter = (*otlptrace.Exporter)(nil)
	_ sdktrace.SpanExporter = (*stdouttrace.Exporter)(nil)
	_ sdkmetric.Exporter    = (*otlpmetricgrpc.Exporter)(nil)
	_ sdkmetric.Exporter    = (*otlpmetrichttp.Exporter)(nil)
)

// exporters are the phase-2 exporters; a nil field means the signal is off.
type exporters struct {
	logs    sdklog.Exporter
	spans   sdktrace.SpanExporter
	metrics sdkmetric.Exporter
}

func (e exporters) shutdown(ctx context.Context) {
	if e.logs != nil {
		_ = e.logs.Shutdown(ctx)
	}
	if e.spans != nil {
		_ = e.spans.Shutdown(ctx)
	}
	if e.metrics != nil {
		_ = e.metrics.Shutdown(ctx)
	}
}

// newExporters builds the exporters the configuration asks for. It never
// dials: gRPC connects lazily, HTTP per request. console writes to out.
func newExporters(ctx context.Context, c Config, console io.Writer) (exporters, error) {
	var e exporters
	var err error
	if e.logs, err = newLogExporter(ctx, c, console); err != nil {
		return exporters{}, fmt.Errorf("ffitel: logs exporter: %w", err)
	}
	if e.spans, err = newSpanExporter(ctx, c, console); err != nil {
		e.shutdown(ctx)
		return exporters{}, fmt.Errorf("ffitel: traces exporter: %w", err)
	}
	if e.metrics, err = newMetricExporter(ctx, c, console); err != nil {
		e.shutdown(ctx)
		return exporters{}, fmt.Errorf("ffitel: metrics exporter: %w", err)
	}
	return e, nil
}

// Reconnection and retry. A gRPC connection that lost its collector
// redials with a short backoff (at most grpcMaxReconnectDelay), so delivery
// resumes within about a second of a restart instead of gRPC's default two
// minutes. The log and span exporters do not retry on their own: the export
// queue (batch.go) retries a failed batch with its own backoff for as long
// as the queue has room and the export timeout allows, so a retry never
// hides a dead collector from the producers and is counted in the stats.
// The metric exporter keeps the SDK's retry: the metric pump does not
// retry, and a delta collection that is not sent is lost.
const (
	grpcReceiveWindow     = 1 << 20
	grpcReconnectBase     = 100 * time.Millisecond
	grpcMaxReconnectDelay = time.Second
)

// queueRetriesExports selects the retry strategy for logs and spans: the
// queue's (true) or the SDK exporter's (false, its 5 s to 30 s backoff).
var queueRetriesExports = true

func grpcDialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
		Backoff: backoff.Config{BaseDelay: grpcReconnectBase, Multiplier: 1.6, Jitter: 0.2,
			MaxDelay: grpcMaxReconnectDelay},
		MinConnectTimeout: 5 * time.Second,
	}),
		grpc.WithStaticStreamWindowSize(grpcReceiveWindow),
		grpc.WithStaticConnWindowSize(grpcReceiveWindow),
	}
}

// The options every OTLP exporter gets: the request timeout ffitel
// resolved (so the SDK never falls back silently on a bad value) and the
// default endpoint when the environment sets no valid one.
func newLogExporter(ctx context.Context, c Config, console io.Writer) (sdklog.Exporter, error) {
	switch c.LogsExporter {
	case "none":
		return nil, nil
	case "console":
		return stdoutlog.New(stdoutlog.WithWriter(console))
	}
	if c.LogsProtocol == "http/protobuf" {
		opts := []otlploghttp.Option{otlploghttp.WithTimeout(c.LogsTimeout)}
		if !c.endpointSet(signalLogs) {
			opts = append(opts, otlploghttp.WithEndpointURL(defaultEndpoint(c.LogsProtocol, signalLogs)))
		}
		if queueRetriesExports {
			opts = append(opts, otlploghttp.WithRetry(otlploghttp.RetryConfig{Enabled: false}))
		}
		return otlploghttp.New(ctx, opts...)
	}
	// Dial options go to newWireGRPCLogExporter, not into opts: a second
	// WithDialOption would replace the first.
	opts := []otlploggrpc.Option{otlploggrpc.WithTimeout(c.LogsTimeout)}
	if !c.endpointSet(signalLogs) {
		opts = append(opts, otlploggrpc.WithEndpointURL(defaultGRPCEndpoint))
	}
	if queueRetriesExports {
		opts = append(opts, otlploggrpc.WithRetry(otlploggrpc.RetryConfig{Enabled: false}))
	}
	return newWireGRPCLogExporter(ctx, grpcDialOptions(), opts...) // wire_export.go
}

func newSpanExporter(ctx context.Context, c Config, console io.Writer) (sdktrace.SpanExporter, error) {
	switch c.TracesExporter {
	case "none":
		return nil, nil
	case "console":
		return stdouttrace.New(stdouttrace.WithWriter(console))
	}
	if c.TracesProtocol == "http/protobuf" {
		opts := []otlptracehttp.Option{otlptracehttp.WithTimeout(c.TracesTimeout)}
		if !c.endpointSet(signalTraces) {
			opts = append(opts, otlptracehttp.WithEndpointURL(defaultEndpoint(c.TracesProtocol, signalTraces)))
		}
		if queueRetriesExports {
			opts = append(opts, otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}))
		}
		return otlptracehttp.New(ctx, opts...)
	}
	// Dial options go to newWireGRPCSpanExporter, not into opts: a second
	// WithDialOption would replace the first.
	opts := []otlptracegrpc.Option{otlptracegrpc.WithTimeout(c.TracesTimeout)}
	if !c.endpointSet(signalTraces) {
		opts = append(opts, otlptracegrpc.WithEndpointURL(defaultGRPCEndpoint))
	}
	if queueRetriesExports {
		opts = append(opts, otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}))
	}
	return newWireGRPCSpanExporter(ctx, grpcDialOptions(), opts...) // span_wire_export.go
}

func newMetricExporter(ctx context.Context, c Config, console io.Writer) (sdkmetric.Exporter, error) {
	switch c.MetricsExporter {
	case "none", "prometheus":
		// Prometheus is pulled from FFITEL_METRICS_ADDR, not pushed.
		return nil, nil
	case "console":
		return stdoutmetric.New(stdoutmetric.WithWriter(console))
	}
	if c.MetricsProtocol == "http/protobuf" {
		opts := []otlpmetrichttp.Option{otlpmetrichttp.WithTimeout(c.MetricsTimeout)}
		if !c.endpointSet(signalMetrics) {
			opts = append(opts, otlpmetrichttp.WithEndpointURL(defaultEndpoint(c.MetricsProtocol, signalMetrics)))
		}
		return otlpmetrichttp.New(ctx, opts...)
	}
	opts := []otlpmetricgrpc.Option{otlpmetricgrpc.WithTimeout(c.MetricsTimeout), otlpmetricgrpc.WithDialOption(grpcDialOptions()...)}
	if !c.endpointSet(signalMetrics) {
		opts = append(opts, otlpmetricgrpc.WithEndpointURL(defaultGRPCEndpoint))
	}
	return otlpmetricgrpc.New(ctx, opts...)
}
