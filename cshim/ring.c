/*
 * The phase-2 fast path of the typed log calls (ffitel_log_attrs and the
 * Python and Ruby native log functions): the calling thread checks the level
 * and the input, copies the record into a slot of this ring and returns,
 * without entering Go. A goroutine (ring.go) turns the slots into records
 * in order. Anything the ring does not take -- phase 1 (synchronous by
 * design), a record larger than a slot, input that needs an error code
 * (bad UTF-8, an unknown type, NULLs), or a full ring --
 * returns RING_SYNC and the caller takes the synchronous Go path, which first
 * turns every queued slot into a record, so order is kept.
 *
 * A parked consumer is woken through an eventfd that the goroutine waits on
 * in Go's poller: the record is queued as usual and the calling thread
 * writes the eventfd, still without entering Go. (Entering Go once per
 * burst to wake it bound the thread to a Go processor in its syscall state
 * for up to 10 ms, which kept the runtime's monitor thread polling every
 * 20 us: a worker logging in bursts paid ~5 us per record in wake-ups.)
 * Without an eventfd (creation failed) Go never opens the ring.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "include/ffitel.h"
#include "shim.h"
#include "_cgo_export.h"
#include "spool.h"

static ffitel_ring_slot slots[FFITEL_RING_SLOTS];
static uint64_t head, tail; /* slots written and consumed since start; head - tail <= FFITEL_RING_SLOTS */
static pthread_mutex_t ring_mu = PTHREAD_MUTEX_INITIALIZER;
static int ring_on, ring_parked;
static int ring_efd = -1; /* never closed once made: producers write it outside ring_mu */
static int ring_console_off; /* ffitel_shim_ring_console_off */
static int32_t ring_threshold = 1 << 30;

/* Strict UTF-8 (no overlongs, surrogates or values past U+10FFFF), with an
 * ASCII fast path. */
static int utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if ((w & 0x8080808080808080ULL) == 0) {
                i += 8;
                continue;
            }
        }
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
        } else if (c >= 0xC2 && c <= 0xDF) {
            if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80) return 0;
            i += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            if (i + 2 >= n || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80) return 0;
            if (c == 0xE0 && s[i + 1] < 0xA0) return 0; /* overlong */
            if (c == 0xED && s[i + 1] > 0x9F) return 0; /* surrogate */
            i += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            if (i + 3 >= n || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80 || (s[i + 3] & 0xC0) != 0x80)
                return 0;
            if (c == 0xF0 && s[i + 1] < 0x90) return 0; /* overlong */
            if (c == 0xF4 && s[i + 1] > 0x8F) return 0; /* past U+10FFFF */
            i += 4;
        } else {
            return 0;
        }
    }
    return 1;
}

/* Which span and task handles are open, so that a record naming an unknown
 * handle takes the synchronous path and gets FFITEL_E_HANDLE, as it would
 * there. A slot holds the open handle itself (handles are never reused), so a
 * match is exact; two open handles sharing a slot only send the older one's
 * records to the synchronous path, which looks the handle up itself. Read
 * and written under ring_mu, so a record is either queued before its span
 * ends (and the end drains it while the span is still known) or takes the
 * synchronous path after. */
#define LIVE_SLOTS (1u << 16)
static uint64_t live[LIVE_SLOTS];

void ffitel_shim_span_live(uint64_t h, int open) {
    pthread_mutex_lock(&ring_mu);
    uint64_t *slot = &live[h % LIVE_SLOTS];
    if (open)
        *slot = h;
    else if (*slot == h)
        *slot = 0;
    pthread_mutex_unlock(&ring_mu);
}

static size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

static int text_ok(const char *p, size_t n) { return n == 0 || (p != NULL && utf8_valid((const unsigned char *)p, n)); }
int ffitel_shim_text_ok(const char *p, size_t n) { return text_ok(p, n); }

