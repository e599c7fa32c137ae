package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/persistence/postgres"
	"github.com/vayvahq/vayva/persistence/postgres/pgtest"
)

// requireSQLState asserts that err carries a PostgreSQL error with the given
// SQLSTATE.
func requireSQLState(t *testing.T, err error, code string) {
	t.Helper()
	require.Error(t, err)
	var pgErr *pgconn.PgError
	require.True(t, errors.As(err, &pgErr), "want SQLSTATE %s, got %v", code, err)
	require.Equal(t, code, pgErr.Code, pgErr.Message)
}

// exec runs one statement in a transaction of domain d.
func exec(ctx context.Context, db *postgres.DB, d vayva.Domain, sql string, args ...any) error {
	return db.InDomain(ctx, d, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, sql, args...)
		return err
	})
}

// count runs a count query in a transaction of domain d.
func count(ctx context.Context, db *postgres.DB, d vayva.Domain, sql string, args ...any) (n int, err error) {
	err = db.InDomain(ctx, d, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, sql, args...).Scan(&n)
	})
	return n, err
}

// mustExec runs statements as the migration user, the way migrations do, so
// that the default privileges of the first migration apply to the tables
// they create.
func mustExec(t *testing.T, db *postgres.DB, sql string, args ...any) {
	t.Helper()
	_, err := db.Pool().Exec(t.Context(), sql, args...)
	require.NoError(t, err, sql)
}

