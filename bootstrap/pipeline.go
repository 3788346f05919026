package bootstrap

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/ffitel/ffitel/metrics"
)

// exportPipeline is phase 2's export path: the exporters, the accounted
// queues (batchers) in front of them, the converter that turns queued log
// items into OTLP records, the metric pump, and the LoggerProvider it owns
// for other Go code using the OpenTelemetry log API. A signal whose exporter
// is off has nil parts. Its methods are safe on a nil pipeline (export off).
type exportPipeline struct {
	exporters exporters
	converter *logConverter          // nil unless logs are exported
	logs      *batcher[logItem]      // nil unless logs are exported
	spans     *batcher[spanItem]     // nil unless spans are exported
	pump      *metricPump            // nil unless metrics are pushed
	lp        *sdklog.LoggerProvider // nil unless logs are exported
	spool     *spoolShipper          // nil unless FFITEL_SPOOL_DIR is on (spool.go)
}

// pipelineSettings is what newExportPipeline needs besides the exporters.
type pipelineSettings struct {
	cfg          Config
	res          *resource.Resource
	reader       *sdkmetric.ManualReader // the phase-1 reader the pump collects
	lossInterval time.Duration
	lossReporter func(what string) func(dropped, failed uint64, lastErr error)
	warn         func(msg string, args ...any)
	self         *selfMetrics // export health and duration per signal; may be nil
}

// shrinkWarning reports a request the receiver refused for its size.
func shrinkWarning(warn func(string, ...any), what, batchVar string) func(refused, now int) {
	if warn == nil {
		return nil
	}
	return func(refused, now int) {
		warn("the collector refused a "+what+" export request as too large; sending it in parts, and later requests of at most "+
			strconv.Itoa(now)+" bytes (lower "+batchVar+" or raise the receiver's message size limit)",
			slog.Int("refused_bytes", refused))
	}
}

// newExportPipeline starts a queue (and its goroutine) for each exported
// signal. It never waits on the network.
func newExportPipeline(exps exporters, s pipelineSettings) *exportPipeline {
	c := s.cfg
	p := &exportPipeline{exporters: exps}
	if exps.logs != nil {
		p.converter = newLogConverter(s.res, exps.logs)
		batch := c.LogBatchSize
		if p.converter.wire != nil {
			batch = c.LogWireBatchSize
		}
		p.logs = newBatcher(p.converter.export, c.LogQueueSize, batch, c.LogScheduleDelay, c.LogExportTimeout)
		p.logs.wakeAt = wakeThreshold(p.logs.maxQueue, p.logs.maxBatch)
		p.logs.lossTick, p.logs.onLoss = s.lossInterval, s.lossReporter("log records")
		p.logs.fullWait, p.logs.retryFor = c.QueueFullWait, c.LogExportTimeout
		p.logs.health = s.self.signalHealth(sigLogs)
		if p.converter.wire != nil {
			p.logs.prepare = p.converter.wire.pack // wire_export.go
			p.logs.release = func(it logItem) { it.slab.release() }
			p.logs.size, p.logs.maxBytes = logItemWireSize, wireRequestBytes
			p.logs.onShrink = shrinkWarning(s.warn, "log", envLogBatchSize)
		}
		p.logs.start()
		p.lp = sdklog.NewLoggerProvider(sdklog.WithResource(s.res), sdklog.WithProcessor(apiProcessor{p.logs}))
		p.spool = startSpool(c, s.res, exps.logs, exps.spans, s.warn)
	}
	if exps.spans != nil {
		sx := newSpanExport(exps.spans) // span_wire_export.go
		batch := c.SpanBatchSize
		if sx.wire != nil {
			batch = c.SpanWireBatchSize
		}
		p.spans = newBatcher(sx.export, c.SpanQueueSize, batch, c.SpanScheduleDelay, c.SpanExportTimeout)
		if sx.wire != nil {
			p.spans.prepare = sx.wire.pack
			p.spans.release = func(it spanItem) { it.slab.release() }
			p.spans.size, p.spans.maxBytes = spanItemWireSize, wireRequestBytes
			p.spans.onShrink = shrinkWarning(s.warn, "span", envSpanBatchSize)
		}
		p.spans.wakeAt = wakeThreshold(p.spans.maxQueue, p.spans.maxBatch)
		p.spans.lossTick, p.spans.onLoss = s.lossInterval, s.lossReporter("spans")
		p.spans.fullWait, p.spans.retryFor = c.QueueFullWait, c.SpanExportTimeout
		p.spans.health = s.self.signalHealth(sigTraces)
		p.spans.start()
	}
	if exps.metrics != nil {
		p.pump = &metricPump{reader: s.reader, exporter: exps.metrics, interval: c.MetricExportInterval,
			timeout: c.MetricExportTimeout, warn: s.warn, health: s.self.signalHealth(sigMetrics)}
		p.pump.start()
	}
	return p
}

// logQueue is the export queue of log records, nil when they are not exported.
func (p *exportPipeline) logQueue() *batcher[logItem] {
	if p == nil {
		return nil
	}
	return p.logs
}

// spanQueue is the export queue of spans, nil when they are not exported.
func (p *exportPipeline) spanQueue() *batcher[spanItem] {
	if p == nil {
		return nil
	}
	return p.spans
}

