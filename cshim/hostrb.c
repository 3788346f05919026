/*
 * The Ruby binding's log path without ruby-ffi and without JSON.
 * ffitel_rb_define (called once through ruby-ffi, with the GVL held) defines
 * Ffitel::NativeLog.log(severity, msg, attrs, span) as a C method: Ruby calls
 * it like any built-in method, with no ffi argument conversion. It reads the
 * message and the keyword-argument Hash with Ruby's exported C API -- found in
 * the running process with dlsym, so libffitel.so does not link against
 * libruby -- into an ffitel_attr array on the stack, then logs as
 * ffitel_log_attrs. Only exported functions and class globals are used, no
 * struct layouts or special-constant values, so one library serves every
 * Ruby 3.x.
 *
 * Anything it does not translate exactly (a value that is not an exact
 * String, Symbol, Integer in a Fixnum, finite Float, true or false -- nil
 * included; a String in an encoding other than UTF-8, US-ASCII or BINARY;
 * more than 128 attributes)
 * returns FFITEL_RB_USE_JSON with nothing logged; the binding then takes the
 * JSON path, which handles every value. It never raises.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "include/ffitel.h"
#include "shim.h"
#include "spool.h"
#include "_cgo_export.h"

typedef uintptr_t VALUE;
typedef struct rb_encoding rb_encoding;

static struct {
    VALUE (*obj_class)(VALUE);
    VALUE (*sym2str)(VALUE);
    char *(*str_ptr)(volatile VALUE *);
    long (*str_strlen)(VALUE);
    long (*str_offset)(VALUE, long);
    rb_encoding *(*enc_get)(VALUE);
    rb_encoding *(*utf8)(void);
    rb_encoding *(*ascii)(void);
    rb_encoding *(*binary)(void);
    double (*num2dbl)(VALUE);
    void (*hash_foreach)(VALUE, int (*)(VALUE, VALUE, VALUE), VALUE);
    VALUE (*define_module)(const char *);
    /* rb_thread_call_without_gvl2 (ring.c: ffitel_shim_log_attrs_without).
     * Optional: without it a record waiting for queue room holds the GVL. */
    void *(*call_without_gvl)(void *(*)(void *), void *, void (*)(void *), void *);
    VALUE (*define_module_under)(VALUE, const char *);
    void (*define_module_function)(VALUE, const char *, VALUE (*)(), int);
    VALUE *c_string, *c_symbol, *c_integer, *c_float, *c_true, *c_false, *c_nil, *c_hash;
    rb_encoding *e_utf8, *e_ascii, *e_binary;
} rb;

static int rb_resolve(void) {
#define SYM(field, name) (*(void **)&rb.field = dlsym(RTLD_DEFAULT, name)) != NULL
    *(void **)&rb.call_without_gvl = dlsym(RTLD_DEFAULT, "rb_thread_call_without_gvl2");
    return SYM(obj_class, "rb_obj_class") && SYM(sym2str, "rb_sym2str") && SYM(str_ptr, "rb_string_value_ptr") &&
           SYM(str_strlen, "rb_str_strlen") && SYM(str_offset, "rb_str_offset") && SYM(enc_get, "rb_enc_get") &&
           SYM(utf8, "rb_utf8_encoding") && SYM(ascii, "rb_usascii_encoding") &&
           SYM(binary, "rb_ascii8bit_encoding") && SYM(num2dbl, "rb_num2dbl") &&
           SYM(hash_foreach, "rb_hash_foreach") && SYM(define_module, "rb_define_module") &&
           SYM(define_module_under, "rb_define_module_under") &&
           SYM(define_module_function, "rb_define_module_function") && SYM(c_string, "rb_cString") &&
           SYM(c_symbol, "rb_cSymbol") && SYM(c_integer, "rb_cInteger") && SYM(c_float, "rb_cFloat") &&
           SYM(c_true, "rb_cTrueClass") && SYM(c_false, "rb_cFalseClass") && SYM(c_nil, "rb_cNilClass") &&
           SYM(c_hash, "rb_cHash");
#undef SYM
}

#define RB_MAX_ATTRS 128
#define FIXNUM_P(v) (((v) & 1) != 0) /* RUBY_FIXNUM_FLAG, the same in every Ruby */

/* A String or Symbol as UTF-8 bytes; 0 for anything else. The String VALUE
 * is kept in *keep, on the C stack, which also pins it against compaction. */
static int rb_text(VALUE v, VALUE *keep, const char **p, size_t *len) {
    VALUE c = rb.obj_class(v);
    if (c == *rb.c_symbol) {
        v = rb.sym2str(v);
    } else if (c != *rb.c_string) {
        return 0;
    }
    rb_encoding *e = rb.enc_get(v);
    if (e != rb.e_utf8 && e != rb.e_ascii && e != rb.e_binary) return 0;
    *keep = v;
    *p = rb.str_ptr(keep);
    *len = (size_t)rb.str_offset(v, rb.str_strlen(v)); /* bytes; O(1) for ASCII */
    return 1;
}

