/* burst: THREADS threads log PER_THREAD records each through the C ABI,
 * then shut down with a generous bound and print the log pipeline stats.
 * Used by e2e/burst_test.go against a real Collector. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ffitel.h"

static int per_thread = 50000;

static void *work(void *arg) {
  long t = (long)arg;
  char attrs[64];
  for (int i = 0; i < per_thread; i++) {
    int n = snprintf(attrs, sizeof attrs, "{\"thread\":%ld,\"i\":%d}", t, i);
    int rc = ffitel_log(9, "c burst record", strlen("c burst record"), attrs, (size_t)n, 0);
    if (rc != FFITEL_OK) {
      fprintf(stderr, "ffitel_log: %d\n", rc);
      exit(1);
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 8;
  if (argc > 2) per_thread = atoi(argv[2]);
  int shutdown_ms = argc > 3 ? atoi(argv[3]) : 150000;
  if (ffitel_init_telemetry() != FFITEL_OK) return 2;
  pthread_t tid[64];
  if (threads > 64) threads = 64;
  for (long t = 0; t < threads; t++) pthread_create(&tid[t], NULL, work, (void *)t);
  for (int t = 0; t < threads; t++) pthread_join(tid[t], NULL);
  int rc = ffitel_shutdown(shutdown_ms);
  static char buf[1 << 16];
  int n = ffitel_stats_json(buf, sizeof buf);
  if (n < 0 || (size_t)n >= sizeof buf) return 3;
  printf("%d\n%s\n", rc, buf);
  return 0;
}
