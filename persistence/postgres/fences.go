package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// ActorFence returns the epoch and version of the actor's row in
// runtime.actors: the name of its newest committed state, which every
// commit moves in the same transaction as its writes. Zero for an identity
// never activated. One indexed read; the storefront uses it to tell
// whether a snapshot it holds is still the store's newest state.
func (db *DB) ActorFence(ctx context.Context, kind, identity string) (epoch, version int64, err error) {
	err = db.pool.QueryRow(ctx, `SELECT epoch, version FROM runtime.actors WHERE kind = $1 AND identity = $2`, kind, identity).Scan(&epoch, &version)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, 0, nil
	case err != nil:
		return 0, 0, fmt.Errorf("postgres: actor fence: %w", interpretError(err))
	}
	return epoch, version, nil
}
