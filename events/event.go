// Package events carries domain events from step handlers to the rest of a
// system: the event model, the publisher (spans and metrics), the router
// (durable, fast, broadcast), the in-process bus with bounded poll queues for
// host-language subscribers, and the durable sinks (PostgreSQL, JSONL file).
package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// EventVersion is the version of the DomainEvent shape.
const EventVersion = "1.0"

// Metadata says where an event comes from. The trace context of the
// publishing span lets a consumer link back to it.
type Metadata struct {
	TaskUUID      string    `json:"task_uuid"`
	StepUUID      string    `json:"step_uuid,omitempty"`
	StepName      string    `json:"step_name,omitempty"`
	Namespace     string    `json:"namespace"`
	CorrelationID string    `json:"correlation_id"`
	FiredAt       time.Time `json:"fired_at"`
	FiredBy       string    `json:"fired_by"`
	TraceParent   string    `json:"traceparent,omitempty"`
	TraceState    string    `json:"tracestate,omitempty"`
}

// DomainEvent is one published event.
type DomainEvent struct {
	EventID      string          `json:"event_id"` // UUIDv7: ordered by time
	EventName    string          `json:"event_name"`
	EventVersion string          `json:"event_version"`
	Payload      json.RawMessage `json:"payload"`
	Metadata     Metadata        `json:"metadata"`
}

// ErrInvalidEvent wraps every validation error of NewEvent.
var ErrInvalidEvent = errors.New("events: invalid domain event")

// NewEvent builds an event with a fresh UUIDv7 id. The event name, the
// namespace and the correlation id are required; the payload must be a JSON
// value (empty means {}).
func NewEvent(name string, payload json.RawMessage, md Metadata) (DomainEvent, error) {
	switch {
	case strings.TrimSpace(name) == "":
		return DomainEvent{}, fmt.Errorf("%w: event_name is required", ErrInvalidEvent)
	case strings.TrimSpace(md.Namespace) == "":
		return DomainEvent{}, fmt.Errorf("%w: metadata.namespace is required", ErrInvalidEvent)
	case strings.TrimSpace(md.CorrelationID) == "":
		return DomainEvent{}, fmt.Errorf("%w: metadata.correlation_id is required", ErrInvalidEvent)
	}
	if len(payload) == 0 {
		payload = json.RawMessage("{}")
	} else if !json.Valid(payload) {
		return DomainEvent{}, fmt.Errorf("%w: payload is not valid JSON", ErrInvalidEvent)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return DomainEvent{}, err
	}
	if md.FiredAt.IsZero() {
		md.FiredAt = time.Now().UTC()
	}
	return DomainEvent{EventID: id.String(), EventName: name, EventVersion: EventVersion, Payload: payload, Metadata: md}, nil
}
