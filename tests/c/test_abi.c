/*
 * C ABI conformance test for libffitel.so: every function, every error code,
 * bad input, 8 threads at once, and a forked child. Linked against the built
 * library; `make test` runs it under valgrind memcheck.
 *
 * Prints one line per failed check and a closing "N passed, N failed" line;
 * exits non-zero on any failure.
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ffitel.h"

static int passed, failed;

#define CHECK(cond, ...)                                             \
    do {                                                             \
        if (cond) {                                                  \
            passed++;                                                \
        } else {                                                     \
            failed++;                                                \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);   \
            printf(__VA_ARGS__);                                     \
            printf("\n");                                            \
        }                                                            \
    } while (0)

#define S(lit) lit, sizeof(lit) - 1

/* gobuf returns n bytes of heap for the library to write into (freed at
 * exit). Buffers that Go fills are on the heap, not the C stack: when the
 * calling thread switches between the C stack and a goroutine stack less
 * than valgrind's --max-stackframe (2 MB) apart, memcheck takes the switch
 * for a frame pushed or popped and marks the C frames in between undefined,
 * after Go wrote them (intermittent "uninitialised value" reports from
 * strstr on such buffers, eecb7e3's CI run). malloc'd memory is undefined
 * until written, so a byte the library failed to write is still reported. */
static void *gobufs[64];
static int ngobufs;
static void free_gobufs(void) {
    while (ngobufs > 0) free(gobufs[--ngobufs]);
}
static char *gobuf(size_t n) {
    if (ngobufs == 0) atexit(free_gobufs);
    if (ngobufs == (int)(sizeof gobufs / sizeof gobufs[0])) abort();
    char *p = malloc(n);
    if (p == NULL) abort();
    gobufs[ngobufs++] = p;
    return p;
}

/* GOBUF(name, n): char *name, n bytes from gobuf, and name_size, n, for
 * the calls that take its capacity: the size is written once. */
#define GOBUF(name, n) \
    char *name = gobuf(n); \
    const size_t name##_size = (n)

static char errbuf[1024];
static const char *last_error(void) {
    ffitel_last_error(errbuf, sizeof errbuf);
    return errbuf;
}

static void test_lifecycle_phase1(void) {
    CHECK(strcmp(ffitel_version(), FFITEL_VERSION) == 0, "version %s", ffitel_version());
    CHECK(ffitel_phase() == FFITEL_PHASE_NONE, "phase %d before init", ffitel_phase());
    CHECK(ffitel_init_console() == FFITEL_OK, "init_console: %s", last_error());
    CHECK(ffitel_init_console() == FFITEL_OK, "init_console is idempotent");
    CHECK(ffitel_phase() == FFITEL_PHASE_CONSOLE, "phase %d after init_console", ffitel_phase());
}

static void test_logs(void) {
    CHECK(ffitel_log(FFITEL_INFO, S("hello from C"), S("{\"order_id\":42,\"ok\":true,\"who\":\"c\"}"), 0) == FFITEL_OK,
          "plain log: %s", last_error());
    CHECK(ffitel_log(FFITEL_INFO, NULL, 0, NULL, 0, 0) == FFITEL_OK, "NULL with length 0 is empty: %s", last_error());
    CHECK(ffitel_log(FFITEL_INFO, NULL, 5, NULL, 0, 0) == FFITEL_E_INVALID, "NULL msg with length 5");
    CHECK(strstr(last_error(), "NULL") != NULL, "message names NULL: %s", errbuf);
    CHECK(ffitel_log(FFITEL_INFO, S("attrs NULL"), NULL, 3, 0) == FFITEL_E_INVALID, "NULL attrs with length 3");
    CHECK(ffitel_log(FFITEL_WARN, S("bad \xff\xfe utf8"), NULL, 0, 0) == FFITEL_E_INVALID, "invalid UTF-8");
    CHECK(strstr(last_error(), "UTF-8") != NULL, "message names UTF-8: %s", errbuf);
    CHECK(ffitel_log(FFITEL_INFO, S("malformed json"), S("{\"a\":"), 0) == FFITEL_E_INVALID, "malformed JSON");
    CHECK(strstr(last_error(), "JSON") != NULL, "message names JSON: %s", errbuf);
    CHECK(ffitel_log(FFITEL_INFO, S("array json"), S("[1,2]"), 0) == FFITEL_E_INVALID, "non-object JSON");
    CHECK(ffitel_log(FFITEL_INFO, S("nested json"), S("{\"http\":{\"method\":\"GET\",\"status\":200}}"), 0) == FFITEL_OK,
          "nested objects are flattened: %s", last_error());
    CHECK(ffitel_log(FFITEL_INFO, S("arrays"), S("{\"tags\":[\"a\",\"b\"],\"n\":[1,2.5]}"), 0) == FFITEL_OK,
          "arrays: %s", last_error());
    CHECK(ffitel_log(0, S("severity zero"), NULL, 0, 0) == FFITEL_E_INVALID, "severity 0");
    CHECK(ffitel_log(99, S("severity 99"), NULL, 0, 0) == FFITEL_E_INVALID, "severity 99");
    CHECK(ffitel_log(-7, S("severity -7"), NULL, 0, 0) == FFITEL_E_INVALID, "severity -7");
    CHECK(ffitel_log(FFITEL_INFO, S("unknown span"), NULL, 0, 987654321) == FFITEL_E_HANDLE, "unknown span handle");

    size_t huge = 2u << 20;
    char *big = malloc(huge + 2);
    memset(big, 'x', huge);
    CHECK(ffitel_log(FFITEL_INFO, big, huge, NULL, 0, 0) == FFITEL_OK, "2 MiB message is truncated: %s", last_error());
    big[0] = '{'; big[1] = '"'; big[2] = 'k'; big[3] = '"'; big[4] = ':'; big[5] = '"';
    big[huge - 2] = '"'; big[huge - 1] = '}';
    CHECK(ffitel_log(FFITEL_INFO, S("huge attrs"), big, huge, 0) == FFITEL_E_INVALID, "2 MiB attrs document");
    /* A 100 KiB attribute value: truncated, not an error. */
    size_t mid = 100u << 10;
    memcpy(big, "{\"k\":\"", 6);
    memset(big + 6, 'y', mid);
    memcpy(big + 6 + mid, "\"}", 2);
    CHECK(ffitel_log(FFITEL_INFO, S("long value"), big, mid + 8, 0) == FFITEL_OK, "long value: %s", last_error());
    free(big);

    /* A message just over the 64 KiB limit ending at an unmapped page: the
     * library must not read past the caller's bytes while truncating. */
    long page = sysconf(_SC_PAGESIZE);
    size_t span_len = (size_t)((65536 / page + 2) * page);
    char *region = mmap(NULL, span_len + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region != MAP_FAILED && mprotect(region + span_len, page, PROT_NONE) == 0) {
        size_t n = 65537;
        char *m = region + span_len - n;
        memset(m, 'z', n);
        CHECK(ffitel_log(FFITEL_INFO, m, n, NULL, 0, 0) == FFITEL_OK, "message at a guard page: %s", last_error());
        memset(region + span_len - 64, 'u', 64);
        CHECK(ffitel_histogram_record(S("guard.page"), 1, region + span_len - 64, 64, NULL, 0) == FFITEL_OK,
              "64-byte unit at a guard page is cut, not over-read: %s", last_error());
        munmap(region, span_len + page);
    }

    CHECK(ffitel_log_enabled(FFITEL_ERROR) == 1, "ERROR enabled");
    CHECK(ffitel_log_enabled(FFITEL_TRACE) == 0, "TRACE disabled at the default level");
}

