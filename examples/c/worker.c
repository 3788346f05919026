/*
 * A small C worker using libffitel.so: logs in phase 1, upgrades to
 * telemetry, processes a few jobs inside spans (with events, attributes,
 * errors and a traceparent handed to a "downstream" span), counts them, and
 * shuts down. Any FFI host (Node, PHP, Java) does the same with the header
 * and JSON attributes.
 *
 *   cc -Ibuild -o build/cworker examples/c/worker.c -Lbuild -lffitel -Wl,-rpath,build
 */
#include <stdio.h>
#include <string.h>

#include "ffitel.h"

#define S(lit) lit, sizeof(lit) - 1

static void check(int rc, const char *what) {
    if (rc < 0) {
        char msg[512];
        ffitel_last_error(msg, sizeof msg);
        fprintf(stderr, "cworker: %s failed (%d): %s\n", what, rc, msg);
    }
}

int main(void) {
    check(ffitel_init_console(), "init_console");
    check(ffitel_log(FFITEL_INFO, S("cworker starting; wiring up the bridge"), S("{\"worker\":\"cworker\"}"), 0), "log");
    check(ffitel_counter_add(S("cworker.jobs"), 1, S("{\"queue\":\"warmup\"}")), "counter");

    check(ffitel_init_telemetry(), "init_telemetry");

    for (int i = 1; i <= 3; i++) {
        char attrs[128];
        int n = snprintf(attrs, sizeof attrs, "{\"job.number\":%d,\"correlation_id\":\"c-corr-%d\"}", i, i);
        uint64_t job = ffitel_span_start(S("c process job"), 0, NULL, 0, attrs, n, FFITEL_KIND_CONSUMER);
        check(ffitel_log(FFITEL_INFO, S("c processing job"), attrs, n, job), "log in job");

        /* Hand the trace to a downstream component through its W3C header. */
        char tp[64];
        ffitel_span_traceparent(job, tp, sizeof tp);
        uint64_t call = ffitel_span_start(S("c charge card"), 0, tp, strlen(tp), S("{\"amount_cents\":500}"),
                                          FFITEL_KIND_CLIENT);
        check(ffitel_span_add_event(call, S("card authorised"), S("{\"attempt\":1}")), "event");
        check(ffitel_histogram_record(S("cworker.charge.duration"), 12.5 * i, S("ms"), S("{\"provider\":\"acme\"}")),
              "histogram");
        if (i == 3) {
            check(ffitel_span_end(call, 0, S("card declined")), "end call");
            check(ffitel_log(FFITEL_ERROR, S("c job failed"), S("{\"error\":\"card declined\"}"), job), "log error");
        } else {
            check(ffitel_span_end(call, 1, NULL, 0), "end call");
        }
        check(ffitel_span_set_attributes(job, S("{\"outcome\":\"done\"}")), "set attributes");
        check(ffitel_span_end(job, i != 3, S("job failed")), "end job");
        const char *outcome = i == 3 ? "{\"queue\":\"main\",\"outcome\":\"error\"}"
                                     : "{\"queue\":\"main\",\"outcome\":\"ok\"}";
        check(ffitel_counter_add(S("cworker.jobs"), 1, outcome, strlen(outcome)), "counter");
    }

    char stats[4096];
    ffitel_stats_json(stats, sizeof stats);
    printf("%s\n", stats);
    check(ffitel_shutdown(-1), "shutdown");
    return 0;
}
