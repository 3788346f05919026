package events

import "context"

// Sink stores events durably: the durable path of the router.
type Sink interface {
	// Enqueue stores ev, or returns an error saying why it was not stored.
	// It must honour ctx's deadline.
	Enqueue(ctx context.Context, ev DomainEvent) error
	// Close releases the sink's resources.
	Close() error
}
