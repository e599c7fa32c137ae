package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/vayvahq/vayva"
)

// OutboxBacklog counts the outbox rows not yet published and measures the
// age of the oldest by the database's clock, so the figure is the same
// whichever node asks and whichever leads the relay. It reads the partial
// index of unpublished rows only.
func (db *DB) OutboxBacklog(ctx context.Context) (vayva.OutboxBacklog, error) {
	var b vayva.OutboxBacklog
	var ageMicros int64
	err := db.Pool().QueryRow(ctx, `
		SELECT count(*), COALESCE((EXTRACT(EPOCH FROM now() - min(created_at)) * 1e6)::bigint, 0)
		FROM runtime.outbox WHERE published_at IS NULL`).Scan(&b.Unpublished, &ageMicros)
	if err != nil {
		return vayva.OutboxBacklog{}, fmt.Errorf("postgres: outbox backlog: %w", interpretError(err))
	}
	b.OldestAge = max(time.Duration(ageMicros)*time.Microsecond, 0)
	return b, nil
}
