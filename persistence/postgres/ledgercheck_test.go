package postgres_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva/persistence/postgres/pgtest"
)

func TestCheckLedgerFindsUnbalancedTransactions(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	ctx := context.Background()
	report, err := db.CheckLedger(ctx)
	require.NoError(t, err)
	require.True(t, report.OK)

	mustExec(t, db, `INSERT INTO ledger.accounts (id, merchant_id, code, currency, normal) VALUES
		('a1', 'm', 'cash', 'NGN', 'debit'), ('a2', 'm', 'payable', 'NGN', 'credit')`)
	mustExec(t, db, `INSERT INTO ledger.transactions (id, merchant_id, kind, reference, idempotency_key) VALUES
		('t1', 'm', 'capture', 'r1', 'k1'), ('t2', 'm', 'capture', 'r2', 'k2')`)
	mustExec(t, db, `INSERT INTO ledger.postings (transaction_id, account_id, direction, amount, currency) VALUES
		('t1', 'a1', 'debit', 500, 'NGN'), ('t1', 'a2', 'credit', 500, 'NGN'),
		('t2', 'a1', 'debit', 500, 'NGN'), ('t2', 'a2', 'credit', 400, 'NGN')`)
	report, err = db.CheckLedger(ctx)
	require.NoError(t, err)
	require.False(t, report.OK)
	require.Equal(t, int64(2), report.CheckedTransactions)
	require.Len(t, report.Problems, 1)
	require.Contains(t, report.Problems[0], "unbalanced transaction: t2")
}
