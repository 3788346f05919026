package e2e_test

// The e2e tests run ffitel with every feature, as the C library does: the
// PostgreSQL durable sink and the Prometheus /metrics endpoint register
// themselves when imported.
import (
	_ "github.com/ffitel/ffitel/bootstrap/promexport"
	_ "github.com/ffitel/ffitel/events/pgsink"
)