int ffitel_shim_ring_try(int32_t severity, const char *msg, size_t msg_len, const ffitel_attr *attrs, size_t n,
                         uint64_t span, int64_t ts, int spooled) {
    enum { DATA = sizeof slots[0].data, MAX_ATTRS = 128 };
    if (!__atomic_load_n(&ring_on, __ATOMIC_ACQUIRE)) return FFITEL_RING_SYNC;
    /* The ring knows no severity table: Go maps numbers to levels
     * (bootstrap.LevelFromSeverity) and sets the threshold. Below TRACE (1)
     * is not a severity; the Go path reports it. */
    if (severity < FFITEL_TRACE) return FFITEL_RING_SYNC;
    if (severity < __atomic_load_n(&ring_threshold, __ATOMIC_RELAXED)) return FFITEL_RING_BELOW_LEVEL;
    /* An error is written before the call returns (it may be the last line
     * before a crash): the synchronous path does that. It also reports a
     * number past FATAL4 (24). */
    if (severity >= FFITEL_ERROR) return FFITEL_RING_SYNC;
    if (n > MAX_ATTRS || (n > 0 && attrs == NULL)) return FFITEL_RING_SYNC;
    if (msg_len > DATA || !text_ok(msg, msg_len)) return FFITEL_RING_SYNC;
    /* Each length is read once, checked against the slot before any
     * arithmetic that could wrap, and the copy below uses these copies: a
     * host changing its array meanwhile cannot overflow the slot. */
    ffitel_attr a[MAX_ATTRS];
    size_t need = pad8(msg_len);
    for (size_t i = 0; i < n; i++) {
        a[i] = attrs[i];
        if (a[i].type < FFITEL_ATTR_STRING || a[i].type > FFITEL_ATTR_BOOL) return FFITEL_RING_SYNC;
        if (a[i].type != FFITEL_ATTR_STRING) a[i].str_len = 0;
        if (a[i].key_len > DATA || a[i].str_len > DATA || !text_ok(a[i].key, a[i].key_len) ||
            (a[i].str_len && !text_ok(a[i].str, a[i].str_len)))
            return FFITEL_RING_SYNC;
        need += sizeof(ffitel_ring_attr) + pad8(a[i].key_len) + pad8(a[i].str_len);
        if (need > DATA) return FFITEL_RING_SYNC;
    }
    pthread_mutex_lock(&ring_mu);
    uint64_t t = __atomic_load_n(&tail, __ATOMIC_ACQUIRE);
    if (!ring_on || head - t >= FFITEL_RING_SLOTS || (span != 0 && live[span % LIVE_SLOTS] != span)) {
        /* off, full (the consumer is behind: backpressure), or a span handle
         * that is not open here (FFITEL_E_HANDLE) */
        pthread_mutex_unlock(&ring_mu);
        return FFITEL_RING_SYNC;
    }
    int wake = ring_parked;
    ring_parked = 0;
    ffitel_ring_slot *s = &slots[head % FFITEL_RING_SLOTS];
    s->severity = severity;
    s->msg_len = (uint32_t)msg_len;
    s->n_attrs = (uint32_t)n;
    s->span = span;
    s->ts = ts;
    s->reserved = (uint32_t)spooled; /* 1: already in the spool, the console only */
    unsigned char *p = s->data;
    if (msg_len) memcpy(p, msg, msg_len);
    p += pad8(msg_len);
    for (size_t i = 0; i < n; i++) {
        ffitel_ring_attr *ra = (ffitel_ring_attr *)p;
        ra->key_len = (uint32_t)a[i].key_len;
        ra->str_len = (uint32_t)a[i].str_len;
        ra->type = a[i].type;
        ra->reserved = 0;
        ra->i = a[i].i;
        ra->d = a[i].d;
        p += sizeof *ra;
        if (a[i].key_len) memcpy(p, a[i].key, a[i].key_len);
        p += pad8(a[i].key_len);
        if (a[i].str_len) memcpy(p, a[i].str, a[i].str_len);
        p += pad8(a[i].str_len);
    }
    __atomic_store_n(&head, head + 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&ring_mu);
    if (wake) ffitel_shim_ring_signal();
    return FFITEL_RING_QUEUED;
}