func TestInDomainRunsAsDomainRole(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := pgtest.New(t)
	for _, d := range vayva.Domains {
		var user string
		require.NoError(t, db.InDomain(ctx, d, func(ctx context.Context, tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT current_user`).Scan(&user)
		}))
		require.Equal(t, d.Role(), user)
	}
	require.Error(t, db.InDomain(ctx, vayva.Domain("billing"), func(context.Context, pgx.Tx) error {
		t.Fatal("fn must not run for an unknown domain")
		return nil
	}))
}

func TestCrossDomainWritesRefused(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := pgtest.New(t)
	// Tables created after the migrations, as later migrations would.
	mustExec(t, db, `CREATE TABLE orders.grant_probe (id text PRIMARY KEY)`)
	mustExec(t, db, `CREATE TABLE auth.grant_probe (id text PRIMARY KEY)`)
	mustExec(t, db, `CREATE TABLE merchant.grant_probe (id text PRIMARY KEY)`)
	mustExec(t, db, `CREATE TABLE catalog.grant_probe (id bigserial PRIMARY KEY, name text)`)
	mustExec(t, db, `CREATE TABLE comm.grant_probe (id text PRIMARY KEY)`)
	mustExec(t, db, `INSERT INTO merchant.grant_probe VALUES ('store_1')`)
	require.NoError(t, exec(ctx, db, vayva.DomainLedger, `INSERT INTO ledger.accounts (id, merchant_id, code, currency, normal) VALUES ('acc_1', 'mer_1', 'cash', 'NGN', 'debit')`))
	require.NoError(t, exec(ctx, db, vayva.DomainLedger, `INSERT INTO ledger.transactions (id, merchant_id, kind, idempotency_key) VALUES ('txn_1', 'mer_1', 'capture', 'k1')`))

	refused := []struct {
		name string
		sql  string
	}{
		{"insert ledger postings", `INSERT INTO ledger.postings (transaction_id, account_id, direction, amount, currency) VALUES ('txn_1', 'acc_1', 'debit', 100, 'NGN')`},
		{"insert orders table", `INSERT INTO orders.grant_probe VALUES ('ord_1')`},
		{"insert auth table", `INSERT INTO auth.grant_probe VALUES ('usr_1')`},
		{"update merchant table", `UPDATE merchant.grant_probe SET id = 'store_2'`},
		{"delete merchant table", `DELETE FROM merchant.grant_probe`},
		{"read ledger", `SELECT count(*) FROM ledger.accounts`},
		{"read comm", `SELECT count(*) FROM comm.grant_probe`},
		{"write membership", `INSERT INTO runtime.members (cluster, id, host, port, status) VALUES ('c', 'm', 'h', 1, 'alive')`},
		{"create table in own schema", `CREATE TABLE catalog.sneaky (id int)`},
	}
	for _, tc := range refused {
		err := exec(ctx, db, vayva.DomainCatalog, tc.sql)
		requireSQLState(t, err, "42501")
		require.ErrorIs(t, err, postgres.ErrPermissionDenied, tc.name)
	}

	// What the catalog role may do: its own schema, shared reads, runtime.
	require.NoError(t, exec(ctx, db, vayva.DomainCatalog, `INSERT INTO catalog.grant_probe (name) VALUES ('shirt')`))
	require.NoError(t, exec(ctx, db, vayva.DomainCatalog, `UPDATE catalog.grant_probe SET name = 'tee'`))
	n, err := count(ctx, db, vayva.DomainCatalog, `SELECT count(*) FROM merchant.grant_probe`)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	for _, table := range []string{"orders.grant_probe", "auth.grant_probe", "catalog.grant_probe"} {
		_, err := count(ctx, db, vayva.DomainCatalog, `SELECT count(*) FROM `+table)
		require.NoError(t, err, table)
	}
	require.NoError(t, exec(ctx, db, vayva.DomainCatalog, `INSERT INTO runtime.outbox (event_id, aggregate_kind, aggregate_id, queue, type, payload) VALUES ('evt_1', 'store', 's', 'email', 'x', '{}')`))

	// Nothing was written by the refused statements.
	for _, table := range []string{"orders.grant_probe", "auth.grant_probe", "ledger.postings", "runtime.members"} {
		var rows int
		require.NoError(t, db.Pool().QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&rows))
		require.Zero(t, rows, table)
	}
}

func TestLedgerPostingsAppendOnly(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := pgtest.New(t)

	require.NoError(t, db.InDomain(ctx, vayva.DomainLedger, func(ctx context.Context, tx pgx.Tx) error {
		for _, sql := range []string{
			`INSERT INTO ledger.accounts (id, merchant_id, code, currency, normal) VALUES ('acc_cash', 'mer_1', 'cash', 'NGN', 'debit')`,
			`INSERT INTO ledger.accounts (id, merchant_id, code, currency, normal) VALUES ('acc_rev', 'mer_1', 'revenue', 'NGN', 'credit')`,
			`INSERT INTO ledger.transactions (id, merchant_id, kind, idempotency_key) VALUES ('txn_1', 'mer_1', 'capture', 'pay_1')`,
			`INSERT INTO ledger.postings (transaction_id, account_id, direction, amount, currency) VALUES ('txn_1', 'acc_cash', 'debit', 5000, 'NGN')`,
			`INSERT INTO ledger.postings (transaction_id, account_id, direction, amount, currency) VALUES ('txn_1', 'acc_rev', 'credit', 5000, 'NGN')`,
		} {
			if _, err := tx.Exec(ctx, sql); err != nil {
				return err
			}
		}
		return nil
	}))
	n, err := count(ctx, db, vayva.DomainLedger, `SELECT count(*) FROM ledger.postings`)
	require.NoError(t, err)
	require.Equal(t, 2, n)

	for _, sql := range []string{
		`UPDATE ledger.postings SET amount = 1`,
		`DELETE FROM ledger.postings`,
		`TRUNCATE ledger.postings`,
	} {
		err := exec(ctx, db, vayva.DomainLedger, sql)
		requireSQLState(t, err, "42501")
	}
	var sum int64
	require.NoError(t, db.Pool().QueryRow(ctx, `SELECT sum(amount) FROM ledger.postings`).Scan(&sum))
	require.Equal(t, int64(10000), sum, "postings unchanged")

	// The duplicate idempotency key of a ledger transaction is a conflict.
	err = exec(ctx, db, vayva.DomainLedger, `INSERT INTO ledger.transactions (id, merchant_id, kind, idempotency_key) VALUES ('txn_2', 'mer_1', 'capture', 'pay_1')`)
	requireSQLState(t, err, "23505")
	require.Equal(t, vayva.ECONFLICT, vayva.ErrorCode(err))
}

func TestInDomainErrors(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := pgtest.New(t)

	err := db.InDomain(ctx, vayva.DomainCatalog, func(ctx context.Context, tx pgx.Tx) error {
		var id string
		return tx.QueryRow(ctx, `SELECT event_id FROM runtime.outbox WHERE event_id = 'nope'`).Scan(&id)
	})
	require.Equal(t, vayva.ENOTFOUND, vayva.ErrorCode(err))
	require.ErrorIs(t, err, pgx.ErrNoRows)

	// A serialization failure is retried; the transaction then commits.
	attempts := 0
	err = db.InDomain(ctx, vayva.DomainCatalog, func(ctx context.Context, tx pgx.Tx) error {
		attempts++
		if _, err := tx.Exec(ctx, `INSERT INTO runtime.outbox (event_id, aggregate_kind, aggregate_id, queue, type, payload) VALUES ('evt_retry', 'store', 's', 'email', 'x', '{}')`); err != nil {
			return err
		}
		if attempts == 1 {
			_, err := tx.Exec(ctx, `DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = 'serialization_failure'; END $$`)
			return err
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 2, attempts)
	var rows int
	require.NoError(t, db.Pool().QueryRow(ctx, `SELECT count(*) FROM runtime.outbox WHERE event_id = 'evt_retry'`).Scan(&rows))
	require.Equal(t, 1, rows, "the failed attempt was rolled back")

	// A deadlock that persists gives up after a few attempts.
	attempts = 0
	err = db.InDomain(ctx, vayva.DomainCatalog, func(ctx context.Context, tx pgx.Tx) error {
		attempts++
		_, err := tx.Exec(ctx, `DO $$ BEGIN RAISE EXCEPTION 'deadlock' USING ERRCODE = 'deadlock_detected'; END $$`)
		return err
	})
	requireSQLState(t, err, "40P01")
	require.Equal(t, vayva.EUNAVAILABLE, vayva.ErrorCode(err))
	require.Greater(t, attempts, 1)

	// Other errors are not retried.
	attempts = 0
	err = db.InDomain(ctx, vayva.DomainCatalog, func(ctx context.Context, tx pgx.Tx) error {
		attempts++
		_, err := tx.Exec(ctx, `SELECT 1/0`)
		return err
	})
	requireSQLState(t, err, "22012")
	require.Equal(t, 1, attempts)
}
