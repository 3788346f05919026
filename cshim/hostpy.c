/*
 * The Python binding's log path without ctypes and without JSON.
 * ffitel_py_function (called once through ctypes.PyDLL) returns a built-in
 * function object, log(severity, msg, attrs, span), that Python calls like
 * any C function: no ctypes argument conversion, no GIL release. It reads the
 * message and the keyword arguments with CPython's stable C API -- found in
 * the running process with dlsym, so libffitel.so does not link against
 * libpython and works in any host -- into an ffitel_attr array on the stack,
 * then logs as ffitel_log_attrs. Only stable-ABI functions are used (no
 * struct layouts but PyMethodDef's), so one library serves every CPython 3.9+.
 *
 * Anything it does not translate exactly (a value that is not an exact str,
 * int in 64 bits, finite float or bool; None; a str with lone surrogates; more
 * than 128 attributes) returns FFITEL_PY_USE_JSON with nothing logged and
 * no Python exception set; the binding then takes the JSON path, which
 * handles every value.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "include/ffitel.h"
#include "shim.h"
#include "spool.h"
#include "_cgo_export.h"

typedef struct _object PyObject;
typedef ssize_t Py_ssize_t;

static struct {
    int (*dict_next)(PyObject *, Py_ssize_t *, PyObject **, PyObject **);
    PyObject *(*type_of)(PyObject *); /* PyObject_Type: a new reference */
    void (*decref)(PyObject *);
    const char *(*utf8)(PyObject *, Py_ssize_t *);
    long long (*as_ll)(PyObject *, int *);
    double (*as_double)(PyObject *);
    PyObject *(*err_occurred)(void);
    void (*err_clear)(void);
    long (*as_long)(PyObject *);
    unsigned long long (*as_ull)(PyObject *);
    PyObject *(*from_long)(long);
    PyObject *(*new_function)(void *, PyObject *, PyObject *);
    /* the span built-ins (ffitel_py_span_function) */
    int (*bytes_parts)(PyObject *, char **, Py_ssize_t *);
    PyObject *(*str_from)(const char *, Py_ssize_t);
    PyObject *(*from_ull)(unsigned long long);
    PyObject *(*tuple_pack)(Py_ssize_t, ...);
    void (*incref)(PyObject *);
    void *(*save_thread)(void);      /* PyEval_SaveThread: releases the GIL */
    void (*restore_thread)(void *);  /* PyEval_RestoreThread */
    PyObject *t_bytes;
    PyObject *t_str, *t_int, *t_float, *t_bool, *t_dict, *none, *true_;
} py;
static int py_state; /* 0 not looked up, 1 ready, -1 not a CPython process */

static int py_resolve(void) {
    int state = __atomic_load_n(&py_state, __ATOMIC_ACQUIRE);
    if (state != 0) return state > 0;
#define SYM(field, name) (*(void **)&py.field = dlsym(RTLD_DEFAULT, name)) != NULL
    int ok = SYM(dict_next, "PyDict_Next") && SYM(type_of, "PyObject_Type") && SYM(decref, "Py_DecRef") &&
             SYM(utf8, "PyUnicode_AsUTF8AndSize") && SYM(as_ll, "PyLong_AsLongLongAndOverflow") &&
             SYM(as_double, "PyFloat_AsDouble") && SYM(err_occurred, "PyErr_Occurred") &&
             SYM(err_clear, "PyErr_Clear") && SYM(t_str, "PyUnicode_Type") && SYM(t_int, "PyLong_Type") &&
             SYM(t_float, "PyFloat_Type") && SYM(t_bool, "PyBool_Type") && SYM(t_dict, "PyDict_Type") &&
             SYM(none, "_Py_NoneStruct") && SYM(true_, "_Py_TrueStruct") && SYM(as_long, "PyLong_AsLong") &&
             SYM(as_ull, "PyLong_AsUnsignedLongLong") && SYM(from_long, "PyLong_FromLong") &&
             SYM(new_function, "PyCFunction_NewEx") && SYM(bytes_parts, "PyBytes_AsStringAndSize") &&
             SYM(str_from, "PyUnicode_FromStringAndSize") && SYM(from_ull, "PyLong_FromUnsignedLongLong") &&
             SYM(tuple_pack, "PyTuple_Pack") && SYM(incref, "Py_IncRef") && SYM(t_bytes, "PyBytes_Type") &&
             SYM(save_thread, "PyEval_SaveThread") && SYM(restore_thread, "PyEval_RestoreThread");
#undef SYM
    __atomic_store_n(&py_state, ok ? 1 : -1, __ATOMIC_RELEASE);
    return ok;
}

