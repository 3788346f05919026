package bootstrap

import (
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/ffitel/ffitel/internal/otlpwire"
)

// The wire path: the log converter encodes a batch of queued items straight
// into the bytes of an ExportLogsServiceRequest (internal/otlpwire), and the
// OTLP gRPC exporter's own transport sends them. The exporter is built as
// before from the environment (endpoint, headers, timeout, compression,
// TLS, retry); the unary interceptor wireDialOption installs swaps the
// request the exporter built for one placeholder record against the bytes
// carried in the call's context, and reads the partial-success answer.
//
// What the Collector receives is what the SDK path sent, field for field
// (wire_export_test.go decodes both and compares): the otelslog bridge's
// mapping of slog values and groups, sdk/log's attribute count and value
// length limits and key de-duplication, context fields as top-level
// attributes. Items the hand encoder does not cover exactly (duplicate or
// empty keys, values of kind Any, LogValuers in a logger's attributes,
// empty groups, over-limit attributes) take the SDK path for that record
// only: the bridge makes an sdk/log Record, which is then encoded by hand
// from its accessors, as are records emitted through the OpenTelemetry log
// API.

// wireEncoder encodes batches of log items. It runs on the export goroutine
// only and reuses its buffers.
type wireEncoder struct {
	buf       otlpwire.Buffer
	resource  []byte // the ResourceLogs.resource field, encoded once
	schemaURL string
	scope     instrumentation.Scope
	scopeMsg  []byte // the ScopeLogs.scope field of ffitel's scope

	countLimit  int // attributes per record; < 0 unlimited
	lengthLimit int // string value length; < 0 unlimited

	w      itemWriter // the export goroutine's
	others []int      // indexes of items in other scopes
	// slowItems counts the items that took the SDK path (tests).
	slowItems int
	now       func() time.Time
	writers   sync.Pool // of *itemWriter, for pack
}

// itemWriter encodes single records; each goroutine uses its own (pack
// takes one from writers).
type itemWriter struct {
	cfg    *wireEncoder
	buf    otlpwire.Buffer
	chains []*chain
	keys   []string
	slab   slab // where packed records are kept
}

// slab holds packed items back to back: one allocation per slabSize bytes
// instead of one per item, and none once slabs come back for reuse. A kept
// item is a full slice of it, so nothing appends into a neighbour.
type slab struct {
	cur  *slabBuf
	from *slabList // where its slabs come from and go back to; nil: freeSlabs
}

// slabBuf is one slab's memory. refs counts the items carved from it that
// the export queue has not released yet, plus one while it is a packer's
// current slab; the last release gives it back to its list. An item
// released twice would let a slab be refilled under an item still queued:
// release is called once per item, when the queue is done with it
// (batcher.release). A release that never comes only leaves the slab to
// the garbage collector.
type slabBuf struct {
	b    []byte
	refs atomic.Int32
	list *slabList
}

// slabSize is the allocation packed items are carved from.
const slabSize = 32 << 10

// keep copies p into the slab and returns the copy and the slab it is in
// (nil for an item too large for slabs, allocated on its own).
func (s *slab) keep(p []byte) ([]byte, *slabBuf) {
	if len(p) > slabSize/4 {
		return append(make([]byte, 0, len(p)), p...), nil
	}
	if s.cur == nil || cap(s.cur.b)-len(s.cur.b) < len(p) {
		s.cur.release() // the packer's own reference
		l := s.from
		if l == nil {
			l = &freeSlabs
		}
		s.cur = l.get()
	}
	c := s.cur
	c.refs.Add(1)
	start := len(c.b)
	c.b = append(c.b, p...)
	return c.b[start:len(c.b):len(c.b)], c
}

// release drops one reference; the last gives the slab back for reuse.
func (c *slabBuf) release() {
	if c != nil && c.refs.Add(-1) == 0 {
		c.list.put(c)
	}
}

