package bootstrap

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel/attribute"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"
)

// logItem is a record waiting in the early buffer or the export queue. The
// host thread only clones the slog record and notes its logger chain and
// context; turning it into an OTLP record happens on the export goroutine,
// so the host pays for a copy, not for the conversion.
//
// In the export queue of the wire path an item is usually only wire: the
// record already encoded (wireEncoder.pack), which keeps a queued record
// small; logEntry is then nil.
type logItem struct {
	*logEntry
	wire []byte
	slab *slabBuf // the slab wire is in (nil: none); released by the queue
}

// logEntry is a whole record as the host logged it.
type logEntry struct {
	record slog.Record
	chain  *chain
	span   trace.SpanContext
	fields []slog.Attr
	// otel is set instead for records emitted through the OpenTelemetry
	// log API (the global LoggerProvider) by other Go code.
	otel *sdklog.Record
	// owned is set when the entry comes from entryPool (newOwnedLogItem):
	// refs counts its users (the export queue, the console), and the last
	// to release it returns it to the pool.
	owned bool
	refs  atomic.Int32
}

func newLogItem(ctx context.Context, c *chain, r slog.Record) logItem {
	return logItem{logEntry: &logEntry{record: r.Clone(), chain: c, span: trace.SpanContextFromContext(ctx), fields: Fields(ctx)}}
}

var entryPool = sync.Pool{New: func() any { return new(logEntry) }}

// newOwnedLogItem is newLogItem for an item with users users: the export
// queue (which releases it once it has encoded the record,
// wireEncoder.pack) and the phase-2 console (once it has written it,
// asyncConsole.format). Its entry comes from a pool and returns there when
// the last user releases it; an entry the queue keeps unencoded (the SDK
// path) is never released and goes to the collector instead.
func newOwnedLogItem(ctx context.Context, c *chain, r slog.Record, users int32) logItem {
	e := entryPool.Get().(*logEntry)
	e.record, e.chain, e.span, e.fields, e.otel, e.owned = r.Clone(), c, trace.SpanContextFromContext(ctx), Fields(ctx), nil, true
	e.refs.Store(users)
	return logItem{logEntry: e}
}

// release gives up one user's hold on an owned entry.
func (e *logEntry) release() {
	if e.owned && e.refs.Add(-1) == 0 {
		e.record, e.chain, e.span, e.fields, e.otel, e.owned = slog.Record{}, nil, trace.SpanContext{}, nil, nil, false
		entryPool.Put(e)
	}
}

// maxCachedChains bounds the converter's cache of derived bridge handlers;
// a program that makes a logger per request must not grow it forever.
const maxCachedChains = 4096

var (
	_ sdklog.Processor = (*collectProcessor)(nil)
	_ sdklog.Processor = apiProcessor{}
)

// logConverter runs on the export goroutine only. It converts queued items
// to OTLP records through the otelslog bridge, which emits into a private
// LoggerProvider whose processor collects them into the batch.
type logConverter struct {
	exporter sdklog.Exporter
	bridge   slog.Handler
	lp       *sdklog.LoggerProvider
	collect  *collectProcessor
	handlers map[*chain]slog.Handler

	// wire is set when the exporter sends encoded requests (the OTLP gRPC
	// exporter built by newWireGRPCLogExporter): items are encoded by hand
	// (wire_export.go) and placeholder is what the exporter is given.
	wire        *wireEncoder
	placeholder []sdklog.Record
}

func newLogConverter(res *resource.Resource, exporter sdklog.Exporter) *logConverter {
	c := &logConverter{exporter: exporter, collect: &collectProcessor{}, handlers: map[*chain]slog.Handler{}}
	c.lp = sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(c.collect))
	c.bridge = otelslog.NewHandler(ScopeName, otelslog.WithLoggerProvider(c.lp))
	if _, ok := exporter.(wireLogExporter); ok {
		c.wire = newWireEncoder(res, c.probe)
		c.placeholder = []sdklog.Record{c.probe()}
	}
	return c
}

