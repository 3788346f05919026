package bootstrap

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// newResource describes this process. Explicit settings come first, so that
// OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME (read by WithFromEnv) win.
// process.pid tells apart the processes of one service on one host, say the
// pool processes of a pre-forking worker (each loads the library after the
// fork, so each reports its own pid).
func newResource(c Config) *resource.Resource {
	// The service name and version the configuration resolved (OTEL_SERVICE_NAME
	// and OTEL_SERVICE_VERSION over OTEL_RESOURCE_ATTRIBUTES) win over the
	// resource attributes, so the exported resource says what the logged
	// configuration says; the environment is a default they may override.
	service := []attribute.KeyValue{semconv.ServiceName(c.ServiceName)}
	if c.ServiceVersion != "" {
		service = append(service, semconv.ServiceVersion(c.ServiceVersion))
	}
	env := semconv.DeploymentEnvironmentNameKey.String(c.Environment)
	res, err := resource.New(context.Background(),
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithAttributes(env),
		resource.WithTelemetrySDK(),
		resource.WithProcessPID(),
		resource.WithFromEnv(),
		resource.WithAttributes(service...),
	)
	if res == nil || err != nil && res.Len() == 0 {
		// A malformed OTEL_RESOURCE_ATTRIBUTES yields a partial resource
		// and an error: keep what was parsed, never fail.
		res = resource.NewWithAttributes(semconv.SchemaURL, append(service, env)...)
	}
	return res
}

func newSampler(c Config) sdktrace.Sampler {
	switch c.Sampler {
	case "always_on":
		return sdktrace.AlwaysSample()
	case "always_off":
		return sdktrace.NeverSample()
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(c.SamplerArg)
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample())
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(c.SamplerArg))
	}
	return sdktrace.ParentBased(sdktrace.AlwaysSample())
}

func newPropagator(c Config) propagation.TextMapPropagator {
	var ps []propagation.TextMapPropagator
	for _, p := range c.Propagators {
		switch p {
		case "tracecontext":
			ps = append(ps, propagation.TraceContext{})
		case "baggage":
			ps = append(ps, propagation.Baggage{})
		}
	}
	return propagation.NewCompositeTextMapPropagator(ps...)
}

// metricReaderOptions gives the phase-1 reader (the one the metric pump
// pushes from) the temporality and histogram aggregation the environment
// prefers, with the meanings the OTLP exporter specification gives them:
// delta makes counters and histograms delta (up-down counters stay
// cumulative), lowmemory does so for synchronous counters and histograms
// only.
func metricReaderOptions(c Config) []sdkmetric.ManualReaderOption {
	var opts []sdkmetric.ManualReaderOption
	switch c.MetricsTemporality {
	case "delta":
		opts = append(opts, sdkmetric.WithTemporalitySelector(func(k sdkmetric.InstrumentKind) metricdata.Temporality {
			switch k {
			case sdkmetric.InstrumentKindCounter, sdkmetric.InstrumentKindHistogram,
				sdkmetric.InstrumentKindObservableCounter:
				return metricdata.DeltaTemporality
			}
			return metricdata.CumulativeTemporality
		}))
	case "lowmemory":
		opts = append(opts, sdkmetric.WithTemporalitySelector(func(k sdkmetric.InstrumentKind) metricdata.Temporality {
			switch k {
			case sdkmetric.InstrumentKindCounter, sdkmetric.InstrumentKindHistogram:
				return metricdata.DeltaTemporality
			}
			return metricdata.CumulativeTemporality
		}))
	}
	if c.HistogramAggregation == "base2_exponential_bucket_histogram" {
		opts = append(opts, sdkmetric.WithAggregationSelector(func(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
			if k == sdkmetric.InstrumentKindHistogram {
				return sdkmetric.AggregationBase2ExponentialHistogram{MaxSize: 160, MaxScale: 20}
			}
			return sdkmetric.DefaultAggregationSelector(k)
		}))
	}
	return opts
}