// freeSlabs holds the slabs whose items were all exported, for the
// packers of both queues. At 10 000 records a second a slab is filled
// every 30 ms or so and a whole request's worth comes back at once after
// each export: keeping them spares an allocation of 32 KiB (zeroed) per
// slab and the collections it brings. At most maxFreeSlabs are kept (2 MiB).
var freeSlabs slabList

const maxFreeSlabs = 64

type slabList struct {
	mu   sync.Mutex
	free []*slabBuf
}

// get returns an empty slab holding one reference (its packer's).
func (l *slabList) get() *slabBuf {
	l.mu.Lock()
	var c *slabBuf
	if n := len(l.free); n > 0 {
		c = l.free[n-1]
		l.free[n-1] = nil
		l.free = l.free[:n-1]
	}
	l.mu.Unlock()
	if c == nil {
		c = &slabBuf{b: make([]byte, 0, slabSize), list: l}
	}
	c.b = c.b[:0]
	c.refs.Store(1)
	return c
}

// len is the number of slabs kept.
func (l *slabList) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.free)
}

func (l *slabList) put(c *slabBuf) {
	l.mu.Lock()
	if len(l.free) < maxFreeSlabs {
		l.free = append(l.free, c)
	}
	l.mu.Unlock()
}

// newWireEncoder takes the resource, scope and limits from a record the
// converter's own LoggerProvider made (probe), so the two paths share them.
func newWireEncoder(res *resource.Resource, probe func(attrs ...slog.Attr) sdklog.Record) *wireEncoder {
	e := &wireEncoder{now: time.Now}
	e.w.cfg = e
	e.writers.New = func() any { return &itemWriter{cfg: e} }
	var b otlpwire.Buffer
	if res.Len() > 0 {
		m := b.Begin(otlpwire.ResourceLogsResource)
		for iter := res.Iter(); iter.Next(); {
			encodeKV(&b, otlpwire.ResourceAttributes, iter.Attribute())
		}
		b.End(m)
	}
	e.resource = b.B
	e.schemaURL = res.SchemaURL()

	// The count limit: how many of n distinct attributes a record keeps,
	// for n of 256, 1024, then 4096 until one is dropped (the SDK's
	// default limit is 128: one small probe instead of 4096 attributes
	// through the SDK, 7.5 ms of every worker's start: docs/PERFORMANCE.md).
	many := make([]slog.Attr, 0, 4096)
	e.countLimit = -1
	var r sdklog.Record
	for n := 256; n <= cap(many); n *= 4 {
		for i := len(many); i < n; i++ {
			many = append(many, slog.Int("k"+strconv.Itoa(i), i))
		}
		if r = probe(many...); r.AttributesLen() < n {
			e.countLimit = r.AttributesLen()
			break
		}
	}
	// The value length limit: what is left of a long string.
	long := strings.Repeat("x", 1<<16)
	r = probe(slog.String("v", long))
	e.lengthLimit = -1
	r.WalkAttributes(func(kv attribute.KeyValue) bool {
		if n := len(kv.Value.AsString()); n < len(long) {
			e.lengthLimit = n
		}
		return false
	})
	e.scope = r.InstrumentationScope()
	e.scopeMsg = encodeScope(e.scope)
	return e
}

func encodeScope(s instrumentation.Scope) []byte {
	if s == (instrumentation.Scope{}) {
		return nil
	}
	var b otlpwire.Buffer
	m := b.Begin(otlpwire.ScopeLogsScope)
	if s.Name != "" {
		b.String(otlpwire.ScopeName, s.Name)
	}
	if s.Version != "" {
		b.String(otlpwire.ScopeVersion, s.Version)
	}
	for iter := s.Attributes.Iter(); iter.Next(); {
		encodeKV(&b, otlpwire.ScopeAttributes, iter.Attribute())
	}
	b.End(m)
	return b.B
}

