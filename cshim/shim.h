/* Internal declarations shared by the C half of the shim and Go. */
#ifndef FFITEL_SHIM_H
#define FFITEL_SHIM_H
#include <stddef.h>
#include <stdint.h>

/* Sets the calling thread's ffitel_last_error message (copied). */
__attribute__((visibility("hidden"))) void ffitel_shim_set_error(const char *msg, size_t len);
/* The calling thread's last-error buffer and its size, for Go to copy a
 * message into (Go copies Go memory itself: libc's memcpy reading the Go heap
 * confuses valgrind), then ffitel_shim_error_len(n) to terminate it. */
__attribute__((visibility("hidden"))) char *ffitel_shim_error_buf(size_t *cap);
__attribute__((visibility("hidden"))) void ffitel_shim_error_len(size_t len);
/* Copies src[0:len] into buf (cap bytes, NUL-terminated when cap > 0). */
__attribute__((visibility("hidden"))) void ffitel_shim_copy_out(char *buf, size_t cap, const char *src, size_t len);

/* The wall clock in nanoseconds since the epoch (0 if it cannot be read). */
__attribute__((visibility("hidden"))) int64_t ffitel_shim_now_ns(void);
/* 1 in a child forked after load (the fork guard of guard.c). */
__attribute__((visibility("hidden"))) int ffitel_shim_forked(void);
/* Sets the forked-child error message and returns FFITEL_E_FORKED. */
__attribute__((visibility("hidden"))) int ffitel_shim_forked_error(void);


/* The phase-2 ring of typed log records (ring.c, ring.go). */
#include "include/ffitel.h"
#define FFITEL_RING_SLOTS 4096
#define FFITEL_RING_QUEUED 1      /* taken: FFITEL_OK for the caller */
#define FFITEL_RING_BELOW_LEVEL 2 /* below LOG_LEVEL: FFITEL_OK, nothing to do */
#define FFITEL_RING_SYNC 0        /* not taken: call the Go path */
typedef struct ffitel_ring_attr {
    uint32_t key_len;
    uint32_t str_len;
    int32_t type;
    int32_t reserved;
    int64_t i;
    double d;
} ffitel_ring_attr; /* followed by the key and the string, each padded to 8 bytes */
typedef struct ffitel_ring_slot {
    int32_t severity;
    uint32_t msg_len;
    uint32_t n_attrs;
    uint32_t reserved;
    uint64_t span;
    int64_t ts;
    unsigned char data[480]; /* the message (padded to 8), then the attributes */
} ffitel_ring_slot;
__attribute__((visibility("hidden"))) int ffitel_shim_ring_try(int32_t severity, const char *msg, size_t msg_len,
                                                               const ffitel_attr *attrs, size_t n, uint64_t span,
                                                               int64_t ts, int spooled);
__attribute__((visibility("hidden"))) uint64_t ffitel_shim_ring_head(void);
__attribute__((visibility("hidden"))) uint64_t ffitel_shim_ring_tail(void);
__attribute__((visibility("hidden"))) ffitel_ring_slot *ffitel_shim_ring_slot(uint64_t i);
__attribute__((visibility("hidden"))) void ffitel_shim_ring_release(uint64_t upto);
__attribute__((visibility("hidden"))) void ffitel_shim_ring_set(int on, int32_t threshold);
__attribute__((visibility("hidden"))) int ffitel_shim_ring_park(void);
__attribute__((visibility("hidden"))) int ffitel_shim_ring_eventfd(void);
__attribute__((visibility("hidden"))) void ffitel_shim_ring_signal(void);
/* 1: records have no console (FFITEL_LOG_OUTPUT=none), so a record the
 * spool took needs nothing from the ring or Go (ffitel_shim_log_attrs). */
__attribute__((visibility("hidden"))) void ffitel_shim_ring_console_off(int off);
/* Marks span or task handle h open (1) or ended (0) for the ring's check. */
__attribute__((visibility("hidden"))) void ffitel_shim_span_live(uint64_t h, int open);
/* ffitel_log_attrs for every caller: the ring in phase 2, else Go. */
__attribute__((visibility("hidden"))) int ffitel_shim_log_attrs(int32_t severity, const char *msg, size_t msg_len,
                                                                const ffitel_attr *attrs, size_t n, uint64_t span);
/* ffitel_shim_log_attrs running the synchronous path into Go, on copies of
 * the record's text, through call_without(fn, arg, NULL, NULL) (NULL:
 * directly): hostrb.c passes rb_thread_call_without_gvl2 and hostpy.c a
 * wrapper of PyEval_SaveThread/RestoreThread, which release the interpreter's
 * lock around it; when it returns without running fn, the path runs here. */
__attribute__((visibility("hidden"))) int ffitel_shim_log_attrs_without(
    int32_t severity, const char *msg, size_t msg_len, const ffitel_attr *attrs, size_t n, uint64_t span,
    void *(*call_without)(void *(*)(void *), void *, void (*)(void *), void *));

#endif
