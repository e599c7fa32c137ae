package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/persistence/postgres"
	"github.com/vayvahq/vayva/persistence/postgres/pgtest"
)

// requireUnavailable checks that err is a retryable 503 and, when sqlstate
// is set, that the PostgreSQL error stays in the chain.
func requireUnavailable(t *testing.T, err error, sqlstate string) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, vayva.EUNAVAILABLE, vayva.ErrorCode(err), "%v", err)
	if sqlstate != "" {
		var pgErr *pgconn.PgError
		require.True(t, errors.As(err, &pgErr), "%v", err)
		require.Equal(t, sqlstate, pgErr.Code)
	}
}

// lockIdempotencyRow stores a finished key and holds its row lock from a
// second connection until the test ends.
func lockIdempotencyRow(t *testing.T, db *postgres.DB, scope, key string) {
	t.Helper()
	ctx := context.Background()
	claimed, _, err := db.BeginIdempotent(ctx, scope, key, []byte("h"))
	require.NoError(t, err)
	require.True(t, claimed)
	require.NoError(t, db.CompleteIdempotent(ctx, scope, key, vayva.IdempotencyRecord{RequestHash: []byte("h"), Done: true, Status: 201}))
	holder, err := db.Pool().Begin(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = holder.Rollback(context.Background()) })
	var got string
	require.NoError(t, holder.QueryRow(ctx, `SELECT key FROM runtime.idempotency_keys WHERE scope = $1 AND key = $2 FOR UPDATE`, scope, key).Scan(&got))
}

func TestStatementTimeoutIsUnavailable(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	err := db.InDomain(context.Background(), vayva.DomainRuntime, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL statement_timeout = '20ms'`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `SELECT pg_sleep(5)`)
		return err
	})
	requireUnavailable(t, err, "57014")
}

func TestLockTimeoutIsUnavailable(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	lockIdempotencyRow(t, db, "s", "locked")
	err := db.InDomain(context.Background(), vayva.DomainRuntime, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '20ms'`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE runtime.idempotency_keys SET status = 200 WHERE scope = 's' AND key = 'locked'`)
		return err
	})
	requireUnavailable(t, err, "55P03")
}

func TestDeadlineIsUnavailable(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := db.InDomain(ctx, vayva.DomainRuntime, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT pg_sleep(5)`)
		return err
	})
	requireUnavailable(t, err, "")
	require.True(t, errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err), "%v", err)

	// A caller that gave up is not a database outage.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	err = db.InDomain(ctx, vayva.DomainRuntime, func(ctx context.Context, tx pgx.Tx) error { return nil })
	require.Error(t, err)
	require.NotEqual(t, vayva.EUNAVAILABLE, vayva.ErrorCode(err), "%v", err)
}

// An Idempotency-Key lookup stuck behind another transaction's row lock
// gives up at the caller's deadline as unavailable, and so does storing the
// answer.
func TestIdempotencyTimeoutsAreUnavailable(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	lockIdempotencyRow(t, db, "s", "k")

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, _, err := db.BeginIdempotent(ctx, "s", "k", []byte("h"))
	requireUnavailable(t, err, "")

	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = db.CompleteIdempotent(ctx, "s", "k", vayva.IdempotencyRecord{RequestHash: []byte("h"), Done: true, Status: 200})
	requireUnavailable(t, err, "")
}
