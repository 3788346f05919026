package bootstrap

import (
	"context"
	"time"

	"github.com/ffitel/ffitel/metrics"
)

// CountInputError records bad input received from a host (C ABI).
func (rt *Runtime) CountInputError() { rt.inputErrors.Add(1) }

// CountSpansEndedAtShutdown records spans a host left open and Shutdown ended.
func (rt *Runtime) CountSpansEndedAtShutdown(n int) { rt.spansEndedAtShutdown.Add(uint64(n)) }

// Stats returns the pipeline accounting.
func (rt *Runtime) Stats() metrics.PipelineStats {
	s := metrics.PipelineStats{
		Phase:                rt.Phase().String(),
		SpansEndedAtShutdown: rt.spansEndedAtShutdown.Load(),
		InputErrors:          rt.inputErrors.Load(),
	}
	rt.mu.Lock()
	s.ExportEnabled, s.ExportDisabledReason = rt.export != nil, rt.disabledReason
	export, early := rt.export, rt.early
	rt.mu.Unlock()
	export.stats(&s)
	if early != nil {
		s.Early = early.stats()
		s.Early.SpansBuffered, s.Early.SpansOverflowed, s.Early.SpansReplayed, s.Early.SpansDiscarded = rt.spanEnds.stats()
	}
	return s
}

// ForceFlush exports everything queued so far, within ctx.
func (rt *Runtime) ForceFlush(ctx context.Context) error {
	rt.mu.Lock()
	export, console := rt.export, rt.asyncOut
	rt.mu.Unlock()
	if console != nil {
		_ = console.Flush()
	}
	return export.flush(ctx, rt.Phase() == StateTelemetry)
}

// Snapshot returns the stats document served as /metrics/events and by
// ffitel_stats_json.
func (rt *Runtime) Snapshot() metrics.Snapshot {
	snap := metrics.Snapshot{CapturedAt: time.Now().UTC(), WorkerID: rt.cfg.WorkerID, Pipeline: rt.Stats()}
	if ev := rt.eventsIfStarted(); ev != nil {
		snap.Router, snap.Bus = ev.Router().Stats(), ev.Router().Bus().Stats()
	}
	return snap
}
