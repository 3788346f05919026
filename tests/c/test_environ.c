/*
 * A host that changes its environment before loading libffitel.so (Python's
 * os.environ, Ruby's ENV) is seen by the library: the variables are read
 * once, at load, from the host's current environment, not the one the
 * process was started with.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ffitel.h"

int main(int argc, char **argv) {
    const char *lib = argc > 1 ? argv[1] : "build/libffitel.so";
    /* New variables: glibc moves environ to a new array, away from the block
     * the process was exec'd with. */
    if (getenv("FFITEL_WORKER_ID") != NULL) {
        printf("run with FFITEL_WORKER_ID unset\n0 passed, 1 failed\n");
        return 1;
    }
    setenv("FFITEL_WORKER_ID", "set-by-the-host-before-load", 1);
    setenv("FFITEL_SERVICE_PADDING_1", "x", 1);
    void *h = dlopen(lib, RTLD_NOW);
    if (!h) {
        printf("dlopen: %s\n0 passed, 1 failed\n", dlerror());
        return 1;
    }
    int (*stats)(char *, size_t) = (int (*)(char *, size_t))dlsym(h, "ffitel_stats_json");
    char buf[4096];
    stats(buf, sizeof buf);
    int ok = strstr(buf, "\"worker_id\":\"set-by-the-host-before-load\"") != NULL;
    if (!ok) printf("FAIL: worker_id not taken from the host's environment: %s\n", buf);
    printf("%d passed, %d failed\n", ok, !ok);
    return ok ? 0 : 1;
}
