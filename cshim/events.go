package main

/*
#include <stdint.h>
#include <stddef.h>
#include "include/ffitel.h"
*/
import "C"

import (
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ffitel/ffitel/bootstrap"
	"github.com/ffitel/ffitel/events"
)

// subscriptions holds the open poll subscriptions.
var subscriptions = newHandles[*events.Subscription](0)

// maxPollWait bounds one ffitel_event_poll so a host thread is never parked
// for long inside Go.
const maxPollWait = 60 * time.Second

//export ffitelgo_event_publish
func ffitelgo_event_publish(current C.uint64_t, name *C.char, nameLen C.size_t, payload *C.char, payloadLen C.size_t,
	metadata *C.char, metadataLen C.size_t, delivery C.int32_t, idOut *C.char, capacity C.size_t) (rc C.int) {
	defer recoverInto(&rc)
	var in input
	// The host's current span: the publish span becomes its child.
	ctx, ok := spanContext(uint64(current))
	if !ok {
		return fail(C.FFITEL_E_HANDLE, "ffitel_event_publish_in: unknown or ended current span handle")
	}
	// Refused before reading, with what is wrong: a name the publish would
	// otherwise carry altered (NUL, invalid UTF-8), a payload that would
	// otherwise be cut and then fail as invalid JSON.
	if name != nil && nameLen > 0 && nameLen <= 256 {
		raw := C.GoStringN(name, C.int(nameLen))
		if strings.IndexByte(raw, 0) >= 0 || !utf8.ValidString(raw) {
			return fail(C.FFITEL_E_INVALID, "ffitel_event_publish: invalid event name (it contains NUL or is not valid UTF-8); nothing published")
		}
	}
	if payloadLen > maxAttrsJSONBytes {
		return fail(C.FFITEL_E_INVALID, "ffitel_event_publish: payload too large (%d bytes > %d); nothing published",
			uint64(payloadLen), maxAttrsJSONBytes)
	}
	eventName := in.text("name", name, nameLen, 256)
	body := in.text("payload_json", payload, payloadLen, maxAttrsJSONBytes)
	mdDoc := in.text("metadata_json", metadata, metadataLen, 64<<10)
	if in.code != 0 {
		return in.result()
	}
	var md events.Metadata
	if mdDoc != "" {
		if err := json.Unmarshal([]byte(mdDoc), &md); err != nil {
			return fail(C.FFITEL_E_INVALID, "ffitel_event_publish: metadata_json is not a JSON object of metadata fields: %v", err)
		}
	}
	if body != "" && !json.Valid([]byte(body)) {
		return fail(C.FFITEL_E_INVALID, "ffitel_event_publish: payload_json is not valid JSON")
	}
	if idOut != nil && capacity < 37 {
		// A retry with a bigger buffer would publish a second event.
		return fail(C.FFITEL_E_INVALID, "ffitel_event_publish: event_id_out needs 37 bytes (or NULL and 0); nothing published")
	}
	if rt().Phase() == bootstrap.StateShutdown {
		return fail(C.FFITEL_E_STATE, "ffitel_event_publish: the library was shut down; nothing published")
	}
	if delivery < 0 || delivery > 2 {
		return fail(C.FFITEL_E_INVALID, "ffitel_event_publish: delivery must be 0 (durable), 1 (fast) or 2 (broadcast)")
	}
	ev, err := rt().Events().Publish(ctx, eventName, json.RawMessage(body), md, events.DeliveryMode(delivery))
	switch {
	case errors.Is(err, events.ErrInvalidEvent):
		return fail(C.FFITEL_E_INVALID, "ffitel_event_publish: %v", err)
	case err != nil:
		return fail(C.FFITEL_E_UNAVAILABLE, "ffitel_event_publish: durable delivery failed (counted): %v", err)
	}
	return copyOut(idOut, capacity, ev.EventID)
}

//export ffitelgo_event_subscribe
func ffitelgo_event_subscribe(pattern *C.char, patternLen C.size_t) (h C.uint64_t) {
	defer recoverHandle(&h)
	var in input
	p := in.text("pattern", pattern, patternLen, 256)
	if in.code != 0 || !events.ValidPattern(p) {
		setError("ffitel_event_subscribe: invalid pattern (an event name, \"prefix.*\" or \"*\")")
		return 0
	}
	sub := rt().Events().Router().Bus().SubscribeQueue(p, events.DefaultQueueCapacity)
	handle, _ := subscriptions.add(sub) // no limit: add always succeeds
	return C.uint64_t(handle)
}

//export ffitelgo_event_poll
func ffitelgo_event_poll(sub C.uint64_t, timeoutMS C.int32_t, buf *C.char, capacity C.size_t) (rc C.int) {
	defer recoverInto(&rc)
	s, ok := subscriptions.get(uint64(sub))
	if !ok {
		return fail(C.FFITEL_E_HANDLE, "ffitel_event_poll: unknown or closed subscription handle")
	}
	wait := time.Duration(max(timeoutMS, 0)) * time.Millisecond
	// The event stays queued until a buffer large enough takes it.
	doc, _ := s.Take(min(wait, maxPollWait), func(n int) bool { return n < int(capacity) })
	if doc == nil {
		return 0
	}
	return copyOut(buf, capacity, string(doc))
}

// closeSubscriptions ends every subscription (at shutdown): pollers return
// at once with FFITEL_E_HANDLE instead of waiting out their timeout.
func closeSubscriptions() {
	for _, s := range subscriptions.removeAll() {
		s.Close()
	}
}

//export ffitelgo_event_unsubscribe
func ffitelgo_event_unsubscribe(sub C.uint64_t) (rc C.int) {
	defer recoverInto(&rc)
	s, ok := subscriptions.remove(uint64(sub))
	if !ok {
		return fail(C.FFITEL_E_HANDLE, "ffitel_event_unsubscribe: unknown or closed subscription handle")
	}
	s.Close()
	return C.FFITEL_OK
}