/* Runs fn with file descriptor 2 redirected to a temporary file and returns
 * what was written there (static buffer). */
static char captured[4 << 20];
static const char *capture_stderr(void (*fn)(void), int flush) {
    fflush(stderr);
    FILE *tmp = tmpfile();
    int saved = dup(2);
    dup2(fileno(tmp), 2);
    fn();
    if (flush) ffitel_flush(2000);
    dup2(saved, 2);
    close(saved);
    size_t n = 0;
    rewind(tmp);
    n = fread(captured, 1, sizeof captured - 1, tmp);
    captured[n] = 0;
    fclose(tmp);
    return captured;
}

static int attrs_rc[8];
static void log_typed_attrs(void) {
    GOBUF(big, 20000);
    memset(big, 'v', big_size);
    ffitel_attr a[] = {
        {.key = "s", .key_len = 1, .type = FFITEL_ATTR_STRING, .str = "two words", .str_len = 9},
        {.key = "n", .key_len = 1, .type = FFITEL_ATTR_INT, .i = -42},
        {.key = "d", .key_len = 1, .type = FFITEL_ATTR_DOUBLE, .d = 1.5},
        {.key = "b", .key_len = 1, .type = FFITEL_ATTR_BOOL, .i = 7},
        {.key = "f", .key_len = 1, .type = FFITEL_ATTR_BOOL, .i = 0},
    };
    attrs_rc[0] = ffitel_log_attrs(FFITEL_INFO, S("typed"), a, 5, 0);
    ffitel_attr odd[] = {
        {.key = "bad\xff", .key_len = 4, .type = FFITEL_ATTR_STRING, .str = "x\xfey", .str_len = 3},
        {.key = "what", .key_len = 4, .type = 99},
        {.key = "kept", .key_len = 4, .type = FFITEL_ATTR_INT, .i = 1},
        {.key = "null", .key_len = 4, .type = FFITEL_ATTR_STRING, .str = NULL, .str_len = 3},
    };
    attrs_rc[1] = ffitel_log_attrs(FFITEL_INFO, S("odd typed"), odd, 4, 0);
    attrs_rc[2] = ffitel_log_attrs(FFITEL_INFO, S("null array"), NULL, 2, 0);
    ffitel_attr longv = {.key = "long", .key_len = 4, .type = FFITEL_ATTR_STRING, .str = big, .str_len = big_size};
    attrs_rc[3] = ffitel_log_attrs(FFITEL_INFO, S("long typed"), &longv, 1, 0);
    static ffitel_attr many[200];
    for (int i = 0; i < 200; i++) many[i] = (ffitel_attr){.key = "k", .key_len = 1, .type = FFITEL_ATTR_INT, .i = i};
    attrs_rc[4] = ffitel_log_attrs(FFITEL_INFO, S("many typed"), many, 200, 0);
    attrs_rc[5] = ffitel_log_attrs(FFITEL_INFO, S("no attrs typed"), NULL, 0, 0);
    attrs_rc[6] = ffitel_log_attrs(FFITEL_DEBUG - 4, S("below the level"), a, 5, 0);
    /* Issue #12: a list inside a list keeps the record's other attributes;
     * an integer beyond 64 bits keeps its digits. */
    attrs_rc[7] = ffitel_log(FFITEL_INFO, S("nested in list"),
                             S("{\"a\":1,\"l\":[[1,2],{\"k\":\"v\"}],\"big\":18446744073709551615}"), 0);
}

static void test_log_attrs(void) {
    const char *out = capture_stderr(log_typed_attrs, 1);
    CHECK(attrs_rc[0] == FFITEL_OK, "typed attrs: %d %s", attrs_rc[0], last_error());
    CHECK(strstr(out, "msg=typed s=\"two words\" n=-42 d=1.5 b=true f=false\n") != NULL, "typed line: %s", out);
    CHECK(attrs_rc[1] == FFITEL_E_INVALID, "odd typed attrs: %d", attrs_rc[1]);
    CHECK(strstr(out, "msg=\"odd typed\"") != NULL && strstr(out, "kept=1") != NULL &&
              strstr(out, "ffitel.invalid_attributes=true") != NULL && strstr(out, "what=") == NULL,
          "odd typed line keeps the good attributes and is marked: %s", out);
    CHECK(strstr(out, "x\xef\xbf\xbdy") != NULL, "invalid UTF-8 in a value is replaced: %s", out);
    CHECK(attrs_rc[2] == FFITEL_E_INVALID && strstr(out, "msg=\"null array\" ffitel.invalid_attributes=true") != NULL,
          "NULL array with a count: %d %s", attrs_rc[2], out);
    CHECK(attrs_rc[3] == FFITEL_OK && strstr(out, "ffitel.truncated=true") != NULL, "long value truncated: %d", attrs_rc[3]);
    /* 128 attributes in all, the marker included, so that an OTLP record
     * (limited to 128 too) carries the marker. */
    CHECK(attrs_rc[4] == FFITEL_OK && strstr(out, "k=126 ffitel.truncated=true") != NULL && strstr(out, "k=127") == NULL,
          "200 attributes keep 127 and the marker: %d", attrs_rc[4]);
    CHECK(attrs_rc[7] == FFITEL_OK && strstr(out, "msg=\"nested in list\" a=1 l=") != NULL &&
              strstr(out, "[1,2]") != NULL && strstr(out, "big=18446744073709551615") != NULL &&
              strstr(out, "msg=\"nested in list\" ffitel.invalid_attributes") == NULL,
          "nested list kept as JSON text, big integer as digits: %d %s", attrs_rc[7], out);
    CHECK(attrs_rc[5] == FFITEL_OK && strstr(out, "msg=\"no attrs typed\"\n") != NULL, "no attributes: %d", attrs_rc[5]);
    CHECK(attrs_rc[6] == FFITEL_OK && strstr(out, "below the level") == NULL, "below LOG_LEVEL: %d", attrs_rc[6]);
}

