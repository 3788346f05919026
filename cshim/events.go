package main

/*
#include <stdint.h>
#include <stddef.h>
*/
import "C"

import (
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/ffitel/ffitel/bootstrap"
	"github.com/ffitel/ffitel/events"
)

// subscriptions maps handles to poll subscriptions. Handles are never reused.
var subscriptions = struct {
	sync.Mutex
	next uint64
	open map[uint64]*events.Subscription
}{open: map[uint64]*events.Subscription{}}

// maxPollWait bounds one ffitel_event_poll so a host thread is never parked
// for long inside Go.
const maxPollWait = 60 * time.Second

//export ffitelgo_event_publish
func ffitelgo_event_publish(current C.uint64_t, name *C.char, nameLen C.size_t, payload *C.char, payloadLen C.size_t,
	metadata *C.char, metadataLen C.size_t, delivery C.int32_t, idOut *C.char, capacity C.size_t) (rc C.int) {
	defer recoverInto(&rc)
	var in input
	// The host's current span: the publish span becomes its child.
	ctx, ok := spans.context(uint64(current))
	if !ok {
		return fail(codeHandle, "ffitel_event_publish_in: unknown or ended current span handle")
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
			return fail(codeInvalid, "ffitel_event_publish: metadata_json is not a JSON object of metadata fields: %v", err)
		}
	}
	if body != "" && !json.Valid([]byte(body)) {
		return fail(codeInvalid, "ffitel_event_publish: payload_json is not valid JSON")
	}
	if idOut != nil && capacity < 37 {
		// A retry with a bigger buffer would publish a second event.
		return fail(codeInvalid, "ffitel_event_publish: event_id_out needs 37 bytes (or NULL and 0); nothing published")
	}
	if rt().Phase() == bootstrap.StateShutdown {
		return fail(codeState, "ffitel_event_publish: the library was shut down; nothing published")
	}
	if delivery < 0 || delivery > 2 {
		return fail(codeInvalid, "ffitel_event_publish: delivery must be 0 (durable), 1 (fast) or 2 (broadcast)")
	}
	ev, err := rt().Events().Publish(ctx, eventName, json.RawMessage(body), md, events.DeliveryMode(delivery))
	switch {
	case errors.Is(err, events.ErrInvalidEvent):
		return fail(codeInvalid, "ffitel_event_publish: %v", err)
	case err != nil:
		return fail(codeUnavailable, "ffitel_event_publish: durable delivery failed (counted): %v", err)
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
	subscriptions.Lock()
	defer subscriptions.Unlock()
	subscriptions.next++
	subscriptions.open[subscriptions.next] = sub
	return C.uint64_t(subscriptions.next)
}

//export ffitelgo_event_poll
func ffitelgo_event_poll(sub C.uint64_t, timeoutMS C.int32_t, buf *C.char, capacity C.size_t) (rc C.int) {
	defer recoverInto(&rc)
	subscriptions.Lock()
	s, ok := subscriptions.open[uint64(sub)]
	subscriptions.Unlock()
	if !ok {
		return fail(codeHandle, "ffitel_event_poll: unknown or closed subscription handle")
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
	subscriptions.Lock()
	open := subscriptions.open
	subscriptions.open = map[uint64]*events.Subscription{}
	subscriptions.Unlock()
	for _, s := range open {
		s.Close()
	}
}

//export ffitelgo_event_unsubscribe
func ffitelgo_event_unsubscribe(sub C.uint64_t) (rc C.int) {
	defer recoverInto(&rc)
	subscriptions.Lock()
	s, ok := subscriptions.open[uint64(sub)]
	delete(subscriptions.open, uint64(sub))
	subscriptions.Unlock()
	if !ok {
		return fail(codeHandle, "ffitel_event_unsubscribe: unknown or closed subscription handle")
	}
	s.Close()
	return codeOK
}
