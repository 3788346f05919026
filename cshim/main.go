// Command cshim is libffitel.so: the C ABI of ffitel, built with
// `go build -buildmode=c-shared`. It only translates between C and Go --
// arguments, handles, error codes -- and leaves the behaviour to the
// bootstrap package. The public entry points (ffitel_*) are C functions in
// guard.c that check the fork guard before calling the Go side (ffitelgo_*).
// The contract is include/ffitel.h.
package main

/*
#cgo CFLAGS: -O2 -Wall -Wno-unused-function
#include "shim.h"
*/
import "C"

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
	"unsafe"

	"github.com/ffitel/ffitel/bootstrap"
)

func main() {}

var environOnce sync.Once

// rt returns the process-wide Runtime. The first call copies the host's
// environment into Go (see environ.go); it runs on a host thread inside an
// ffitel call, not concurrently with the host as a package init would.
func rt() *bootstrap.Runtime {
	environOnce.Do(syncEnvironFromC)
	return bootstrap.Default()
}

// setError sets the calling thread's ffitel_last_error. cgo runs an
// exported Go function on the calling C thread, so the thread-local buffer
// in guard.c is the caller's.
func setError(msg string) {
	var capacity C.size_t
	buf := C.ffitel_shim_error_buf(&capacity)
	n := copy(unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(capacity)-1), msg)
	C.ffitel_shim_error_len(C.size_t(n))
}

// fail sets the message and returns code.
func fail(code int, format string, args ...any) C.int {
	setError(fmt.Sprintf(format, args...))
	return C.int(code)
}

// recoverInto turns a panic into FFITEL_E_INTERNAL: a Go panic must never
// unwind into the host.
func recoverInto(rc *C.int) {
	if r := recover(); r != nil {
		*rc = fail(C.FFITEL_E_INTERNAL, "ffitel: internal error: %v", r)
	}
}

func recoverHandle(h *C.uint64_t) {
	if r := recover(); r != nil {
		setError(fmt.Sprintf("ffitel: internal error: %v", r))
		*h = 0
	}
}

// copyOut writes s into the caller's buffer and returns the length needed.
// The copy is Go's, not libc's: see ffitel_shim_error_buf.
func copyOut(buf *C.char, capacity C.size_t, s string) C.int {
	if buf != nil && capacity > 0 {
		n := len(s)
		if C.size_t(n) >= capacity {
			n = int(capacity - 1)
		}
		dst := unsafe.Slice((*byte)(unsafe.Pointer(buf)), n+1)
		copy(dst, s[:n])
		dst[n] = 0
	}
	return C.int(len(s))
}

//export ffitelgo_init_console
func ffitelgo_init_console() (rc C.int) {
	defer recoverInto(&rc)
	if err := rt().InitConsoleOnly(); err != nil {
		return fail(C.FFITEL_E_INTERNAL, "ffitel: %v", err)
	}
	return C.FFITEL_OK
}

//export ffitelgo_init_telemetry
func ffitelgo_init_telemetry() (rc C.int) {
	defer recoverInto(&rc)
	err := rt().InitTelemetry(context.Background())
	switch {
	case errors.Is(err, bootstrap.ErrShutdown):
		return fail(C.FFITEL_E_STATE, "ffitel_init_telemetry: the library was shut down")
	case err != nil:
		return fail(C.FFITEL_E_INTERNAL, "ffitel_init_telemetry: %v", err)
	}
	ringStart()
	return C.FFITEL_OK
}

//export ffitelgo_shutdown
func ffitelgo_shutdown(timeoutMS C.int32_t) (rc C.int) {
	defer recoverInto(&rc)
	ctx := context.Background()
	if timeoutMS >= 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(timeoutMS)*time.Millisecond)
		defer cancel()
	}
	ringStop(ctx) // from here the typed calls take the synchronous path
	closeSubscriptions()
	if n := endAllSpans(); n > 0 {
		rt().CountSpansEndedAtShutdown(n)
	}
	if err := rt().Shutdown(ctx); err != nil {
		return fail(C.FFITEL_E_STATE, "ffitel_shutdown: flush cut short (%v); see ffitel_stats_json for what was dropped", err)
	}
	return C.FFITEL_OK
}

//export ffitelgo_flush
func ffitelgo_flush(timeoutMS C.int32_t) (rc C.int) {
	defer recoverInto(&rc)
	timeout := rt().Config().ShutdownTimeout
	if timeoutMS >= 0 {
		timeout = time.Duration(timeoutMS) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ringDrain()
	if err := rt().ForceFlush(ctx); err != nil {
		return fail(C.FFITEL_E_STATE, "ffitel_flush: cut short (%v); what is still queued stays queued", err)
	}
	return C.FFITEL_OK
}

//export ffitelgo_phase
func ffitelgo_phase() (rc C.int) {
	defer recoverInto(&rc)
	return C.int(rt().Phase())
}

//export ffitelgo_count_input_error
func ffitelgo_count_input_error() (rc C.int) {
	defer recoverInto(&rc)
	rt().CountInputError()
	return C.FFITEL_OK
}

//export ffitelgo_stats_json
func ffitelgo_stats_json(buf *C.char, capacity C.size_t) (rc C.int) {
	defer recoverInto(&rc)
	ringDrain() // records queued in the ring count as emitted once they are records
	b, err := json.Marshal(rt().Snapshot())
	if err != nil {
		return fail(C.FFITEL_E_INTERNAL, "ffitel_stats_json: %v", err)
	}
	return copyOut(buf, capacity, string(b))
}
