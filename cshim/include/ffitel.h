/*
 * ffitel.h -- the C ABI of libffitel.so, ffitel's telemetry core.
 *
 * ffitel gives a worker process structured logging, traces and metrics in
 * two phases: phase 1 logs to the console only and is safe to call while the
 * host is still wiring up its FFI; phase 2 upgrades the same logging in place
 * to OpenTelemetry (OTLP) export, configured entirely from environment
 * variables (see README.md). Records logged in phase 1 are replayed to OTLP
 * with their original timestamps.
 *
 * Conventions, for every function below:
 *
 *  - Strings are UTF-8 with an explicit length (const char *p, size_t n) and
 *    need no NUL terminator. They are copied during the call and never
 *    retained. p may be NULL only when n is 0 (NULL with n > 0 is
 *    FFITEL_E_INVALID). Invalid UTF-8 is replaced with U+FFFD, never dropped.
 *  - Nothing the library allocates crosses the boundary. Output goes into a
 *    caller-owned buffer (char *buf, size_t cap): the function writes at most
 *    cap - 1 bytes plus a NUL, and returns the full length it needed
 *    (excluding the NUL). If the return value is >= cap the output was cut:
 *    call again with a buffer of return value + 1 bytes. buf may be NULL when
 *    cap is 0, to ask for the length.
 *  - Negative return values are errors (FFITEL_E_*). The message for the
 *    calling thread is then available from ffitel_last_error. A successful
 *    call does not clear it.
 *  - Handles are uint64_t; 0 means none, or failure (then see
 *    ffitel_last_error).
 *  - attrs_json is a JSON object whose values are strings, numbers, booleans
 *    or arrays of those, e.g. {"order_id":42,"tags":["a","b"]}. NULL or
 *    length 0 means no attributes. Nested objects are flattened into dotted
 *    keys ({"http":{"method":"GET"}} -> http.method) and null values are
 *    skipped. An array or object inside an array is kept as its JSON text
 *    (a string element); an integer beyond 64 bits keeps its digits (a
 *    string attribute). Malformed JSON never loses the call's message: the log record
 *    or span is still produced, with the attributes decoded before the error
 *    and the marker attribute ffitel.invalid_attributes=true, and the call
 *    returns FFITEL_E_INVALID.
 *  - Limits: a message, name or error text longer than 64 KiB, a string
 *    attribute value longer than 16 KiB, and attributes beyond the 128th are
 *    cut (on a UTF-8 boundary); the record gets ffitel.truncated=true (a log
 *    record keeps 128 attributes in all, its markers included, so that the
 *    OTLP record, limited to 128 too, carries the marker). An
 *    attributes document over 1 MiB is ignored (FFITEL_E_INVALID). Bad input
 *    is counted in the stats as pipeline.input_errors.
 *  - Every function is safe to call from any thread, concurrently. None calls
 *    back into the host; the host polls.
 *  - After fork(): the Go runtime inside the library does not survive a fork.
 *    In a child forked after the library was loaded, every function returns
 *    FFITEL_E_FORKED (0 for handles) immediately, without entering Go; use
 *    host-native logging there, or load the library only after forking.
 *  - The library reads the environment once, when it is loaded; changes the
 *    host makes to the environment afterwards are not seen.
 *  - The library cannot be unloaded (dlclose of a Go runtime is unsupported):
 *    call ffitel_shutdown before the process exits (e.g. from atexit). Only
 *    one Go c-shared library can live in a process.
 */
#ifndef FFITEL_H
#define FFITEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FFITEL_VERSION "0.1.0"

/* Results. */
#define FFITEL_OK 0
#define FFITEL_E_INVALID (-1)  /* bad argument: NULL, bad UTF-8, bad JSON, unknown level */
#define FFITEL_E_STATE (-2)    /* wrong phase, e.g. after shutdown; or not available yet */
#define FFITEL_E_FORKED (-3)   /* called in a child forked after the library was loaded */
#define FFITEL_E_HANDLE (-4)   /* unknown or already ended handle */
#define FFITEL_E_FULL (-5)     /* a bounded queue or table refused the item (counted) */
#define FFITEL_E_INTERNAL (-6) /* a bug in ffitel; the message says what */
#define FFITEL_E_UNAVAILABLE (-7) /* a downstream refused or is down (the durable event sink); counted */

