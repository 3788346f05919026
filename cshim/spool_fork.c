/*
 * A child forked after the library was loaded cannot use the Go runtime (it
 * does not survive fork()), so guard.c answers FFITEL_E_FORKED there. With
 * the spool on (docs/SPOOL.md), the typed log call and span start/end work in
 * the child through C alone instead: records and ended spans go to the
 * child's own segment, and the parent (once the child has exited and its
 * lock is free) or the next process ships them. Span ids come from
 * getrandom(); a child span's parent may be a span the parent process opened
 * before the fork (its ids were noted by spool.c) or another child span.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_getrandom
#if defined(__x86_64__)
#define SYS_getrandom 318
#elif defined(__aarch64__)
#define SYS_getrandom 278
#endif
#endif

#include "shim.h"
#include "spool.h"

#define CHILD_SPANS 4096
#define CHILD_NAME 256
#define KIND_SPAN 2

typedef struct {
    uint64_t h;
    unsigned char ids[25]; /* trace id, span id, flags */
    unsigned char parent[8];
    int32_t kind;
    int64_t start;
    size_t name_len;
    char name[CHILD_NAME];
} child_span;

static child_span cspans[CHILD_SPANS];
static uint64_t cnext;
static pthread_mutex_t cmu = PTHREAD_MUTEX_INITIALIZER;

static void put32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }

static void set_error(const char *msg) { ffitel_shim_set_error(msg, strlen(msg)); }

int ffitel_shim_spool_child_log(int32_t severity, const char *msg, size_t msg_len, const ffitel_attr *attrs, size_t n,
                                uint64_t span) {
    if (!ffitel_shim_spool_child()) return ffitel_shim_forked_error();
    if (severity >= FFITEL_TRACE && severity <= 24 && !ffitel_shim_spool_wants(severity)) return FFITEL_OK;
    switch (ffitel_shim_spool_log(severity, msg, msg_len, attrs, n, span, ffitel_shim_now_ns())) {
    case FFITEL_SPOOL_TAKEN:
    case FFITEL_SPOOL_REFUSED: /* at the cap: dropped, as in the parent */
        return FFITEL_OK;
    }
    set_error("ffitel_log_attrs: in a forked child only valid typed input (known severity and types, UTF-8) "
              "can be spooled; record not written");
    return FFITEL_E_INVALID;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static int parse_hex(const char *s, unsigned char *out, size_t n) {
    int nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return 0;
        out[i] = (unsigned char)(hi << 4 | lo);
        nonzero |= out[i];
    }
    return nonzero != 0;
}

static void random_bytes(unsigned char *p, size_t n) {
    while (n > 0) {
        /* The system call, not glibc's getrandom() (glibc 2.25+): the
         * release build targets glibc 2.17 (manylinux_2_17). */
        ssize_t got = (ssize_t)syscall(SYS_getrandom, p, n, 0);
        if (got <= 0) { /* no entropy source: the clock, better than zeros */
            int64_t t = ffitel_shim_now_ns();
            for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(t >> (8 * (i % 8))) ^ (unsigned char)i;
            return;
        }
        p += got;
        n -= (size_t)got;
    }
}

