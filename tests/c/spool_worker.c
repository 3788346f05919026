/* spool_worker: the C worker of the spool tests (e2e/spool_test.go), run
 * with FFITEL_SPOOL_DIR set. Modes:
 *   crash N [S]     log N records (one in ten inside a span) and end S
 *                   child spans, then SIGKILL itself before anything is
 *                   exported
 *   ship EXPECT MS  wait up to MS for EXPECT records recovered from dead
 *                   owners, print the stats, shut down, print them again
 *   log N RATE MS   log N records at RATE per second (0: at once), printing
 *                   the RSS every second on stderr; flush within MS, print
 *                   the time taken to log and to flush ("timing"), the
 *                   stats, shut down within 2 s, print them again
 *   spare N RATE    log N records at RATE per second, wait up to 30 s for
 *                   the spare segment the shipper makes ready (an empty
 *                   segment in FFITEL_SPOOL_DIR), print "spare ready", then
 *                   SIGKILL itself
 *   fork K N MS     fork K children after phase 2; each logs N records
 *                   inside its own span (with attributes and events), ends
 *                   a failed span and exits with _exit; the parent
 *                   waits up to MS for them to be recovered from the spool,
 *                   prints the stats and shuts down
 * Stats lines start with "stats ", RSS lines with "rss_kb ". */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ffitel.h"

static char stats[1 << 16];

static void print_stats(void) {
  int n = ffitel_stats_json(stats, sizeof stats);
  if (n < 0 || (size_t)n >= sizeof stats) exit(3);
  printf("stats %s\n", stats);
  fflush(stdout);
}

