package main

/*
#include <stddef.h>
#include "include/ffitel.h"
*/
import "C"

import (
	"context"
	"math"
	"sync"

	"go.opentelemetry.io/otel/metric"

	"github.com/ffitel/ffitel/bootstrap"
)

// Instruments are created on first use by name and cached: the C ABI names
// metrics per call, the OpenTelemetry API wants instruments.
var (
	counters   sync.Map // name -> metric.Float64Counter
	histograms sync.Map // name -> metric.Float64Histogram
)

// validInstrumentName applies the OpenTelemetry instrument name rules.
func validInstrumentName(s string) bool {
	if len(s) == 0 || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if i == 0 && !letter {
			return false
		}
		if !letter && !(c >= '0' && c <= '9') && c != '_' && c != '.' && c != '-' && c != '/' {
			return false
		}
	}
	return true
}

func meter() metric.Meter { return rt().MeterProvider().Meter(bootstrap.ScopeName) }

//export ffitelgo_counter_add
func ffitelgo_counter_add(name *C.char, nameLen C.size_t, value C.double, attrsJSON *C.char,
	attrsLen C.size_t) (rc C.int) {
	defer recoverInto(&rc)
	var in input
	n := in.text("name", name, nameLen, 256)
	if !validInstrumentName(n) {
		in.problem(C.FFITEL_E_INVALID, "ffitel_counter_add: invalid instrument name (a letter, then letters, digits, _ . - /; at most 255 bytes)")
		return in.result()
	}
	v := float64(value)
	if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		in.problem(C.FFITEL_E_INVALID, "ffitel_counter_add: a counter only adds finite values >= 0")
		return in.result()
	}
	attrs := in.attrs(attrsJSON, attrsLen)
	if in.badAttrs {
		// Recording with half the attributes would make a new series, and a
		// host that retries would count twice: record nothing.
		return in.result()
	}
	c, ok := counters.Load(n)
	if !ok {
		created, err := meter().Float64Counter(n)
		if err != nil {
			return fail(C.FFITEL_E_INVALID, "ffitel_counter_add: %v", err)
		}
		c, _ = counters.LoadOrStore(n, created)
	}
	c.(metric.Float64Counter).Add(context.Background(), v, metric.WithAttributes(bootstrap.KeyValues(attrs)...))
	return in.result()
}

//export ffitelgo_histogram_record
func ffitelgo_histogram_record(name *C.char, nameLen C.size_t, value C.double, unit *C.char, unitLen C.size_t,
	attrsJSON *C.char, attrsLen C.size_t) (rc C.int) {
	defer recoverInto(&rc)
	var in input
	n := in.text("name", name, nameLen, 256)
	if !validInstrumentName(n) {
		in.problem(C.FFITEL_E_INVALID, "ffitel_histogram_record: invalid instrument name (a letter, then letters, digits, _ . - /; at most 255 bytes)")
		return in.result()
	}
	v := float64(value)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		in.problem(C.FFITEL_E_INVALID, "ffitel_histogram_record: value is not finite")
		return in.result()
	}
	u := in.text("unit", unit, unitLen, 63)
	attrs := in.attrs(attrsJSON, attrsLen)
	if in.badAttrs {
		return in.result()
	}
	h, ok := histograms.Load(n)
	if !ok {
		created, err := meter().Float64Histogram(n, metric.WithUnit(u))
		if err != nil {
			return fail(C.FFITEL_E_INVALID, "ffitel_histogram_record: %v", err)
		}
		h, _ = histograms.LoadOrStore(n, created)
	}
	h.(metric.Float64Histogram).Record(context.Background(), v, metric.WithAttributes(bootstrap.KeyValues(attrs)...))
	return in.result()
}