static void test_spans(void) {
    uint64_t root = ffitel_span_start(S("root"), 0, NULL, 0, S("{\"job\":\"x\"}"), FFITEL_KIND_SERVER);
    CHECK(root != 0, "root span: %s", last_error());
    uint64_t child = ffitel_span_start(S("child"), root, NULL, 0, NULL, 0, FFITEL_KIND_CLIENT);
    CHECK(child != 0 && child != root, "child span: %s", last_error());
    /* A NULL name with a length is bad input: counted, and the span still
     * starts, named "unnamed" (ffitel.h). */
    uint64_t unnamed = ffitel_span_start(NULL, 5, root, NULL, 0, NULL, 0, 0);
    CHECK(unnamed != 0 && strstr(last_error(), "name is NULL") != NULL, "a NULL name still starts a span: %s",
          errbuf);
    CHECK(ffitel_span_end(unnamed, 1, NULL, 0) == FFITEL_OK, "the unnamed span ends");

    GOBUF(tp, 64);
    GOBUF(tp_child, 64);
    int n = ffitel_span_traceparent(root, tp, tp_size);
    CHECK(n == 55 && strlen(tp) == 55 && strncmp(tp, "00-", 3) == 0, "traceparent %d %s", n, tp);
    ffitel_span_traceparent(child, tp_child, tp_child_size);
    CHECK(strncmp(tp, tp_child, 35) == 0, "child shares the trace id: %s vs %s", tp, tp_child);
    CHECK(strncmp(tp + 36, tp_child + 36, 16) != 0, "child has its own span id");
    GOBUF(small, 10);
    CHECK(ffitel_span_traceparent(root, small, small_size) == 55 && strlen(small) == 9,
          "short buffer gets the needed length and a NUL");
    CHECK(ffitel_span_traceparent(root, NULL, 0) == 55, "NULL buffer asks for the length");

    uint64_t remote = ffitel_span_start(S("remote child"), 0, tp, 55, NULL, 0, FFITEL_KIND_CONSUMER);
    GOBUF(tp_remote, 64);
    ffitel_span_traceparent(remote, tp_remote, tp_remote_size);
    CHECK(strncmp(tp, tp_remote, 35) == 0, "traceparent round trip joins the trace: %s vs %s", tp, tp_remote);

    uint64_t bad_tp = ffitel_span_start(S("bad tp"), 0, S("00-zz-yy-01"), NULL, 0, 0);
    CHECK(bad_tp != 0, "malformed traceparent still starts a span");
    GOBUF(tp_bad, 64);
    ffitel_span_traceparent(bad_tp, tp_bad, tp_bad_size);
    CHECK(strncmp(tp, tp_bad, 35) != 0, "malformed traceparent starts a new trace");

    CHECK(ffitel_span_start(S("orphan"), 123456789, NULL, 0, NULL, 0, 0) == 0, "unknown parent gives 0");
    CHECK(strstr(last_error(), "handle") != NULL, "message names the handle: %s", errbuf);
    uint64_t odd = ffitel_span_start(S("odd kind"), 0, NULL, 0, NULL, 0, 99);
    CHECK(odd != 0, "out-of-range kind still starts a span");

    CHECK(ffitel_log(FFITEL_INFO, S("inside child"), S("{\"step\":1}"), child) == FFITEL_OK, "log in span");
    CHECK(ffitel_span_set_attributes(child, S("{\"amount\":5}")) == FFITEL_OK, "set attributes");
    CHECK(ffitel_span_set_attributes(child, S("{oops")) == FFITEL_E_INVALID, "set bad attributes");
    CHECK(ffitel_span_set_attributes(424242, S("{}")) == FFITEL_E_HANDLE, "set attributes on unknown span");
    CHECK(ffitel_span_add_event(child, S("retrying"), S("{\"attempt\":2}")) == FFITEL_OK, "add event");
    CHECK(ffitel_span_add_event(424242, S("x"), NULL, 0) == FFITEL_E_HANDLE, "event on unknown span");
    CHECK(ffitel_span_end(child, 0, S("card declined")) == FFITEL_OK, "end with error");
    CHECK(ffitel_span_end(child, 1, NULL, 0) == FFITEL_E_HANDLE, "end twice");
    CHECK(ffitel_span_traceparent(child, tp, tp_size) == FFITEL_E_HANDLE, "traceparent of ended span");
    CHECK(ffitel_span_end(remote, 1, NULL, 0) == FFITEL_OK, "end remote");
    CHECK(ffitel_span_end(bad_tp, 1, NULL, 0) == FFITEL_OK, "end bad_tp");
    CHECK(ffitel_span_end(odd, 1, NULL, 0) == FFITEL_OK, "end odd");
    CHECK(ffitel_span_end(root, 1, NULL, 0) == FFITEL_OK, "end root");
    CHECK(ffitel_span_end(0, 1, NULL, 0) == FFITEL_E_HANDLE, "handle 0");
}