/* Severity numbers (OpenTelemetry SeverityNumber). Any value 1..24 is
 * accepted; TRACE2..FATAL4 map to the level below the next name. */
#define FFITEL_TRACE 1
#define FFITEL_DEBUG 5
#define FFITEL_INFO 9
#define FFITEL_WARN 13
#define FFITEL_ERROR 17
#define FFITEL_FATAL 21

/* Span kinds. */
#define FFITEL_KIND_INTERNAL 0
#define FFITEL_KIND_SERVER 1
#define FFITEL_KIND_CLIENT 2
#define FFITEL_KIND_PRODUCER 3
#define FFITEL_KIND_CONSUMER 4

/* Phases, as returned by ffitel_phase. */
#define FFITEL_PHASE_NONE 0
#define FFITEL_PHASE_CONSOLE 1
#define FFITEL_PHASE_TELEMETRY 2
#define FFITEL_PHASE_SHUTDOWN 3

/* ---- lifecycle ---------------------------------------------------------- */

/* The library version, a static NUL-terminated string. Never enters Go; safe
 * in a forked child. */
const char *ffitel_version(void);

/* Phase 1: console logging only. Opens no socket, starts no exporter. Any
 * other call implies it. Idempotent. Returns FFITEL_OK, or FFITEL_E_FORKED. */
int ffitel_init_console(void);

/* Phase 2: upgrades logging in place to OTLP logs, traces and metrics as the
 * environment says (TELEMETRY_ENABLED gates export; OTEL_SDK_DISABLED wins).
 * Runs phase 1 first if needed. Never waits on the network. When export is
 * off it stays console-only, logs why once, and still returns FFITEL_OK
 * (ffitel_stats_json says pipeline.export_enabled=false). Idempotent.
 * Returns FFITEL_OK, FFITEL_E_STATE after shutdown, or FFITEL_E_FORKED. */
int ffitel_init_telemetry(void);

/* Ends spans the host left open (counted as pipeline.spans_ended_at_shutdown),
 * flushes all signals and stops exporting. Bounded by timeout_ms in total,
 * collector up or down; timeout_ms < 0 means FFITEL_SHUTDOWN_TIMEOUT_MS
 * (default 5000). What cannot be sent in time is counted as dropped.
 * Logging afterwards still reaches the console. Idempotent; may block, so
 * bindings should release their interpreter lock around it.
 * Returns FFITEL_OK, or FFITEL_E_STATE when the deadline cut the flush short. */
int ffitel_shutdown(int32_t timeout_ms);

/* Writes the console lines still queued (phase 2 formats and writes the
 * console on a background goroutine, within about a millisecond) and exports
 * what is queued of every signal, then returns; keeps running afterwards.
 * Bounded by timeout_ms (< 0: FFITEL_SHUTDOWN_TIMEOUT_MS). For tests, and
 * for a host about to exit without ffitel_shutdown (before exec, say). May
 * block: bindings should release their interpreter lock around it. Returns
 * FFITEL_OK, or FFITEL_E_STATE when the deadline cut the export short. */
int ffitel_flush(int32_t timeout_ms);

/* The current phase: FFITEL_PHASE_* (>= 0), or FFITEL_E_FORKED. */
int ffitel_phase(void);

/* Copies the calling thread's last error message into buf (see the buffer
 * convention above) and returns its length; 0 when there is none. Never
 * enters Go; safe in a forked child. */
int ffitel_last_error(char *buf, size_t cap);

/* Adds SA_ONSTACK to the handler currently installed for signal signum, so
 * that it runs on the thread's alternate signal stack. The Go runtime
 * requires this of every non-Go signal handler: a handler without it that
 * fires on a thread running Go code corrupts the goroutine stack. Call it
 * after installing a handler if your runtime does not set SA_ONSTACK itself
 * (CPython does; Ruby's trap does not). Default and ignored dispositions are
 * left alone. Never enters Go; safe in a forked child. Returns FFITEL_OK or
 * FFITEL_E_INVALID. */
int ffitel_signal_onstack(int32_t signum);

/* ---- logs ------------------------------------------------------------------ */

