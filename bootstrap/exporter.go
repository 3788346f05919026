package bootstrap

import (
	"context"
	"fmt"
	"io"

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

func newLogExporter(ctx context.Context, c Config, console io.Writer) (sdklog.Exporter, error) {
	switch c.LogsExporter {
	case "none":
		return nil, nil
	case "console":
		return stdoutlog.New(stdoutlog.WithWriter(console))
	}
	if c.LogsProtocol == "http/protobuf" {
		var opts []otlploghttp.Option
		if !c.endpointSet("LOGS") {
			opts = append(opts, otlploghttp.WithEndpointURL(defaultHTTPEndpoint+"/v1/logs"))
		}
		return otlploghttp.New(ctx, opts...)
	}
	var opts []otlploggrpc.Option
	if !c.endpointSet("LOGS") {
		opts = append(opts, otlploggrpc.WithEndpointURL(defaultGRPCEndpoint))
	}
	return newWireGRPCLogExporter(ctx, nil, opts...) // wire_export.go
}

func newSpanExporter(ctx context.Context, c Config, console io.Writer) (sdktrace.SpanExporter, error) {
	switch c.TracesExporter {
	case "none":
		return nil, nil
	case "console":
		return stdouttrace.New(stdouttrace.WithWriter(console))
	}
	if c.TracesProtocol == "http/protobuf" {
		var opts []otlptracehttp.Option
		if !c.endpointSet("TRACES") {
			opts = append(opts, otlptracehttp.WithEndpointURL(defaultHTTPEndpoint+"/v1/traces"))
		}
		return otlptracehttp.New(ctx, opts...)
	}
	var opts []otlptracegrpc.Option
	if !c.endpointSet("TRACES") {
		opts = append(opts, otlptracegrpc.WithEndpointURL(defaultGRPCEndpoint))
	}
	return otlptracegrpc.New(ctx, opts...)
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
		var opts []otlpmetrichttp.Option
		if !c.endpointSet("METRICS") {
			opts = append(opts, otlpmetrichttp.WithEndpointURL(defaultHTTPEndpoint+"/v1/metrics"))
		}
		return otlpmetrichttp.New(ctx, opts...)
	}
	var opts []otlpmetricgrpc.Option
	if !c.endpointSet("METRICS") {
		opts = append(opts, otlpmetricgrpc.WithEndpointURL(defaultGRPCEndpoint))
	}
	return otlpmetricgrpc.New(ctx, opts...)
}