static void test_metrics(void) {
    CHECK(ffitel_counter_add(S("jobs.done"), 1, S("{\"queue\":\"mail\"}")) == FFITEL_OK, "counter: %s", last_error());
    CHECK(ffitel_counter_add(S("jobs.done"), -1, NULL, 0) == FFITEL_E_INVALID, "negative counter");
    CHECK(ffitel_counter_add(S("jobs.done"), NAN, NULL, 0) == FFITEL_E_INVALID, "NaN counter");
    CHECK(ffitel_counter_add(S("9bad name"), 1, NULL, 0) == FFITEL_E_INVALID, "bad instrument name");
    CHECK(ffitel_counter_add(NULL, 0, 1, NULL, 0) == FFITEL_E_INVALID, "empty name");
    CHECK(ffitel_histogram_record(S("batch.size"), 12, S("{item}"), NULL, 0) == FFITEL_OK, "histogram: %s", last_error());
    CHECK(ffitel_histogram_record(S("batch.size"), INFINITY, S("{item}"), NULL, 0) == FFITEL_E_INVALID, "inf histogram");
}

static void test_tasks(void) {
    uint64_t send = ffitel_span_start(S("send SendReport"), 0, NULL, 0, NULL, 0, FFITEL_KIND_PRODUCER);
    GOBUF(tp, 64);
    CHECK(ffitel_span_traceparent(send, tp, tp_size) == 55, "producer traceparent");
    uint64_t t = ffitel_task_start(S("SendReport"), S("report-worker"), S("task-1"), 1, tp, 55, NULL, 0, -1);
    CHECK(t != 0, "task_start: %s", last_error());
    GOBUF(tp_task, 64);
    CHECK(ffitel_span_traceparent(t, tp_task, tp_task_size) == 55, "task handle works as a span handle");
    CHECK(strncmp(tp, tp_task, 35) == 0, "attempt 1 joins the producer's trace: %s vs %s", tp, tp_task);
    CHECK(ffitel_log(FFITEL_INFO, S("inside task"), NULL, 0, t) == FFITEL_OK, "log inside task");
    CHECK(ffitel_task_end(t, 0, S("TimeoutError")) == FFITEL_OK, "task_end failed: %s", last_error());
    CHECK(ffitel_task_end(t, 1, NULL, 0) == FFITEL_E_HANDLE, "task_end twice");
    CHECK(ffitel_task_end(send, 1, NULL, 0) == FFITEL_E_HANDLE, "task_end on a span handle");
    CHECK(ffitel_span_end(send, 1, NULL, 0) == FFITEL_OK, "the span handle survived task_end's refusal");

    uint64_t retry = ffitel_task_start(S("SendReport"), S("report-worker"), S("task-1"), 2, tp, 55, NULL, 0, -1);
    GOBUF(tp_retry, 64);
    ffitel_span_traceparent(retry, tp_retry, tp_retry_size);
    CHECK(strncmp(tp, tp_retry, 35) != 0, "a retry starts a new trace (auto): %s vs %s", tp, tp_retry);
    CHECK(ffitel_task_end(retry, 1, NULL, 0) == FFITEL_OK, "retry end");

    /* The host's current span becomes a link when the carrier gives a parent. */
    uint64_t poll = ffitel_span_start(S("poll queue"), 0, NULL, 0, NULL, 0, FFITEL_KIND_CONSUMER);
    uint64_t in_poll = ffitel_task_start_in(poll, S("SendReport"), S("w"), S("task-2"), 1, tp, 55, NULL, 0, -1);
    CHECK(in_poll != 0, "task_start_in: %s", last_error());
    GOBUF(carrier, 256);
    int clen = ffitel_span_inject(in_poll, carrier, carrier_size);
    CHECK(clen > 0 && strstr(carrier, "\"traceparent\":\"00-") != NULL, "span_inject: %d %s", clen, carrier);
    CHECK(ffitel_task_end(in_poll, 1, NULL, 0) == FFITEL_OK, "end in_poll");
    CHECK(ffitel_span_end(poll, 1, NULL, 0) == FFITEL_OK, "end poll");
    uint64_t orphan = ffitel_task_start_in(987654, S("T"), NULL, 0, NULL, 0, 1, NULL, 0, NULL, 0, -1);
    CHECK(orphan != 0, "unknown current handle is ignored");
    CHECK(ffitel_task_end(orphan, 1, NULL, 0) == FFITEL_OK, "end orphan");
    CHECK(ffitel_span_inject(424242, carrier, carrier_size) == FFITEL_E_HANDLE, "inject unknown span");

    /* A framework names its messaging system and queue; NULL with a
     * non-zero length is refused like everywhere else. */
    uint64_t fw = ffitel_task_start_ex(0, S("celery"), S("mail"), S("tasks.add"), S("w"), S("t-3"), 1, tp, 55,
                                       NULL, 0, -1);
    CHECK(fw != 0, "task_start_ex: %s", last_error());
    CHECK(ffitel_task_end(fw, 1, NULL, 0) == FFITEL_OK, "end task_start_ex");
    uint64_t fw_bad = ffitel_task_start_ex(0, NULL, 6, NULL, 0, S("tasks.add"), NULL, 0, NULL, 0, 1, NULL, 0,
                                           NULL, 0, -1);
    CHECK(fw_bad != 0 && last_error()[0] != 0, "task_start_ex with NULL system starts and says why: %s",
          last_error());
    CHECK(ffitel_task_end(fw_bad, 1, NULL, 0) == FFITEL_OK, "end fw_bad");

    uint64_t bad = ffitel_task_start(S("SendReport"), NULL, 0, NULL, 0, 0, S("garbage"), NULL, 0, 7);
    CHECK(bad != 0, "malformed carrier, attempt 0 and propagation 7 still start a task");
    CHECK(ffitel_task_end(bad, 1, NULL, 0) == FFITEL_OK, "bad end");
    CHECK(ffitel_task_start(NULL, 0, NULL, 0, NULL, 0, 1, NULL, 0, NULL, 0, -1) == 0, "empty task type");
}

