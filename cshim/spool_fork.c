/*
 * A child forked after the library was loaded cannot use the Go runtime (it
 * does not survive fork()), so guard.c answers FFITEL_E_FORKED there. With
 * the spool on (docs/SPOOL.md), the typed log call and span start/end work in
 * the child through C alone instead: records and ended spans go to the
 * child's own segment, and the parent (once the child has exited and its
 * lock is free) or the next process ships them. Span ids come from
 * getrandom(); a child span's parent may be a span the parent process opened
 * before the fork (its ids were noted by spool.c) or another child span.
 * A child span keeps its attributes and events (the JSON of the span calls,
 * decoded by spool_attrs.c) in a buffer of its own, bounded by the span
 * limits the parent noted before the fork (OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT
 * and the others, as the Go SDK reads them) and by CHILD_SPAN_BYTES, and
 * writes them with the span at its end.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
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
#define CHILD_SPAN_BYTES (256u << 10) /* a span's attributes and events, encoded */

typedef struct {
    uint64_t h;
    unsigned char ids[25]; /* trace id, span id, flags */
    unsigned char parent[8];
    int32_t kind;
    int64_t start;
    size_t name_len;
    char name[CHILD_NAME];
    /* Encoded as in the span record (docs/SPOOL.md): attributes, then
     * events (i64 time, name, u16 count, attributes). malloc'd. */
    unsigned char *attrs, *events;
    uint32_t attrs_len, attrs_cap, events_len, events_cap;
    uint16_t nattrs, nevents;
} child_span;

/* The span limits (sdktrace.NewSpanLimits in the parent, noted before any
 * fork by ffitel_shim_spool_limits); -1: none (bounded by the format). */
static int32_t lim_attrs = 128, lim_events = 128, lim_event_attrs = 128, lim_value = -1;

void ffitel_shim_spool_limits(int32_t attrs, int32_t events, int32_t event_attrs, int32_t value_len) {
    lim_attrs = attrs;
    lim_events = events;
    lim_event_attrs = event_attrs;
    lim_value = value_len;
}

static uint32_t count_limit(int32_t lim) { return lim < 0 || lim > 65535 ? 65535 : (uint32_t)lim; }

static child_span cspans[CHILD_SPANS];
static uint64_t cnext;
static pthread_mutex_t cmu = PTHREAD_MUTEX_INITIALIZER;

static void put32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }

static void set_error(const char *msg) { ffitel_shim_set_error(msg, strlen(msg)); }

