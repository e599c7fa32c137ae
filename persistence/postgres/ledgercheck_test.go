package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/persistence/postgres"
	"github.com/vayvahq/vayva/persistence/postgres/pgtest"
)

// problemsOf keeps the problems of one check.
func problemsOf(r postgres.LedgerReport, check string) []string {
	var out []string
	for _, p := range r.Problems {
		if strings.HasPrefix(p, check+": ") {
			out = append(out, p)
		}
	}
	return out
}

func TestCheckLedgerFindsUnbalancedTransactions(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	ctx := context.Background()
	report, err := db.CheckLedger(ctx)
	require.NoError(t, err)
	require.True(t, report.OK)
	require.Equal(t, []string{}, report.Problems)

	mustExec(t, db, `INSERT INTO ledger.accounts (id, merchant_id, code, currency, normal) VALUES
		('a1', 'm', 'cash', 'NGN', 'debit'), ('a2', 'm', 'payable', 'NGN', 'credit')`)
	mustExec(t, db, `INSERT INTO ledger.transactions (id, merchant_id, seq, kind, reference, idempotency_key) VALUES
		('t1', 'm', 1, 'transfer', 'r1', 'k1'), ('t2', 'm', 2, 'transfer', 'r2', 'k2')`)
	mustExec(t, db, `INSERT INTO ledger.postings (transaction_id, account_id, direction, amount, currency) VALUES
		('t1', 'a1', 'debit', 500, 'NGN'), ('t1', 'a2', 'credit', 500, 'NGN'),
		('t2', 'a1', 'debit', 500, 'NGN'), ('t2', 'a2', 'credit', 400, 'NGN')`)
	report, err = db.CheckLedger(ctx)
	require.NoError(t, err)
	require.False(t, report.OK)
	require.Equal(t, int64(2), report.CheckedTransactions)
	require.Equal(t, []string{"unbalanced transaction: t2 NGN: debits 500 credits 400"}, problemsOf(report, "unbalanced transaction"))
	require.Equal(t, []string{"platform-wide sum is not zero: NGN: debits 1000 credits 900"}, problemsOf(report, "platform-wide sum is not zero"))
	require.Len(t, problemsOf(report, "hash chain broken"), 2, "rows written without their hashes")
}

// Postings, transactions and the audit log refuse UPDATE, DELETE and
// TRUNCATE: the ledger role has no grant for them, and a trigger refuses
// them for everyone else, the tables' owner included.
func TestLedgerRowsAreAppendOnlyForEveryRole(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := pgtest.New(t)
	require.NoError(t, exec(ctx, db, vayva.DomainLedger, `
		WITH a AS (INSERT INTO ledger.accounts (id, merchant_id, code, currency, normal) VALUES
			('acc_c', 'mer_1', 'paystack_clearing', 'NGN', 'debit'), ('acc_a', 'mer_1', 'available', 'NGN', 'credit') RETURNING id),
		t AS (INSERT INTO ledger.transactions (id, merchant_id, seq, kind, idempotency_key) VALUES ('txn_1', 'mer_1', 1, 'capture', 'capture:o1') RETURNING id)
		SELECT 1`))
	require.NoError(t, exec(ctx, db, vayva.DomainLedger, `
		INSERT INTO ledger.postings (transaction_id, account_id, direction, amount, currency) VALUES
			('txn_1', 'acc_c', 'debit', 5000, 'NGN'), ('txn_1', 'acc_a', 'credit', 5000, 'NGN')`))
	require.NoError(t, exec(ctx, db, vayva.DomainLedger, `
		INSERT INTO ledger.audit_log (merchant_id, action, actor_kind, object_type, object_id) VALUES ('mer_1', 'payout.request', 'user', 'payout', 'po_1')`))

	changes := []string{
		`UPDATE ledger.postings SET amount = 1`,
		`DELETE FROM ledger.postings`,
		`TRUNCATE ledger.postings`,
		`UPDATE ledger.transactions SET reference = 'x'`,
		`DELETE FROM ledger.transactions`,
		`TRUNCATE ledger.transactions CASCADE`,
		`UPDATE ledger.audit_log SET action = 'x'`,
		`DELETE FROM ledger.audit_log`,
		`TRUNCATE ledger.audit_log`,
	}
	for _, sql := range changes {
		requireSQLState(t, exec(ctx, db, vayva.DomainLedger, sql), "42501")
	}

	// The pool's user owns the tables (it ran the migrations) and is a
	// superuser here; the trigger refuses it all the same.
	var owner, user string
	require.NoError(t, db.Pool().QueryRow(ctx, `SELECT tableowner, current_user FROM pg_tables WHERE schemaname = 'ledger' AND tablename = 'postings'`).Scan(&owner, &user))
	require.Equal(t, user, owner)
	for _, sql := range changes {
		_, err := db.Pool().Exec(ctx, sql)
		requireSQLState(t, err, "42501")
		require.ErrorContains(t, err, "append-only", sql)
	}

	var sum, txns, audits int64
	require.NoError(t, db.Pool().QueryRow(ctx, `SELECT (SELECT sum(amount) FROM ledger.postings), (SELECT count(*) FROM ledger.transactions),
		(SELECT count(*) FROM ledger.audit_log)`).Scan(&sum, &txns, &audits))
	require.Equal(t, []int64{10000, 1, 1}, []int64{sum, txns, audits}, "nothing changed")

	// Every domain may append to the audit log; only the ledger reads it.
	require.NoError(t, exec(ctx, db, vayva.DomainMerchant, `
		INSERT INTO ledger.audit_log (merchant_id, action, actor_kind, object_type, object_id) VALUES ('mer_1', 'store.fee_bps.update', 'operator', 'store', 'sto_1')`))
	_, err := count(ctx, db, vayva.DomainMerchant, `SELECT count(*) FROM ledger.audit_log`)
	requireSQLState(t, err, "42501")
	requireSQLState(t, exec(ctx, db, vayva.DomainMerchant, `INSERT INTO ledger.postings (transaction_id, account_id, direction, amount, currency) VALUES ('txn_1', 'acc_a', 'debit', 1, 'NGN')`), "42501")
}