static PyObject *py_type(PyObject *o) {
    PyObject *t = py.type_of(o);
    py.decref(t); /* a type outlives its instances: the borrowed pointer stays valid */
    return t;
}

/* UTF-8 of an exact str, or NULL (error cleared). */
static const char *py_str(PyObject *o, size_t *len) {
    Py_ssize_t n = 0;
    const char *s = py.utf8(o, &n);
    if (s == NULL) {
        py.err_clear(); /* lone surrogates: the JSON path writes them */
        return NULL;
    }
    *len = (size_t)n;
    return s;
}

/* Runs fn(arg) without the GIL: ffitel_shim_log_attrs_without's way of
 * releasing the host's lock, as rb_thread_call_without_gvl2 is Ruby's. */
static void *py_without_gil(void *(*fn)(void *), void *arg, void (*ubf)(void *), void *ubf_arg) {
    (void)ubf;
    (void)ubf_arg;
    void *ts = py.save_thread();
    void *r = fn(arg);
    py.restore_thread(ts);
    return r;
}

static int py_log(int32_t severity, PyObject *msg, PyObject *attrs, uint64_t span) {
    if (ffitel_shim_forked() && !ffitel_shim_spool_child()) return ffitel_shim_forked_error();
    size_t msg_len = 0;
    if (msg == NULL || py_type(msg) != py.t_str) return FFITEL_PY_USE_JSON;
    const char *m = py_str(msg, &msg_len);
    if (m == NULL) return FFITEL_PY_USE_JSON;

    ffitel_attr a[128];
    size_t n = 0;
    if (attrs != NULL && attrs != py.none) {
        if (py_type(attrs) != py.t_dict) return FFITEL_PY_USE_JSON;
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        while (py.dict_next(attrs, &pos, &k, &v)) {
            /* None (left out and counted as an input error) and non-finite
             * floats ("NaN", "Infinity", "-Infinity" strings) are the JSON
             * path's: the same record whichever path logs it. */
            if (v == py.none) return FFITEL_PY_USE_JSON;
            if (n == sizeof a / sizeof a[0] || py_type(k) != py.t_str) return FFITEL_PY_USE_JSON;
            ffitel_attr *at = &a[n];
            at->key = py_str(k, &at->key_len);
            if (at->key == NULL) return FFITEL_PY_USE_JSON;
            at->reserved = 0;
            at->str = NULL;
            at->str_len = 0;
            at->i = 0;
            at->d = 0;
            PyObject *t = py_type(v);
            if (t == py.t_str) {
                at->type = FFITEL_ATTR_STRING;
                at->str = py_str(v, &at->str_len);
                if (at->str == NULL) return FFITEL_PY_USE_JSON;
            } else if (t == py.t_bool) {
                at->type = FFITEL_ATTR_BOOL;
                at->i = v == py.true_;
            } else if (t == py.t_int) {
                int overflow = 0;
                long long x = py.as_ll(v, &overflow);
                if (overflow != 0 || (x == -1 && py.err_occurred() != NULL)) {
                    py.err_clear();
                    return FFITEL_PY_USE_JSON;
                }
                at->type = FFITEL_ATTR_INT;
                at->i = x;
            } else if (t == py.t_float) {
                at->type = FFITEL_ATTR_DOUBLE;
                at->d = py.as_double(v);
                if (!isfinite(at->d)) return FFITEL_PY_USE_JSON;
            } else {
                return FFITEL_PY_USE_JSON;
            }
            n++;
        }
    }
    if (ffitel_shim_forked()) return ffitel_shim_spool_child_log(severity, m, msg_len, a, n, span); /* docs/SPOOL.md */
    /* The synchronous path (a full ring) may wait for room in a full export
     * queue (FFITEL_QUEUE_FULL=backpressure): it runs without the GIL, as a
     * ctypes call does, so the process's other threads run meanwhile; the
     * ring's fast path keeps it. */
    return ffitel_shim_log_attrs_without(severity, m, msg_len, a, n, span, py_without_gil);
}