struct rb_walk {
    ffitel_attr a[RB_MAX_ATTRS];
    VALUE keep[2 * RB_MAX_ATTRS];
    size_t n;
    int declined;
};

#define ST_CONTINUE 0
#define ST_STOP 1

static int rb_walk_pair(VALUE k, VALUE v, VALUE arg) {
    struct rb_walk *w = (struct rb_walk *)arg;
    VALUE c = rb.obj_class(v);
    /* nil and non-finite floats are the JSON path's ("NaN" strings, nil
     * left out), so both paths log the same record. */
    if (c == *rb.c_nil) goto decline;
    if (w->n == RB_MAX_ATTRS) goto decline;
    ffitel_attr *at = &w->a[w->n];
    *at = (ffitel_attr){0};
    if (!rb_text(k, &w->keep[2 * w->n], &at->key, &at->key_len)) goto decline;
    if (c == *rb.c_string || c == *rb.c_symbol) {
        at->type = FFITEL_ATTR_STRING;
        if (!rb_text(v, &w->keep[2 * w->n + 1], &at->str, &at->str_len)) goto decline;
    } else if (c == *rb.c_integer && FIXNUM_P(v)) {
        at->type = FFITEL_ATTR_INT;
        at->i = (int64_t)(intptr_t)v >> 1; /* arithmetic shift: the Fixnum's value */
    } else if (c == *rb.c_float) {
        at->type = FFITEL_ATTR_DOUBLE;
        at->d = rb.num2dbl(v);
        if (!isfinite(at->d)) goto decline;
    } else if (c == *rb.c_true || c == *rb.c_false) {
        at->type = FFITEL_ATTR_BOOL;
        at->i = c == *rb.c_true;
    } else {
        goto decline;
    }
    w->n++;
    return ST_CONTINUE;
decline:
    w->declined = 1;
    return ST_STOP;
}

static VALUE rb_fix(long x) { return (VALUE)(x * 2 + 1); }

/* Ffitel::NativeLog.log(severity, msg, attrs, span) -> Integer result code. */
static VALUE rb_native_log(VALUE self, VALUE severity, VALUE msg, VALUE attrs, VALUE span) {
    (void)self;
    if (ffitel_shim_forked() && !ffitel_shim_spool_child()) return rb_fix(ffitel_shim_forked_error());
    /* Odd arguments still log (nothing is lost): a bad severity as INFO
     * with a marker, a bad span without trace ids. */
    long sev = FIXNUM_P(severity) ? (long)((intptr_t)severity >> 1) : 0;
    if (sev < INT32_MIN || sev > INT32_MAX) sev = 0;
    uint64_t handle = UINT64_MAX;
    if (rb.obj_class(span) == *rb.c_nil) {
        handle = 0;
    } else if (FIXNUM_P(span) && (intptr_t)span >= 0) {
        handle = (uint64_t)((intptr_t)span >> 1);
    }
    VALUE msg_keep = 0;
    const char *m;
    size_t m_len;
    if (!rb_text(msg, &msg_keep, &m, &m_len) || rb.obj_class(msg) != *rb.c_string) return rb_fix(FFITEL_RB_USE_JSON);
    struct rb_walk w;
    w.n = 0;
    w.declined = 0;
    VALUE ac = rb.obj_class(attrs);
    if (ac == *rb.c_hash) {
        rb.hash_foreach(attrs, rb_walk_pair, (VALUE)&w);
        if (w.declined) return rb_fix(FFITEL_RB_USE_JSON);
    } else if (ac != *rb.c_nil) {
        return rb_fix(FFITEL_RB_USE_JSON);
    }
    int rc = ffitel_shim_forked() ? ffitel_shim_spool_child_log((int32_t)sev, m, m_len, w.a, w.n, handle) /* docs/SPOOL.md */
                                  : ffitel_shim_log_attrs_without((int32_t)sev, m, m_len, w.a, w.n, handle,
                                                                  rb.call_without_gvl);
    __asm__ volatile("" : : "r"(&w), "r"(&msg_keep) : "memory"); /* keep the pinned VALUEs alive to here */
    return rb_fix(rc);
}

int ffitel_rb_define(void) {
    if (!rb_resolve()) return FFITEL_E_UNAVAILABLE;
    rb.e_utf8 = rb.utf8();
    rb.e_ascii = rb.ascii();
    rb.e_binary = rb.binary();
    VALUE ffitel = rb.define_module("Ffitel");
    VALUE mod = rb.define_module_under(ffitel, "NativeLog");
    rb.define_module_function(mod, "log", (VALUE(*)())rb_native_log, 4);
    return FFITEL_OK;
}
