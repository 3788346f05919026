package main

/*
#include <stdint.h>
#include <stddef.h>
*/
import "C"

import (
	"github.com/ffitel/ffitel/metrics"
)

//export ffitelgo_task_start
func ffitelgo_task_start(current C.uint64_t, system *C.char, systemLen C.size_t, destination *C.char, destLen C.size_t,
	taskType *C.char, typeLen C.size_t, worker *C.char, workerLen C.size_t,
	taskID *C.char, idLen C.size_t, attempt C.int32_t, traceparent *C.char, tpLen C.size_t,
	tracestate *C.char, tsLen C.size_t, propagation C.int32_t) (h C.uint64_t) {
	defer recoverHandle(&h)
	var in input
	// The host's current span: linked when the carrier gives a remote parent.
	ctx, ok := spans.context(uint64(current))
	if !ok {
		in.problem(codeHandle, "ffitel_task_start_in: unknown or ended current span handle; ignored")
	}
	info := metrics.TaskInfo{
		Type:        in.text("task_type", taskType, typeLen, 256),
		Worker:      in.text("worker", worker, workerLen, 256),
		ID:          in.text("task_id", taskID, idLen, 256),
		System:      in.text("system", system, systemLen, 64),
		Destination: in.text("destination", destination, destLen, 256),
		Attempt:     int(attempt),
		Propagation: metrics.PropagationAuto,
	}
	if info.Type == "" {
		setError("ffitel_task_start: task_type is empty")
		rt().CountInputError()
		return 0
	}
	if info.Attempt < 1 {
		in.problem(codeInvalid, "ffitel_task_start: attempt < 1; using 1")
		info.Attempt = 1
	}
	switch {
	case propagation >= -1 && propagation <= 2:
		info.Propagation = metrics.Propagation(propagation)
	default:
		in.problem(codeInvalid, "ffitel_task_start: unknown propagation; using the default")
	}
	if tpLen > 0 {
		info.Carrier = map[string]string{"traceparent": in.text("traceparent", traceparent, tpLen, 256)}
		if tsLen > 0 {
			info.Carrier["tracestate"] = in.text("tracestate", tracestate, tsLen, 512)
		}
	}
	_, task := rt().Tasks().Start(ctx, info)
	handle, ok := spans.addTask(task)
	if !ok {
		task.Abandon("span table full")
		rt().CountInputError()
		setError("ffitel_task_start: too many open spans and tasks (65536); end them")
		return 0
	}
	if in.code != 0 {
		in.result() // count and set the message; the task is still valid
	}
	return C.uint64_t(handle)
}

//export ffitelgo_task_end
func ffitelgo_task_end(task C.uint64_t, ok C.int32_t, errorType *C.char, etLen C.size_t) (rc C.int) {
	defer recoverInto(&rc)
	e, found := spans.removeEntry(uint64(task))
	if !found || e.task == nil {
		if found { // a plain span handle: put it back untouched
			spans.restore(uint64(task), e)
		}
		return fail(codeHandle, "ffitel_task_end: unknown or already ended task handle")
	}
	var in input
	if ok == 0 {
		et := in.text("error_type", errorType, etLen, 256)
		if et == "" {
			et = "_OTHER" // semconv's fallback error.type
		}
		// The binding records the exception event (with its stack trace).
		e.task.End(et, "")
	} else {
		e.task.End("", "")
	}
	return in.result()
}
