package main

// The C library keeps every feature: the PostgreSQL durable sink
// (FFITEL_EVENTS_DURABLE_URL=postgres://...) and the Prometheus /metrics
// endpoint register themselves when imported; a Go program that imports only
// bootstrap links neither pgx nor the Prometheus client.
import (
	_ "github.com/ffitel/ffitel/bootstrap/promexport"
	_ "github.com/ffitel/ffitel/events/pgsink"
)
