package main

/*
#include <stdlib.h>
extern char **environ;
static char *ffitel_environ_at(int i) { return environ[i]; }
*/
import "C"

import (
	"os"
	"strings"
)

// A Go runtime in a shared library takes its environment from the block the
// process was exec'd with (it finds it past argv on the initial stack), not
// from the C library's current environ. A host that adds variables before
// loading the library (Python's os.environ, Ruby's ENV) changes only the
// latter. The first ffitel call copies the C environment into Go (see rt in
// main.go), so "read once, at load" means the host's environment then.

func syncEnvironFromC() {
	current := map[string]bool{}
	for i := 0; ; i++ {
		p := C.ffitel_environ_at(C.int(i))
		if p == nil {
			break
		}
		k, v, ok := strings.Cut(C.GoString(p), "=")
		if !ok || k == "" {
			continue
		}
		current[k] = true
		if old, set := os.LookupEnv(k); !set || old != v {
			_ = os.Setenv(k, v)
		}
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k != "" && !current[k] {
			_ = os.Unsetenv(k)
		}
	}
}
