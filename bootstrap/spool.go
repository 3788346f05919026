package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sys/unix"

	"github.com/ffitel/ffitel/internal/spool"
	"github.com/ffitel/ffitel/metrics"
)

// The spool (FFITEL_SPOOL_DIR, docs/SPOOL.md): log records are written to
// memory-mapped segment files before the host's call returns and shipped
// from there by the goroutine below, which records in each segment what the
// collector acknowledged. The writer is C (cshim/spool.c, registered as the
// SpoolBackend); without it (a pure Go program) the in-memory path stays.

// SpoolBackend is the spool's writer. cshim registers the C one.
type SpoolBackend interface {
	// Open starts writing segments in dir; key names this process's files.
	Open(dir string, resource []byte, maxBytes, segSize uint64, threshold int32) (key string, err error)
	// Append writes one encoded log payload: SpoolOff, SpoolTaken or SpoolRefused.
	Append(payload []byte) int
	// Counts returns the records written and refused, and the bytes of this
	// process's segments on disk.
	Counts() (written, refused, ownBytes uint64)
	// Budget tells the writer the bytes of other owners' segments and the
	// bytes of its own segments deleted since the last call.
	Budget(otherBytes, freedOwn uint64)
	// Seal stops writing (the segment is sealed; the lock stays held).
	Seal()
	// Prefault maps the writer's next pages ahead of it, off the host
	// thread, and drops those behind it.
	Prefault()
	// Close stops writing and releases the owner lock.
	Close()
}

// Results of SpoolBackend.Append.
const (
	SpoolOff     = 0
	SpoolTaken   = 1
	SpoolRefused = 2
)

var spoolBackend atomic.Pointer[SpoolBackend]

// SetSpoolBackend registers the spool's writer (cshim does, at load).
func SetSpoolBackend(b SpoolBackend) { spoolBackend.Store(&b) }

const (
	spoolWorkerIDKey = "ffitel.spool.worker_id" // in the header's resource block, not exported
	spoolPoll        = 200 * time.Millisecond
	spoolPrefault    = 50 * time.Millisecond // pages mapped ahead of the writer, spare made ready
	spoolAdoptEvery  = 2 * time.Second
	spoolSyncEvery   = 5 * time.Second // fsync of sealed segments (machine crashes)
	spoolMaxSegment  = 8 << 20
	spoolMinSegment  = 64 << 10
	spoolWindow      = 1 << 20 // bytes of a segment read per pass
)

// spoolShipper ships this process's segments and adopts those of dead owners.
type spoolShipper struct {
	dir, key string
	backend  SpoolBackend
	exporter sdklog.Exporter
	// spanExporter ships the spans of the spool; nil: spans are not spooled.
	spanExporter sdktrace.SpanExporter
	batch        int
	timeout      time.Duration
	warn         func(msg string, args ...any)
	converter    map[string]*spoolResource // by resource block

	shippedOwn, corruptOwn                 atomic.Uint64
	spansWritten, spansRefused             atomic.Uint64
	spansShippedOwn, spansRecovered        atomic.Uint64
	recovered, redelivered, corrupt        atomic.Uint64
	adoptedSegments, bytesOther            atomic.Uint64
	refusedWarned, corruptWarned, failWarn atomic.Bool

	base   context.Context
	cancel context.CancelFunc
	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}
	mu     sync.Mutex // one pass at a time (the loop, flush, shutdown)
}