/* Logs msg at severity (1..24) with attributes, to the console and, in phase
 * 2, to OTLP. (In phase 2 a goroutine formats and writes the console lines,
 * within about a millisecond, in order; records at FFITEL_ERROR and above are
 * written before the call returns; ffitel_flush writes the rest.) span (0 for none) is a handle from ffitel_span_start or
 * ffitel_task_start: the record carries its trace and span ids. Never blocks
 * on the network. Returns FFITEL_OK; FFITEL_E_INVALID for a bad argument (an
 * unknown severity is logged as INFO with ffitel.invalid_severity; bad JSON
 * or UTF-8 is logged as described above); FFITEL_E_HANDLE for an unknown
 * span (the record is logged without ids). A record below LOG_LEVEL is
 * discarded and FFITEL_OK returned. A record the full export queue refuses
 * is counted as dropped (pipeline.logs.dropped, with a periodic warning) and
 * FFITEL_OK is returned: the log path does not report backpressure. */
int ffitel_log(int32_t severity, const char *msg, size_t msg_len,
               const char *attrs_json, size_t attrs_len, uint64_t span);

/* 1 if a record at severity would be logged (LOG_LEVEL), 0 if not; lets a
 * host skip formatting. FFITEL_E_FORKED in a forked child. */
int ffitel_log_enabled(int32_t severity);

/* The fast path beside attrs_json: attributes as an array of typed values,
 * nothing to encode or parse. Same limits as JSON (128 attributes, 16 KiB per
 * string value; longer is truncated and marked ffitel.truncated). A key or
 * string that is not UTF-8 is replaced as with JSON; an unknown type marks
 * the record ffitel.invalid_attributes and skips that attribute. */
#define FFITEL_ATTR_STRING 1 /* str, str_len */
#define FFITEL_ATTR_INT 2    /* i */
#define FFITEL_ATTR_DOUBLE 3 /* d */
#define FFITEL_ATTR_BOOL 4   /* i: 0 false, anything else true */
typedef struct ffitel_attr {
    const char *key;
    size_t key_len;
    int32_t type; /* FFITEL_ATTR_* */
    int32_t reserved;
    const char *str;
    size_t str_len;
    int64_t i;
    double d;
} ffitel_attr;

/* ffitel_log with n attributes from attrs (NULL when n is 0). Returns as
 * ffitel_log does. In phase 2 this is the fast path: the level, the UTF-8 of
 * every string, the types, the sizes and the span handle are checked in C
 * and the record is copied into a ring without entering Go (valid input,
 * at most about 480 bytes of message and attributes; anything else takes
 * the synchronous path, with the same result codes). A goroutine turns the
 * ring into records in order; ffitel_log, ending a span, ffitel_flush,
 * ffitel_stats_json and ffitel_shutdown turn what is queued into records
 * first, so order is kept across all calls. When the ring is full the caller
 * does that work itself: nothing is dropped. */
int ffitel_log_attrs(int32_t severity, const char *msg, size_t msg_len,
                     const ffitel_attr *attrs, size_t n, uint64_t span);

/* For the Python binding only; call it through ctypes.PyDLL (the GIL held)
 * with restype py_object. Returns a new reference to a built-in function
 * log(severity: int, msg: str, attrs: dict | None, span: int) -> int that
 * logs as ffitel_log_attrs, reading the arguments with CPython's stable C API
 * (looked up in the running process with dlsym; libffitel.so does not link
 * libpython): no ctypes conversion and no JSON on either side. log returns
 * FFITEL_PY_USE_JSON, with nothing logged, when a value is not an exact str,
 * int (64-bit), float, bool or None, or a str has lone surrogates: the
 * caller then uses ffitel_log. Otherwise it returns what ffitel_log would.
 * Returns NULL when the process has no CPython. Holding the GIL, log may
 * wait as a console write waits (a full console buffer); never on the
 * network. */
#define FFITEL_PY_USE_JSON 1
void *ffitel_py_function(void);

