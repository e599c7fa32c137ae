package vayva

import (
	"errors"
	"time"
)

// ErrNotLeader reports that another process holds the leadership asked
// for (the outbox relay's lock); the caller tries again later.
var ErrNotLeader = errors.New("vayva: another process holds the leadership")

// OutboxEvent is an event as the transactional outbox stores it, waiting
// for the relay to publish it to its queue.
type OutboxEvent struct {
	// Seq is the event's position in the outbox; the relay publishes in
	// Seq order.
	Seq           int64
	EventID       string
	AggregateKind string
	AggregateID   string
	Queue         string
	Key           string
	Type          string
	MerchantID    string
	// Payload is the Event as JSON.
	Payload   []byte
	CreatedAt time.Time
}

// OutboxBacklog is how far the outbox relay trails: the events not yet
// published to their queues and the age of the oldest of them (zero when
// none waits), measured by the database's clock.
type OutboxBacklog struct {
	Unpublished int64
	OldestAge   time.Duration
}