// encode writes the ExportLogsServiceRequest for items into the encoder's
// buffer and returns it (valid until the next call). slow converts an item
// the hand encoder does not cover through the SDK path.
func (e *wireEncoder) encode(items []logItem, slow func(it *logItem) sdklog.Record) []byte {
	b := &e.buf
	b.Reset()
	// The packed records' size is known: one allocation of about the
	// request's size instead of doubling up to it (records the hand encoder
	// does not cover grow it as before).
	size := 64 + len(e.resource) + len(e.scopeMsg)
	for i := range items {
		size += len(items[i].wire) + 16 // the field's tag and length, the observed time
	}
	b.B = slices.Grow(b.B, size)
	observed := uint64(max(e.now().UnixNano(), 0))
	rl := b.Begin(otlpwire.ExportLogsRequestResourceLogs)
	b.Raw(e.resource)
	slStart := b.Len()
	sl := b.Begin(otlpwire.ResourceLogsScopeLogs)
	b.Raw(e.scopeMsg)
	written := 0
	e.others = e.others[:0]
	for i := range items {
		it := &items[i]
		if it.wire != nil {
			m := b.Begin(otlpwire.ScopeLogsLogRecords)
			if observed != 0 {
				b.Fixed64(otlpwire.LogRecordObservedTime, observed)
			}
			b.Raw(it.wire)
			b.End(m)
			written++
			continue
		}
		if it.otel != nil {
			if it.otel.InstrumentationScope() != e.scope {
				e.others = append(e.others, i)
				continue
			}
			e.encodeSDKRecord(it.otel)
			written++
			continue
		}
		e.w.buf = e.buf
		m := e.w.buf.Begin(otlpwire.ScopeLogsLogRecords)
		if observed != 0 {
			e.w.buf.Fixed64(otlpwire.LogRecordObservedTime, observed)
		}
		ok := e.w.encodeItem(it)
		if ok {
			e.w.buf.End(m)
		} else {
			e.w.buf.B = e.w.buf.B[:m-2] // the tag and length byte Begin wrote
		}
		e.buf, e.w.buf = e.w.buf, otlpwire.Buffer{}
		if !ok {
			e.slowItems++
			rec := slow(it)
			e.encodeSDKRecord(&rec)
		}
		written++
	}
	if written == 0 {
		b.B = b.B[:slStart]
	} else {
		if e.scope.SchemaURL != "" {
			b.String(otlpwire.ScopeLogsSchemaURL, e.scope.SchemaURL)
		}
		b.End(sl)
	}
	// Records from other instrumentation scopes (the OpenTelemetry log
	// API), one ScopeLogs per scope.
	for len(e.others) > 0 {
		scope := items[e.others[0]].otel.InstrumentationScope()
		sl := b.Begin(otlpwire.ResourceLogsScopeLogs)
		b.Raw(encodeScope(scope))
		rest := e.others[:0]
		for _, i := range e.others {
			if r := items[i].otel; r.InstrumentationScope() == scope {
				e.encodeSDKRecord(r)
			} else {
				rest = append(rest, i)
			}
		}
		e.others = rest
		if scope.SchemaURL != "" {
			b.String(otlpwire.ScopeLogsSchemaURL, scope.SchemaURL)
		}
		b.End(sl)
	}
	if e.schemaURL != "" {
		b.String(otlpwire.ResourceLogsSchemaURL, e.schemaURL)
	}
	b.End(rl)
	return b.B
}

func unixNano(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(max(t.UnixNano(), 0))
}

// severityNumber is the OTLP severity of a slog level as the otelslog
// bridge maps it; out of range is UNSPECIFIED (0).
func severityNumber(l slog.Level) uint64 {
	s := int(l) + int(log.SeverityDebug) - int(slog.LevelDebug)
	if s < int(log.SeverityTrace1) || s > int(log.SeverityFatal4) {
		return 0
	}
	return uint64(s)
}

func levelText(l slog.Level) string {
	switch l {
	case slog.LevelDebug:
		return "DEBUG"
	case slog.LevelInfo:
		return "INFO"
	case slog.LevelWarn:
		return "WARN"
	case slog.LevelError:
		return "ERROR"
	}
	return l.String()
}