/* For the Python binding only, as ffitel_py_function: a new reference to a
 * built-in function making one C ABI call from Python objects (no ctypes
 * conversion, no buffer object), or NULL (no CPython, or an unknown which).
 * which 0: span_start(scope: bytes, name: str, parent: int, traceparent:
 * bytes | None, attrs_json: bytes | None, kind: int, start_unix_nano: int,
 * links_json: bytes | None) -> (handle, traceparent: str | None), as
 * ffitel_span_start_ex (traceparent None when the handle is 0), or the int
 * FFITEL_PY_USE_JSON, with nothing started, when an argument has another
 * type or name has lone surrogates (then call ffitel_span_start_ex).
 * which 1: span_end(handle: int, status: int, description: bytes | None,
 * end_unix_nano: int) -> int, as ffitel_span_end_ex (FFITEL_E_INVALID,
 * nothing ended, for arguments of other types). Both hold the GIL. */
void *ffitel_py_span_function(int32_t which);

/* For the Ruby binding only; call it through ruby-ffi (the GVL held). Defines
 * Ffitel::NativeLog.log(severity, msg, attrs, span) -> Integer, a C method
 * that logs as ffitel_log_attrs, reading the String and the Hash with Ruby's
 * exported C API (looked up with dlsym; libffitel.so does not link libruby):
 * no ffi conversion and no JSON. log returns FFITEL_RB_USE_JSON, with
 * nothing logged, when a value is not an exact String, Symbol, Integer that
 * fits a Fixnum, Float, true, false or nil, or a String is in an encoding
 * other than UTF-8, US-ASCII or BINARY: the caller then uses ffitel_log.
 * Otherwise it returns what ffitel_log would; it never raises. Returns
 * FFITEL_OK, or FFITEL_E_UNAVAILABLE when the process has no Ruby. */
#define FFITEL_RB_USE_JSON 1
int ffitel_rb_define(void);

/* ---- spans ---------------------------------------------------------------- */

/* Starts a span and returns its handle (0 on failure). The parent is the
 * span handle parent when non-zero (FFITEL_E_HANDLE -> 0 if unknown), else
 * the W3C traceparent header value when tp_len > 0 (a malformed one starts a
 * new root trace and is counted), else none (a new trace). kind is
 * FFITEL_KIND_*; out of range means INTERNAL (counted). An empty name, or a
 * NULL one with a non-zero length (counted as bad input, FFITEL_E_INVALID in
 * ffitel_last_error), names the span "unnamed": the span still starts.
 * At most 65536 spans
 * may be open at once: beyond that it returns 0 with FFITEL_E_FULL in
 * ffitel_last_error. Every started span must be ended with ffitel_span_end;
 * shutdown ends the forgotten ones. */
uint64_t ffitel_span_start(const char *name, size_t name_len, uint64_t parent,
                           const char *traceparent, size_t tp_len,
                           const char *attrs_json, size_t attrs_len, int32_t kind);

/* Adds attributes to an open span. FFITEL_OK, FFITEL_E_HANDLE, or
 * FFITEL_E_INVALID (bad JSON; what decoded is kept). */
int ffitel_span_set_attributes(uint64_t span, const char *attrs_json, size_t len);

/* Adds a timestamped event to an open span. FFITEL_OK, FFITEL_E_HANDLE, or
 * FFITEL_E_INVALID. */
int ffitel_span_add_event(uint64_t span, const char *name, size_t name_len,
                          const char *attrs_json, size_t attrs_len);

/* Ends a span; the handle is invalid afterwards. ok != 0 leaves the status
 * unset (success); ok == 0 sets status ERROR with the error text as its
 * description and records an exception event. FFITEL_OK or FFITEL_E_HANDLE. */
int ffitel_span_end(uint64_t span, int32_t ok, const char *error, size_t error_len);

/* Writes the span's W3C traceparent header value (55 bytes, e.g.
 * "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") into buf and
 * returns its length, for injecting into outgoing requests or job payloads.
 * FFITEL_E_HANDLE for an unknown span. */
int ffitel_span_traceparent(uint64_t span, char *buf, size_t cap);

/* Writes the span's propagation carrier as a JSON object of header names and
 * values, as the configured propagators (OTEL_PROPAGATORS) inject them:
 * {"traceparent":"00-...","tracestate":"..."} (tracestate and baggage only
 * when present). Store it with a job, or copy it into outgoing request
 * headers. Returns its length (buffer convention), or FFITEL_E_HANDLE. */
int ffitel_span_inject(uint64_t span, char *buf, size_t cap);

/* ---- metrics -------------------------------------------------------------- */