/* The consumer side, called from Go (ring.go). */
uint64_t ffitel_shim_ring_head(void) { return __atomic_load_n(&head, __ATOMIC_ACQUIRE); }
uint64_t ffitel_shim_ring_tail(void) { return __atomic_load_n(&tail, __ATOMIC_ACQUIRE); }
ffitel_ring_slot *ffitel_shim_ring_slot(uint64_t i) { return &slots[i % FFITEL_RING_SLOTS]; }
void ffitel_shim_ring_release(uint64_t upto) { __atomic_store_n(&tail, upto, __ATOMIC_RELEASE); }

void ffitel_shim_ring_set(int on, int32_t threshold) {
    pthread_mutex_lock(&ring_mu);
    __atomic_store_n(&ring_threshold, threshold, __ATOMIC_RELAXED);
    __atomic_store_n(&ring_on, on, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&ring_mu);
}

void ffitel_shim_ring_console_off(int off) { __atomic_store_n(&ring_console_off, off, __ATOMIC_RELEASE); }

/* Parks the consumer if nothing is queued: the next record queued wakes it
 * (ffitel_shim_ring_signal). Returns 1 if parked. */
int ffitel_shim_ring_park(void) {
    pthread_mutex_lock(&ring_mu);
    int parked = head == __atomic_load_n(&tail, __ATOMIC_ACQUIRE);
    if (parked) ring_parked = 1;
    pthread_mutex_unlock(&ring_mu);
    return parked;
}

/* The eventfd a parked consumer waits on (made once, never closed), or -1
 * if the kernel refused one. */
int ffitel_shim_ring_eventfd(void) {
    pthread_mutex_lock(&ring_mu);
    if (ring_efd < 0) __atomic_store_n(&ring_efd, eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), __ATOMIC_RELEASE);
    int fd = ring_efd;
    pthread_mutex_unlock(&ring_mu);
    return fd;
}

/* Wakes the consumer waiting on the eventfd (a no-op without one). */
void ffitel_shim_ring_signal(void) {
    int fd = __atomic_load_n(&ring_efd, __ATOMIC_ACQUIRE);
    if (fd < 0) return;
    uint64_t one = 1;
    ssize_t r = write(fd, &one, sizeof one); /* EAGAIN: the counter is full, a wake is pending anyway */
    (void)r;
}

int ffitel_shim_log_attrs(int32_t severity, const char *msg, size_t msg_len, const ffitel_attr *attrs, size_t n,
                          uint64_t span) {
    return ffitel_shim_log_attrs_without(severity, msg, msg_len, attrs, n, span, NULL);
}

/* One record on its way: what the fast path could not take goes to Go. */
struct log_call {
    int32_t severity;
    const char *msg;
    size_t msg_len;
    const ffitel_attr *attrs;
    size_t n;
    uint64_t span;
    int64_t ts;
    int spooled;
    int rc;
    int ran; /* log_sync_noted ran */
};

/* The spool and the ring: 1 when the record needs nothing more. */
static int log_fast(struct log_call *c) {
    c->ts = ffitel_shim_now_ns();
    /* The spool (FFITEL_SPOOL_DIR) first: on disk before the call returns. */
    c->spooled = ffitel_shim_spool_log(c->severity, c->msg, c->msg_len, c->attrs, c->n, c->span, c->ts) !=
                 FFITEL_SPOOL_OFF;
    /* In the spool with no console to write it to (FFITEL_LOG_OUTPUT=none),
     * the record needs nothing more: the shipper exports it from the disk.
     * A span handle (checked by the ring or Go: FFITEL_E_HANDLE) and an
     * error (written synchronously) still take the usual path. */
    if (c->spooled && c->span == 0 && c->severity < FFITEL_ERROR && __atomic_load_n(&ring_on, __ATOMIC_ACQUIRE) &&
        __atomic_load_n(&ring_console_off, __ATOMIC_ACQUIRE))
        return 1;
    return ffitel_shim_ring_try(c->severity, c->msg, c->msg_len, c->attrs, c->n, c->span, c->ts, c->spooled) !=
           FFITEL_RING_SYNC;
}

