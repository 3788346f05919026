/*
 * The C half of the shim: the public ffitel_* entry points. Each checks the
 * fork guard *before* entering Go -- a Go runtime does not survive fork(), so
 * in a child every call returns FFITEL_E_FORKED at once instead of hanging --
 * and then calls the Go implementation (ffitelgo_*). ffitel_version and
 * ffitel_last_error never enter Go.
 */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "include/ffitel.h"
#include "shim.h"
#include "spool.h"
#include "_cgo_export.h"

static pid_t load_pid;
static volatile int forked;

static void on_fork_child(void) { forked = 1; }

__attribute__((constructor)) static void ffitel_on_load(void) {
    load_pid = getpid();
    pthread_atfork(NULL, NULL, on_fork_child);
}

/* Per-thread last error. */
static __thread char err_buf[1024];
static __thread size_t err_len;

void ffitel_shim_set_error(const char *msg, size_t len) {
    if (len >= sizeof err_buf) len = sizeof err_buf - 1;
    memcpy(err_buf, msg, len);
    err_buf[len] = 0;
    err_len = len;
}

char *ffitel_shim_error_buf(size_t *cap) {
    *cap = sizeof err_buf;
    return err_buf;
}

void ffitel_shim_error_len(size_t len) {
    if (len >= sizeof err_buf) len = sizeof err_buf - 1;
    err_buf[len] = 0;
    err_len = len;
}

void ffitel_shim_copy_out(char *buf, size_t cap, const char *src, size_t len) {
    if (buf == NULL || cap == 0) return;
    size_t n = len < cap ? len : cap - 1;
    memcpy(buf, src, n);
    buf[n] = 0;
}

static const char forked_msg[] =
    "ffitel: called in a child process forked after libffitel was loaded; "
    "the Go runtime does not survive fork(), so this process must use host-native logging "
    "(load the library after forking)";

/* The atfork flag is one load on the hot path. The pid comparison catches
 * only children made by a raw clone(), which skips atfork handlers; it is a
 * syscall, so it runs only on the lifecycle calls, not on every log call. */
static inline int in_forked_child(void) { return forked; }
static int in_forked_child_strict(void) {
    if (forked) return 1;
    if (load_pid != 0 && getpid() != load_pid) { forked = 1; return 1; }
    return 0;
}

#define GUARD_INT() \
    do { if (in_forked_child()) { ffitel_shim_set_error(forked_msg, sizeof forked_msg - 1); return FFITEL_E_FORKED; } } while (0)
#define GUARD_HANDLE() \
    do { if (in_forked_child()) { ffitel_shim_set_error(forked_msg, sizeof forked_msg - 1); return 0; } } while (0)

/* The record's timestamp, read here with one clock_gettime: Go's time.Now
 * reads two clocks and switches stacks to do it, which costs more on the
 * log path than everything else but the console. */