// startSpool opens the spool for phase 2; nil (after one warning) when it
// cannot be used.
func startSpool(cfg Config, res *resource.Resource, exporter sdklog.Exporter, spans sdktrace.SpanExporter,
	warn func(string, ...any)) *spoolShipper {
	bp := spoolBackend.Load()
	if cfg.SpoolDir == "" {
		return nil
	}
	if bp == nil {
		warn("FFITEL_SPOOL_DIR is set but this build has no spool writer (libffitel only); the in-memory path is used",
			slog.String("dir", cfg.SpoolDir))
		return nil
	}
	seg := cfg.SpoolMaxBytes / 4
	seg = max(min(seg, spoolMaxSegment), spoolMinSegment)
	key, err := (*bp).Open(cfg.SpoolDir, spoolResourceBlock(res, cfg.WorkerID), cfg.SpoolMaxBytes, seg,
		SeverityFromLevel(cfg.Level))
	if err != nil {
		warn("the spool directory cannot be used; records take the in-memory path",
			slog.String("dir", cfg.SpoolDir), slog.String("error", err.Error()))
		return nil
	}
	base, cancel := context.WithCancel(context.Background())
	s := &spoolShipper{dir: cfg.SpoolDir, key: key, backend: *bp, exporter: exporter, spanExporter: spans,
		batch: cfg.LogBatchSize, timeout: cfg.LogExportTimeout, warn: warn, converter: map[string]*spoolResource{},
		base: base, cancel: cancel, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	if s.batch <= 0 {
		s.batch = 512
	}
	go s.run()
	return s
}

// spoolResourceBlock is the header's resource block: the resource's
// attributes and the worker id.
func spoolResourceBlock(res *resource.Resource, workerID string) []byte {
	attrs := []spool.Attr{{Key: spoolWorkerIDKey, Type: spool.TypeString, Str: workerID}}
	attrs = append(attrs, kvsToSpool(res.Attributes())...)
	return spool.EncodeResource(attrs)
}

// appendItem writes a record that reached the Handler (not already spooled
// by C). False: not taken, the caller queues it in memory.
func (s *spoolShipper) appendItem(it logItem) (taken bool) {
	if it.otel != nil {
		return false
	}
	l := spool.Log{Severity: SeverityFromLevel(it.record.Level), Time: it.record.Time.UnixNano(), Body: it.record.Message}
	if it.span.IsValid() {
		l.TraceID, l.SpanID = it.span.TraceID(), it.span.SpanID()
	}
	l.Attrs = spoolFlatten(it.chain, it.record)
	for _, f := range it.fields {
		l.Fields = appendSpoolAttr(l.Fields, "", f)
	}
	buf := spool.AppendLog(make([]byte, 0, 256), &l)
	buf[1] = byte(it.span.TraceFlags())
	return s.backend.Append(buf) != SpoolOff
}

// spoolFlatten lists a record's attributes with its logger chain's, groups
// as dotted key prefixes.
func spoolFlatten(c *chain, r slog.Record) []spool.Attr {
	var links []*chain
	for ; c != nil; c = c.parent {
		links = append(links, c)
	}
	var out []spool.Attr
	prefix := ""
	for i := len(links) - 1; i >= 0; i-- {
		if links[i].group != "" {
			prefix += links[i].group + "."
			continue
		}
		for _, a := range links[i].attrs {
			out = appendSpoolAttr(out, prefix, a)
		}
	}
	r.Attrs(func(a slog.Attr) bool {
		out = appendSpoolAttr(out, prefix, a)
		return true
	})
	return out
}

func appendSpoolAttr(out []spool.Attr, prefix string, a slog.Attr) []spool.Attr {
	v := a.Value.Resolve()
	key := prefix + a.Key
	switch v.Kind() {
	case slog.KindGroup:
		p := key + "."
		if a.Key == "" {
			p = prefix
		}
		for _, g := range v.Group() {
			out = appendSpoolAttr(out, p, g)
		}
		return out
	case slog.KindInt64:
		return append(out, spool.Attr{Key: key, Type: spool.TypeInt, Int: v.Int64()})
	case slog.KindUint64:
		return append(out, spool.Attr{Key: key, Type: spool.TypeInt, Int: int64(v.Uint64())})
	case slog.KindFloat64:
		return append(out, spool.Attr{Key: key, Type: spool.TypeDouble, Float: v.Float64()})
	case slog.KindBool:
		b := int64(0)
		if v.Bool() {
			b = 1
		}
		return append(out, spool.Attr{Key: key, Type: spool.TypeBool, Int: b})
	}
	if a.Key == "" {
		return out
	}
	return append(out, spool.Attr{Key: key, Type: spool.TypeString, Str: v.String()})
}

func (s *spoolShipper) run() {
	defer close(s.done)
	defer func() {
		if r := recover(); r != nil { // never kill the host process
			s.warn("the spool shipper stopped", slog.Any("panic", r))
		}
	}()
	var lastAdopt, lastSync time.Time
	// Pages ahead of the writer and the spare segment are made ready on a
	// clock of their own: a shipping pass can take longer than the writer
	// needs to fill what was mapped (the host thread then maps it itself).
	prefaultDone := make(chan struct{})
	go s.prefaultLoop(prefaultDone)
	defer func() { <-prefaultDone }()
	for {
		s.mu.Lock()
		busy := s.passOwn(s.base)
		if time.Since(lastAdopt) >= spoolAdoptEvery {
			s.adopt(s.base)
			lastAdopt = time.Now()
		}
		if time.Since(lastSync) >= spoolSyncEvery {
			s.syncSealed()
			lastSync = time.Now()
		}
		s.mu.Unlock()
		s.checkWarnings()
		if busy {
			select {
			case <-s.stop:
				return
			default:
			}
			continue
		}
		select {
		case <-s.stop:
			return
		case <-s.wake:
		case <-time.After(spoolPoll):
		}
	}
}

// prefaultLoop calls the writer's Prefault every spoolPrefault until stop.
func (s *spoolShipper) prefaultLoop(done chan<- struct{}) {
	defer close(done)
	defer func() {
		if r := recover(); r != nil { // never kill the host process
			s.warn("the spool's page mapping stopped", slog.Any("panic", r))
		}
	}()
	t := time.NewTicker(spoolPrefault)
	defer t.Stop()
	for {
		s.backend.Prefault()
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

func (s *spoolShipper) checkWarnings() {
	_, refused, _ := s.backend.Counts()
	if refused > 0 && s.refusedWarned.CompareAndSwap(false, true) {
		s.warn("the spool directory is at FFITEL_SPOOL_MAX_MB: the newest records are refused and counted as dropped",
			slog.String("dir", s.dir), slog.Uint64("refused", refused))
	}
	if n := s.corrupt.Load() + s.corruptOwn.Load(); n > 0 && s.corruptWarned.CompareAndSwap(false, true) {
		s.warn("the spool holds corrupt or truncated records: skipped and counted", slog.String("dir", s.dir),
			slog.Uint64("corrupt", n))
	}
}

// segments lists the segment files of owner key (all owners when key is
// empty), in order.
func (s *spoolShipper) segments(key string) []string { return s.files(key, ".seg") }

// files lists the files of owner key (all owners when key is empty) whose
// names end in suffix, in order.
func (s *spoolShipper) files(key, suffix string) []string {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if !strings.HasSuffix(n, suffix) || (key != "" && !strings.HasPrefix(n, key+"-")) {
			continue
		}
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// segKey is the owner key of a segment (or spare in the making) file name.
func segKey(name string) string {
	n := strings.TrimSuffix(strings.TrimSuffix(name, ".seg"), ".spare")
	if i := strings.LastIndexByte(n, '-'); i > 0 {
		return n[:i]
	}
	return n
}

// passOwn ships what this process's segments hold; true if there is
// likely a backlog (it shipped at least a full batch): the loop goes on at
// once. Otherwise the loop lingers (spoolPoll) so as not to read right
// behind the writer, whose cache lines it would take away.
func (s *spoolShipper) passOwn(ctx context.Context) bool {
	total := 0
	for _, name := range s.segments(s.key) {
		shipped, _, err := s.shipSegment(ctx, name, false)
		total += shipped
		if err != nil {
			return false // the collector is down: wait before the next attempt
		}
	}
	return total >= s.batch
}

// shipSegment ships the unacknowledged records of one segment, deleting it
// when it is sealed (or adopted) and fully shipped. It returns the records
// shipped and whether the segment is gone.
func (s *spoolShipper) shipSegment(ctx context.Context, name string, adopted bool) (int, bool, error) {
	path := filepath.Join(s.dir, name)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, false, nil
	}
	defer f.Close()
	hb := make([]byte, spool.HeaderSize)
	if _, err := f.ReadAt(hb, 0); err != nil {
		if adopted { // truncated below its header: nothing to recover
			s.corrupt.Add(1)
			_ = os.Remove(path)
			return 0, true, nil
		}
		return 0, false, nil
	}
	h, err := spool.ParseHeader(hb)
	if err != nil {
		if adopted {
			s.corrupt.Add(1)
			_ = os.Remove(path)
			return 0, true, nil
		}
		return 0, false, nil
	}
	if h.Sealed && !adopted { // read again: the last commit precedes the seal
		_, _ = f.ReadAt(hb, 0)
		h, _ = spool.ParseHeader(hb)
	}
	st, _ := f.Stat()
	size := uint64(st.Size())
	end := min(h.Committed, size)
	if adopted {
		end = size // read on past the header's note while records check out
	}
	start := max(h.Shipped, spool.HeaderSize)
	shipped := 0
	dup := uint64(0)
	if adopted && h.Inflight > start {
		dup = h.Inflight // records before this offset may have been delivered already
	}
	for start < end {
		wEnd := min(end, start+spoolWindow)
		n, next, err := s.shipWindow(ctx, f, h, start, wEnd, adopted, wEnd == end, dup)
		shipped += n
		if err != nil {
			return shipped, false, err
		}
		if next <= start {
			break
		}
		start = next
	}
	if adopted || (h.Sealed && start >= h.Committed) {
		_ = os.Remove(path)
		if !adopted {
			s.backend.Budget(s.bytesOther.Load(), h.Committed)
		}
		return shipped, true, nil
	}
	return shipped, false, nil
}

// shipWindow ships the records in [start, end) of segment f (a window of
// it): batches are exported, then acknowledged in the header. It returns
// the records shipped and the offset it got to.
func (s *spoolShipper) shipWindow(ctx context.Context, f *os.File, h spool.Header, start, end uint64, adopted,
	complete bool, dup uint64) (int, uint64, error) {
	data := make([]byte, end-start)
	n, _ := f.ReadAt(data, int64(start))
	data = data[:n]
	sr := s.converterFor(h)
	shipped := 0
	var items []logItem
	var spans []sdktrace.ReadOnlySpan
	var lastEnd uint64
	var exportErr error
	flushBatch := func() bool {
		if len(items) == 0 && len(spans) == 0 {
			return true
		}
		writeU64(f, spool.OffInflight, lastEnd)
		if len(items) > 0 {
			if err := s.exportRetry(ctx, func(ctx context.Context) error { return sr.conv.export(ctx, items) }); err != nil {
				exportErr = err
				return false
			}
		}
		if len(spans) > 0 {
			if err := s.exportRetry(ctx, func(ctx context.Context) error { return s.spanExporter.ExportSpans(ctx, spans) }); err != nil {
				exportErr = err
				return false
			}
		}
		writeU64(f, spool.OffShipped, lastEnd)
		shipped += len(items) + len(spans)
		if adopted {
			s.recovered.Add(uint64(len(items)))
			s.spansRecovered.Add(uint64(len(spans)))
		} else {
			s.shippedOwn.Add(uint64(len(items)))
			s.spansShippedOwn.Add(uint64(len(spans)))
		}
		items, spans = items[:0], spans[:0]
		return true
	}
	spool.Scan(data, start, h.Committed, adopted, complete, func(r spool.Record) bool {
		lastEnd = r.End
		var l spool.Log
		var sp spool.Span
		kind, ok := spool.Kind(r.Payload), false
		switch {
		case kind == spool.KindLog:
			l, ok = spool.DecodeLog(r.Payload)
		case kind == spool.KindSpan && s.spanExporter != nil:
			sp, ok = spool.DecodeSpan(r.Payload)
		}
		if !ok {
			if adopted {
				s.corrupt.Add(1)
			} else {
				s.corruptOwn.Add(1)
			}
			return true
		}
		if dup != 0 && r.End <= dup {
			s.redelivered.Add(1)
		}
		if kind == spool.KindSpan {
			spans = append(spans, spoolSpan(&sp, sr.res))
		} else {
			items = append(items, spoolItem(&l, r.Payload[1]))
		}
		if len(items)+len(spans) >= s.batch {
			return flushBatch()
		}
		return true
	})
	if exportErr == nil && flushBatch() && lastEnd > start {
		writeU64(f, spool.OffShipped, lastEnd) // a skipped corrupt tail
	}
	if exportErr != nil {
		return shipped, start, exportErr
	}
	return shipped, max(lastEnd, start), nil
}

func writeU64(f *os.File, off int64, v uint64) {
	var b [8]byte
	for i := range 8 {
		b[i] = byte(v >> (8 * i))
	}
	_, _ = f.WriteAt(b[:], off)
}

// exportRetry exports one batch, retrying with backoff until it is
// accepted or ctx ends: records wait on disk, never dropped.
func (s *spoolShipper) exportRetry(ctx context.Context, export func(context.Context) error) error {
	wait := retryInitial
	for {
		ectx, cancel := context.WithTimeout(ctx, s.timeout)
		err := export(ectx)
		cancel()
		if err == nil {
			s.failWarn.Store(false)
			return nil
		}
		if s.failWarn.CompareAndSwap(false, true) {
			s.warn("spool: export failed; the records wait on disk", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.stop:
			return errors.New("spool: stopping")
		case <-time.After(wait):
		}
		wait = min(wait*2, retryMax)
	}
}

// spoolResource is the resource of a segment header, with its converter.
type spoolResource struct {
	res  *resource.Resource
	conv *logConverter
}

func (s *spoolShipper) converterFor(h spool.Header) *spoolResource {
	k := string(h.ResourceBlock)
	if c, ok := s.converter[k]; ok {
		return c
	}
	if len(s.converter) >= 64 {
		for key, c := range s.converter {
			_ = c.conv.lp.Shutdown(context.Background())
			delete(s.converter, key)
		}
	}
	attrs := make([]spool.Attr, 0, len(h.Resource.Attrs))
	for _, a := range h.Resource.Attrs {
		if a.Key != spoolWorkerIDKey {
			attrs = append(attrs, a)
		}
	}
	res := resource.NewSchemaless(spoolToKVs(attrs)...)
	c := &spoolResource{res: res, conv: newLogConverter(res, s.exporter)}
	s.converter[k] = c
	return c
}

// spoolItem turns a spooled record into the log item the in-memory path
// would have queued: original timestamp, level, ids, attributes, fields.
func spoolItem(l *spool.Log, flags byte) logItem {
	level, _ := LevelFromSeverity(l.Severity)
	r := slog.NewRecord(time.Unix(0, l.Time), level, l.Body, 0)
	for _, a := range l.Attrs {
		r.AddAttrs(spoolSlogAttr(a))
	}
	it := logItem{logEntry: &logEntry{record: r}}
	var tid trace.TraceID = l.TraceID
	var sid trace.SpanID = l.SpanID
	if tid.IsValid() && sid.IsValid() {
		it.span = trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.TraceFlags(flags)})
	}
	for _, f := range l.Fields {
		it.fields = append(it.fields, spoolSlogAttr(f))
	}
	return it
}

func spoolSlogAttr(a spool.Attr) slog.Attr {
	switch a.Type {
	case spool.TypeInt:
		return slog.Int64(a.Key, a.Int)
	case spool.TypeDouble:
		return slog.Float64(a.Key, a.Float)
	case spool.TypeBool:
		return slog.Bool(a.Key, a.Int != 0)
	}
	return slog.String(a.Key, a.Str)
}

// adopt ships the segments of owners whose lock is free (dead), then
// deletes them, and notes the bytes other owners hold for the cap.
func (s *spoolShipper) adopt(ctx context.Context) {
	var other uint64
	owners := map[string]bool{}
	for _, name := range append(s.segments(""), s.files("", ".spare")...) {
		if k := segKey(name); k != s.key {
			owners[k] = true
		}
	}
	for key := range owners {
		lock, err := os.OpenFile(filepath.Join(s.dir, key+".lock"), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			continue
		}
		if syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			lock.Close() // alive: its segments count against the cap
			for _, name := range s.segments(key) {
				if st, err := os.Stat(filepath.Join(s.dir, name)); err == nil {
					other += segmentBytes(filepath.Join(s.dir, name), uint64(st.Size()))
				}
			}
			continue
		}
		gone := true
		// A spare the dead owner was making (cshim/spool.c): no records.
		for _, name := range s.files(key, ".spare") {
			_ = os.Remove(filepath.Join(s.dir, name))
		}
		for _, name := range s.segments(key) {
			if spoolEmptySpare(filepath.Join(s.dir, name)) {
				_ = os.Remove(filepath.Join(s.dir, name)) // its spare, never written to
				continue
			}
			_, deleted, err := s.shipSegment(ctx, name, true)
			if err != nil || !deleted {
				gone = false
				if st, err := os.Stat(filepath.Join(s.dir, name)); err == nil {
					other += segmentBytes(filepath.Join(s.dir, name), uint64(st.Size()))
				}
				if err != nil {
					break
				}
				continue
			}
			s.adoptedSegments.Add(1)
		}
		if gone {
			_ = os.Remove(lock.Name())
		}
		lock.Close()
	}
	s.bytesOther.Store(other)
	s.backend.Budget(other, 0)
}

// spoolEmptySpare reports whether a dead owner's segment is a spare it
// never wrote to: a valid header, unsealed, nothing committed and no record
// where the first would be.
func spoolEmptySpare(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, spool.HeaderSize+8)
	if n, _ := f.ReadAt(b, 0); n < spool.HeaderSize {
		return false
	}
	h, err := spool.ParseHeader(b)
	if err != nil || h.Sealed || h.Committed != spool.HeaderSize {
		return false
	}
	for _, c := range b[spool.HeaderSize:] {
		if c != 0 {
			return false
		}
	}
	return true
}