/* The synchronous path into Go (a full ring, an error record, no ring): it
 * may wait for room in a full export queue. */
static void *log_sync(void *p) {
    struct log_call *c = p;
    if (c->spooled) ffitel_shim_spool_mark(1);
    c->rc = ffitelgo_log_attrs(c->severity, (char *)c->msg, c->msg_len, (ffitel_attr *)c->attrs, c->n, c->span, c->ts);
    if (c->spooled) ffitel_shim_spool_mark(0);
    return NULL;
}

/* Copies the record's text (message, keys, string values) into one
 * allocation and points c at the copies, for a host whose strings another of
 * its threads may change or free once the lock is released (a Ruby String is
 * mutable). NULL when out of memory, c unchanged. */
static void *log_call_own(struct log_call *c) {
    size_t text = c->msg_len;
    for (size_t i = 0; i < c->n; i++) {
        text += c->attrs[i].key_len;
        if (c->attrs[i].type == FFITEL_ATTR_STRING) text += c->attrs[i].str_len;
    }
    void *mem = malloc(c->n * sizeof(ffitel_attr) + text + 1);
    if (mem == NULL) return NULL;
    ffitel_attr *attrs = mem;
    char *p = (char *)(attrs + c->n);
    memcpy(p, c->msg, c->msg_len);
    c->msg = p;
    p += c->msg_len;
    for (size_t i = 0; i < c->n; i++) {
        attrs[i] = c->attrs[i];
        memcpy(p, attrs[i].key, attrs[i].key_len);
        attrs[i].key = p;
        p += attrs[i].key_len;
        if (attrs[i].type == FFITEL_ATTR_STRING) {
            memcpy(p, attrs[i].str, attrs[i].str_len);
            attrs[i].str = p;
            p += attrs[i].str_len;
        }
    }
    c->attrs = attrs;
    return mem;
}

/* log_sync, noting that it ran (call_without may return without running it). */
static void *log_sync_noted(void *p) {
    struct log_call *c = p;
    c->ran = 1;
    return log_sync(p);
}

/* A host with a global lock passes the function that runs a call without
 * it: Ruby's rb_thread_call_without_gvl2(func, data, ubf, data2), which
 * returns without calling func when the thread has an interrupt pending
 * (Thread#raise, kill) and raises nothing itself; for CPython, hostpy.c's
 * wrapper of PyEval_SaveThread and PyEval_RestoreThread. It runs the
 * synchronous path only (the one that may wait for queue room), on copies
 * of the record's text; if it did not run it, the path runs with the lock
 * held, so the record is never lost. The wait is bounded
 * (FFITEL_QUEUE_FULL_WAIT_MS), so no unblocking function is given. */
int ffitel_shim_log_attrs_without(int32_t severity, const char *msg, size_t msg_len, const ffitel_attr *attrs,
                                  size_t n, uint64_t span,
                                  void *(*call_without)(void *(*)(void *), void *, void (*)(void *), void *)) {
    struct log_call c = {severity, msg, msg_len, attrs, n, span, 0, 0, FFITEL_OK, 0};
    if (log_fast(&c)) return FFITEL_OK;
    void *own = call_without != NULL ? log_call_own(&c) : NULL;
    if (own != NULL) call_without(log_sync_noted, &c, NULL, NULL);
    if (!c.ran) log_sync(&c);
    free(own);
    return c.rc;
}
