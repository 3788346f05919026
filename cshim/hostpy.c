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
             SYM(new_function, "PyCFunction_NewEx");
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

static int py_log(int32_t severity, PyObject *msg, PyObject *attrs, uint64_t span) {
    if (ffitel_shim_forked()) return ffitel_shim_forked_error();
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
    return ffitel_shim_log_attrs(severity, m, msg_len, a, n, span);
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
