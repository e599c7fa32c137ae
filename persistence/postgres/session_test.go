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

func show(t *testing.T, db *postgres.DB, setting string) string {
	t.Helper()
	var v string
	require.NoError(t, db.Pool().QueryRow(t.Context(), "SHOW "+setting).Scan(&v))
	return v
}

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// Sessions run with the documented default timeouts; the URL may name its
// own, and an Option overrides both.
func TestSessionTimeouts(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	_, url := pgtest.New(t)

	db, err := postgres.Open(ctx, url)
	require.NoError(t, err)
	defer db.Close()
	require.Equal(t, "2s", show(t, db, "lock_timeout"))
	require.Equal(t, "10s", show(t, db, "statement_timeout"))
	require.Equal(t, "10s", show(t, db, "idle_in_transaction_session_timeout"))

	custom, err := postgres.Open(ctx, url+"&statement_timeout=30000&lock_timeout=500",
		postgres.WithLockTimeout(time.Second), postgres.WithIdleInTransactionTimeout(0))
	require.NoError(t, err)
	defer custom.Close()
	require.Equal(t, "30s", show(t, custom, "statement_timeout"), "the URL's value is kept")
	require.Equal(t, "1s", show(t, custom, "lock_timeout"), "an Option wins over the URL")
	require.Equal(t, "0", show(t, custom, "idle_in_transaction_session_timeout"), "zero disables")

	_, err = postgres.Open(ctx, url, postgres.WithStatementTimeout(-time.Second))
	require.ErrorContains(t, err, "statement_timeout must not be negative")
}

// A paused client's transaction that holds an actor's fence row is ended
// by the server after the idle-in-transaction timeout: a second writer gets
// the row, and the paused transaction's change never commits.
func TestIdleTransactionLosesItsLocks(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	_, url := pgtest.New(t)
	db, err := postgres.Open(ctx, url,
		postgres.WithIdleInTransactionTimeout(300*time.Millisecond),
		postgres.WithLockTimeout(30*time.Second)) // the second writer waits for the row, not for this
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Pool().Exec(ctx, `INSERT INTO runtime.actors (kind, identity, epoch, owner) VALUES ('store', 'st_1', 1, 'a')`)
	require.NoError(t, err)

	paused, err := db.Pool().Begin(ctx)
	require.NoError(t, err)
	defer paused.Rollback(context.Background()) //nolint:errcheck // Its session is gone; nothing to roll back.
	_, err = paused.Exec(ctx, `UPDATE runtime.actors SET version = version + 100 WHERE kind = 'store' AND identity = 'st_1'`)
	require.NoError(t, err)
	// The holder now sits idle, as a member paused mid-command would.

	tag, err := db.Pool().Exec(ctx, `UPDATE runtime.actors SET epoch = epoch + 1 WHERE kind = 'store' AND identity = 'st_1'`)
	require.NoError(t, err, "the second writer gets the row once the server ends the idle transaction")
	require.Equal(t, int64(1), tag.RowsAffected())

	err = paused.Commit(ctx)
	require.Error(t, err, "the paused transaction cannot commit")
	var epoch, version int64
	require.NoError(t, db.Pool().QueryRow(ctx, `SELECT epoch, version FROM runtime.actors WHERE kind = 'store' AND identity = 'st_1'`).Scan(&epoch, &version))
	require.Equal(t, int64(2), epoch)
	require.Zero(t, version, "the paused change was rolled back by the server")
}

// A statement that waits for a lock longer than lock_timeout, or runs
// longer than statement_timeout, fails as EUNAVAILABLE (the caller
// retries), with the server's SQLSTATE in the chain.
func TestLockAndStatementTimeoutsAreUnavailable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	_, url := pgtest.New(t)
	db, err := postgres.Open(ctx, url, postgres.WithLockTimeout(100*time.Millisecond), postgres.WithStatementTimeout(200*time.Millisecond))
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Pool().Exec(ctx, `INSERT INTO runtime.actors (kind, identity, epoch, owner) VALUES ('store', 'st_1', 1, 'a')`)
	require.NoError(t, err)

	holder, err := db.Pool().Begin(ctx)
	require.NoError(t, err)
	defer holder.Rollback(context.Background()) //nolint:errcheck // Rolled back at the end of the test.
	_, err = holder.Exec(ctx, `SELECT 1 FROM runtime.actors WHERE kind = 'store' AND identity = 'st_1' FOR UPDATE`)
	require.NoError(t, err)

	err = db.InDomain(ctx, vayva.DomainRuntime, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE runtime.actors SET epoch = epoch + 1 WHERE kind = 'store' AND identity = 'st_1'`)
		return err
	})
	require.Equal(t, "55P03", sqlState(err), "%v", err)
	require.Equal(t, vayva.EUNAVAILABLE, vayva.ErrorCode(err))

	err = db.InDomain(ctx, vayva.DomainRuntime, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT pg_sleep(5)`)
		return err
	})
	require.Equal(t, "57014", sqlState(err), "%v", err)
	require.Equal(t, vayva.EUNAVAILABLE, vayva.ErrorCode(err))
}

// Migrations run without the session timeouts, whatever the URL says: a
// statement_timeout of 1ms in the URL would fail every migration.
func TestMigrateIgnoresSessionTimeouts(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := pgtest.NewEmpty(t)
	require.NoError(t, postgres.Migrate(ctx, url+"&statement_timeout=1&lock_timeout=1&options=-c%20statement_timeout%3D1"))
	db, err := postgres.Open(ctx, url)
	require.NoError(t, err)
	defer db.Close()
	current, err := db.MigrationsCurrent(ctx)
	require.NoError(t, err)
	require.True(t, current)
}
