package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vayvahq/vayva"
)

// claimTimeout is how long an unfinished Idempotency-Key claim holds; it
// exceeds the edge's request timeout.
const claimTimeout = time.Minute

// IdempotencyRetention is how long stored responses are replayed.
const IdempotencyRetention = 24 * time.Hour

// PruneIdempotencyKeys deletes stored responses older than retention and
// returns how many it deleted.
func (db *DB) PruneIdempotencyKeys(ctx context.Context, retention time.Duration) (int64, error) {
	tag, err := db.Pool().Exec(ctx, `DELETE FROM runtime.idempotency_keys WHERE created_at < now() - make_interval(secs => $1)`, retention.Seconds())
	if err != nil {
		return 0, fmt.Errorf("postgres: prune idempotency keys: %w", interpretError(err))
	}
	return tag.RowsAffected(), nil
}

// BeginIdempotent claims (scope, key) in runtime.idempotency_keys.
func (db *DB) BeginIdempotent(ctx context.Context, scope, key string, hash []byte) (bool, vayva.IdempotencyRecord, error) {
	// A claim still in progress after claimTimeout belongs to a request
	// that died (crash, killed node); the next request takes it over.
	tag, err := db.Pool().Exec(ctx, `
		INSERT INTO runtime.idempotency_keys(scope, key, request_hash, status)
		VALUES ($1, $2, $3, 0)
		ON CONFLICT (scope, key) DO UPDATE
		SET request_hash = excluded.request_hash, created_at = now()
		WHERE runtime.idempotency_keys.status = 0
		  AND runtime.idempotency_keys.created_at < now() - make_interval(secs => $4)`,
		scope, key, hash, claimTimeout.Seconds())
	if err != nil {
		return false, vayva.IdempotencyRecord{}, fmt.Errorf("postgres: idempotency: %w", interpretError(err))
	}
	if tag.RowsAffected() == 1 {
		return true, vayva.IdempotencyRecord{}, nil
	}
	var rec vayva.IdempotencyRecord
	var ct *string
	err = db.Pool().QueryRow(ctx, `
		SELECT request_hash, status, response, content_type FROM runtime.idempotency_keys
		WHERE scope = $1 AND key = $2`, scope, key).Scan(&rec.RequestHash, &rec.Status, &rec.Body, &ct)
	if errors.Is(err, pgx.ErrNoRows) {
		// Released between our insert and read: claim again.
		return db.BeginIdempotent(ctx, scope, key, hash)
	}
	if err != nil {
		return false, rec, fmt.Errorf("postgres: idempotency: %w", interpretError(err))
	}
	rec.Done = rec.Status != 0
	if ct != nil {
		rec.ContentType = *ct
	}
	return false, rec, nil
}

// CompleteIdempotent stores the response of the request owning the key.
func (db *DB) CompleteIdempotent(ctx context.Context, scope, key string, rec vayva.IdempotencyRecord) error {
	_, err := db.Pool().Exec(ctx, `
		UPDATE runtime.idempotency_keys SET status = $3, response = $4, content_type = $5
		WHERE scope = $1 AND key = $2`, scope, key, rec.Status, rec.Body, rec.ContentType)
	if err != nil {
		return fmt.Errorf("postgres: idempotency: %w", interpretError(err))
	}
	return nil
}

// AbandonIdempotent releases an unfinished claim.
func (db *DB) AbandonIdempotent(ctx context.Context, scope, key string) error {
	_, err := db.Pool().Exec(ctx, `DELETE FROM runtime.idempotency_keys WHERE scope = $1 AND key = $2 AND status = 0`, scope, key)
	if err != nil {
		return fmt.Errorf("postgres: idempotency: %w", interpretError(err))
	}
	return nil
}