static void test_events(void) {
    GOBUF(id, 64);
    GOBUF(small, 8);
    static const char md[] = "{\"namespace\":\"payments\",\"correlation_id\":\"corr-1\",\"task_uuid\":\"t-1\"}";
    uint64_t all = ffitel_event_subscribe(S("*"));
    uint64_t pay = ffitel_event_subscribe(S("payment.*"));
    CHECK(all != 0 && pay != 0, "subscribe: %s", last_error());
    CHECK(ffitel_event_subscribe(S("pay*ment")) == 0, "bad pattern");
    int n = ffitel_event_publish(S("payment.processed"), S("{\"amount\":5}"), md, sizeof md - 1, 1, id, id_size);
    CHECK(n == 36 && strlen(id) == 36 && id[14] == '7', "fast publish returns a UUIDv7: %d %s", n, id);
    CHECK(ffitel_event_publish(S("order.created"), S("{}"), md, sizeof md - 1, 1, id, id_size) == 36, "order");
    CHECK(ffitel_event_publish(S("payment.processed"), S("{}"), md, sizeof md - 1, 0, id, id_size) ==
              FFITEL_E_UNAVAILABLE, "durable without a sink");
    CHECK(strstr(last_error(), "FFITEL_EVENTS_DURABLE_URL") != NULL, "message names the variable: %s", errbuf);
    CHECK(ffitel_event_publish(S("payment.processed"), S("{}"), S("{\"namespace\":\"p\"}"), 1, id, id_size) ==
              FFITEL_E_INVALID, "missing correlation id");
    CHECK(ffitel_event_publish(S("x"), S("{oops"), md, sizeof md - 1, 1, id, id_size) == FFITEL_E_INVALID, "bad payload");
    CHECK(ffitel_event_publish(S("x"), S("{}"), md, sizeof md - 1, 9, id, id_size) == FFITEL_E_INVALID, "bad delivery");
    CHECK(ffitel_event_publish(S("payment.processed"), S("{}"), md, sizeof md - 1, 1, small, small_size) ==
              FFITEL_E_INVALID, "an id buffer too small to retry is refused before publishing");
    /* Issue #12: what is wrong is said, and nothing is published. */
    CHECK(ffitel_event_publish(S("order.\0created"), S("{}"), md, sizeof md - 1, 1, id, id_size) == FFITEL_E_INVALID,
          "a NUL in the event name");
    CHECK(strstr(last_error(), "invalid event name") != NULL, "message: %s", errbuf);
    CHECK(ffitel_event_publish(S("order.\xed\xa0\x80"), S("{}"), md, sizeof md - 1, 1, id, id_size) ==
              FFITEL_E_INVALID, "a lone surrogate (invalid UTF-8) in the event name");
    CHECK(strstr(last_error(), "invalid event name") != NULL, "message: %s", errbuf);
    {
        size_t big = (1u << 20) + 10;
        char *p = malloc(big);
        memset(p, ' ', big);
        p[0] = '{';
        p[big - 1] = '}';
        CHECK(ffitel_event_publish(S("order.created"), p, big, md, sizeof md - 1, 1, id, id_size) == FFITEL_E_INVALID,
              "a payload over 1 MiB");
        CHECK(strstr(last_error(), "payload too large (1048586 bytes > 1048576)") != NULL, "message: %s", errbuf);
        free(p);
    }

    /* Inside a span, the publish joins its trace (metadata.traceparent). */
    uint64_t step = ffitel_span_start(S("step"), 0, NULL, 0, NULL, 0, 0);
    GOBUF(step_tp, 64);
    ffitel_span_traceparent(step, step_tp, step_tp_size);
    CHECK(ffitel_event_publish_in(step, S("order.created"), S("{}"), md, sizeof md - 1, 1, id, id_size) == 36,
          "publish_in: %s", last_error());
    CHECK(ffitel_event_publish_in(999999, S("order.created"), S("{}"), md, sizeof md - 1, 1, id, id_size) ==
              FFITEL_E_HANDLE, "publish_in with an unknown span");
    ffitel_span_end(step, 1, NULL, 0);

    GOBUF(buf, 2048);
    int need = ffitel_event_poll(pay, 1000, small, small_size);
    CHECK(need > (int)small_size, "short buffer gets the needed length: %d", need);
    int got = ffitel_event_poll(pay, 0, buf, buf_size);
    CHECK(got == need && strstr(buf, "\"event_name\":\"payment.processed\"") && strstr(buf, "\"amount\":5") &&
              strstr(buf, "\"correlation_id\":\"corr-1\""),
          "the event was kept for the bigger buffer: %s", buf);
    CHECK(ffitel_event_poll(pay, 10, buf, buf_size) == 0, "order.created does not match payment.*");
    CHECK(ffitel_event_poll(all, 0, buf, buf_size) > 0 && strstr(buf, "payment.processed"), "* sees payment");
    CHECK(ffitel_event_poll(all, 0, buf, buf_size) > 0 && strstr(buf, "order.created"), "* sees order");
    CHECK(ffitel_event_poll(all, 0, buf, buf_size) > 0 && strstr(buf, step_tp + 3) == NULL &&
              strncmp(strstr(buf, "\"traceparent\":\"") + 15, step_tp, 35) == 0,
          "the event published in the step carries the step's trace: %s vs %s", buf, step_tp);
    CHECK(ffitel_event_unsubscribe(pay) == FFITEL_OK, "unsubscribe");
    CHECK(ffitel_event_unsubscribe(pay) == FFITEL_E_HANDLE, "unsubscribe twice");
    CHECK(ffitel_event_poll(pay, 0, buf, buf_size) == FFITEL_E_HANDLE, "poll closed");
    CHECK(ffitel_event_unsubscribe(all) == FFITEL_OK, "unsubscribe all");
    GOBUF(stats, 4096);
    ffitel_stats_json(stats, stats_size);
    CHECK(strstr(stats, "\"fast_routed\":3") && strstr(stats, "\"routing_errors\":1") &&
              strstr(stats, "\"ffi_channel_dispatches\":4"),
          "router and bus stats: %s", stats);
}

static void on_usr1(int sig) { (void)sig; }

static void test_signal_onstack(void) {
    struct sigaction act, got;
    memset(&act, 0, sizeof act);
    act.sa_handler = on_usr1;
    sigaction(SIGUSR1, &act, NULL);
    CHECK(ffitel_signal_onstack(SIGUSR1) == FFITEL_OK, "signal_onstack: %s", last_error());
    sigaction(SIGUSR1, NULL, &got);
    CHECK((got.sa_flags & SA_ONSTACK) && got.sa_handler == on_usr1, "SA_ONSTACK added, handler kept");
    CHECK(ffitel_signal_onstack(0) == FFITEL_E_INVALID, "signal 0");
    CHECK(ffitel_signal_onstack(100000) == FFITEL_E_INVALID, "signal 100000");
    CHECK(raise(SIGUSR1) == 0, "the handler still runs");
}