// flush exports everything queued so far, within ctx; with metrics set it
// also sends one metric collection.
func (p *exportPipeline) flush(ctx context.Context, metrics bool) error {
	if p == nil {
		return nil
	}
	var errs []error
	if p.spans != nil {
		errs = append(errs, p.spans.flush(ctx))
	}
	if p.logs != nil {
		errs = append(errs, p.logs.flush(ctx))
	}
	if p.spool != nil {
		errs = append(errs, p.spool.flush(ctx))
	}
	if p.pump != nil && metrics {
		p.pump.exportOnce(ctx)
	}
	return errors.Join(errs...)
}

// shutdown drains the queues and sends a final metric collection, all in
// parallel so that ctx bounds the whole, then closes the exporters and the
// providers it owns. Whatever cannot be sent in time is counted as dropped.
func (p *exportPipeline) shutdown(ctx context.Context) error {
	if p == nil {
		return nil
	}
	var wg sync.WaitGroup
	var errs [4]error
	if p.spool != nil {
		wg.Add(1)
		go func() { defer wg.Done(); errs[3] = p.spool.shutdown(ctx) }()
	}
	if p.spans != nil {
		wg.Add(1)
		go func() { defer wg.Done(); errs[0] = p.spans.shutdown(ctx) }()
	}
	if p.logs != nil {
		wg.Add(1)
		go func() { defer wg.Done(); errs[1] = p.logs.shutdown(ctx) }()
	}
	wg.Wait()
	// The final metric export comes after the queues drained, so the
	// pipeline's own counters it carries (ffitel.logs.exported...) are the
	// final ones; the queues shut down first within the same bound.
	if p.pump != nil {
		errs[2] = p.pump.shutdown(ctx)
	}
	// Exporter shutdown closes connections; bounded by what is left.
	p.exporters.shutdown(ctx)
	if p.lp != nil {
		_ = p.lp.Shutdown(ctx)
	}
	if p.converter != nil {
		_ = p.converter.lp.Shutdown(ctx)
	}
	return errors.Join(errs[0], errs[1], errs[2], errs[3])
}

// stats fills the export accounting of s.
func (p *exportPipeline) stats(s *metrics.PipelineStats) {
	if p == nil {
		return
	}
	if p.logs != nil {
		s.Logs = p.logs.stats()
	}
	if p.spans != nil {
		s.Spans = p.spans.stats()
	}
	p.spool.stats(s)
	if p.pump != nil {
		s.MetricExports, s.MetricExportFailures = p.pump.exports.Load(), p.pump.failures.Load()
	}
}

// metricPump exports collections of the phase-1 ManualReader. Because the
// reader has been aggregating since phase 1, the first export carries the
// counts made before the upgrade.
type metricPump struct {
	reader   *sdkmetric.ManualReader
	exporter sdkmetric.Exporter
	interval time.Duration
	timeout  time.Duration
	warn     func(msg string, args ...any)
	health   *exportHealth // may be nil

	exports, failures atomic.Uint64
	stop              chan struct{}
	done              chan struct{}
	// base bounds the periodic exports; shutdown cancels it when its
	// deadline passes: an export stuck on a black-holed collector holds
	// the exporter, which shutdown closes next (and would wait for).
	base       context.Context
	cancelBase context.CancelFunc
}

func (m *metricPump) start() {
	m.stop, m.done = make(chan struct{}), make(chan struct{})
	m.base, m.cancelBase = context.WithCancel(context.Background())
	go func() {
		defer close(m.done)
		defer func() {
			if r := recover(); r != nil { // never kill the host process
				m.failures.Add(1)
				m.warn("metric export stopped", slog.Any("panic", r))
			}
		}()
		t := time.NewTicker(m.interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				ctx, cancel := context.WithTimeout(m.base, m.timeout)
				m.exportOnce(ctx)
				cancel()
			case <-m.stop:
				return
			}
		}
	}()
}

func (m *metricPump) exportOnce(ctx context.Context) {
	var rm metricdata.ResourceMetrics
	if err := m.reader.Collect(ctx, &rm); err != nil {
		m.failures.Add(1)
		return
	}
	start := time.Now()
	m.health.attempt(start)
	err := m.exporter.Export(ctx, &rm)
	m.health.attempted(err)
	m.health.exported(time.Since(start))
	if err != nil {
		if m.failures.Add(1) == 1 || m.failures.Load()%10 == 0 {
			m.warn("metric export failed", slog.String("error", err.Error()), slog.Uint64("failures", m.failures.Load()))
		}
		return
	}
	m.exports.Add(1)
}

// shutdown stops the ticker and sends a final collection within ctx. A
// final collection that could not be sent is counted as a failure.
func (m *metricPump) shutdown(ctx context.Context) error {
	close(m.stop)
	select {
	case <-m.done:
	case <-ctx.Done():
		m.cancelBase() // the export in flight gives up the exporter
		m.failures.Add(1)
		return ctx.Err()
	}
	m.cancelBase()
	before := m.failures.Load()
	m.exportOnce(ctx)
	if m.failures.Load() != before {
		return errors.New("ffitel: final metric export failed")
	}
	return nil
}