// pack encodes a queued item on the caller's goroutine (the queue's prepare
// hook): the queue then keeps only the encoded bytes, a fraction of the
// record's size, and the export goroutine only copies them. Items the hand
// encoder does not cover are kept whole.
func (e *wireEncoder) pack(it logItem) logItem {
	if it.logEntry == nil || it.otel != nil {
		return it
	}
	w := e.writers.Get().(*itemWriter)
	w.buf.Reset()
	if w.encodeItem(&it) {
		it.wire, it.slab = w.slab.keep(w.buf.B)
		it.logEntry.release()
		it.logEntry = nil
	}
	w.chains = w.chains[:0]
	if cap(w.buf.B) <= 64<<10 {
		e.writers.Put(w)
	}
	return it
}

// encodeItem writes the fields of one slog item's LogRecord but the
// observed time (set at export, as the SDK path does), or returns false
// (having written nothing) when the item needs the SDK path.
func (e *itemWriter) encodeItem(it *logItem) bool {
	// Collect the chain root first, and check everything before writing.
	e.chains = e.chains[:0]
	for c := it.chain; c != nil; c = c.parent {
		e.chains = append(e.chains, c)
	}
	if !e.eligible(it) {
		return false
	}
	b := &e.buf
	r := &it.record
	if t := unixNano(r.Time); t != 0 {
		b.Fixed64(otlpwire.LogRecordTime, t)
	}
	if s := severityNumber(r.Level); s != 0 {
		b.Uvarint(otlpwire.LogRecordSeverityNumber, s)
	}
	b.String(otlpwire.LogRecordSeverityText, levelText(r.Level))
	body := b.Begin(otlpwire.LogRecordBody)
	b.String(otlpwire.AnyString, r.Message)
	b.End(body)

	// Attributes as the bridge builds them: the logger's attributes from
	// before its first group, then the groups (innermost holding the
	// record's attributes; a group without attributes of its own is
	// left out), then the context fields.
	firstGroup := len(e.chains)
	for i := len(e.chains) - 1; i >= 0; i-- {
		c := e.chains[i]
		if c.group != "" {
			firstGroup = i
			break
		}
		for _, a := range c.attrs {
			encodeSlogKV(b, otlpwire.LogRecordAttributes, a)
		}
	}
	if firstGroup == len(e.chains) {
		r.Attrs(func(a slog.Attr) bool {
			encodeSlogKV(b, otlpwire.LogRecordAttributes, a)
			return true
		})
	} else if p := e.producing(firstGroup, r); p >= 0 {
		e.encodeGroup(p, r, otlpwire.LogRecordAttributes)
	}
	for _, f := range it.fields {
		encodeFieldKV(b, f)
	}
	if it.span.IsValid() {
		if fl := it.span.TraceFlags(); fl != 0 {
			b.Fixed32(otlpwire.LogRecordFlags, uint32(fl))
		}
		tid, sid := it.span.TraceID(), it.span.SpanID()
		b.Bytes(otlpwire.LogRecordTraceID, tid[:])
		b.Bytes(otlpwire.LogRecordSpanID, sid[:])
	}
	return true
}

// kvEntry is one member of a kvlist being written: an attribute, or (group
// set) the attribute of the inner group level at that index of e.chains.
type kvEntry struct {
	attr  slog.Attr
	group int // -1 unless this entry is an inner group level
}

// sortEntries orders a kvlist's members by key, stably, as
// attribute.MapValue does (the SDK path sends maps sorted).
func sortEntries(es []kvEntry) {
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && es[j].attr.Key < es[j-1].attr.Key; j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
}

// nextGroup is the index in e.chains of the next WithGroup below i, or -1.
func (e *itemWriter) nextGroup(i int) int {
	j := i - 1
	for ; j >= 0 && e.chains[j].group == ""; j-- {
	}
	return j
}

