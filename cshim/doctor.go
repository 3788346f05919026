package main

/*
#include <stdint.h>
#include <stddef.h>
#include "include/ffitel.h"
*/
import "C"

import (
	"context"
	"encoding/json"
	"sync"
	"time"
)

// pendingDoctor holds a report that did not fit the caller's buffer, handed
// out by the next call instead of running the checks again.
var pendingDoctor struct {
	sync.Mutex
	report string
}

//export ffitelgo_doctor_json
func ffitelgo_doctor_json(timeoutMS C.int32_t, buf *C.char, capacity C.size_t) (rc C.int) {
	defer recoverInto(&rc)
	pendingDoctor.Lock()
	defer pendingDoctor.Unlock()
	report := pendingDoctor.report
	pendingDoctor.report = ""
	if report == "" {
		timeout := rt().Config().ShutdownTimeout
		if timeoutMS >= 0 {
			timeout = time.Duration(timeoutMS) * time.Millisecond
		}
		_ = ffitelgo_init_telemetry() // starts the ring too; Doctor reports a failure
		b, err := json.Marshal(rt().Doctor(context.Background(), timeout))
		if err != nil {
			return fail(C.FFITEL_E_INTERNAL, "ffitel_doctor_json: %v", err)
		}
		report = string(b)
	}
	n := copyOut(buf, capacity, report)
	if C.size_t(n) >= capacity {
		pendingDoctor.report = report
	}
	return n
}