/* Adds value (>= 0, finite) to the monotonic counter name (an OpenTelemetry
 * instrument name: a letter, then letters, digits, '_', '.', '-', '/'; at
 * most 255 bytes). Counts made in phase 1 are exported from phase 2 on.
 * FFITEL_OK or FFITEL_E_INVALID (nothing recorded, also for malformed
 * attrs_json). */
int ffitel_counter_add(const char *name, size_t name_len, double value,
                       const char *attrs_json, size_t attrs_len);

/* Records value (finite) in the histogram name with the given UCUM unit
 * ("ms", "s", "By", "{item}"; may be empty). A name is bound to the unit of
 * its first use. FFITEL_OK or FFITEL_E_INVALID (nothing recorded). */
int ffitel_histogram_record(const char *name, size_t name_len, double value,
                            const char *unit, size_t unit_len,
                            const char *attrs_json, size_t attrs_len);

/* ---- tasks (job consumer telemetry) ------------------------------------- */

/* Starts one attempt of a background task (job) on the consumer side and
 * returns its handle (0 on failure). It opens a CONSUMER span named
 * "process <task_type>" with the messaging attributes of the OpenTelemetry
 * semantic conventions (messaging.system=ffitel, messaging.operation.name=
 * process, messaging.destination.name=<task_type>,
 * messaging.consumer.group.name=<worker>, messaging.message.id=<task_id>,
 * ffitel.task.attempt). traceparent/tracestate are what the producer
 * injected when it enqueued the job (ffitel_span_traceparent of its PRODUCER
 * span, e.g. "send <task_type>"); both may be empty.
 * propagation: -1 the FFITEL_TASK_PROPAGATION default (auto: child on
 * attempt 1, link on retries), 0 child (the task span is a child of the
 * producer's span), 1 link (a new trace linked to it), 2 none (the carrier
 * is ignored). A malformed traceparent starts a new trace and is counted
 * (metric ffitel.task.malformed_carriers); it is never an error. attempt < 1
 * is taken as 1 (FFITEL_E_INVALID in ffitel_last_error, the task starts).
 * The handle works wherever a span handle does (ffitel_log,
 * ffitel_span_add_event, ffitel_span_traceparent...). Every task must be
 * ended with ffitel_task_end; shutdown ends forgotten ones as failed. */
uint64_t ffitel_task_start(const char *task_type, size_t type_len,
                           const char *worker, size_t worker_len,
                           const char *task_id, size_t id_len, int32_t attempt,
                           const char *traceparent, size_t tp_len,
                           const char *tracestate, size_t ts_len, int32_t propagation);

/* ffitel_task_start with the host's current span (0 for none): when the
 * carrier gives the task a remote parent, the current span (say a "poll
 * queue" span) is added to the task span as a link, so neither trace loses
 * the other. An unknown current handle is ignored (FFITEL_E_HANDLE in
 * ffitel_last_error; the task starts). */
uint64_t ffitel_task_start_in(uint64_t current, const char *task_type, size_t type_len,
                              const char *worker, size_t worker_len,
                              const char *task_id, size_t id_len, int32_t attempt,
                              const char *traceparent, size_t tp_len,
                              const char *tracestate, size_t ts_len, int32_t propagation);

/* ffitel_task_start_in for a job framework: system is messaging.system
 * (say "celery", "sidekiq"; empty means "ffitel") and destination is
 * messaging.destination.name (the queue the job was consumed from; empty
 * means task_type), on the span and on the task's metrics. */
uint64_t ffitel_task_start_ex(uint64_t current, const char *system, size_t system_len,
                              const char *destination, size_t dest_len,
                              const char *task_type, size_t type_len,
                              const char *worker, size_t worker_len,
                              const char *task_id, size_t id_len, int32_t attempt,
                              const char *traceparent, size_t tp_len,
                              const char *tracestate, size_t ts_len, int32_t propagation);

/* Ends a task attempt: ok != 0 for success; otherwise error_type (e.g. the
 * exception class name; empty means "_OTHER") becomes the span's error
 * status and the error.type attribute of its metrics. It records no
 * exception event: add one first with ffitel_span_add_event(task,
 * "exception", {"exception.type":..., "exception.message":...,
 * "exception.stacktrace":...}) as the bindings do. Records
 * messaging.client.consumed.messages (+1) and messaging.process.duration
 * (seconds, buckets 0.005 .. 600) labelled by messaging.system,
 * messaging.operation.name, messaging.destination.name,
 * messaging.consumer.group.name and error.type -- never the task id.
 * FFITEL_OK, or FFITEL_E_HANDLE for an unknown, ended or non-task handle. */
