package metrics

import "time"

// SignalStats accounts for every item (log record or span) that entered an
// export pipeline: Emitted = Exported + Dropped + Failed + Pending.
type SignalStats struct {
	// Emitted counts items handed to the export pipeline.
	Emitted uint64 `json:"emitted"`
	// Exported counts items the collector accepted.
	Exported uint64 `json:"exported"`
	// Dropped counts items refused because the queue was full or because
	// shutdown ran out of time before they could be sent.
	Dropped uint64 `json:"dropped"`
	// Failed counts items in batches the exporter gave up on.
	Failed uint64 `json:"failed"`
	// Pending counts items queued or in flight.
	Pending uint64 `json:"pending"`
}

// EarlyStats describes the phase-1 replay buffer.
type EarlyStats struct {
	// Capacity is FFITEL_EARLY_BUFFER.
	Capacity int `json:"capacity"`
	// Buffered counts records held for replay now.
	Buffered uint64 `json:"buffered"`
	// Overflowed counts phase-1 records pushed out by newer ones.
	Overflowed uint64 `json:"overflowed"`
	// Replayed counts records handed to the export pipeline at the upgrade.
	Replayed uint64 `json:"replayed"`
	// Discarded counts records released because phase 2 does not export.
	Discarded uint64 `json:"discarded"`
	// The same for spans ended in phase 1.
	SpansBuffered   uint64 `json:"spans_buffered"`
	SpansOverflowed uint64 `json:"spans_overflowed"`
	SpansReplayed   uint64 `json:"spans_replayed"`
	SpansDiscarded  uint64 `json:"spans_discarded"`
}

// PipelineStats is the snapshot of the telemetry pipeline.
type PipelineStats struct {
	Phase string `json:"phase"`
	// ExportEnabled is false when phase 2 runs console-only
	// (TELEMETRY_ENABLED unset or false, OTEL_SDK_DISABLED, or exporters
	// that could not be built).
	ExportEnabled bool `json:"export_enabled"`
	// ExportDisabledReason says why ExportEnabled is false.
	ExportDisabledReason string      `json:"export_disabled_reason,omitempty"`
	Logs                 SignalStats `json:"logs"`
	Spans                SignalStats `json:"spans"`
	Early                EarlyStats  `json:"early"`
	// MetricExports and MetricExportFailures count metric collections sent.
	MetricExports        uint64 `json:"metric_exports"`
	MetricExportFailures uint64 `json:"metric_export_failures"`
	// SpansEndedAtShutdown counts spans the host opened and never ended,
	// ended by Shutdown.
	SpansEndedAtShutdown uint64 `json:"spans_ended_at_shutdown"`
	// InputErrors counts bad input received over the C ABI (malformed JSON,
	// invalid UTF-8, truncated values).
	InputErrors uint64 `json:"input_errors"`
	// Spool is set when the on-disk spool is on (FFITEL_SPOOL_DIR).
	Spool *SpoolStats `json:"spool,omitempty"`
}

// Snapshot is the /metrics/events document.
type Snapshot struct {
	CapturedAt time.Time              `json:"captured_at"`
	WorkerID   string                 `json:"worker_id"`
	Router     EventRouterStats       `json:"router"`
	Bus        InProcessEventBusStats `json:"in_process_bus"`
	Pipeline   PipelineStats          `json:"pipeline"`
}

// EventRouterStats counts what the domain-event router did.
type EventRouterStats struct {
	TotalRouted        uint64 `json:"total_routed"`
	DurableRouted      uint64 `json:"durable_routed"`
	FastRouted         uint64 `json:"fast_routed"`
	BroadcastRouted    uint64 `json:"broadcast_routed"`
	FastDeliveryErrors uint64 `json:"fast_delivery_errors"`
	RoutingErrors      uint64 `json:"routing_errors"`
}

// InProcessEventBusStats counts what the in-process bus dispatched.
type InProcessEventBusStats struct {
	TotalEventsDispatched uint64 `json:"total_events_dispatched"`
	// GoHandlerDispatches is the reference's rust_handler_dispatches.
	GoHandlerDispatches  uint64 `json:"go_handler_dispatches"`
	FFIChannelDispatches uint64 `json:"ffi_channel_dispatches"`
	HandlerErrors        uint64 `json:"handler_errors"`
	FFIChannelDrops      uint64 `json:"ffi_channel_drops"`
	Subscriptions        int    `json:"subscriptions"`
}

// SpoolStats describes the on-disk spool (FFITEL_SPOOL_DIR). The records
// this process wrote are also in Logs: Written and Refused in Emitted,
// Shipped in Exported, Refused in Dropped, RecordsWaiting in Pending.
type SpoolStats struct {
	Directory string `json:"directory"`
	// BytesOnDisk is what the directory's segments hold (this process's
	// and other live owners').
	BytesOnDisk uint64 `json:"bytes_on_disk"`
	// RecordsWaiting counts this process's records on disk, not yet shipped.
	RecordsWaiting uint64 `json:"records_waiting"`
	Written        uint64 `json:"written"`
	Shipped        uint64 `json:"shipped"`
	// Refused counts records refused at FFITEL_SPOOL_MAX_MB (dropped).
	Refused uint64 `json:"refused"`
	// Recovered counts records shipped from the segments of dead owners.
	Recovered uint64 `json:"recovered"`
	// Redelivered counts recovered records that were in the batch in
	// flight when their owner died: the collector may have them twice.
	Redelivered uint64 `json:"redelivered"`
	// CorruptSkipped counts records that failed their checksum or were cut
	// short, skipped.
	CorruptSkipped  uint64 `json:"corrupt_skipped"`
	AdoptedSegments uint64 `json:"adopted_segments"`
	// The same for ended spans (Written, Shipped, Refused and Recovered
	// above count log records); this process's are also in Spans.
	SpansWritten   uint64 `json:"spans_written"`
	SpansShipped   uint64 `json:"spans_shipped"`
	SpansRefused   uint64 `json:"spans_refused"`
	SpansRecovered uint64 `json:"spans_recovered"`
}