// segmentBytes is how much of a segment is in use (its committed offset).
func segmentBytes(path string, size uint64) uint64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	hb := make([]byte, spool.HeaderSize)
	if _, err := f.ReadAt(hb, 0); err != nil {
		return size
	}
	h, err := spool.ParseHeader(hb)
	if err != nil {
		return size
	}
	return min(h.Committed, size)
}

// syncSealed writes this process's records to the disk (machine crashes;
// the hot path never does): sealed segments whole; the segment being
// written (and the spare) only up to its committed offset. An fsync of the
// whole file would also write back the pages mapped ahead of the writer
// (and the spare's), which the kernel then write-protects: the host thread
// would take a page fault on each again (hundreds per sync on ext4).
func (s *spoolShipper) syncSealed() {
	hb := make([]byte, spool.HeaderSize)
	for _, name := range s.segments(s.key) {
		f, err := os.OpenFile(filepath.Join(s.dir, name), os.O_RDWR, 0)
		if err != nil {
			continue
		}
		if _, err := f.ReadAt(hb, 0); err == nil {
			if h, err := spool.ParseHeader(hb); err == nil && !h.Sealed {
				if h.Committed > spool.HeaderSize {
					_ = unix.SyncFileRange(int(f.Fd()), 0, int64(h.Committed),
						unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
				}
				f.Close()
				continue
			}
		}
		_ = f.Sync()
		f.Close()
	}
}

// waiting is the number of this process's records on disk, not yet shipped.
func (s *spoolShipper) waiting() uint64 {
	written, _, _ := s.backend.Counts()
	done := s.shippedOwn.Load() + s.spansShippedOwn.Load() + s.corruptOwn.Load()
	if written > done {
		return written - done
	}
	return 0
}

// flush ships what this process wrote so far, within ctx.
func (s *spoolShipper) flush(ctx context.Context) error {
	if s == nil {
		return nil
	}
	for s.waiting() > 0 {
		select {
		case s.wake <- struct{}{}:
		default:
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("spool: %d records still on disk: %w", s.waiting(), ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// shutdown ships what it can within ctx, then stops writing and releases
// the owner lock: what is left waits on disk for the next process.
func (s *spoolShipper) shutdown(ctx context.Context) error {
	if s == nil {
		return nil
	}
	// Records logged from here on go to the console only, as after any
	// shutdown; what is on disk is shipped within ctx.
	s.backend.Seal()
	err := s.flush(ctx)
	// Let a pass in progress (say adopting a dead child's segment) finish
	// within ctx: cancelling an export the collector has already received
	// would leave its acknowledgement unrecorded and the next process would
	// deliver that batch again.
	close(s.stop)
	select {
	case <-s.done:
	case <-ctx.Done():
		s.cancel()
		<-s.done
	}
	s.cancel()
	s.mu.Lock()
	if ctx.Err() == nil {
		// Children forked by this process that have exited since the last
		// pass: their segments are shipped now rather than by the next
		// process.
		s.adopt(ctx)
	}
	if err == nil {
		ctx2, cancel := context.WithTimeout(context.Background(), 0)
		s.passOwn(ctx2) // deletes the sealed, fully shipped last segment
		cancel()
	}
	s.backend.Close() // what is left is adopted by the next process
	if len(s.segments(s.key)) == 0 {
		_ = os.Remove(filepath.Join(s.dir, s.key+".lock"))
	}
	for _, c := range s.converter {
		_ = c.conv.lp.Shutdown(context.Background())
	}
	s.mu.Unlock()
	return err
}

// stats fills the spool section and adds this process's spooled records to
// the log accounting (pending includes what waits on disk).
func (s *spoolShipper) stats(ps *metrics.PipelineStats) {
	if s == nil {
		return
	}
	written, refused, own := s.backend.Counts()
	spansW, spansR, spansS := s.spansWritten.Load(), s.spansRefused.Load(), s.spansShippedOwn.Load()
	// Read in this order, each counter only grows: written >= the spans
	// written, and a span counted as shipped was counted as written before.
	logsW, logsR := written-min(written, spansW), refused-min(refused, spansR)
	shipped, corrupt := s.shippedOwn.Load(), s.corruptOwn.Load()
	ps.Spool = &metrics.SpoolStats{Directory: s.dir, BytesOnDisk: own + s.bytesOther.Load(),
		RecordsWaiting: s.waiting(), Written: logsW, Shipped: shipped, Refused: logsR, Recovered: s.recovered.Load(),
		Redelivered: s.redelivered.Load(), CorruptSkipped: s.corrupt.Load() + corrupt,
		AdoptedSegments: s.adoptedSegments.Load(), SpansWritten: spansW, SpansShipped: spansS,
		SpansRefused: spansR, SpansRecovered: s.spansRecovered.Load()}
	ps.Logs.Emitted += logsW + logsR
	ps.Logs.Exported += shipped
	ps.Logs.Dropped += logsR
	ps.Logs.Failed += corrupt
	ps.Logs.Pending += logsW - min(logsW, shipped+corrupt)
	ps.Spans.Emitted += spansW + spansR
	ps.Spans.Exported += spansS
	ps.Spans.Dropped += spansR
	ps.Spans.Pending += spansW - min(spansW, spansS)
}