int ffitel_task_end(uint64_t task, int32_t ok, const char *error_type, size_t et_len);

/* ---- domain events ------------------------------------------------------------ */

/* Publishes a domain event and writes its id (a 36-character UUIDv7) into
 * event_id_out, which must hold 37 bytes (or be NULL with cap 0): unlike
 * other calls it is not retried with a bigger buffer, since that would
 * publish twice, so a smaller buffer is FFITEL_E_INVALID and nothing is
 * published. Returns the id's length.
 * payload_json is any JSON value (empty means {}). metadata_json is a JSON
 * object: {"namespace": "payments" (required), "correlation_id": "..."
 * (required), "task_uuid", "step_uuid", "step_name", "fired_by"}; the trace
 * context of the publishing span and fired_at are filled in.
 * delivery: 0 durable (the FFITEL_EVENTS_DURABLE_URL sink, PostgreSQL queue
 * table <namespace>_domain_events or a JSONL file, opened at phase 2), 1 fast
 * (in-process subscribers), 2 broadcast (both, one event, one id). A
 * fast-path failure is counted (router.fast_delivery_errors) and does not
 * fail the publish. Every publish is traced (span publish_domain_event) and
 * counted (<FFITEL_METRICS_NAMESPACE>_domain_events_published_total /
 * _failed_total / _publish_duration_milliseconds).
 * An event name holding NUL or invalid UTF-8 is refused ("invalid event
 * name"), a payload over 1 MiB too ("payload too large (N bytes > 1048576)");
 * nothing is published.
 * Returns the id length; FFITEL_E_INVALID for a missing name, namespace or
 * correlation id, bad JSON or an unknown delivery; FFITEL_E_UNAVAILABLE when
 * the durable path failed (no sink configured, connection lost; counted in
 * router.routing_errors); FFITEL_E_STATE after ffitel_shutdown. A durable
 * enqueue waits at most 5 s. */
int ffitel_event_publish(const char *name, size_t name_len,
                         const char *payload_json, size_t payload_len,
                         const char *metadata_json, size_t metadata_len,
                         int32_t delivery, char *event_id_out, size_t cap);

/* ffitel_event_publish inside the host's current span (0 for none): the
 * publish_domain_event span becomes its child, so a step's events stay in
 * the step's trace. FFITEL_E_HANDLE (nothing published) for an unknown
 * current handle. */
int ffitel_event_publish_in(uint64_t current, const char *name, size_t name_len,
                            const char *payload_json, size_t payload_len,
                            const char *metadata_json, size_t metadata_len,
                            int32_t delivery, char *event_id_out, size_t cap);

/* Subscribes to in-process events whose name matches pattern: an exact
 * name, "payment.*" (everything under "payment."), or "*". Events queue for
 * the subscriber (at most 1024; when full the oldest is dropped and counted
 * in in_process_bus.ffi_channel_drops) until polled. Returns a handle, or 0
 * (FFITEL_E_INVALID in ffitel_last_error for a bad pattern). */
uint64_t ffitel_event_subscribe(const char *pattern, size_t pattern_len);

/* Waits up to timeout_ms (at most 60 s; 0 does not wait) for the next event
 * of a subscription and writes it as DomainEvent JSON ({"event_id",
 * "event_name", "event_version", "payload", "metadata"}). Returns its
 * length, or 0 when nothing arrived. When the return value is >= cap the
 * event was NOT consumed: call again with a larger buffer to receive it.
 * May block: bindings release their interpreter lock around it. Returns
 * FFITEL_E_HANDLE for an unknown or closed subscription; ffitel_shutdown
 * closes every subscription, and a poll waiting then returns 0 at once. */
int ffitel_event_poll(uint64_t sub, int32_t timeout_ms, char *buf, size_t cap);

/* Ends a subscription; queued events are released. FFITEL_OK or
 * FFITEL_E_HANDLE. */
int ffitel_event_unsubscribe(uint64_t sub);

