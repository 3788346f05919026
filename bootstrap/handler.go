package bootstrap

import (
	"context"
	"log/slog"
	"sync/atomic"
)

// chain records the WithAttrs/WithGroup calls made on a Handler, so that the
// same logger can be re-derived on whichever route is current. Chains are
// immutable and shared.
type chain struct {
	parent *chain
	group  string      // set for WithGroup
	attrs  []slog.Attr // set for WithAttrs
}

func (c *chain) apply(h slog.Handler) slog.Handler {
	if c == nil || h == nil {
		return h
	}
	h = c.parent.apply(h)
	if c.group != "" {
		return h.WithGroup(c.group)
	}
	return h.WithAttrs(c.attrs)
}

// route is where records flow during one phase. A new route is stored at
// each transition; handlers pick it up on their next record.
type route struct {
	gen     uint64
	console slog.Handler
	export  *batcher[logItem] // the OTLP export queue; nil unless phase 2 exports logs
	async   *asyncConsole     // formats and writes the console in phase 2; nil otherwise
	early   *EarlyBuffer      // non-nil in phase 1 only
	spool   *spoolShipper     // the on-disk spool in front of export (FFITEL_SPOOL_DIR); nil when off
}

// exportItem queues it for export: through the spool when it is on (and
// takes the record), else in memory.
func (p *route) exportItem(it logItem) {
	if p.spool != nil && p.spool.appendItem(it) {
		return
	}
	p.export.add(it)
}

// derived caches a Handler's chain applied to one route's console.
type derived struct {
	gen     uint64
	console slog.Handler
}

// Handler is the swappable slog.Handler at the heart of ffitel: loggers made
// from it in phase 1 keep working, unchanged, after the upgrade to phase 2,
// when their records also go to OTLP. It is safe for concurrent use.
type Handler struct {
	level slog.Level             // LOG_LEVEL
	route *atomic.Pointer[route] // the Runtime's current route
	chain *chain
	cache atomic.Pointer[derived]
	// spooled is set on the handler of records the C writer already put in
	// the spool (Runtime.SpooledHandler): the console only.
	spooled bool
}

var _ slog.Handler = (*Handler)(nil)

func (h *Handler) resolve(p *route) *derived {
	if d := h.cache.Load(); d != nil && d.gen == p.gen {
		return d
	}
	d := &derived{gen: p.gen, console: h.chain.apply(p.console)}
	h.cache.Store(d)
	return d
}

// Enabled reports whether records at level are wanted (LOG_LEVEL).
func (h *Handler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= h.level
}

// Handle writes r to the console and, depending on the phase, keeps it for
// replay or queues it for export. Export errors are accounted for in the
// pipeline stats, never returned to the caller.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	p := h.route.Load()
	if p.async != nil {
		// Phase 2: one copy of the record serves the console goroutine
		// and the export queue; the host thread neither formats nor writes.
		// LogValuers are resolved now, on the caller's goroutine, as slog
		// asks of handlers that hand records to another goroutine.
		exporting := p.export != nil && !h.spooled
		users := int32(1)
		if exporting {
			users = 2
		}
		it := newOwnedLogItem(ctx, h.chain, resolveLogValuers(r), users)
		p.async.add(h.resolve(p).console, it)
		if exporting {
			p.exportItem(it)
		}
		return nil
	}
	err := h.resolve(p).console.Handle(ctx, r)
	if p.early != nil {
		if p.early.add(ctx, h.chain, r) {
			return err
		}
		// The buffer was drained by a concurrent upgrade: the new
		// route is already stored.
		p = h.route.Load()
	}
	if p.export != nil && !h.spooled {
		p.exportItem(newOwnedLogItem(ctx, h.chain, r, 1))
	}
	return err
}

// WithAttrs returns a Handler whose records carry attrs.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	return &Handler{level: h.level, route: h.route, chain: &chain{parent: h.chain, attrs: attrs}, spooled: h.spooled}
}

// WithGroup returns a Handler that qualifies later attributes with name.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &Handler{level: h.level, route: h.route, chain: &chain{parent: h.chain, group: name}, spooled: h.spooled}
}

// resolveLogValuers returns r, or a copy with its LogValuer attributes
// resolved when it has any.
func resolveLogValuers(r slog.Record) slog.Record {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Value.Kind() == slog.KindLogValuer
		return !found
	})
	if !found {
		return r
	}
	r2 := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		a.Value = a.Value.Resolve()
		r2.AddAttrs(a)
		return true
	})
	return r2
}
