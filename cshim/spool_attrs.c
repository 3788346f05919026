/*
 * The attributes JSON of the span calls (ffitel_span_start,
 * ffitel_span_set_attributes, ffitel_span_add_event*) decoded in C, for a
 * forked child writing through the spool (spool_fork.c): the child has no
 * Go runtime, so no cshim/attrs.go. It reads what attrs.go reads: an object
 * of strings, numbers, booleans and arrays, nested objects flattened into
 * dotted keys (at most 8 levels), null skipped, at most 128 attributes per
 * call, string values cut at 16 KB, invalid UTF-8 replaced byte by byte with
 * U+FFFD (in keys too). An integer literal outside 64 bits is
 * kept as its digits (a string), as attrs.go does; an array is kept as its
 * JSON text (the spool format has no array type: docs/SPOOL.md).
 *
 * The output is the spool's encoding of attributes (docs/SPOOL.md): per
 * attribute u8 type, u32 key length, key, value (string: u32 length and
 * bytes; int, bool, double: 8 bytes).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "spool.h"

#define JSON_MAX_ATTRS 128
#define JSON_MAX_DEPTH 8
#define JSON_MAX_VALUE (16u << 10)

typedef struct {
    unsigned char *p;
    size_t len, cap;
} gbuf;

static int grow(gbuf *b, size_t more) {
    if (b->len + more <= b->cap) return 0;
    size_t c = b->cap ? b->cap : 256;
    while (c < b->len + more) c *= 2;
    unsigned char *q = realloc(b->p, c);
    if (q == NULL) return -1;
    b->p = q;
    b->cap = c;
    return 0;
}

static int put(gbuf *b, const void *p, size_t n) {
    if (grow(b, n) != 0) return -1;
    if (n) memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

typedef struct {
    const char *s;
    size_t n, i;
    gbuf *out;
    uint32_t *count;
    gbuf key, str;
} jdec;

static void ws(jdec *d) {
    while (d->i < d->n && (d->s[d->i] == ' ' || d->s[d->i] == '\t' || d->s[d->i] == '\n' || d->s[d->i] == '\r'))
        d->i++;
}

static int hex4(const char *p, unsigned *v) {
    *v = 0;
    for (int k = 0; k < 4; k++) {
        char c = p[k];
        int h = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (h < 0) return -1;
        *v = *v << 4 | (unsigned)h;
    }
    return 0;
}

static int put_utf8(gbuf *b, unsigned cp) {
    unsigned char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (unsigned char)(0xC0 | cp >> 6);
        u[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | cp >> 12);
        u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (unsigned char)(0xF0 | cp >> 18);
        u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        u[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return put(b, u, n);
}

/* The length of the valid UTF-8 sequence at p (n bytes left), 0 if none
 * (strict: no overlong forms, surrogates or code points past U+10FFFF). */
static size_t utf8_seq(const unsigned char *p, size_t n) {
    unsigned c = p[0];
    if (c < 0x80) return 1;
    size_t len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (len == 0 || len > n) return 0;
    unsigned lo = 0x80, hi = 0xBF;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
    if (p[1] < lo || p[1] > hi) return 0;
    for (size_t k = 2; k < len; k++)
        if ((p[k] & 0xC0) != 0x80) return 0;
    return len;
}

/* b[from:] with each byte that starts no valid UTF-8 sequence replaced by
 * U+FFFD, as attrs.go does. */
static int sanitize(gbuf *b, size_t from) {
    if (ffitel_shim_text_ok((const char *)b->p + from, b->len - from)) return 0;
    gbuf o = {0};
    for (size_t i = from; i < b->len;) {
        size_t k = utf8_seq(b->p + i, b->len - i);
        if (put(&o, k ? b->p + i : (const unsigned char *)"\xEF\xBF\xBD", k ? k : 3) != 0) {
            free(o.p);
            return -1;
        }
        i += k ? k : 1;
    }
    b->len = from;
    int rc = put(b, o.p, o.len);
    free(o.p);
    return rc;
}

/* A JSON string at d->i, unescaped and appended to b (invalid UTF-8
 * replaced). */
static int jstr(jdec *d, gbuf *b) {
    if (d->i >= d->n || d->s[d->i] != '"') return -1;
    d->i++;
    size_t from = b->len;
    for (;;) {
        size_t start = d->i;
        while (d->i < d->n && d->s[d->i] != '"' && d->s[d->i] != '\\' && (unsigned char)d->s[d->i] >= 0x20) d->i++;
        if (put(b, d->s + start, d->i - start) != 0 || d->i >= d->n) return -1;
        char c = d->s[d->i];
        if (c == '"') {
            d->i++;
            return sanitize(b, from);
        }
        if (c != '\\' || d->i + 1 >= d->n) return -1; /* a control character, or a cut escape */
        char e = d->s[d->i + 1];
        d->i += 2;
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e != 0 && simple != NULL) {
            static const char to[] = "\"\\/\b\f\n\r\t";
            if (put(b, &to[simple - "\"\\/bfnrt"], 1) != 0) return -1;
            continue;
        }
        unsigned cp, lo;
        if (e != 'u' || d->i + 4 > d->n || hex4(d->s + d->i, &cp) != 0) return -1;
        d->i += 4;
        if (cp >= 0xD800 && cp < 0xDC00 && d->i + 6 <= d->n && d->s[d->i] == '\\' && d->s[d->i + 1] == 'u' &&
            hex4(d->s + d->i + 2, &lo) == 0 && lo >= 0xDC00 && lo < 0xE000) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            d->i += 6;
        } else if (cp >= 0xD800 && cp < 0xE000) {
            cp = 0xFFFD; /* a lone surrogate */
        }
        if (put_utf8(b, cp) != 0) return -1;
    }
}

