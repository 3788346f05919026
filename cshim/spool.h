/* The spool's C writer (spool.c): records appended to memory-mapped segment
 * files before the host's call returns, shipped by Go (bootstrap/spool.go).
 * The format is internal/spool's (docs/SPOOL.md). */
#ifndef FFITEL_SPOOL_H
#define FFITEL_SPOOL_H
#include <stddef.h>
#include <stdint.h>

#include "include/ffitel.h"

#define FFITEL_SPOOL_OFF 0     /* not taken: the record takes the in-memory path */
#define FFITEL_SPOOL_TAKEN 1   /* on disk: the console still shows it, export comes from the spool */
#define FFITEL_SPOOL_REFUSED 2 /* the directory is at FFITEL_SPOOL_MAX_MB: counted as dropped */

/* Opens the spool in dir (creates the owner lock file and the first
 * segment). res is the resource block for segment headers. Returns 0, or -1
 * with errno set. key receives the owner key (at least 64 bytes). */
__attribute__((visibility("hidden"))) int ffitel_shim_spool_open(const char *dir, const unsigned char *res,
                                                                 size_t res_len, uint64_t max_bytes,
                                                                 uint64_t seg_size, int32_t threshold, char *key);
/* Stops taking records and seals the current segment; the owner lock stays
 * held (the shipper still ships what is there). */
__attribute__((visibility("hidden"))) void ffitel_shim_spool_seal(void);
/* Seals (if not yet) and releases the owner lock: what is left is adopted
 * by the next process. */
__attribute__((visibility("hidden"))) void ffitel_shim_spool_close(void);
/* The typed log path (ffitel_shim_log_attrs). */
__attribute__((visibility("hidden"))) int ffitel_shim_spool_log(int32_t severity, const char *msg, size_t msg_len,
                                                                const ffitel_attr *attrs, size_t n, uint64_t span,
                                                                int64_t ts);
/* Appends one encoded payload (the Go path). */
__attribute__((visibility("hidden"))) int ffitel_shim_spool_raw(const unsigned char *payload, size_t len);
/* Notes the trace id, span id and trace flags (16 + 8 + 1 bytes) of open
 * span handle h. */
__attribute__((visibility("hidden"))) void ffitel_shim_spool_span_ids(uint64_t h, const unsigned char *ids);
/* Budget bookkeeping from the shipper: bytes of other owners' segments now
 * on disk, and bytes of this process's sealed segments it deleted. */
__attribute__((visibility("hidden"))) void ffitel_shim_spool_budget(uint64_t other_bytes, uint64_t freed_own);
/* Maps pages ahead of the writer and drops those behind it (the shipper's
 * thread calls it, so that the host thread takes no page faults). */
__attribute__((visibility("hidden"))) void ffitel_shim_spool_prefault(void);
/* Rotations that took the spare the shipper made ready (no file made on the
 * host thread). */
__attribute__((visibility("hidden"))) uint64_t ffitel_shim_spool_swaps(void);
/* Counters: records written, refused (cap), current segment sequence. */
__attribute__((visibility("hidden"))) void ffitel_shim_spool_counts(uint64_t *written, uint64_t *refused,
                                                                    uint64_t *own_bytes, uint32_t *seq);
/* 1 if the record of the calling thread's current synchronous log call was
 * already spooled in C (the Go path must not export it again). */
__attribute__((visibility("hidden"))) int ffitel_shim_spool_marked(void);
__attribute__((visibility("hidden"))) void ffitel_shim_spool_mark(int on);
/* CRC-32C (Castagnoli) of p[0:n]. */
__attribute__((visibility("hidden"))) uint32_t ffitel_shim_crc32c(const unsigned char *p, size_t n);
/* Strict UTF-8 check shared with ring.c (n == 0 or valid text). */
__attribute__((visibility("hidden"))) int ffitel_shim_text_ok(const char *p, size_t n);

/* Fork (spool_fork.c): the child's own segment, opened on first use; 1 if
 * the child can write to the spool. */
__attribute__((visibility("hidden"))) int ffitel_shim_spool_child(void);
__attribute__((visibility("hidden"))) int ffitel_shim_spool_wants(int32_t severity);
__attribute__((visibility("hidden"))) int ffitel_shim_spool_on(void);
__attribute__((visibility("hidden"))) int ffitel_shim_spool_ids_of(uint64_t h, unsigned char *ids);
/* The entry points of a forked child with the spool on (guard.c). */
__attribute__((visibility("hidden"))) int ffitel_shim_spool_child_log(int32_t severity, const char *msg,
                                                                      size_t msg_len, const ffitel_attr *attrs,
                                                                      size_t n, uint64_t span);
__attribute__((visibility("hidden"))) uint64_t ffitel_shim_spool_child_span_start(
    const char *name, size_t name_len, uint64_t parent, const char *traceparent, size_t tp_len,
    const char *attrs_json, size_t attrs_len, int32_t kind);
__attribute__((visibility("hidden"))) int ffitel_shim_spool_child_span_end(uint64_t span, int32_t ok,
                                                                           const char *error, size_t error_len);
__attribute__((visibility("hidden"))) int ffitel_shim_spool_child_task_end(uint64_t task, int32_t ok,
                                                                           const char *error_type, size_t et_len);
/* ffitel_span_set_attributes and ffitel_span_add_event(_at) on a child span
 * (a span the parent opened before the fork: FFITEL_E_FORKED). */
__attribute__((visibility("hidden"))) int ffitel_shim_spool_child_set_attrs(uint64_t span, const char *json,
                                                                            size_t len);
__attribute__((visibility("hidden"))) int ffitel_shim_spool_child_add_event(uint64_t span, const char *name,
                                                                            size_t name_len, const char *json,
                                                                            size_t len, int64_t at_ns);
/* The parent's span limits (sdktrace.NewSpanLimits), noted at spool open for
 * a child's spans; -1: none. */
__attribute__((visibility("hidden"))) void ffitel_shim_spool_limits(int32_t attrs, int32_t events,
                                                                    int32_t event_attrs, int32_t value_len);
/* Attributes JSON decoded as cshim/attrs.go does, into the spool's encoding
 * (spool_attrs.c; malloc'd, the caller frees *out). 0, or -1 for malformed
 * input (what decoded is in *out). */
__attribute__((visibility("hidden"))) int ffitel_shim_json_attrs(const char *s, size_t n, unsigned char **out,
                                                                 size_t *out_len, uint32_t *count);
/* ffitel_task_start* in a forked child: the CONSUMER span "process <type>". */
__attribute__((visibility("hidden"))) uint64_t ffitel_shim_spool_child_task_start(uint64_t current, const char *type,
                                                                                  size_t type_len,
                                                                                  const char *traceparent,
                                                                                  size_t tp_len, int32_t propagation);
/* ffitel_span_traceparent in a forked child (a child span or one the parent
 * opened before the fork). */
__attribute__((visibility("hidden"))) int ffitel_shim_spool_child_traceparent(uint64_t span, char *buf, size_t cap);
__attribute__((visibility("hidden"))) int ffitel_shim_spool_child_inject(uint64_t span, char *buf, size_t cap);

#endif