static long rss_kb(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long pages = 0, res = 0;
  if (f) {
    if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0;
    fclose(f);
  }
  return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static void log_one(const char *body, int i, uint64_t span) {
  char s[32];
  int sl = snprintf(s, sizeof s, "value-%d", i);
  ffitel_attr a[3] = {
      {.key = "i", .key_len = 1, .type = FFITEL_ATTR_INT, .i = i},
      {.key = "s", .key_len = 1, .type = FFITEL_ATTR_STRING, .str = s, .str_len = (size_t)sl},
      {.key = "pid", .key_len = 3, .type = FFITEL_ATTR_INT, .i = getpid()},
  };
  int rc = ffitel_log_attrs(FFITEL_INFO, body, strlen(body), a, 3, span);
  if (rc != FFITEL_OK) {
    fprintf(stderr, "ffitel_log_attrs: %d\n", rc);
    exit(1);
  }
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 1 if dir holds an empty, unsealed segment (a spare: committed offset at
 * the header's end, no record). */
static int has_spare(const char *dir) {
  DIR *d = opendir(dir);
  if (d == NULL) return 0;
  int found = 0;
  struct dirent *e;
  while (!found && (e = readdir(d)) != NULL) {
    size_t l = strlen(e->d_name);
    if (l < 4 || strcmp(e->d_name + l - 4, ".seg") != 0) continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    int fd = open(path, O_RDONLY);
    if (fd < 0) continue;
    unsigned char h[48];
    uint32_t first = 1;
    uint64_t committed = 0;
    uint32_t sealed = 1;
    if (pread(fd, h, sizeof h, 0) == (ssize_t)sizeof h && memcmp(h, "FFSPOOL1", 8) == 0 &&
        pread(fd, &first, 4, 4096) == 4) {
      memcpy(&committed, h + 16, 8);
      memcpy(&sealed, h + 40, 4);
      found = committed == 4096 && sealed == 0 && first == 0;
    }
    close(fd);
  }
  closedir(d);
  return found;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  if (ffitel_init_telemetry() != FFITEL_OK) return 2;
  if (strcmp(argv[1], "crash") == 0 && argc > 2) {
    int n = atoi(argv[2]);
    uint64_t span = ffitel_span_start("spool crash span", 16, 0, NULL, 0, NULL, 0, 0);
    for (int i = 0; i < n; i++) log_one("spool crash record", i, i % 10 == 0 ? span : 0);
    int spans = argc > 3 ? atoi(argv[3]) : 0;
    for (int k = 0; k < spans; k++) {
      char attrs[32];
      int al = snprintf(attrs, sizeof attrs, "{\"k\":%d}", k);
      uint64_t child = ffitel_span_start("spool crash child", 17, span, NULL, 0, attrs, (size_t)al, 0);
      if (child == 0 || ffitel_span_end(child, k % 2, "odd", k % 2 ? 0 : 3) != FFITEL_OK) return 5;
    }
    printf("logged %d\n", n);
    fflush(stdout);
    kill(getpid(), SIGKILL);
    return 4;
  }
  if (strcmp(argv[1], "spare") == 0 && argc > 3) {
    int n = atoi(argv[2]), rate = atoi(argv[3]);
    long long start = now_ms();
    for (int i = 0; i < n; i++) {
      log_one("spool spare record", i, 0);
      long long due = start + (long long)(i + 1) * 1000 / rate, t = now_ms();
      if (due > t) usleep((useconds_t)(due - t) * 1000);
    }
    const char *dir = getenv("FFITEL_SPOOL_DIR");
    for (long long until = now_ms() + 30000; now_ms() < until && !has_spare(dir);) usleep(10 * 1000);
    printf("logged %d\n%s\n", n, has_spare(dir) ? "spare ready" : "no spare");
    fflush(stdout);
    kill(getpid(), SIGKILL);
    return 4;
  }
  if (strcmp(argv[1], "ship") == 0 && argc > 3) {
    long long expect = atoll(argv[2]), start = now_ms(), deadline = start + atoi(argv[3]);
    while (now_ms() < deadline) {
      int n = ffitel_stats_json(stats, sizeof stats);
      char *p = n > 0 ? strstr(stats, "\"recovered\":") : NULL;
      if (p && atoll(p + 12) >= expect) break;
      usleep(10 * 1000);
    }
    printf("recovered_ms %lld\n", now_ms() - start);
    print_stats();
    ffitel_shutdown(10000);
    print_stats();
    return 0;
  }
  if (strcmp(argv[1], "fork") == 0 && argc > 4) {
    int k = atoi(argv[2]), n = atoi(argv[3]);
    long long deadline = now_ms() + atoi(argv[4]);
    log_one("spool fork parent record", 0, 0);
    uint64_t parent_span = ffitel_span_start("spool fork parent", 17, 0, NULL, 0, NULL, 0, 0);
    for (int c = 0; c < k; c++) {
      pid_t pid = fork();
      if (pid < 0) return 6;
      if (pid == 0) {
        /* Attributes and events of a child span: through C alone, within
         * the parent's span limits (the e2e test sets
         * OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT=6, OTEL_SPAN_EVENT_COUNT_LIMIT=3). */
        char attrs[256];
        int al = snprintf(attrs, sizeof attrs,
                          "{\"child\":%d,\"nested\":{\"k\":\"v\"},\"ratio\":0.5,\"ok\":true,"
                          "\"list\":[1,2],\"esc\":\"q\\\"\\u00e9\"}",
                          c);
        uint64_t span = ffitel_span_start("spool fork child", 16, 0, NULL, 0, attrs, (size_t)al, 1);
        if (span == 0) _exit(7);
        al = snprintf(attrs, sizeof attrs, "{\"child\":%d,\"extra\":1}", 100 + c); /* replaced; dropped */
        if (ffitel_span_set_attributes(span, attrs, (size_t)al) != FFITEL_OK) _exit(10);
        if (ffitel_span_set_attributes(span, "{\"x\":1,", 7) != FFITEL_E_INVALID) _exit(11);
        if (ffitel_span_set_attributes(parent_span, "{\"x\":1}", 7) != FFITEL_E_FORKED) _exit(12);
        for (int i = 0; i < n; i++) log_one("spool fork record", i, span);
        for (int e = 0; e < 5; e++) {
          al = snprintf(attrs, sizeof attrs, "{\"n\":%d}", e);
          if (ffitel_span_add_event(span, "tick", 4, attrs, (size_t)al) != FFITEL_OK) _exit(13);
        }
        al = snprintf(attrs, sizeof attrs, "{\"records\":%d,\"note\":\"done\"}", n);
        if (ffitel_span_add_event(span, "checkpoint", 10, attrs, (size_t)al) != FFITEL_OK) _exit(14);
        if (ffitel_span_end(span, 1, NULL, 0) != FFITEL_OK) _exit(8);
        uint64_t failing = ffitel_span_start("spool fork failing", 18, 0, NULL, 0, NULL, 0, 0);
        if (failing == 0 || ffitel_span_end(failing, 0, "boom", 4) != FFITEL_OK) _exit(15);
        /* still refused without the spool: */
        if (ffitel_flush(100) != FFITEL_E_FORKED) _exit(9);
        _exit(0);
      }
    }
    for (int c = 0; c < k; c++) {
      int st;
      if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        printf("child failed: %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        return 6;
      }
    }
    long long want = (long long)k * n;
    while (now_ms() < deadline) {
      int got = ffitel_stats_json(stats, sizeof stats);
      char *p = got > 0 ? strstr(stats, "\"recovered\":") : NULL;
      char *q = got > 0 ? strstr(stats, "\"spans_recovered\":") : NULL;
      if (p && q && atoll(p + 12) >= want && atoll(q + 18) >= 2 * k) break;
      usleep(100 * 1000);
    }
    ffitel_span_end(parent_span, 1, NULL, 0);
    print_stats();
    ffitel_shutdown(10000);
    return 0;
  }
  if (strcmp(argv[1], "log") == 0 && argc > 4) {
    int n = atoi(argv[2]), rate = atoi(argv[3]), flush_ms = atoi(argv[4]);
    long long start = now_ms(), last = start;
    for (int i = 0; i < n; i++) {
      log_one("spool log record", i, 0);
      if (rate > 0) {
        long long due = start + (long long)(i + 1) * 1000 / rate, t = now_ms();
        if (due > t) usleep((useconds_t)(due - t) * 1000);
      }
      if (now_ms() - last >= 1000) {
        last = now_ms();
        fprintf(stderr, "rss_kb %ld\n", rss_kb());
      }
    }
    fprintf(stderr, "rss_kb %ld\n", rss_kb());
    long long logged = now_ms();
    printf("flush %d\n", ffitel_flush(flush_ms));
    printf("timing logged_ms %lld flushed_ms %lld\n", logged - start, now_ms() - start);
    print_stats();
    ffitel_shutdown(2000);
    print_stats();
    return 0;
  }
  return 2;
}