int64_t ffitel_shim_now_ns(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return 0;
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int ffitel_shim_forked(void) { return in_forked_child(); }
int ffitel_shim_forked_error(void) {
    ffitel_shim_set_error(forked_msg, sizeof forked_msg - 1);
    return FFITEL_E_FORKED;
}

const char *ffitel_version(void) { return FFITEL_VERSION; }

int ffitel_last_error(char *buf, size_t cap) {
    ffitel_shim_copy_out(buf, cap, err_buf, err_len);
    return (int)err_len;
}

int ffitel_signal_onstack(int32_t signum) {
    static const char bad[] = "ffitel_signal_onstack: not a signal number, or sigaction failed";
    struct sigaction act;
    if (signum <= 0 || signum >= NSIG || sigaction(signum, NULL, &act) != 0) {
        ffitel_shim_set_error(bad, sizeof bad - 1);
        return FFITEL_E_INVALID;
    }
    if (!(act.sa_flags & SA_SIGINFO) && (act.sa_handler == SIG_DFL || act.sa_handler == SIG_IGN)) return FFITEL_OK;
    if (act.sa_flags & SA_ONSTACK) return FFITEL_OK;
    act.sa_flags |= SA_ONSTACK;
    if (sigaction(signum, &act, NULL) != 0) {
        ffitel_shim_set_error(bad, sizeof bad - 1);
        return FFITEL_E_INVALID;
    }
    return FFITEL_OK;
}

int ffitel_init_console(void) { (void)in_forked_child_strict(); GUARD_INT(); return ffitelgo_init_console(); }
int ffitel_init_telemetry(void) { (void)in_forked_child_strict(); GUARD_INT(); return ffitelgo_init_telemetry(); }
int ffitel_shutdown(int32_t timeout_ms) { GUARD_INT(); return ffitelgo_shutdown(timeout_ms); }
int ffitel_flush(int32_t timeout_ms) { GUARD_INT(); return ffitelgo_flush(timeout_ms); }
int ffitel_phase(void) { GUARD_INT(); return ffitelgo_phase(); }

int ffitel_log(int32_t severity, const char *msg, size_t msg_len,
               const char *attrs_json, size_t attrs_len, uint64_t span) {
    GUARD_INT();
    return ffitelgo_log(severity, (char *)msg, msg_len, (char *)attrs_json, attrs_len, span, ffitel_shim_now_ns());
}
int ffitel_log_attrs(int32_t severity, const char *msg, size_t msg_len,
                     const ffitel_attr *attrs, size_t n, uint64_t span) {
    /* A forked child: the spool's C path if it is on, else FFITEL_E_FORKED. */
    if (in_forked_child()) return ffitel_shim_spool_child_log(severity, msg, msg_len, attrs, n, span);
    return ffitel_shim_log_attrs(severity, msg, msg_len, attrs, n, span);
}
int ffitel_log_enabled(int32_t severity) { GUARD_INT(); return ffitelgo_log_enabled(severity); }

uint64_t ffitel_span_start(const char *name, size_t name_len, uint64_t parent,
                           const char *traceparent, size_t tp_len,
                           const char *attrs_json, size_t attrs_len, int32_t kind) {
    if (in_forked_child())
        return ffitel_shim_spool_child_span_start(name, name_len, parent, traceparent, tp_len, attrs_json, attrs_len,
                                                  kind);
    return ffitelgo_span_start((char *)name, name_len, parent, (char *)traceparent, tp_len,
                               (char *)attrs_json, attrs_len, kind);
}
int ffitel_span_set_attributes(uint64_t span, const char *attrs_json, size_t len) {
    if (in_forked_child()) return ffitel_shim_spool_child_set_attrs(span, attrs_json, len);
    return ffitelgo_span_set_attributes(span, (char *)attrs_json, len);
}
int ffitel_span_add_event(uint64_t span, const char *name, size_t name_len,
                          const char *attrs_json, size_t attrs_len) {
    if (in_forked_child()) return ffitel_shim_spool_child_add_event(span, name, name_len, attrs_json, attrs_len, 0);
    return ffitelgo_span_add_event(span, (char *)name, name_len, (char *)attrs_json, attrs_len);
}
int ffitel_span_end(uint64_t span, int32_t ok, const char *error, size_t error_len) {
    if (in_forked_child()) return ffitel_shim_spool_child_span_end(span, ok, error, error_len);
    return ffitelgo_span_end(span, ok, (char *)error, error_len);
}
int ffitel_span_inject(uint64_t span, char *buf, size_t cap) {
    if (in_forked_child()) return ffitel_shim_spool_child_inject(span, buf, cap);
    return ffitelgo_span_inject(span, buf, cap);
}
int ffitel_span_traceparent(uint64_t span, char *buf, size_t cap) {
    if (in_forked_child()) return ffitel_shim_spool_child_traceparent(span, buf, cap);
    return ffitelgo_span_traceparent(span, buf, cap);
}

int ffitel_counter_add(const char *name, size_t name_len, double value,
                       const char *attrs_json, size_t attrs_len) {
    GUARD_INT();
    return ffitelgo_counter_add((char *)name, name_len, value, (char *)attrs_json, attrs_len);
}
int ffitel_histogram_record(const char *name, size_t name_len, double value,
                            const char *unit, size_t unit_len,
                            const char *attrs_json, size_t attrs_len) {
    GUARD_INT();
    return ffitelgo_histogram_record((char *)name, name_len, value, (char *)unit, unit_len,
                                     (char *)attrs_json, attrs_len);
}

uint64_t ffitel_task_start(const char *task_type, size_t type_len,
                           const char *worker, size_t worker_len,
                           const char *task_id, size_t id_len, int32_t attempt,
                           const char *traceparent, size_t tp_len,
                           const char *tracestate, size_t ts_len, int32_t propagation) {
    if (in_forked_child()) return ffitel_shim_spool_child_task_start(0, task_type, type_len, traceparent, tp_len, propagation);
    return ffitelgo_task_start(0, NULL, 0, NULL, 0, (char *)task_type, type_len, (char *)worker, worker_len,
                               (char *)task_id, id_len, attempt, (char *)traceparent, tp_len,
                               (char *)tracestate, ts_len, propagation);
}
uint64_t ffitel_task_start_in(uint64_t current, const char *task_type, size_t type_len,
                              const char *worker, size_t worker_len,
                              const char *task_id, size_t id_len, int32_t attempt,
                              const char *traceparent, size_t tp_len,
                              const char *tracestate, size_t ts_len, int32_t propagation) {
    if (in_forked_child())
        return ffitel_shim_spool_child_task_start(current, task_type, type_len, traceparent, tp_len, propagation);
    return ffitelgo_task_start(current, NULL, 0, NULL, 0, (char *)task_type, type_len, (char *)worker, worker_len,
                               (char *)task_id, id_len, attempt, (char *)traceparent, tp_len,
                               (char *)tracestate, ts_len, propagation);
}
uint64_t ffitel_task_start_ex(uint64_t current, const char *system, size_t system_len,
                              const char *destination, size_t dest_len,
                              const char *task_type, size_t type_len,
                              const char *worker, size_t worker_len,
                              const char *task_id, size_t id_len, int32_t attempt,
                              const char *traceparent, size_t tp_len,
                              const char *tracestate, size_t ts_len, int32_t propagation) {
    if (in_forked_child())
        return ffitel_shim_spool_child_task_start(current, task_type, type_len, traceparent, tp_len, propagation);
    return ffitelgo_task_start(current, (char *)system, system_len, (char *)destination, dest_len,
                               (char *)task_type, type_len, (char *)worker, worker_len,
                               (char *)task_id, id_len, attempt, (char *)traceparent, tp_len,
                               (char *)tracestate, ts_len, propagation);
}
int ffitel_task_end(uint64_t task, int32_t ok, const char *error_type, size_t et_len) {
    if (in_forked_child()) return ffitel_shim_spool_child_task_end(task, ok, error_type, et_len);
    return ffitelgo_task_end(task, ok, (char *)error_type, et_len);
}

int ffitel_event_publish(const char *name, size_t name_len,
                         const char *payload_json, size_t payload_len,
                         const char *metadata_json, size_t metadata_len,
                         int32_t delivery, char *event_id_out, size_t cap) {
    GUARD_INT();
    return ffitelgo_event_publish(0, (char *)name, name_len, (char *)payload_json, payload_len,
                                  (char *)metadata_json, metadata_len, delivery, event_id_out, cap);
}
int ffitel_event_publish_in(uint64_t current, const char *name, size_t name_len,
                            const char *payload_json, size_t payload_len,
                            const char *metadata_json, size_t metadata_len,
                            int32_t delivery, char *event_id_out, size_t cap) {
    GUARD_INT();
    return ffitelgo_event_publish(current, (char *)name, name_len, (char *)payload_json, payload_len,
                                  (char *)metadata_json, metadata_len, delivery, event_id_out, cap);
}
uint64_t ffitel_event_subscribe(const char *pattern, size_t pattern_len) {
    GUARD_HANDLE();
    return ffitelgo_event_subscribe((char *)pattern, pattern_len);
}
int ffitel_event_poll(uint64_t sub, int32_t timeout_ms, char *buf, size_t cap) {
    GUARD_INT();
    return ffitelgo_event_poll(sub, timeout_ms, buf, cap);
}
int ffitel_event_unsubscribe(uint64_t sub) { GUARD_INT(); return ffitelgo_event_unsubscribe(sub); }

int ffitel_stats_json(char *buf, size_t cap) { GUARD_INT(); return ffitelgo_stats_json(buf, cap); }

int ffitel_abi_version(void) { return FFITEL_ABI_VERSION; }

int ffitel_spool_enabled(void) {
    if (in_forked_child()) return ffitel_shim_spool_child();
    return ffitel_shim_spool_on();
}

int ffitel_doctor_json(int32_t timeout_ms, char *buf, size_t cap) {
    GUARD_INT();
    return ffitelgo_doctor_json(timeout_ms, buf, cap);
}
int ffitel_count_input_error(void) { GUARD_INT(); return ffitelgo_count_input_error(); }