/* pipeline.input_errors of the stats document. */
static long input_errors(void) {
    static char buf[1 << 16];
    ffitel_stats_json(buf, sizeof buf);
    const char *p = strstr(buf, "\"input_errors\":");
    return p ? strtol(p + strlen("\"input_errors\":"), NULL, 10) : -1;
}

static void test_stats(void) {
    /* A binding's own count reaches the library's (issue #12). */
    long before = input_errors();
    CHECK(ffitel_count_input_error() == FFITEL_OK, "count_input_error");
    CHECK(ffitel_count_input_error() == FFITEL_OK, "count_input_error");
    CHECK(input_errors() == before + 2, "input_errors %ld, want %ld", input_errors(), before + 2);
    int need = ffitel_stats_json(NULL, 0);
    CHECK(need > 0, "stats length %d", need);
    /* The document changes between calls (captured_at): retry until it fits,
     * as the buffer convention says. */
    char *buf = NULL;
    int got = need, tries = 0;
    do {
        need = got;
        buf = realloc(buf, need + 1);
        got = ffitel_stats_json(buf, need + 1);
    } while (got > need && ++tries < 5);
    CHECK(got <= need && strlen(buf) == (size_t)got, "stats written: %d of %d", got, need);
    CHECK(strstr(buf, "\"pipeline\"") && strstr(buf, "\"input_errors\"") && strstr(buf, "\"worker_id\""),
          "stats document: %s", buf);
    free(buf);
}

#define THREADS 8
#define PER_THREAD 2000
static void *worker(void *arg) {
    long id = (long)arg;
    long bad = 0;
    char msg[64], attrs[64]; /* written by C, in each thread: not gobuf's */
    for (int i = 0; i < PER_THREAD; i++) {
        uint64_t s = ffitel_span_start(S("thread work"), 0, NULL, 0, NULL, 0, 0);
        int ml = snprintf(msg, sizeof msg, "thread %ld record %d", id, i);
        int al = snprintf(attrs, sizeof attrs, "{\"thread\":%ld,\"i\":%d}", id, i);
        if (s == 0) bad++;
        if (ffitel_log(FFITEL_DEBUG, msg, ml, attrs, al, s) != FFITEL_OK) bad++;
        if (ffitel_counter_add(S("thread.records"), 1, NULL, 0) != FFITEL_OK) bad++;
        if (ffitel_span_end(s, 1, NULL, 0) != FFITEL_OK) bad++;
    }
    return (void *)bad;
}

static void test_threads(void) {
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, worker, (void *)i);
    long bad_total = 0;
    for (int i = 0; i < THREADS; i++) {
        void *bad;
        pthread_join(t[i], &bad);
        bad_total += (long)bad;
    }
    CHECK(bad_total == 0, "%ld failed calls from %d threads", bad_total, THREADS);
}