/* ---- stats ---------------------------------------------------------------- */

/* Writes the stats document (the /metrics/events JSON) into buf and returns
 * its length: {"captured_at":..., "worker_id":..., "pipeline":{"phase":...,
 * "export_enabled":..., "logs":{"emitted","exported","dropped","failed",
 * "pending"}, "spans":{...}, "early":{...}, "input_errors":..., ...},
 * "router":{"total_routed","durable_routed","fast_routed","broadcast_routed",
 * "fast_delivery_errors","routing_errors"}, "in_process_bus":{
 * "total_events_dispatched","go_handler_dispatches","ffi_channel_dispatches",
 * "handler_errors","ffi_channel_drops","subscriptions"}}.
 * For logs and spans, emitted = exported + dropped + failed + pending. */
int ffitel_stats_json(char *buf, size_t cap);

/* ---- OpenTelemetry API bridges --------------------------------------------
 * What a host binding needs to implement its language's OpenTelemetry API
 * (tracer and meter providers) on this library, so instrumentation written
 * against that API exports through ffitel (Python: ffitel.opentelemetry). */

/* Starts a span as ffitel_span_start does, with more of the API's options:
 * scope names the instrumentation scope (the tracer's name; empty: ffitel's
 * own), kind as for ffitel_span_start (0 internal .. 4 consumer), start_unix_nano
 * the start time (0: now), links_json a JSON array of links
 * [{"traceparent": "00-...", "attributes": {...}}, ...] (malformed links are
 * skipped with FFITEL_E_INVALID in ffitel_last_error; the span is still
 * started). A remote parent given by traceparent is used when parent is 0.
 * When tp_cap >= 56 the new span's traceparent ("00-<trace>-<span>-<flags>",
 * 55 bytes; flags 01 when sampled, 00 when not) is written to tp_out,
 * NUL-terminated (a smaller tp_cap > 0 gets ""): bindings learn the ids and the sampling decision without
 * another call. An unsampled span still gets a handle (logs inside carry
 * its ids; children inherit the decision) but records nothing. Returns the
 * handle, or 0 as ffitel_span_start does. End it with ffitel_span_end_ex or
 * ffitel_span_end. */
uint64_t ffitel_span_start_ex(const char *scope, size_t scope_len, const char *name, size_t name_len,
                              uint64_t parent, const char *traceparent, size_t tp_len,
                              const char *attrs_json, size_t attrs_len, int32_t kind, int64_t start_unix_nano,
                              const char *links_json, size_t links_len, char *tp_out, size_t tp_cap);

/* Ends a span with an OpenTelemetry status: 0 unset, 1 ok, 2 error (with
 * description; ignored otherwise), at end_unix_nano (0: now). Unlike
 * ffitel_span_end it adds no "exception" event (bindings record exceptions
 * as events themselves). A task handle ends its task (status 2: failed).
 * FFITEL_OK, FFITEL_E_HANDLE, or FFITEL_E_INVALID for an unknown status
 * (the span is still ended, status unset). */
int ffitel_span_end_ex(uint64_t span, int32_t status, const char *description, size_t description_len,
                       int64_t end_unix_nano);

/* Adds an event as ffitel_span_add_event does, at unix_nano (0: now). */
int ffitel_span_add_event_at(uint64_t span, const char *name, size_t name_len, const char *attrs_json,
                             size_t attrs_len, int64_t unix_nano);

/* Adds links to an open span: links_json as for ffitel_span_start_ex. */
int ffitel_span_add_link(uint64_t span, const char *links_json, size_t links_len);

/* Renames an open span (an empty name is ignored). */
int ffitel_span_update_name(uint64_t span, const char *name, size_t name_len);

/* Instrument kinds for ffitel_instrument_create. */
#define FFITEL_INSTRUMENT_COUNTER 0
#define FFITEL_INSTRUMENT_UP_DOWN_COUNTER 1
#define FFITEL_INSTRUMENT_HISTOGRAM 2
#define FFITEL_INSTRUMENT_GAUGE 3
#define FFITEL_INSTRUMENT_OBSERVABLE_COUNTER 4
#define FFITEL_INSTRUMENT_OBSERVABLE_UP_DOWN_COUNTER 5
#define FFITEL_INSTRUMENT_OBSERVABLE_GAUGE 6

