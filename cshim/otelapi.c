/*
 * The public entry points of the OpenTelemetry API bridge ABI (otelapi.go),
 * each behind the fork guard as in guard.c.
 */
#include "include/ffitel.h"
#include "shim.h"
#include "spool.h"
#include "_cgo_export.h"

#define GUARD_INT() do { if (ffitel_shim_forked()) return ffitel_shim_forked_error(); } while (0)
#define GUARD_HANDLE() do { if (ffitel_shim_forked()) { (void)ffitel_shim_forked_error(); return 0; } } while (0)

/* The handle bookkeeping of an API span (ring.c's live note, spool.c's ids)
 * is done here, in C, around the one call into Go: a call from Go into C
 * costs about as much as the C it runs, and these run on every API span. */
uint64_t ffitel_span_start_ex(const char *scope, size_t scope_len, const char *name, size_t name_len,
                              uint64_t parent, const char *traceparent, size_t tp_len,
                              const char *attrs_json, size_t attrs_len, int32_t kind, int64_t start_unix_nano,
                              const char *links_json, size_t links_len, char *tp_out, size_t tp_cap) {
    if (tp_out != NULL && tp_cap > 0) tp_out[0] = 0;
    if (ffitel_shim_forked()) {
        /* A forked child with the spool on: the child span of spool_fork.c,
         * as ffitel_span_start there (the scope, start time and links are
         * not kept); 0 and FFITEL_E_FORKED without the spool. */
        uint64_t h = ffitel_shim_spool_child_span_start(name, name_len, parent, traceparent, tp_len, attrs_json,
                                                        attrs_len, kind);
        if (h != 0 && tp_out != NULL && tp_cap > 0 && ffitel_shim_spool_child_traceparent(h, tp_out, tp_cap) < 0)
            tp_out[0] = 0;
        return h;
    }
    unsigned char ids[25];
    uint64_t h = ffitelgo_span_start_ex((char *)scope, scope_len, (char *)name, name_len, parent, (char *)traceparent,
                                        tp_len, (char *)attrs_json, attrs_len, kind, start_unix_nano,
                                        (char *)links_json, links_len, tp_out, tp_cap, ids);
    if (h != 0) { /* as openSpan (spans.go); no record can name h before it is returned */
        ffitel_shim_span_live(h, 1);
        ffitel_shim_spool_span_ids(h, ids);
    }
    return h;
}
int ffitel_span_end_ex(uint64_t span, int32_t status, const char *description, size_t description_len,
                       int64_t end_unix_nano) {
    if (ffitel_shim_forked()) /* the spool's child span: ok or failed (an OK status reads as unset) */
        return ffitel_shim_spool_child_span_end(span, status != 2, description, description_len);
    /* as closeSpan (spans.go): later records naming span take the synchronous
     * path; Go drains the ring first only when something is queued. */
    ffitel_shim_span_live(span, 0);
    int queued = ffitel_shim_ring_head() != ffitel_shim_ring_tail();
    return ffitelgo_span_end_ex(span, status, (char *)description, description_len, end_unix_nano, queued);
}
int ffitel_span_add_event_at(uint64_t span, const char *name, size_t name_len, const char *attrs_json,
                             size_t attrs_len, int64_t unix_nano) {
    /* A forked child with the spool on: the child span's own buffer
     * (spool_fork.c); FFITEL_E_FORKED otherwise. */
    if (ffitel_shim_forked())
        return ffitel_shim_spool_child_add_event(span, name, name_len, attrs_json, attrs_len, unix_nano);
    return ffitelgo_span_add_event_at(span, (char *)name, name_len, (char *)attrs_json, attrs_len, unix_nano);
}
int ffitel_span_add_link(uint64_t span, const char *links_json, size_t links_len) {
    GUARD_INT();
    return ffitelgo_span_add_link(span, (char *)links_json, links_len);
}
int ffitel_span_update_name(uint64_t span, const char *name, size_t name_len) {
    GUARD_INT();
    return ffitelgo_span_update_name(span, (char *)name, name_len);
}

uint64_t ffitel_instrument_create(const char *scope, size_t scope_len, int32_t kind, const char *name,
                                  size_t name_len, const char *unit, size_t unit_len, const char *description,
                                  size_t description_len) {
    GUARD_HANDLE();
    return ffitelgo_instrument_create((char *)scope, scope_len, kind, (char *)name, name_len, (char *)unit, unit_len,
                                      (char *)description, description_len);
}
int ffitel_instrument_record(uint64_t instrument, double value, const char *attrs_json, size_t attrs_len) {
    GUARD_INT();
    return ffitelgo_instrument_record(instrument, value, (char *)attrs_json, attrs_len);
}