static void set_error_fmt(const char *fmt, const char *fn) {
    char msg[160];
    int n = snprintf(msg, sizeof msg, fmt, fn);
    ffitel_shim_set_error(msg, n < 0 ? 0 : (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
}

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
                                            const char *traceparent, size_t tp_len, const char *attrs_json,
                                            size_t attrs_len, int32_t kind) {
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
    if (attrs_len > 0) (void)ffitel_shim_spool_child_set_attrs(h, attrs_json, attrs_len); /* what decodes */
    return h;
}

/* Reads one encoded attribute at p (at most n bytes): its length, 0 if cut. */
static size_t attr_size(const unsigned char *p, size_t n) {
    uint32_t kl, vl;
    if (n < 5) return 0;
    memcpy(&kl, p + 1, 4);
    size_t at = 5 + (size_t)kl;
    if (at > n) return 0;
    if (p[0] != FFITEL_ATTR_STRING) return at + 8 <= n ? at + 8 : 0;
    if (at + 4 > n) return 0;
    memcpy(&vl, p + at, 4);
    return at + 4 + vl <= n ? at + 4 + vl : 0;
}

/* The attribute a (encoded) with its string value cut to lim_value
 * characters (OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT), appended to *buf. */
static int attr_append(unsigned char **buf, uint32_t *len, uint32_t *cap, const unsigned char *a, size_t n) {
    size_t keep = n;
    uint32_t kl, vl = 0, cut = 0;
    memcpy(&kl, a + 1, 4);
    if (a[0] == FFITEL_ATTR_STRING && lim_value >= 0) {
        memcpy(&vl, a + 5 + kl, 4);
        const unsigned char *v = a + 9 + kl;
        uint32_t i = 0, chars = 0;
        while (i < vl && chars < (uint32_t)lim_value) {
            i++;
            while (i < vl && (v[i] & 0xC0) == 0x80) i++;
            chars++;
        }
        if (i < vl) {
            cut = i;
            keep = 9 + kl + cut;
        }
    }
    if (*len + keep > CHILD_SPAN_BYTES) return -1;
    if (*len + keep > *cap) {
        uint32_t c = *cap ? *cap : 512;
        while (c < *len + keep) c *= 2;
        unsigned char *q = realloc(*buf, c);
        if (q == NULL) return -1;
        *buf = q;
        *cap = c;
    }
    memcpy(*buf + *len, a, keep);
    if (keep != n) memcpy(*buf + *len + 5 + kl, &cut, 4);
    *len += (uint32_t)keep;
    return 0;
}

/* The result of an attribute call on a child span: found (or the span is
 * the parent's: FFITEL_E_FORKED, or unknown), and whether its JSON
 * decoded whole. */
static int child_result(int found, uint64_t span, int bad, const char *fn) {
    if (!found) {
        if (span != 0 && span < (UINT64_C(1) << 56)) return ffitel_shim_forked_error(); /* the parent's */
        set_error_fmt("%s: unknown or ended span handle", fn);
        return FFITEL_E_HANDLE;
    }
    if (bad) {
        set_error_fmt("%s: malformed attributes JSON; what decoded is kept", fn);
        return FFITEL_E_INVALID;
    }
    return FFITEL_OK;
}

/* The open child span h (cmu held), or NULL. */
static child_span *child_of(uint64_t h) {
    child_span *slot = &cspans[h % CHILD_SPANS];
    return h != 0 && slot->h == h ? slot : NULL;
}

/* ffitel_span_set_attributes on a child span: a key already set is
 * replaced, a new one past the count limit is dropped (as the Go SDK). */
int ffitel_shim_spool_child_set_attrs(uint64_t span, const char *json, size_t len) {
    if (!ffitel_shim_spool_child()) return ffitel_shim_forked_error();
    unsigned char *enc;
    size_t enc_len;
    uint32_t n;
    int bad = ffitel_shim_json_attrs(json, len, &enc, &enc_len, &n) != 0;
    pthread_mutex_lock(&cmu);
    child_span *c = child_of(span);
    if (c != NULL) {
        uint32_t limit = count_limit(lim_attrs);
        for (size_t off = 0; off < enc_len;) {
            const unsigned char *a = enc + off;
            size_t sz = attr_size(a, enc_len - off);
            if (sz == 0) break;
            off += sz;
            uint32_t kl;
            memcpy(&kl, a + 1, 4);
            int replaced = 0;
            for (uint32_t at = 0; at < c->attrs_len;) { /* the same key set before: removed */
                size_t osz = attr_size(c->attrs + at, c->attrs_len - at);
                uint32_t okl;
                memcpy(&okl, c->attrs + at + 1, 4);
                if (okl == kl && memcmp(c->attrs + at + 5, a + 5, kl) == 0) {
                    memmove(c->attrs + at, c->attrs + at + osz, c->attrs_len - at - osz);
                    c->attrs_len -= (uint32_t)osz;
                    c->nattrs--;
                    replaced = 1;
                    break;
                }
                at += (uint32_t)osz;
            }
            if ((replaced || c->nattrs < limit) &&
                attr_append(&c->attrs, &c->attrs_len, &c->attrs_cap, a, sz) == 0)
                c->nattrs++;
        }
    }
    pthread_mutex_unlock(&cmu);
    free(enc);
    return child_result(c != NULL, span, bad, "ffitel_span_set_attributes");
}

/* ffitel_span_add_event(_at) on a child span: past the event count limit
 * the oldest event is dropped (as the Go SDK), past the per-event
 * attribute limit the event's last attributes. at_ns 0: now. */
static int add_event(child_span *c, const char *name, size_t name_len, const unsigned char *enc, size_t enc_len,
                     int64_t at_ns) {
    uint32_t limit = count_limit(lim_events);
    if (limit == 0) return 0;
    if (name_len > CHILD_NAME * 4) name_len = CHILD_NAME * 4;
    if (name == NULL || !ffitel_shim_text_ok(name, name_len)) name_len = 0;
    unsigned char *ev = NULL;
    uint32_t len = 0, cap = 0;
    unsigned char head[12];
    uint64_t t = (uint64_t)(at_ns ? at_ns : ffitel_shim_now_ns());
    uint32_t nl = (uint32_t)name_len;
    memcpy(head, &t, 8);
    memcpy(head + 8, &nl, 4);
    uint16_t na = 0;
    uint32_t alimit = count_limit(lim_event_attrs);
    /* the head, the name and the attribute count (filled in after) */
    if (c->events_len + 14 + name_len > CHILD_SPAN_BYTES) return -1;
    cap = (uint32_t)(14 + name_len + 64);
    ev = malloc(cap);
    if (ev == NULL) return -1;
    memcpy(ev, head, 12);
    if (name_len) memcpy(ev + 12, name, name_len);
    len = (uint32_t)(12 + name_len + 2);
    for (size_t off = 0; off < enc_len && na < alimit;) {
        size_t sz = attr_size(enc + off, enc_len - off);
        if (sz == 0) break;
        if (attr_append(&ev, &len, &cap, enc + off, sz) != 0) break;
        off += sz;
        na++;
    }
    memcpy(ev + 12 + name_len, &na, 2);
    if (c->nevents >= limit) { /* the oldest goes */
        uint32_t onl;
        uint16_t ona;
        memcpy(&onl, c->events + 8, 4);
        uint32_t at = 12 + onl;
        memcpy(&ona, c->events + at, 2);
        at += 2;
        for (uint16_t k = 0; k < ona; k++) at += (uint32_t)attr_size(c->events + at, c->events_len - at);
        memmove(c->events, c->events + at, c->events_len - at);
        c->events_len -= at;
        c->nevents--;
    }
    if (c->events_len + len > CHILD_SPAN_BYTES) {
        free(ev);
        return -1;
    }
    if (c->events_len + len > c->events_cap) {
        uint32_t nc = c->events_cap ? c->events_cap : 512;
        while (nc < c->events_len + len) nc *= 2;
        unsigned char *q = realloc(c->events, nc);
        if (q == NULL) {
            free(ev);
            return -1;
        }
        c->events = q;
        c->events_cap = nc;
    }
    memcpy(c->events + c->events_len, ev, len);
    c->events_len += len;
    c->nevents++;
    free(ev);
    return 0;
}

int ffitel_shim_spool_child_add_event(uint64_t span, const char *name, size_t name_len, const char *json,
                                      size_t len, int64_t at_ns) {
    if (!ffitel_shim_spool_child()) return ffitel_shim_forked_error();
    unsigned char *enc;
    size_t enc_len;
    uint32_t n;
    int bad = ffitel_shim_json_attrs(json, len, &enc, &enc_len, &n) != 0;
    pthread_mutex_lock(&cmu);
    child_span *c = child_of(span);
    if (c != NULL) (void)add_event(c, name, name_len, enc, enc_len, at_ns);
    pthread_mutex_unlock(&cmu);
    free(enc);
    return child_result(c != NULL, span, bad, "ffitel_span_add_event");
}

static unsigned char *put_str(unsigned char *p, const char *s, size_t n) {
    put32(p, (uint32_t)n);
    if (n) memcpy(p + 4, s, n);
    return p + 4 + n;
}

/* Ends child span span: its record, with its attributes and events, goes
 * to the child's segment. exception: a failed span gets the "exception"
 * event the parent's ffitel_span_end adds (not a task: ffitel_task_end). */
static int child_end(uint64_t span, int32_t ok, const char *error, size_t error_len, int exception) {
    if (!ffitel_shim_spool_child()) return ffitel_shim_forked_error();
    child_span c;
    pthread_mutex_lock(&cmu);
    child_span *slot = &cspans[span % CHILD_SPANS];
    int found = span != 0 && slot->h == span;
    if (found) {
        c = *slot;
        memset(slot, 0, sizeof *slot); /* the buffers are c's now */
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
    if (!ok && exception) { /* as ffitelgo_span_end: exception.message = the error text */
        static const char key[] = "exception.message";
        unsigned char a[1 + 4 + sizeof key - 1 + 4 + 1024];
        uint32_t kl = sizeof key - 1, vl = (uint32_t)error_len;
        a[0] = FFITEL_ATTR_STRING;
        memcpy(a + 1, &kl, 4);
        memcpy(a + 5, key, kl);
        memcpy(a + 5 + kl, &vl, 4);
        memcpy(a + 9 + kl, error, error_len);
        (void)add_event(&c, "exception", 9, a, 9 + kl + error_len, 0);
    }
    size_t size = 8 + 16 + 32 + 5 * 4 + c.name_len + error_len + sizeof scope + 6 + c.attrs_len + c.events_len;
    unsigned char *buf = malloc(size);
    if (buf == NULL) {
        free(c.attrs);
        free(c.events);
        set_error("ffitel_span_end: out of memory; span not written");
        return FFITEL_E_INVALID;
    }
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
    memcpy(p, &c.nattrs, 2);
    p += 2;
    if (c.attrs_len) memcpy(p, c.attrs, c.attrs_len);
    p += c.attrs_len;
    memcpy(p, &c.nevents, 2);
    p += 2;
    if (c.events_len) memcpy(p, c.events, c.events_len);
    p += c.events_len;
    p[0] = p[1] = 0; /* no links */
    p += 2;
    ffitel_shim_spool_raw(buf, (size_t)(p - buf));
    free(buf);
    free(c.attrs);
    free(c.events);
    return FFITEL_OK;
}

int ffitel_shim_spool_child_span_end(uint64_t span, int32_t ok, const char *error, size_t error_len) {
    return child_end(span, ok, error, error_len, 1);
}

int ffitel_shim_spool_child_task_end(uint64_t task, int32_t ok, const char *error_type, size_t et_len) {
    return child_end(task, ok, error_type, et_len, 0);
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
    return ffitel_shim_spool_child_span_start(name, 8 + n, traceparent ? 0 : current, traceparent, tp_len, NULL,
                                              0, 4 /* CONSUMER */);
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