static int zero(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

uint64_t ffitel_shim_spool_child_span_start(const char *name, size_t name_len, uint64_t parent,
                                            const char *traceparent, size_t tp_len, int32_t kind) {
    if (!ffitel_shim_spool_child()) {
        ffitel_shim_forked_error();
        return 0;
    }
    child_span c;
    memset(&c, 0, sizeof c);
    c.kind = kind >= 0 && kind <= 4 ? kind : 0;
    c.start = ffitel_shim_now_ns();
    c.name_len = name_len < CHILD_NAME ? name_len : CHILD_NAME;
    if (name_len && name && ffitel_shim_text_ok(name, c.name_len)) {
        memcpy(c.name, name, c.name_len);
    } else {
        memcpy(c.name, "unnamed", 7);
        c.name_len = 7;
    }
    do random_bytes(c.ids + 16, 8);
    while (zero(c.ids + 16, 8));
    c.ids[24] = 1; /* sampled */
    unsigned char pids[25];
    if (parent != 0) {
        if (!ffitel_shim_spool_ids_of(parent, pids)) {
            set_error("ffitel_span_start: unknown or ended parent span handle");
            return 0;
        }
        memcpy(c.ids, pids, 16);
        memcpy(c.parent, pids + 16, 8);
        c.ids[24] = pids[24];
    } else if (tp_len == 55 && traceparent && traceparent[2] == '-' && traceparent[35] == '-' &&
               traceparent[52] == '-' && parse_hex(traceparent + 3, c.ids, 16) &&
               parse_hex(traceparent + 36, c.parent, 8)) {
        unsigned char f;
        c.ids[24] = parse_hex(traceparent + 53, &f, 1) ? f : 0;
    } else {
        memset(c.parent, 0, 8);
        do random_bytes(c.ids, 16);
        while (zero(c.ids, 16));
    }
    pthread_mutex_lock(&cmu);
    uint64_t h = 0;
    for (int tries = 0; tries < CHILD_SPANS; tries++) {
        uint64_t cand = (UINT64_C(1) << 56) | ++cnext; /* never a parent's handle (those count from 1) */
        child_span *slot = &cspans[cand % CHILD_SPANS];
        if (slot->h == 0) {
            c.h = cand;
            *slot = c;
            h = cand;
            break;
        }
    }
    pthread_mutex_unlock(&cmu);
    if (h == 0) {
        set_error("ffitel_span_start: too many open spans in this forked child (4096)");
        return 0;
    }
    ffitel_shim_spool_span_ids(h, c.ids); /* the child's records inside it carry its ids */
    return h;
}

static unsigned char *put_str(unsigned char *p, const char *s, size_t n) {
    put32(p, (uint32_t)n);
    if (n) memcpy(p + 4, s, n);
    return p + 4 + n;
}

int ffitel_shim_spool_child_span_end(uint64_t span, int32_t ok, const char *error, size_t error_len) {
    if (!ffitel_shim_spool_child()) return ffitel_shim_forked_error();
    child_span c;
    pthread_mutex_lock(&cmu);
    child_span *slot = &cspans[span % CHILD_SPANS];
    int found = span != 0 && slot->h == span;
    if (found) {
        c = *slot;
        slot->h = 0;
    }
    pthread_mutex_unlock(&cmu);
    if (!found && span < (UINT64_C(1) << 56)) return ffitel_shim_forked_error(); /* the parent's: Go is not here */
    if (!found) {
        set_error("ffitel_span_end: unknown or ended span handle");
        return FFITEL_E_HANDLE;
    }
    static const char scope[] = "github.com/ffitel/ffitel"; /* bootstrap.ScopeName */
    if (ok || error == NULL || !ffitel_shim_text_ok(error, error_len)) error_len = 0;
    if (error_len > 1024) error_len = 1024;
    if (!ok && error_len == 0) {
        error = "error";
        error_len = 5;
    }
    unsigned char buf[8 + 16 + 24 + 5 * 4 + CHILD_NAME + 1024 + sizeof scope + 2 + 2 + 2];
    unsigned char *p = buf;
    p[0] = KIND_SPAN;
    p[1] = c.ids[24];
    p[2] = (unsigned char)(c.kind + 1); /* trace.SpanKind: INTERNAL is 1 */
    p[3] = ok ? 0 : 1;                  /* codes.Unset, codes.Error */
    p[4] = p[5] = p[6] = p[7] = 0;
    p += 8;
    put64(p, (uint64_t)c.start);
    put64(p + 8, (uint64_t)ffitel_shim_now_ns());
    p += 16;
    memcpy(p, c.ids, 24);
    memcpy(p + 24, c.parent, 8);
    p += 32;
    p = put_str(p, c.name, c.name_len);
    p = put_str(p, ok ? "" : error, ok ? 0 : error_len);
    p = put_str(p, "", 0);
    p = put_str(p, scope, sizeof scope - 1);
    p = put_str(p, "", 0);
    memset(p, 0, 6); /* no attributes, events or links */
    p += 6;
    ffitel_shim_spool_raw(buf, (size_t)(p - buf));
    return FFITEL_OK;
}

uint64_t ffitel_shim_spool_child_task_start(uint64_t current, const char *type, size_t type_len,
                                            const char *traceparent, size_t tp_len, int32_t propagation) {
    if (!ffitel_shim_spool_child()) {
        ffitel_shim_forked_error();
        return 0;
    }
    if (type == NULL || type_len == 0) {
        set_error("ffitel_task_start: task_type is empty");
        return 0;
    }
    char name[CHILD_NAME];
    size_t n = type_len < CHILD_NAME - 8 ? type_len : CHILD_NAME - 8;
    memcpy(name, "process ", 8);
    memcpy(name + 8, type, n);
    /* A carrier makes the task a child of the producer's span (propagation
     * auto or child); without one, the current span is its parent. Links
     * (a retry's new trace) are not kept in a child. */
    if (propagation == 2 || propagation == 1) tp_len = 0;
    if (tp_len == 0) traceparent = NULL;
    return ffitel_shim_spool_child_span_start(name, 8 + n, traceparent ? 0 : current, traceparent, tp_len,
                                              4 /* CONSUMER */);
}

int ffitel_shim_spool_child_traceparent(uint64_t span, char *buf, size_t cap) {
    if (!ffitel_shim_spool_child()) return ffitel_shim_forked_error();
    unsigned char ids[25];
    if (!ffitel_shim_spool_ids_of(span, ids)) {
        set_error("ffitel_span_traceparent: unknown span handle");
        return FFITEL_E_HANDLE;
    }
    static const char hex[] = "0123456789abcdef";
    char tp[56];
    char *q = tp;
    *q++ = '0';
    *q++ = '0';
    *q++ = '-';
    for (int i = 0; i < 25; i++) {
        if (i == 16 || i == 24) *q++ = '-';
        *q++ = hex[ids[i] >> 4];
        *q++ = hex[ids[i] & 15];
    }
    *q = 0;
    if (buf != NULL && cap > 0) {
        size_t k = cap - 1 < 55 ? cap - 1 : 55;
        memcpy(buf, tp, k);
        buf[k] = 0;
    }
    return 55;
}

int ffitel_shim_spool_child_inject(uint64_t span, char *buf, size_t cap) {
    char tp[56];
    int n = ffitel_shim_spool_child_traceparent(span, tp, sizeof tp);
    if (n < 0) return n;
    char out[96];
    int len = snprintf(out, sizeof out, "{\"traceparent\":\"%s\"}", tp);
    if (buf != NULL && cap > 0) {
        size_t k = cap - 1 < (size_t)len ? cap - 1 : (size_t)len;
        memcpy(buf, out, k);
        buf[k] = 0;
    }
    return len;
}