// producing returns the first group level from i inward that yields an
// attribute (the bridge leaves out a group without attributes of its own,
// except the innermost one holding the record's attributes), or -1.
func (e *itemWriter) producing(i int, r *slog.Record) int {
	for i >= 0 {
		j := e.nextGroup(i)
		for k := i - 1; k > j; k-- {
			if len(e.chains[k].attrs) > 0 {
				return i
			}
		}
		if j < 0 {
			if r.NumAttrs() > 0 {
				return i
			}
			return -1
		}
		i = j
	}
	return -1
}

// encodeGroup writes the attribute of the group level at index i (a level
// producing returned): its own attributes, the record's if it is the
// innermost, and the next producing level inside it, sorted by key.
func (e *itemWriter) encodeGroup(i int, r *slog.Record, field int) {
	b := &e.buf
	j := e.nextGroup(i)
	var arr [16]kvEntry
	es := arr[:0]
	for k := i - 1; k > j; k-- {
		for _, a := range e.chains[k].attrs {
			es = append(es, kvEntry{attr: a, group: -1})
		}
	}
	if j < 0 {
		r.Attrs(func(a slog.Attr) bool {
			es = append(es, kvEntry{attr: a, group: -1})
			return true
		})
	} else if p := e.producing(j, r); p >= 0 {
		es = append(es, kvEntry{attr: slog.Attr{Key: e.chains[p].group}, group: p})
	}
	sortEntries(es)
	kv := b.Begin(field)
	b.String(otlpwire.KeyValueKey, e.chains[i].group)
	v := b.Begin(otlpwire.KeyValueValue)
	l := b.Begin(otlpwire.AnyKvlist)
	for _, x := range es {
		if x.group >= 0 {
			e.encodeGroup(x.group, r, otlpwire.KvlistValues)
		} else {
			encodeSlogKV(b, otlpwire.KvlistValues, x.attr)
		}
	}
	b.End(l)
	b.End(v)
	b.End(kv)
}

// encodeSlogKV writes a KeyValue as the otelslog bridge converts it (the
// value eligible has accepted).
func encodeSlogKV(b *otlpwire.Buffer, field int, a slog.Attr) {
	if v, ok := slogScalar(a.Value); ok && b.KV(field, a.Key, true, v) {
		return
	}
	kv := b.Begin(field)
	b.String(otlpwire.KeyValueKey, a.Key)
	v := b.Begin(otlpwire.KeyValueValue)
	switch a.Value.Kind() {
	case slog.KindString:
		b.String(otlpwire.AnyString, a.Value.String())
	case slog.KindInt64:
		b.Int64(otlpwire.AnyInt, a.Value.Int64())
	case slog.KindUint64:
		b.Int64(otlpwire.AnyInt, int64(a.Value.Uint64()))
	case slog.KindFloat64:
		b.Double(otlpwire.AnyDouble, a.Value.Float64())
	case slog.KindBool:
		b.Bool(otlpwire.AnyBool, a.Value.Bool())
	case slog.KindDuration:
		b.Int64(otlpwire.AnyInt, a.Value.Duration().Nanoseconds())
	case slog.KindTime:
		b.Int64(otlpwire.AnyInt, a.Value.Time().UnixNano())
	case slog.KindGroup:
		var arr [16]kvEntry
		es := arr[:0]
		for _, x := range a.Value.Group() {
			es = append(es, kvEntry{attr: x, group: -1})
		}
		sortEntries(es)
		l := b.Begin(otlpwire.AnyKvlist)
		for _, x := range es {
			encodeSlogKV(b, otlpwire.KvlistValues, x.attr)
		}
		b.End(l)
	}
	b.End(v)
	b.End(kv)
}

