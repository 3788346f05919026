/*
 * Host-side benchmark of libffitel.so from C: library size, dlopen time,
 * time to be logging in phase 1, resident memory added, and ns per call of
 * ffitel_log (three attributes) in phase 1 and phase 2, of ffitel_log_attrs
 * (the same attributes typed) in phase 2, and of a span
 * start+end, beside fprintf of the same line to /dev/null.
 *
 * Run through e2e/cmd/withcollector so phase 2 exports to a real Collector
 * (make bench). The library's console output goes to /dev/null.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ffitel.h"

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* CPU time of the calling thread: the host-thread cost, without the export
 * goroutine and the Collector that share the machine's cores. */
static double cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static long rss_kb(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
        fclose(f);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

#define S(lit) lit, sizeof(lit) - 1
#define LOAD(sym) typeof(&sym) p_##sym = (typeof(&sym))dlsym(h, #sym)

int main(int argc, char **argv) {
    const char *lib = argc > 1 ? argv[1] : "build/libffitel.so";
    int n = argc > 2 ? atoi(argv[2]) : 200000;
    /* The library logs to stderr: send it to /dev/null, report on stdout. */
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);

    struct stat st;
    stat(lib, &st);
    long rss0 = rss_kb();
    double t0 = now_ns();
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    double t1 = now_ns();
    if (!h) {
        printf("dlopen %s: %s\n", lib, dlerror());
        return 1;
    }
    LOAD(ffitel_init_console);
    LOAD(ffitel_init_telemetry);
    LOAD(ffitel_log);
    LOAD(ffitel_log_attrs);
    LOAD(ffitel_flush);
    LOAD(ffitel_phase);
    LOAD(ffitel_span_start);
    LOAD(ffitel_span_end);
    LOAD(ffitel_shutdown);
    LOAD(ffitel_stats_json);

    double t2 = now_ns();
    p_ffitel_init_console();
    p_ffitel_log(FFITEL_INFO, S("first"), NULL, 0, 0);
    double t3 = now_ns();
    long rss1 = rss_kb();

    static const char attrs[] = "{\"order_id\":42,\"customer\":\"c-123\",\"paid\":true}";
    char msg[64];

    /* Baseline: what a C program would do without ffitel. */
    FILE *null = fopen("/dev/null", "w");
    double b0 = now_ns(), bc = cpu_ns();
    for (int i = 0; i < n; i++) {
        fprintf(null, "time=%.0f level=INFO msg=\"charged card\" order_id=%d customer=%s paid=%s\n", b0, 42, "c-123",
                "true");
        fflush(null); /* one write per line, as a logger must */
    }
    double base = (now_ns() - b0) / n, base_cpu = (cpu_ns() - bc) / n;

    double p0 = now_ns(), pc = cpu_ns();
    for (int i = 0; i < n; i++) p_ffitel_log(FFITEL_INFO, S("charged card"), attrs, sizeof attrs - 1, 0);
    double phase1 = (now_ns() - p0) / n, phase1_cpu = (cpu_ns() - pc) / n;

    double i0 = now_ns();
    p_ffitel_init_telemetry();
    double init2 = now_ns() - i0;

    double q0 = now_ns(), qc = cpu_ns();
    for (int i = 0; i < n; i++) p_ffitel_log(FFITEL_INFO, S("charged card"), attrs, sizeof attrs - 1, 0);
    double phase2 = (now_ns() - q0) / n, phase2_cpu = (cpu_ns() - qc) / n;
    p_ffitel_flush(60000); /* the next case starts with empty queues */

    /* The same record through the typed fast path (the phase-2 ring). */
    const ffitel_attr typed[] = {
        {.key = "order_id", .key_len = 8, .type = FFITEL_ATTR_INT, .i = 42},
        {.key = "customer", .key_len = 8, .type = FFITEL_ATTR_STRING, .str = "c-123", .str_len = 5},
        {.key = "paid", .key_len = 4, .type = FFITEL_ATTR_BOOL, .i = 1},
    };
    double r0 = now_ns(), rc0 = cpu_ns();
    for (int i = 0; i < n; i++) p_ffitel_log_attrs(FFITEL_INFO, S("charged card"), typed, 3, 0);
    double ring = (now_ns() - r0) / n, ring_cpu = (cpu_ns() - rc0) / n;
    p_ffitel_flush(60000);

    /* The same, paced: bursts of 1000 calls with a 20 ms pause, so the
     * goroutines keep up and the host thread pays only its own part (the
     * loops above outrun them and the caller takes over their work). */
    double paced_cpu = 0, paced_worst = 0;
    struct rusage ru0, ru1;
    getrusage(RUSAGE_THREAD, &ru0);
    for (int done = 0; done < n; done += 1000) {
        double c = cpu_ns();
        for (int i = 0; i < 1000; i++) p_ffitel_log_attrs(FFITEL_INFO, S("charged card"), typed, 3, 0);
        double burst = cpu_ns() - c;
        paced_cpu += burst;
        if (burst > paced_worst) paced_worst = burst;
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    getrusage(RUSAGE_THREAD, &ru1);
    paced_cpu /= n;
    p_ffitel_flush(60000);

    double e0 = cpu_ns();
    for (int i = 0; i < n; i++) p_ffitel_phase();
    double empty_cpu = (cpu_ns() - e0) / n;

    int ns = n / 4;
    double s0 = now_ns(), sc = cpu_ns();
    for (int i = 0; i < ns; i++) {
        uint64_t s = p_ffitel_span_start(S("work"), 0, NULL, 0, NULL, 0, 0);
        p_ffitel_span_end(s, 1, NULL, 0);
    }
    double span = (now_ns() - s0) / ns, span_cpu = (cpu_ns() - sc) / ns;
    long rss2 = rss_kb();

    double d0 = now_ns();
    p_ffitel_shutdown(30000);
    double down = now_ns() - d0;
    char stats[4096];
    p_ffitel_stats_json(stats, sizeof stats);
    (void)msg;

    printf("| measure | value |\n|---|---|\n");
    printf("| library size | %.1f MB |\n", st.st_size / 1e6);
    printf("| dlopen | %.2f ms |\n", (t1 - t0) / 1e6);
    printf("| ffitel_init_console + first log | %.3f ms |\n", (t3 - t2) / 1e6);
    printf("| dlopen to logging in phase 1 | %.2f ms |\n", (t3 - t0) / 1e6);
    printf("| RSS added by load + phase 1 | %.1f MB |\n", (rss1 - rss0) / 1024.0);
    printf("| RSS added after phase 2 and %d records | %.1f MB |\n", 2 * n, (rss2 - rss0) / 1024.0);
    printf("| ffitel_init_telemetry | %.2f ms |\n", init2 / 1e6);
    printf("| ffitel_shutdown (flush of what is queued) | %.0f ms |\n", down / 1e6);
    printf("| console (FFITEL_LOG_OUTPUT) | %s |\n", getenv("FFITEL_LOG_OUTPUT") ? getenv("FFITEL_LOG_OUTPUT") : "stderr -> /dev/null");
    printf("\n| per call (%d calls) | wall ns | host-thread CPU ns | CPU vs baseline |\n|---|---|---|---|\n", n);
    printf("| fprintf + fflush of the same line to /dev/null (baseline) | %.0f | %.0f | 1.0x |\n", base, base_cpu);
    printf("| ffitel_log, 3 attributes, phase 1 (console to /dev/null) | %.0f | %.0f | %.1fx |\n", phase1, phase1_cpu,
           phase1_cpu / base_cpu);
    printf("| ffitel_log, 3 attributes, phase 2 (console + OTLP) | %.0f | %.0f | %.1fx |\n", phase2, phase2_cpu,
           phase2_cpu / base_cpu);
    printf("| ffitel_log_attrs, 3 typed attributes, phase 2 (console + OTLP) | %.0f | %.0f | %.1fx |\n", ring,
           ring_cpu, ring_cpu / base_cpu);
    printf("| ffitel_log_attrs, paced (bursts of 1000, 20 ms apart), phase 2 | | %.0f | %.1fx |\n", paced_cpu,
           paced_cpu / base_cpu);
    printf("| paced: host-thread page faults (minor, major), worst burst of 1000 | | %ld, %ld, %.0f us | |\n",
           ru1.ru_minflt - ru0.ru_minflt, ru1.ru_majflt - ru0.ru_majflt, paced_worst / 1e3);
    printf("| ffitel_phase (an empty call into Go) | | %.0f | |\n", empty_cpu);
    printf("| ffitel_span_start + ffitel_span_end, phase 2 | %.0f | %.0f | |\n", span, span_cpu);
    printf("\nstats: %s\n", stats);
    return 0;
}