/* log(severity, msg, attrs, span) -> int, METH_FASTCALL. Never raises but
 * for MemoryError: bad arguments are a result code. */
static PyObject *py_fast_log(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    int rc = FFITEL_E_INVALID;
    if (nargs == 4) {
        /* Odd arguments still log (nothing is lost): a bad severity as
         * INFO with a marker, a bad span without trace ids (an impossible
         * handle, so the result says FFITEL_E_HANDLE). */
        long severity = py.as_long(args[0]);
        if (py.err_occurred() != NULL) {
            py.err_clear();
            severity = 0;
        }
        unsigned long long span = args[3] == py.none ? 0 : py.as_ull(args[3]);
        if (py.err_occurred() != NULL) {
            py.err_clear();
            span = UINT64_MAX;
        }
        if (severity < INT32_MIN || severity > INT32_MAX) severity = 0;
        rc = py_log((int32_t)severity, args[1], args[2], (uint64_t)span);
    }
    return py.from_long(rc);
}

/* PyMethodDef, whose layout is part of the stable ABI. */
static struct {
    const char *name;
    void *meth;
    int flags;
    const char *doc;
} py_log_def = {"log", (void *)py_fast_log, 0x0080 /* METH_FASTCALL */,
                "log(severity, msg, attrs, span) -> result code; FFITEL_PY_USE_JSON: use ffitel_log"};

void *ffitel_py_function(void) {
    if (!py_resolve()) return NULL;
    return py.new_function(&py_log_def, NULL, NULL);
}

/* ---- spans for ffitel.opentelemetry (ffitel_py_span_function) ----------------
 * Translation only: each built-in reads its Python arguments and makes the
 * C ABI call ffitel_span_start_ex / ffitel_span_end_ex, so an API span costs
 * no ctypes argument conversion and no buffer object per call. */

/* bytes or None as (pointer, length); 0 when o is neither (then nothing is called). */
static int py_bytes_or_none(PyObject *o, const char **p, size_t *n) {
    *p = NULL;
    *n = 0;
    if (o == py.none) return 1;
    if (py_type(o) != py.t_bytes) return 0;
    char *b = NULL;
    Py_ssize_t len = 0;
    if (py.bytes_parts(o, &b, &len) != 0) {
        py.err_clear();
        return 0;
    }
    *p = b;
    *n = (size_t)len;
    return 1;
}

/* an exact int as a 64-bit value; 0 when it is not one */
static int py_i64(PyObject *o, long long *out) {
    if (py_type(o) != py.t_int) return 0;
    int overflow = 0;
    long long x = py.as_ll(o, &overflow);
    if (overflow != 0 || (x == -1 && py.err_occurred() != NULL)) {
        py.err_clear();
        return 0;
    }
    *out = x;
    return 1;
}

/* span_start(scope: bytes, name: str, parent: int, traceparent: bytes|None,
 *            attrs_json: bytes|None, kind: int, start_unix_nano: int,
 *            links_json: bytes|None) -> (handle, traceparent str | None)
 * as ffitel_span_start_ex; FFITEL_PY_USE_JSON (an int) with nothing started
 * when an argument is not of those types or name has lone surrogates: the
 * caller then uses ffitel_span_start_ex through ctypes. */
