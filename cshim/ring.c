/*
 * The phase-2 fast path of the typed log calls (ffitel_log_attrs and the
 * Python and Ruby native log functions): the calling thread checks the level
 * and the input, copies the record into a slot of this ring and returns,
 * without entering Go. A goroutine (ring.go) turns the slots into records
 * in order. Anything the ring does not take -- phase 1 (synchronous by
 * design), a record larger than a slot, input that needs an error code
 * (bad UTF-8, an unknown type, NULLs), a full ring, or a parked consumer --
 * returns RING_SYNC and the caller takes the synchronous Go path, which first
 * turns every queued slot into a record, so order is kept.
 */
#include <pthread.h>
#include <string.h>

#include "include/ffitel.h"
#include "shim.h"
#include "_cgo_export.h"

static ffitel_ring_slot slots[FFITEL_RING_SLOTS];
static uint64_t head, tail; /* slots written and consumed since start; head - tail <= FFITEL_RING_SLOTS */
static pthread_mutex_t ring_mu = PTHREAD_MUTEX_INITIALIZER;
static int ring_on, ring_parked;
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
 * there. Indexed by handle modulo the size: a bit wrongly clear (an old
 * handle sharing a bit with a newer one that ended) only sends a record to
 * the synchronous path, which looks the handle up itself. */
#define LIVE_BITS (1u << 22)
static uint64_t live[LIVE_BITS / 64];

void ffitel_shim_span_live(uint64_t h, int open) {
    uint64_t bit = 1ULL << (h % 64), *w = &live[(h % LIVE_BITS) / 64];
    if (open)
        __atomic_fetch_or(w, bit, __ATOMIC_RELEASE);
    else
        __atomic_fetch_and(w, ~bit, __ATOMIC_RELEASE);
}

static int span_live(uint64_t h) {
    return (__atomic_load_n(&live[(h % LIVE_BITS) / 64], __ATOMIC_ACQUIRE) >> (h % 64)) & 1;
}

static size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

static int text_ok(const char *p, size_t n) { return n == 0 || (p != NULL && utf8_valid((const unsigned char *)p, n)); }

int ffitel_shim_ring_try(int32_t severity, const char *msg, size_t msg_len, const ffitel_attr *attrs, size_t n,
                         uint64_t span, int64_t ts) {
    if (!__atomic_load_n(&ring_on, __ATOMIC_ACQUIRE)) return FFITEL_RING_SYNC;
    if (severity < 1 || severity > 24) return FFITEL_RING_SYNC; /* the Go path reports it */
    if (severity < __atomic_load_n(&ring_threshold, __ATOMIC_RELAXED)) return FFITEL_RING_BELOW_LEVEL;
    if (n > 0 && attrs == NULL) return FFITEL_RING_SYNC;
    if (span != 0 && !span_live(span)) return FFITEL_RING_SYNC; /* FFITEL_E_HANDLE comes from Go */
    size_t need = pad8(msg_len);
    if (need > sizeof slots[0].data || !text_ok(msg, msg_len)) return FFITEL_RING_SYNC;
    for (size_t i = 0; i < n; i++) {
        const ffitel_attr *a = &attrs[i];
        if (a->type < FFITEL_ATTR_STRING || a->type > FFITEL_ATTR_BOOL || !text_ok(a->key, a->key_len))
            return FFITEL_RING_SYNC;
        need += sizeof(ffitel_ring_attr) + pad8(a->key_len);
        if (a->type == FFITEL_ATTR_STRING) {
            if (!text_ok(a->str, a->str_len)) return FFITEL_RING_SYNC;
            need += pad8(a->str_len);
        }
        if (need > sizeof slots[0].data) return FFITEL_RING_SYNC;
    }
    pthread_mutex_lock(&ring_mu);
    uint64_t t = __atomic_load_n(&tail, __ATOMIC_ACQUIRE);
    if (!ring_on || ring_parked || head - t >= FFITEL_RING_SLOTS) {
        /* off, full (the consumer is behind: backpressure), or the consumer
         * sleeps: the synchronous path handles this record and wakes it */
        pthread_mutex_unlock(&ring_mu);
        return FFITEL_RING_SYNC;
    }
    ffitel_ring_slot *s = &slots[head % FFITEL_RING_SLOTS];
    s->severity = severity;
    s->msg_len = (uint32_t)msg_len;
    s->n_attrs = (uint32_t)n;
    s->span = span;
    s->ts = ts;
    unsigned char *p = s->data;
    if (msg_len) memcpy(p, msg, msg_len);
    p += pad8(msg_len);
    for (size_t i = 0; i < n; i++) {
        const ffitel_attr *a = &attrs[i];
        ffitel_ring_attr *ra = (ffitel_ring_attr *)p;
        ra->key_len = (uint32_t)a->key_len;
        ra->type = a->type;
        ra->i = a->i;
        ra->d = a->d;
        ra->str_len = a->type == FFITEL_ATTR_STRING ? (uint32_t)a->str_len : 0;
        p += sizeof *ra;
        if (a->key_len) memcpy(p, a->key, a->key_len);
        p += pad8(a->key_len);
        if (ra->str_len) {
            memcpy(p, a->str, a->str_len);
            p += pad8(a->str_len);
        }
    }
    __atomic_store_n(&head, head + 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&ring_mu);
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

/* Parks the consumer if nothing is queued: producers then take the
 * synchronous path until ffitel_shim_ring_unpark. Returns 1 if parked. */
int ffitel_shim_ring_park(void) {
    pthread_mutex_lock(&ring_mu);
    int parked = head == __atomic_load_n(&tail, __ATOMIC_ACQUIRE);
    if (parked) ring_parked = 1;
    pthread_mutex_unlock(&ring_mu);
    return parked;
}

/* Returns 1 if the consumer was parked (the caller must wake it). */
int ffitel_shim_ring_unpark(void) {
    pthread_mutex_lock(&ring_mu);
    int was = ring_parked;
    ring_parked = 0;
    pthread_mutex_unlock(&ring_mu);
    return was;
}

int ffitel_shim_log_attrs(int32_t severity, const char *msg, size_t msg_len, const ffitel_attr *attrs, size_t n,
                          uint64_t span) {
    int64_t ts = ffitel_shim_now_ns();
    if (ffitel_shim_ring_try(severity, msg, msg_len, attrs, n, span, ts) != FFITEL_RING_SYNC) return FFITEL_OK;
    return ffitelgo_log_attrs(severity, (char *)msg, msg_len, (ffitel_attr *)attrs, n, span, ts);
}
