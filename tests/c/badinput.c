/* badinput: logs the hostile inputs of issue #12 through the C ABI with
 * telemetry on, shuts down within argv[1] ms (default 5000) and prints the
 * stats document. Used by e2e/badinput_test.go: against a real Collector
 * (what the exported records carry) and with secrets in the environment
 * (what reaches stderr). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ffitel.h"

#define S(lit) lit, sizeof(lit) - 1

int main(int argc, char **argv) {
    int shutdown_ms = argc > 1 ? atoi(argv[1]) : 5000;
    if (ffitel_init_telemetry() != FFITEL_OK) return 2;
    static ffitel_attr many[200];
    static char keys[200][8];
    for (int i = 0; i < 200; i++) {
        int n = snprintf(keys[i], sizeof keys[i], "k%d", i);
        many[i] = (ffitel_attr){.key = keys[i], .key_len = (size_t)n, .type = FFITEL_ATTR_INT, .i = i};
    }
    ffitel_log_attrs(FFITEL_INFO, S("many typed"), many, 200, 0);
    static char doc[200 * 16];
    size_t len = 0;
    doc[len++] = '{';
    for (int i = 0; i < 200; i++) len += (size_t)snprintf(doc + len, sizeof doc - len, "%s\"k%d\":%d", i ? "," : "", i, i);
    doc[len++] = '}';
    ffitel_log(FFITEL_INFO, S("many json"), doc, len, 0);
    ffitel_log(FFITEL_INFO, S("nested in list"),
               S("{\"a\":1,\"l\":[[1,2],{\"k\":\"v\"}],\"big\":18446744073709551615}"), 0);
    ffitel_attr odd[] = {{.key = "nan", .key_len = 3, .type = FFITEL_ATTR_DOUBLE, .d = NAN},
                         {.key = "ok", .key_len = 2, .type = FFITEL_ATTR_STRING, .str = "yes", .str_len = 3}};
    ffitel_log_attrs(FFITEL_INFO, S("odd typed"), odd, 2, 0);
    uint64_t span = ffitel_span_start(S("hostile span"), 0, NULL, 0, S("{\"l\":[[1]],\"ok\":true}"), 0);
    ffitel_span_end(span, 0, NULL, 0);
    int rc = ffitel_shutdown(shutdown_ms);
    static char buf[1 << 16];
    int n = ffitel_stats_json(buf, sizeof buf);
    if (n < 0 || (size_t)n >= sizeof buf) return 3;
    printf("%d\n%s\n", rc, buf);
    return 0;
}