static PyObject *py_fast_span_start(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    const char *scope, *tp, *attrs, *links, *name;
    size_t scope_len, tp_len, attrs_len, links_len, name_len = 0;
    long long parent, kind, start_ns;
    if (nargs != 8 || !py_bytes_or_none(args[0], &scope, &scope_len) || py_type(args[1]) != py.t_str ||
        (name = py_str(args[1], &name_len)) == NULL || !py_i64(args[2], &parent) ||
        !py_bytes_or_none(args[3], &tp, &tp_len) || !py_bytes_or_none(args[4], &attrs, &attrs_len) ||
        !py_i64(args[5], &kind) || kind < INT32_MIN || kind > INT32_MAX || !py_i64(args[6], &start_ns) ||
        !py_bytes_or_none(args[7], &links, &links_len)) {
        return py.from_long(FFITEL_PY_USE_JSON);
    }
    char out[64];
    uint64_t h = ffitel_span_start_ex(scope, scope_len, name, name_len, (uint64_t)parent, tp, tp_len, attrs,
                                      attrs_len, (int32_t)kind, (int64_t)start_ns, links, links_len, out,
                                      sizeof out);
    PyObject *handle = py.from_ull(h);
    if (handle == NULL) return NULL;
    PyObject *tpo;
    size_t n = 0;
    while (n < sizeof out && out[n] != 0) n++;
    if (h != 0 && n > 0 && n < sizeof out) {
        tpo = py.str_from(out, (Py_ssize_t)n);
        if (tpo == NULL) {
            py.decref(handle);
            return NULL;
        }
    } else {
        tpo = py.none;
        py.incref(tpo);
    }
    PyObject *result = py.tuple_pack(2, handle, tpo);
    py.decref(handle);
    py.decref(tpo);
    return result;
}

/* span_end(handle: int, status: int, description: bytes|None, end_unix_nano: int) -> int
 * as ffitel_span_end_ex; FFITEL_E_INVALID with nothing ended for arguments
 * of other types. */
static PyObject *py_fast_span_end(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    long long handle, status, end_ns;
    const char *desc;
    size_t desc_len;
    if (nargs != 4 || !py_i64(args[0], &handle) || !py_i64(args[1], &status) || status < INT32_MIN ||
        status > INT32_MAX || !py_bytes_or_none(args[2], &desc, &desc_len) || !py_i64(args[3], &end_ns)) {
        return py.from_long(FFITEL_E_INVALID);
    }
    /* Ending a span may wait for room in a full export queue
     * (FFITEL_QUEUE_FULL=backpressure): without the GIL, as ctypes calls it,
     * so the process's other threads run meanwhile. desc points into a bytes
     * object the caller's arguments keep alive. */
    void *ts = py.save_thread();
    int rc = ffitel_span_end_ex((uint64_t)handle, (int32_t)status, desc, desc_len, (int64_t)end_ns);
    py.restore_thread(ts);
    return py.from_long(rc);
}

static struct {
    const char *name;
    void *meth;
    int flags;
    const char *doc;
} py_span_defs[2] = {
    {"span_start", (void *)py_fast_span_start, 0x0080 /* METH_FASTCALL */,
     "span_start(scope, name, parent, traceparent, attrs_json, kind, start_unix_nano, links_json) -> "
     "(handle, traceparent) as ffitel_span_start_ex; FFITEL_PY_USE_JSON: use ctypes"},
    {"span_end", (void *)py_fast_span_end, 0x0080 /* METH_FASTCALL */,
     "span_end(handle, status, description, end_unix_nano) -> result code, as ffitel_span_end_ex"},
};

void *ffitel_py_span_function(int32_t which) {
    if (which < 0 || which > 1 || !py_resolve()) return NULL;
    return py.new_function(&py_span_defs[which], NULL, NULL);
}