/* Bytes of p[0:n] cut to at most max, on a UTF-8 character boundary. */
static size_t utf8_cut(const unsigned char *p, size_t n, size_t max) {
    if (n <= max) return n;
    while (max > 0 && (p[max] & 0xC0) == 0x80) max--;
    return max;
}

static int emit(jdec *d, int type, const void *val, size_t val_len) {
    if (*d->count >= JSON_MAX_ATTRS) return 0; /* past the per-call limit: left out, as attrs.go */
    unsigned char t = (unsigned char)type;
    uint32_t kl = (uint32_t)d->key.len;
    if (put(d->out, &t, 1) != 0 || put(d->out, &kl, 4) != 0 || put(d->out, d->key.p, kl) != 0) return -1;
    if (type == FFITEL_ATTR_STRING) {
        uint32_t vl = (uint32_t)val_len;
        if (put(d->out, &vl, 4) != 0 || put(d->out, val, val_len) != 0) return -1;
    } else if (put(d->out, val, 8) != 0) {
        return -1;
    }
    (*d->count)++;
    return 0;
}

static int emit_str(jdec *d, const unsigned char *p, size_t n) {
    return emit(d, FFITEL_ATTR_STRING, p, utf8_cut(p, n, JSON_MAX_VALUE));
}

static int number(jdec *d) {
    size_t start = d->i;
    int integer = 1;
    while (d->i < d->n) {
        char c = d->s[d->i];
        if (c == '.' || c == 'e' || c == 'E') integer = 0;
        else if (!(c == '-' || c == '+' || (c >= '0' && c <= '9'))) break;
        d->i++;
    }
    size_t len = d->i - start;
    char num[400];
    if (len == 0 || len >= sizeof num) return -1;
    memcpy(num, d->s + start, len);
    num[len] = 0;
    char *end;
    errno = 0;
    if (integer) {
        long long v = strtoll(num, &end, 10);
        if (*end != 0) return -1;
        if (errno == ERANGE) return emit_str(d, (const unsigned char *)num, len); /* its digits, as attrs.go */
        int64_t i = v;
        return emit(d, FFITEL_ATTR_INT, &i, 8);
    }
    double f = strtod(num, &end);
    if (*end != 0) return -1;
    return emit(d, FFITEL_ATTR_DOUBLE, &f, 8);
}

/* An array: kept as its JSON text. */
static int array(jdec *d) {
    size_t start = d->i;
    int depth = 0, in_str = 0;
    for (; d->i < d->n; d->i++) {
        char c = d->s[d->i];
        if (in_str) {
            if (c == '\\') d->i++;
            else if (c == '"') in_str = 0;
            continue;
        }
        if (c == '"') in_str = 1;
        else if (c == '[') depth++;
        else if (c == ']' && --depth == 0) {
            d->i++;
            d->str.len = 0;
            if (put(&d->str, d->s + start, d->i - start) != 0 || sanitize(&d->str, 0) != 0) return -1;
            return emit_str(d, d->str.p, d->str.len);
        }
    }
    return -1;
}

static int object(jdec *d, int depth) {
    if (d->i >= d->n || d->s[d->i] != '{' || depth > JSON_MAX_DEPTH) return -1;
    d->i++;
    ws(d);
    if (d->i < d->n && d->s[d->i] == '}') {
        d->i++;
        return 0;
    }
    size_t base = d->key.len;
    for (;;) {
        ws(d);
        d->key.len = base;
        if (base > 0 && put(&d->key, ".", 1) != 0) return -1;
        if (jstr(d, &d->key) != 0) return -1;
        ws(d);
        if (d->i >= d->n || d->s[d->i] != ':') return -1;
        d->i++;
        ws(d);
        if (d->i >= d->n) return -1;
        char c = d->s[d->i];
        int rc = 0;
        if (c == '{') {
            rc = object(d, depth + 1);
        } else if (c == '"') {
            d->str.len = 0;
            rc = jstr(d, &d->str);
            if (rc == 0) rc = emit_str(d, d->str.p, d->str.len);
        } else if (c == 't' && d->n - d->i >= 4 && memcmp(d->s + d->i, "true", 4) == 0) {
            int64_t one = 1;
            d->i += 4;
            rc = emit(d, FFITEL_ATTR_BOOL, &one, 8);
        } else if (c == 'f' && d->n - d->i >= 5 && memcmp(d->s + d->i, "false", 5) == 0) {
            int64_t zero = 0;
            d->i += 5;
            rc = emit(d, FFITEL_ATTR_BOOL, &zero, 8);
        } else if (c == 'n' && d->n - d->i >= 4 && memcmp(d->s + d->i, "null", 4) == 0) {
            d->i += 4; /* skipped */
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            rc = number(d);
        } else if (c == '[') {
            rc = array(d);
        } else {
            rc = -1;
        }
        if (rc != 0) return -1;
        d->key.len = base;
        ws(d);
        if (d->i >= d->n) return -1;
        if (d->s[d->i] == ',') {
            d->i++;
            continue;
        }
        if (d->s[d->i] == '}') {
            d->i++;
            return 0;
        }
        return -1;
    }
}

int ffitel_shim_json_attrs(const char *s, size_t n, unsigned char **out, size_t *out_len, uint32_t *count) {
    gbuf o = {0};
    jdec d = {.s = s, .n = s ? n : 0, .out = &o, .count = count};
    *count = 0;
    int rc = 0;
    ws(&d);
    if (d.i < d.n) {
        if (object(&d, 0) != 0) rc = -1;
        ws(&d);
        if (rc == 0 && d.i != d.n) rc = -1; /* trailing data */
    }
    free(d.key.p);
    free(d.str.p);
    *out = o.p;
    *out_len = o.len;
    return rc;
}