// probe converts one record through the SDK path (the bridge and the
// converter's LoggerProvider) and returns it.
func (c *logConverter) probe(attrs ...slog.Attr) sdklog.Record {
	r := slog.NewRecord(time.Time{}, slog.LevelInfo, "ffitel.probe", 0)
	r.AddAttrs(attrs...)
	return c.slow(&logItem{logEntry: &logEntry{record: r}})
}

// slow converts one item through the SDK path.
func (c *logConverter) slow(it *logItem) sdklog.Record {
	mark := len(c.collect.batch)
	c.convert(it)
	rec := c.collect.batch[mark]
	clear(c.collect.batch[mark:])
	c.collect.batch = c.collect.batch[:mark]
	return rec
}

// convert appends item's SDK record to the collected batch.
func (c *logConverter) convert(it *logItem) {
	c.collect.fields = it.fields
	ictx := context.Background()
	if it.span.IsValid() {
		ictx = trace.ContextWithSpanContext(ictx, it.span)
	}
	_ = c.handlerFor(it.chain).Handle(ictx, it.record)
	c.collect.fields = nil
}

func (c *logConverter) handlerFor(ch *chain) slog.Handler {
	if ch == nil {
		return c.bridge
	}
	if h, ok := c.handlers[ch]; ok {
		return h
	}
	if len(c.handlers) >= maxCachedChains {
		clear(c.handlers)
	}
	h := ch.apply(c.bridge)
	c.handlers[ch] = h
	return h
}

// export converts items and hands the batch to the exporter.
func (c *logConverter) export(ctx context.Context, items []logItem) error {
	if c.wire != nil {
		return c.exportWire(ctx, items)
	}
	c.collect.batch = c.collect.batch[:0]
	for i := range items {
		it := &items[i]
		if it.otel != nil {
			c.collect.batch = append(c.collect.batch, *it.otel)
			continue
		}
		c.convert(it)
	}
	err := c.exporter.Export(ctx, c.collect.batch)
	clear(c.collect.batch)
	return err
}

// exportWire encodes items into one request and sends it through the
// exporter's transport (see wire_export.go).
func (c *logConverter) exportWire(ctx context.Context, items []logItem) error {
	wc := &wireCall{body: c.wire.encode(items, c.slow)}
	err := c.exporter.Export(context.WithValue(ctx, wireCallKey{}, wc), c.placeholder)
	switch {
	case !wc.sent && err == nil:
		return errors.New("ffitel: the log exporter did not send the encoded request")
	case !wc.sent || wc.err != nil:
		return wireError(wc, err)
	case wc.rejected > 0:
		return &rejectedError{n: int(min(wc.rejected, int64(len(items)))), msg: wc.message}
	}
	// Sent and accepted; a partial success without rejected records
	// carries only a message, which is not a failure.
	return nil
}

// collectProcessor appends what the bridge emits to the current batch, with
// the record's context fields as top-level attributes (as on the console).
// Only the export goroutine emits into its provider.
type collectProcessor struct {
	batch  []sdklog.Record
	fields []slog.Attr
}

func (p *collectProcessor) Enabled(context.Context, sdklog.EnabledParameters) bool { return true }
func (p *collectProcessor) OnEmit(_ context.Context, r *sdklog.Record) error {
	rec := r.Clone()
	for _, f := range p.fields {
		rec.AddAttributes(attribute.KeyValue{Key: attribute.Key(f.Key), Value: AttributeValue(f.Value)})
	}
	p.batch = append(p.batch, rec)
	return nil
}
func (p *collectProcessor) Shutdown(context.Context) error   { return nil }
func (p *collectProcessor) ForceFlush(context.Context) error { return nil }

// apiProcessor queues records that other Go code emits through the
// OpenTelemetry log API (the global LoggerProvider set in phase 2), so they
// share the accounted export queue.
type apiProcessor struct{ queue *batcher[logItem] }

func (p apiProcessor) Enabled(context.Context, sdklog.EnabledParameters) bool { return true }
func (p apiProcessor) OnEmit(_ context.Context, r *sdklog.Record) error {
	rec := r.Clone()
	p.queue.add(logItem{logEntry: &logEntry{otel: &rec}})
	return nil
}
func (p apiProcessor) Shutdown(context.Context) error       { return nil }
func (p apiProcessor) ForceFlush(ctx context.Context) error { return p.queue.flush(ctx) }