// slogScalar is a scalar slog value as encodeSlogKV and encodeFieldKV
// write it (otlpwire.Buffer.KV writes the short ones in one pass).
func slogScalar(v slog.Value) (otlpwire.Scalar, bool) {
	switch v.Kind() {
	case slog.KindString:
		return otlpwire.Scalar{Field: otlpwire.AnyString, S: v.String()}, true
	case slog.KindInt64:
		return otlpwire.Scalar{Field: otlpwire.AnyInt, U: uint64(v.Int64())}, true
	case slog.KindUint64:
		return otlpwire.Scalar{Field: otlpwire.AnyInt, U: v.Uint64()}, true
	case slog.KindFloat64:
		return otlpwire.Scalar{Field: otlpwire.AnyDouble, U: math.Float64bits(v.Float64())}, true
	case slog.KindBool:
		return otlpwire.Scalar{Field: otlpwire.AnyBool, U: boolBit(v.Bool())}, true
	case slog.KindDuration:
		return otlpwire.Scalar{Field: otlpwire.AnyInt, U: uint64(v.Duration())}, true
	}
	return otlpwire.Scalar{}, false
}

// attrScalar is a scalar attribute value as encodeValue writes it.
func attrScalar(v attribute.Value) (otlpwire.Scalar, bool) {
	switch v.Type() {
	case attribute.STRING:
		return otlpwire.Scalar{Field: otlpwire.AnyString, S: v.AsString()}, true
	case attribute.INT64:
		return otlpwire.Scalar{Field: otlpwire.AnyInt, U: uint64(v.AsInt64())}, true
	case attribute.FLOAT64:
		return otlpwire.Scalar{Field: otlpwire.AnyDouble, U: math.Float64bits(v.AsFloat64())}, true
	case attribute.BOOL:
		return otlpwire.Scalar{Field: otlpwire.AnyBool, U: boolBit(v.AsBool())}, true
	}
	return otlpwire.Scalar{}, false
}

func boolBit(v bool) uint64 {
	if v {
		return 1
	}
	return 0
}

// encodeFieldKV writes a context field as AttributeValue converts it.
func encodeFieldKV(b *otlpwire.Buffer, a slog.Attr) {
	if v, ok := slogScalar(a.Value); ok && b.KV(otlpwire.LogRecordAttributes, a.Key, true, v) {
		return
	}
	kv := b.Begin(otlpwire.LogRecordAttributes)
	b.String(otlpwire.KeyValueKey, a.Key)
	v := b.Begin(otlpwire.KeyValueValue)
	switch a.Value.Kind() {
	case slog.KindString:
		b.String(otlpwire.AnyString, a.Value.String())
	case slog.KindInt64:
		b.Int64(otlpwire.AnyInt, a.Value.Int64())
	case slog.KindUint64:
		b.Int64(otlpwire.AnyInt, int64(a.Value.Uint64()))
	case slog.KindFloat64:
		b.Double(otlpwire.AnyDouble, a.Value.Float64())
	case slog.KindBool:
		b.Bool(otlpwire.AnyBool, a.Value.Bool())
	case slog.KindDuration:
		b.Int64(otlpwire.AnyInt, int64(a.Value.Duration()))
	}
	b.End(v)
	b.End(kv)
}

// encodeSDKRecord writes an sdk/log Record as the OTLP exporters'
// transform does.
func (e *wireEncoder) encodeSDKRecord(r *sdklog.Record) {
	b := &e.buf
	m := b.Begin(otlpwire.ScopeLogsLogRecords)
	if t := unixNano(r.Timestamp()); t != 0 {
		b.Fixed64(otlpwire.LogRecordTime, t)
	}
	if t := unixNano(r.ObservedTimestamp()); t != 0 {
		b.Fixed64(otlpwire.LogRecordObservedTime, t)
	}
	if s := r.Severity(); s >= log.SeverityTrace1 && s <= log.SeverityFatal4 {
		b.Uvarint(otlpwire.LogRecordSeverityNumber, uint64(s))
	}
	if t := r.SeverityText(); t != "" {
		b.String(otlpwire.LogRecordSeverityText, t)
	}
	body := b.Begin(otlpwire.LogRecordBody)
	encodeValue(b, r.Body())
	b.End(body)
	r.WalkAttributes(func(kv attribute.KeyValue) bool {
		encodeKV(b, otlpwire.LogRecordAttributes, kv)
		return true
	})
	if d := r.DroppedAttributes(); d > 0 {
		b.Uvarint(otlpwire.LogRecordDroppedAttributes, uint64(min(d, math.MaxUint32)))
	}
	if f := r.TraceFlags(); f != 0 {
		b.Fixed32(otlpwire.LogRecordFlags, uint32(f))
	}
	if id := r.TraceID(); id.IsValid() {
		b.Bytes(otlpwire.LogRecordTraceID, id[:])
	}
	if id := r.SpanID(); id.IsValid() {
		b.Bytes(otlpwire.LogRecordSpanID, id[:])
	}
	if n := r.EventName(); n != "" {
		b.String(otlpwire.LogRecordEventName, n)
	}
	b.End(m)
}

