package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// IdempotencyRecord is a stored response to a request made with an
// Idempotency-Key.
type IdempotencyRecord struct {
	RequestHash []byte
	// Done is false while the first request with the key is in flight.
	Done        bool
	Status      int
	ContentType string
	Body        []byte
}

// BeginIdempotent claims (scope, key) in runtime.idempotency_keys.
func (db *DB) BeginIdempotent(ctx context.Context, scope, key string, hash []byte) (bool, IdempotencyRecord, error) {
	tag, err := db.Pool().Exec(ctx, `
		INSERT INTO runtime.idempotency_keys(scope, key, request_hash, status)
		VALUES ($1, $2, $3, 0) ON CONFLICT (scope, key) DO NOTHING`, scope, key, hash)
	if err != nil {
		return false, IdempotencyRecord{}, fmt.Errorf("postgres: idempotency: %w", interpretError(err))
	}
	if tag.RowsAffected() == 1 {
		return true, IdempotencyRecord{}, nil
	}
	var rec IdempotencyRecord
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
func (db *DB) CompleteIdempotent(ctx context.Context, scope, key string, rec IdempotencyRecord) error {
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