/* Creates (or finds: the same scope, kind, name, unit and description give
 * the same handle) a float64 instrument of the meter named scope (empty:
 * ffitel's own) and returns its handle, or 0 with ffitel_last_error set (an
 * invalid name or kind, or 4096 instruments already). Units are UCUM
 * ("ms", "By", "{request}"). Instruments live until the library is
 * unloaded; counts made before ffitel_init_telemetry are exported after. */
uint64_t ffitel_instrument_create(const char *scope, size_t scope_len, int32_t kind, const char *name,
                                  size_t name_len, const char *unit, size_t unit_len, const char *description,
                                  size_t description_len);

/* Records value with attributes (flat JSON object) into an instrument:
 * adds to a counter (value >= 0) or up-down counter, records into a
 * histogram, sets a gauge. For an observable instrument it sets the latest
 * observation for that attribute set, reported at every collection from
 * then on (an observable counter takes the cumulative total): the host runs
 * the instrument's callbacks itself -- periodically, a little before each
 * export (OTEL_METRIC_EXPORT_INTERVAL), and before ffitel_flush and
 * ffitel_shutdown -- and pushes their results here; the library never
 * calls the host. At most 2000 attribute sets per observable instrument
 * (FFITEL_E_INVALID beyond). Non-finite values and bad attributes record
 * nothing (FFITEL_E_INVALID). FFITEL_E_HANDLE for an unknown instrument. */
int ffitel_instrument_record(uint64_t instrument, double value, const char *attrs_json, size_t attrs_len);
/* ---- ABI version ---------------------------------------------------------- */

/* The ABI version: bumped on any incompatible change to an existing function
 * (its arguments, result, meaning or a struct it takes). Adding a function or
 * a constant does not change it. Each binding compares it with its own copy
 * when it loads the library and refuses a mismatch. */
#define FFITEL_ABI_VERSION 1

/* Returns FFITEL_ABI_VERSION. Never enters Go; safe in a forked child. */
int ffitel_abi_version(void);

/* 1 when the spool (FFITEL_SPOOL_DIR, docs/SPOOL.md) takes this process's
 * records, else 0. In a child forked after load it says whether the child
 * can write through C alone (the spool was on in the parent at the fork and
 * the child's own segment is open): then ffitel_log_attrs, the bindings'
 * native log functions, ffitel_span_start / _end (and ffitel_span_start_ex /
 * _end_ex, without their scope, times, links or OK status), ffitel_span_set_attributes,
 * ffitel_span_add_event(_at) on the child's spans, ffitel_task_start* /
 * ffitel_task_end and ffitel_span_traceparent work in the child, and a
 * binding keeps using the library there instead of falling back. Never
 * enters Go; safe in a forked child. */
int ffitel_spool_enabled(void);

/* ---- doctor ----------------------------------------------------------------- */

/* For operators (`ffitel doctor`): runs phase 2 if needed, sends one test log
 * record, span and metric point to the configured exporters (past the log
 * level and the sampler), each bounded by timeout_ms (< 0:
 * FFITEL_SHUTDOWN_TIMEOUT_MS), and writes the report as JSON into buf:
 * {"version", "exit_code" (0 every exported signal got through, 1 one did
 * not, 2 export is off), "status" ("ok", "failed", "disabled"),
 * "disabled_reason", "timeout_ms", "config": [{"key","value"}] (secrets
 * redacted), "signals": [{"signal", "exporter", "endpoint", "protocol",
 * "tested", "ok", "ms", "error"}], "stats": the pipeline stats}.
 * Returns the report's length; when that is >= cap the report is kept and
 * the next call returns it without sending again. May block up to the
 * timeout: bindings release their interpreter lock around it. The runtime
 * keeps running afterwards. */
int ffitel_doctor_json(int32_t timeout_ms, char *buf, size_t cap);
/* Counts one bad input that a binding replaced or refused on its own side
 * (a None value left out, an object whose str() raised, ...), so that the
 * binding's counts show in pipeline.input_errors of ffitel_stats_json and
 * /metrics/events with the library's. Never fails: FFITEL_OK, or
 * FFITEL_E_FORKED in a forked child. */
int ffitel_count_input_error(void);

#ifdef __cplusplus
}
#endif

#endif /* FFITEL_H */