static void test_fork(void) {
    /* The child reports through a pipe rather than its exit status, which a
     * checker like valgrind may override. */
    int fds[2];
    if (pipe(fds) != 0) {
        CHECK(0, "pipe");
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        alarm(10); /* a hang kills the child, and the parent sees it */
        int rc = 0;
        if (ffitel_log(FFITEL_INFO, S("from the child"), NULL, 0, 0) != FFITEL_E_FORKED) rc |= 1;
        if (ffitel_span_start(S("child span"), 0, NULL, 0, NULL, 0, 0) != 0) rc |= 2;
        if (ffitel_phase() != FFITEL_E_FORKED) rc |= 4;
        if (ffitel_init_telemetry() != FFITEL_E_FORKED) rc |= 8;
        if (ffitel_shutdown(100) != FFITEL_E_FORKED) rc |= 16;
        char b[256]; /* filled by the C fork guard: no Go in the child */
        ffitel_last_error(b, sizeof b);
        if (strstr(b, "fork") == NULL) rc |= 32;
        if (strcmp(ffitel_version(), FFITEL_VERSION) != 0) rc |= 64;
        /* without the spool, span attributes and events stay refused too */
        if (ffitel_span_set_attributes(1, S("{\"a\":1}")) != FFITEL_E_FORKED ||
            ffitel_span_add_event(1, S("e"), S("{\"a\":1}")) != FFITEL_E_FORKED)
            rc |= 128;
        unsigned char report = (unsigned char)rc;
        if (write(fds[1], &report, 1) != 1) _exit(1);
        _exit(0);
    }
    close(fds[1]);
    unsigned char report = 0xff;
    ssize_t n = read(fds[0], &report, 1); /* EOF without a byte: the child hung (alarm) or crashed */
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(n == 1, "child sent no report (signal %d: hung or crashed)", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    CHECK(n == 1 && report == 0, "child checks failed: bits %d", report);
    CHECK(ffitel_log(FFITEL_INFO, S("parent still works after fork"), NULL, 0, 0) == FFITEL_OK, "parent after fork");
}

/* ---- phase 2: the ring of typed records ---------------------------------- */

#define RING_THREADS 4
#define RING_PER_THREAD 6000 /* 24 000 records: more than the 4096 slots */
static void *ring_worker(void *arg) {
    long id = (long)arg, bad = 0;
    for (int i = 0; i < RING_PER_THREAD; i++) {
        ffitel_attr a[] = {{.key = "t", .key_len = 1, .type = FFITEL_ATTR_INT, .i = id},
                           {.key = "seq", .key_len = 3, .type = FFITEL_ATTR_INT, .i = i}};
        if (ffitel_log_attrs(FFITEL_INFO, S("ring"), a, 2, 0) != FFITEL_OK) bad++;
    }
    return (void *)bad;
}

static int ring_rc[8];
static uint64_t ring_span;
static char ring_ids[128];
static void ring_calls(void) {
    ffitel_attr one = {.key = "order", .key_len = 5, .type = FFITEL_ATTR_INT, .i = 1};
    ring_rc[0] = ffitel_log_attrs(FFITEL_INFO, S("first typed"), &one, 1, 0);
    ring_rc[1] = ffitel_log(FFITEL_INFO, S("second json"), S("{\"order\":2}"), 0);
    one.i = 3;
    ring_rc[2] = ffitel_log_attrs(FFITEL_INFO, S("third typed"), &one, 1, 0);
    ring_span = ffitel_span_start(S("ring span"), 0, NULL, 0, NULL, 0, 0);
    GOBUF(tp, 64);
    ffitel_span_traceparent(ring_span, tp, tp_size);
    snprintf(ring_ids, sizeof ring_ids, "trace_id=%.32s span_id=%.16s", tp + 3, tp + 36);
    ring_rc[3] = ffitel_log_attrs(FFITEL_INFO, S("inside the span"), NULL, 0, ring_span);
    ring_rc[4] = ffitel_span_end(ring_span, 1, NULL, 0); /* right after: the record keeps its ids */
    ring_rc[5] = ffitel_log_attrs(FFITEL_INFO, S("ended span"), NULL, 0, ring_span);
    ring_rc[6] = ffitel_log_attrs(FFITEL_TRACE, S("below the level, phase 2"), NULL, 0, 0);
    pthread_t t[RING_THREADS];
    for (long i = 0; i < RING_THREADS; i++) pthread_create(&t[i], NULL, ring_worker, (void *)i);
    long bad = 0;
    for (int i = 0; i < RING_THREADS; i++) {
        void *b;
        pthread_join(t[i], &b);
        bad += (long)b;
    }
    ring_rc[7] = (int)bad;
}

static int ring_flush_rc;
static void ring_calls_flushed(void) {
    ring_calls();
    ring_flush_rc = ffitel_flush(5000);
}

static void test_ring_phase2(void) {
    const char *ring_out = capture_stderr(ring_calls_flushed, 0);
    int flush_rc = ring_flush_rc;
    CHECK(flush_rc == FFITEL_OK, "flush: %s", last_error());
    CHECK(ring_rc[0] == FFITEL_OK && ring_rc[1] == FFITEL_OK && ring_rc[2] == FFITEL_OK, "rc %d %d %d", ring_rc[0],
          ring_rc[1], ring_rc[2]);
    const char *a = strstr(ring_out, "msg=\"first typed\" order=1"), *b = strstr(ring_out, "msg=\"second json\" order=2"),
               *c = strstr(ring_out, "msg=\"third typed\" order=3");
    CHECK(a && b && c && a < b && b < c, "typed (ring) and JSON (synchronous) records keep their order: %p %p %p", (void *)a,
          (void *)b, (void *)c);
    GOBUF(want, 256);
    snprintf(want, want_size, "msg=\"inside the span\" %s", ring_ids);
    CHECK(ring_rc[3] == FFITEL_OK && strstr(ring_out, want) != NULL, "a queued record keeps the ids of a span ended "
                                                                     "right after: %s", want);
    CHECK(ring_rc[4] == FFITEL_OK, "span end: %d", ring_rc[4]);
    CHECK(ring_rc[5] == FFITEL_E_HANDLE && strstr(ring_out, "msg=\"ended span\"\n") != NULL,
          "an ended span's handle gives FFITEL_E_HANDLE on the ring path too, and the record is kept: %d", ring_rc[5]);
    CHECK(ring_rc[6] == FFITEL_OK && strstr(ring_out, "below the level, phase 2") == NULL, "below LOG_LEVEL: %d",
          ring_rc[6]);
    CHECK(ring_rc[7] == 0, "%d failed typed calls from %d threads", ring_rc[7], RING_THREADS);
    int next[RING_THREADS] = {0}, disorder = 0, total = 0;
    for (const char *p = ring_out; (p = strstr(p, "msg=ring t=")) != NULL; p++) {
        int t = -1, seq = -1;
        if (sscanf(p, "msg=ring t=%d seq=%d", &t, &seq) != 2 || t < 0 || t >= RING_THREADS) continue;
        if (seq != next[t]) disorder++;
        next[t] = seq + 1;
        total++;
    }
    CHECK(total == RING_THREADS * RING_PER_THREAD && disorder == 0,
          "%d of %d records from %d threads through a ring of 4096 slots, %d out of order", total,
          RING_THREADS * RING_PER_THREAD, RING_THREADS, disorder);
}

/* Phase 2: an ERROR on the typed path is out before the call returns (no
 * flush); a handle that shares a table slot with an open span but was never
 * issued is unknown; lengths like (size_t)-1 neither crash nor read past
 * what the limits allow. */
static int rc_typed_error;
static void log_typed_error(void) {
    ffitel_attr e = {.key = "k", .key_len = 1, .type = FFITEL_ATTR_INT, .i = 1};
    rc_typed_error = ffitel_log_attrs(FFITEL_ERROR, S("typed error before a crash"), &e, 1, 0);
}

/* Severity numbers on the typed path in phase 2: the ring takes only what
 * Go's mapping accepts, so an unknown number still gets FFITEL_E_INVALID and
 * is logged as INFO with its marker, as on the synchronous path. */
static int sev_rc[4];
static void log_typed_severities(void) {
    sev_rc[0] = ffitel_log_attrs(0, S("typed severity 0"), NULL, 0, 0);
    sev_rc[1] = ffitel_log_attrs(FFITEL_FATAL + 4, S("typed severity 25"), NULL, 0, 0);
    sev_rc[2] = ffitel_log_attrs(FFITEL_FATAL + 3, S("typed FATAL4"), NULL, 0, 0);
    sev_rc[3] = ffitel_log_attrs(FFITEL_WARN + 1, S("typed WARN2"), NULL, 0, 0);
}

/* The line of buf holding needle (static buffer; empty when none). */
static const char *line_with(const char *buf, const char *needle) {
    static char line[512];
    line[0] = 0;
    const char *p = strstr(buf, needle);
    if (p == NULL) return line;
    while (p > buf && p[-1] != '\n') p--;
    size_t n = strcspn(p, "\n");
    if (n >= sizeof line) n = sizeof line - 1;
    memcpy(line, p, n);
    line[n] = 0;
    return line;
}

static void test_ring_severities(void) {
    const char *out = capture_stderr(log_typed_severities, 1);
    const char *l = line_with(out, "typed severity 0");
    CHECK(sev_rc[0] == FFITEL_E_INVALID && strstr(l, "level=INFO") && strstr(l, "ffitel.invalid_severity=0"),
          "severity 0, typed, phase 2: %d [%s]", sev_rc[0], l);
    l = line_with(out, "typed severity 25");
    CHECK(sev_rc[1] == FFITEL_E_INVALID && strstr(l, "level=INFO") && strstr(l, "ffitel.invalid_severity=25"),
          "severity 25, typed, phase 2: %d [%s]", sev_rc[1], l);
    l = line_with(out, "typed FATAL4");
    CHECK(sev_rc[2] == FFITEL_OK && strstr(l, "level=FATAL"), "FATAL4, typed, phase 2: %d [%s]", sev_rc[2], l);
    l = line_with(out, "typed WARN2");
    CHECK(sev_rc[3] == FFITEL_OK && strstr(l, "level=WARN"), "WARN2, typed, phase 2: %d [%s]", sev_rc[3], l);
}

static void test_ring_edges(void) {
    const char *buf = capture_stderr(log_typed_error, 0); /* no flush: the error must already be out */
    int rc_err = rc_typed_error;
    CHECK(rc_err == FFITEL_OK && strstr(buf, "typed error before a crash") != NULL,
          "an ERROR on the typed path is written before the call returns: %d %s", rc_err, buf);

    uint64_t open_span = ffitel_span_start(S("slot owner"), 0, NULL, 0, NULL, 0, 0);
    CHECK(open_span != 0, "span: %s", last_error());
    CHECK(ffitel_log_attrs(FFITEL_INFO, S("alias"), NULL, 0, open_span + (1u << 16)) == FFITEL_E_HANDLE,
          "a never-issued handle sharing the open span's slot is unknown");
    CHECK(ffitel_log_attrs(FFITEL_INFO, S("max handle"), NULL, 0, UINT64_MAX) == FFITEL_E_HANDLE, "UINT64_MAX handle");
    CHECK(ffitel_log_attrs(FFITEL_INFO, S("own span"), NULL, 0, open_span) == FFITEL_OK, "the open span: %s",
          last_error());
    ffitel_span_end(open_span, 1, NULL, 0);

    size_t big = 70 << 10;
    char *mem = malloc(big);
    memset(mem, 'x', big);
    CHECK(ffitel_log(FFITEL_INFO, mem, (size_t)-1, NULL, 0, 0) == FFITEL_OK, "msg_len (size_t)-1, JSON path: %s",
          last_error());
    CHECK(ffitel_log_attrs(FFITEL_INFO, mem, (size_t)-1, NULL, 0, 0) == FFITEL_OK,
          "msg_len (size_t)-1, typed path: %s", last_error());
    ffitel_attr huge[] = {{.key = mem, .key_len = (size_t)-1, .type = FFITEL_ATTR_STRING, .str = mem, .str_len = (size_t)-1}};
    CHECK(ffitel_log_attrs(FFITEL_INFO, S("huge attr"), huge, 1, 0) == FFITEL_OK, "key and value (size_t)-1: %s",
          last_error());
    free(mem);
    CHECK(ffitel_flush(5000) == FFITEL_OK, "flush");
}

static void test_phase2_and_shutdown(void) {
    CHECK(ffitel_init_telemetry() == FFITEL_OK, "init_telemetry: %s", last_error());
    CHECK(ffitel_init_telemetry() == FFITEL_OK, "init_telemetry is idempotent");
    CHECK(ffitel_phase() == FFITEL_PHASE_TELEMETRY, "phase %d", ffitel_phase());
    CHECK(ffitel_log(FFITEL_INFO, S("phase 2, flushed"), NULL, 0, 0) == FFITEL_OK, "log in phase 2");
    CHECK(ffitel_flush(2000) == FFITEL_OK, "flush: %s", last_error());
    CHECK(ffitel_flush(-1) == FFITEL_OK, "flush with the default bound: %s", last_error());
    test_ring_phase2();
    test_ring_edges();
    test_ring_severities();
    uint64_t forgotten = ffitel_span_start(S("forgotten"), 0, NULL, 0, NULL, 0, 0);
    CHECK(forgotten != 0, "forgotten span");
    CHECK(ffitel_shutdown(2000) == FFITEL_OK, "shutdown: %s", last_error());
    CHECK(ffitel_phase() == FFITEL_PHASE_SHUTDOWN, "phase %d after shutdown", ffitel_phase());
    CHECK(ffitel_shutdown(-1) == FFITEL_OK, "shutdown is idempotent");
    CHECK(ffitel_init_telemetry() == FFITEL_E_STATE, "init_telemetry after shutdown");
    CHECK(ffitel_span_end(forgotten, 1, NULL, 0) == FFITEL_E_HANDLE, "shutdown ended the forgotten span");
    CHECK(ffitel_log(FFITEL_ERROR, S("after shutdown, console only"), NULL, 0, 0) == FFITEL_OK, "log after shutdown");
    GOBUF(eid, 64);
    CHECK(ffitel_event_publish(S("a.b"), S("{}"), S("{\"namespace\":\"n\",\"correlation_id\":\"c\"}"), 1, eid,
                               eid_size) == FFITEL_E_STATE, "publish after shutdown");
    GOBUF(buf, 4096);
    ffitel_stats_json(buf, buf_size);
    CHECK(strstr(buf, "\"spans_ended_at_shutdown\":1") != NULL, "stats count the forgotten span: %s", buf);
    CHECK(strstr(buf, "\"input_errors\":0") == NULL, "stats count bad input: %s", buf);
}

static void test_abi_version_and_doctor(void) {
    CHECK(ffitel_abi_version() == FFITEL_ABI_VERSION, "abi version %d", ffitel_abi_version());
    /* Export is off here: the report says so at once. A buffer too small
     * keeps the report for the next call, which does not run the checks again. */
    GOBUF(small, 8);
    int n = ffitel_doctor_json(1000, small, small_size);
    CHECK(n >= (int)small_size, "doctor into a small buffer returns the length needed: %d", n);
    char *buf = malloc((size_t)n + 1);
    int m = ffitel_doctor_json(1000, buf, (size_t)n + 1);
    CHECK(m == n, "the kept report: %d, then %d", n, m);
    CHECK(strstr(buf, "\"exit_code\":2") != NULL && strstr(buf, "TELEMETRY_ENABLED") != NULL,
          "doctor with export off: %s", buf);
    free(buf);
    CHECK(ffitel_phase() == FFITEL_PHASE_TELEMETRY, "doctor ran phase 2: %d", ffitel_phase());
}

int main(void) {
    test_lifecycle_phase1();
    test_logs();
    test_log_attrs();
    test_spans();
    test_metrics();
    test_tasks();
    test_events();
    test_stats();
    test_signal_onstack();
    test_threads();
    test_fork();
    test_abi_version_and_doctor();
    test_phase2_and_shutdown();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