func encodeKV(b *otlpwire.Buffer, field int, kv attribute.KeyValue) {
	if v, ok := attrScalar(kv.Value); ok && b.KV(field, string(kv.Key), false, v) {
		return
	}
	m := b.Begin(field)
	if kv.Key != "" {
		b.String(otlpwire.KeyValueKey, string(kv.Key))
	}
	v := b.Begin(otlpwire.KeyValueValue)
	encodeValue(b, kv.Value)
	b.End(v)
	b.End(m)
}

// encodeValue writes the fields of an AnyValue as the exporters' transform
// maps an attribute value.
func encodeValue(b *otlpwire.Buffer, v attribute.Value) {
	switch v.Type() {
	case attribute.BOOL:
		b.Bool(otlpwire.AnyBool, v.AsBool())
	case attribute.INT64:
		b.Int64(otlpwire.AnyInt, v.AsInt64())
	case attribute.FLOAT64:
		b.Double(otlpwire.AnyDouble, v.AsFloat64())
	case attribute.STRING:
		b.String(otlpwire.AnyString, v.AsString())
	case attribute.BYTESLICE:
		b.Bytes(otlpwire.AnyBytes, v.AsByteSlice())
	case attribute.BOOLSLICE:
		a := b.Begin(otlpwire.AnyArray)
		for _, x := range v.AsBoolSlice() {
			m := b.Begin(otlpwire.ArrayValues)
			b.Bool(otlpwire.AnyBool, x)
			b.End(m)
		}
		b.End(a)
	case attribute.INT64SLICE:
		a := b.Begin(otlpwire.AnyArray)
		for _, x := range v.AsInt64Slice() {
			m := b.Begin(otlpwire.ArrayValues)
			b.Int64(otlpwire.AnyInt, x)
			b.End(m)
		}
		b.End(a)
	case attribute.FLOAT64SLICE:
		a := b.Begin(otlpwire.AnyArray)
		for _, x := range v.AsFloat64Slice() {
			m := b.Begin(otlpwire.ArrayValues)
			b.Double(otlpwire.AnyDouble, x)
			b.End(m)
		}
		b.End(a)
	case attribute.STRINGSLICE:
		a := b.Begin(otlpwire.AnyArray)
		for _, x := range v.AsStringSlice() {
			m := b.Begin(otlpwire.ArrayValues)
			b.String(otlpwire.AnyString, x)
			b.End(m)
		}
		b.End(a)
	case attribute.SLICE:
		a := b.Begin(otlpwire.AnyArray)
		for _, x := range v.AsSlice() {
			m := b.Begin(otlpwire.ArrayValues)
			encodeValue(b, x)
			b.End(m)
		}
		b.End(a)
	case attribute.MAP:
		a := b.Begin(otlpwire.AnyKvlist)
		for _, kv := range v.AsMap() {
			encodeKV(b, otlpwire.KvlistValues, kv)
		}
		b.End(a)
	case attribute.EMPTY:
	default:
		b.String(otlpwire.AnyString, "INVALID")
	}
}

// logItemWireSize is an item's share of a request (the queue's size hook):
// its encoded bytes and the framing export adds, or a guess for an item
// left for the SDK path.
func logItemWireSize(it logItem) int {
	if it.wire != nil {
		return len(it.wire) + 16
	}
	return 1024
}
