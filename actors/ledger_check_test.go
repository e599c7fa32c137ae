package actors_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/messages"
	"github.com/vayvahq/vayva/persistence/postgres"
)

// TestLedgerCheckCatchesTampering books real flows through the ledger
// actor, then changes rows behind its back as a superuser with the
// append-only triggers off (session_replication_role = replica), and shows
// that the SQL checks name what was changed; each change is undone before
// the next.
func TestLedgerCheckCatchesTampering(t *testing.T) {
	t.Parallel()
	e := newLedgerEnv(t)
	m := e.merchant(t)
	capture := m.paidOrder(t, e.db, 100000, 150)
	captureTxn := ledgerMust[*messages.LedgerPosted](t, e.member, m.id, capture).GetTransactionId()
	p := ledgerMust[*messages.Payout](t, e.member, m.id, payout(m.id, "p1", 30000, "0123456789"))
	ledgerMust[*messages.Payout](t, e.member, m.id, settlePayout(m.id, p.GetId(), messages.TransferOutcome_TRANSFER_OUTCOME_SUCCESS))
	second := m.paidOrder(t, e.db, 5000, 150)
	ledgerMust[*messages.LedgerPosted](t, e.member, m.id, second)
	requireLedgerOK(t, e.db)

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.db.Pool().Config().ConnConfig.ConnString())
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `SET session_replication_role = replica`)
	require.NoError(t, err)
	// tamper runs change, checks that every want appears among the
	// problems, and runs undo.
	tamper := func(name, change, undo string, want ...string) {
		t.Helper()
		_, err := conn.Exec(ctx, change)
		require.NoError(t, err, name)
		r, err := e.db.CheckLedgerWith(ctx, postgres.LedgerCheckOptions{Grace: -1})
		require.NoError(t, err)
		require.False(t, r.OK, name)
		all := strings.Join(r.Problems, "\n")
		for _, w := range want {
			require.Contains(t, all, w, "%s: problems:\n%s", name, all)
		}
		_, err = conn.Exec(ctx, undo)
		require.NoError(t, err, name)
		requireLedgerOK(t, e.db)
	}
	available := m.id + ":available:NGN"

	tamper("one leg of a posting changed",
		`UPDATE ledger.postings SET amount = amount + 1 WHERE transaction_id = '`+captureTxn+`' AND direction = 'debit'`,
		`UPDATE ledger.postings SET amount = amount - 1 WHERE transaction_id = '`+captureTxn+`' AND direction = 'debit'`,
		"unbalanced transaction: "+captureTxn, "platform-wide sum is not zero: NGN",
		"hash chain broken: transaction "+captureTxn, "stored balance differs from its postings: account "+m.id+":paystack_clearing:NGN",
		"capture does not match a paid order: transaction "+captureTxn)
	tamper("both legs moved to the merchant's favour, still balanced",
		`UPDATE ledger.postings SET amount = amount + 700 WHERE transaction_id = '`+captureTxn+`' AND account_id IN ('`+available+`', '`+m.id+`:paystack_clearing:NGN')`,
		`UPDATE ledger.postings SET amount = amount - 700 WHERE transaction_id = '`+captureTxn+`' AND account_id IN ('`+available+`', '`+m.id+`:paystack_clearing:NGN')`,
		"hash chain broken: transaction "+captureTxn, "stored balance differs from its postings: account "+available)
	tamper("a posting moved to an account that does not exist",
		`UPDATE ledger.postings SET account_id = 'mer_nobody:available:NGN' WHERE transaction_id = '`+captureTxn+`' AND account_id = '`+available+`'`,
		`UPDATE ledger.postings SET account_id = '`+available+`' WHERE transaction_id = '`+captureTxn+`' AND account_id = 'mer_nobody:available:NGN'`,
		"posting on an account that does not exist: posting", "hash chain broken: transaction "+captureTxn)
	tamper("a stored balance raised",
		`UPDATE ledger.balances SET balance = balance + 1 WHERE account_id = '`+available+`'`,
		`UPDATE ledger.balances SET balance = balance - 1 WHERE account_id = '`+available+`'`,
		"stored balance differs from its postings: account "+available)
	tamper("a transaction's reference rewritten",
		`UPDATE ledger.transactions SET reference = 'ord_other' WHERE id = '`+captureTxn+`'`,
		`UPDATE ledger.transactions SET reference = '`+capture.GetOrderId()+`' WHERE id = '`+captureTxn+`'`,
		"hash chain broken: transaction "+captureTxn, "capture does not match a paid order: transaction "+captureTxn)
	tamper("a paid payout's hold set back to pending",
		`UPDATE ledger.holds SET status = 'pending', resolve_transaction_id = NULL WHERE id = '`+p.GetId()+`'`,
		`UPDATE ledger.holds h SET status = 'posted', resolve_transaction_id = t.id FROM ledger.transactions t
			WHERE h.id = '`+p.GetId()+`' AND t.hold_id = h.id AND t.phase = 'post'`,
		"hold not placed or resolved exactly once: hold "+p.GetId(), "payout disagrees with its hold: payout "+p.GetId())
	tamper("a paid order's capture renamed away",
		`UPDATE ledger.transactions SET idempotency_key = 'capture:gone' WHERE id = '`+captureTxn+`'`,
		`UPDATE ledger.transactions SET idempotency_key = 'capture:`+capture.GetOrderId()+`' WHERE id = '`+captureTxn+`'`,
		"paid order without exactly one capture: order "+capture.GetOrderId(), "hash chain broken: transaction "+captureTxn)
	tamper("an order marked paid that the ledger never captured",
		`UPDATE orders.orders SET paid_at = now() - interval '1 hour', amount_paid = 1, subtotal = 1, total = 1, number = 999, id = 'ord_uncaptured' WHERE id = '`+second.GetOrderId()+`' RETURNING 1`,
		`UPDATE orders.orders SET amount_paid = 5000, subtotal = 5000, total = 5000, id = '`+second.GetOrderId()+`' WHERE id = 'ord_uncaptured'`,
		"paid order without exactly one capture: order ord_uncaptured")
	tamper("a succeeded refund the ledger never reversed",
		`INSERT INTO orders.refunds (id, order_id, amount, currency, status, created_at, updated_at)
			VALUES ('rfd_lost', '`+capture.GetOrderId()+`', 100, 'NGN', 'succeeded', now() - interval '1 hour', now() - interval '1 hour')`,
		`DELETE FROM orders.refunds WHERE id = 'rfd_lost'`,
		"succeeded refund without exactly one reversal: refund rfd_lost")

	// A transaction removed with its postings leaves a gap in the chain.
	var seq int64
	require.NoError(t, conn.QueryRow(ctx, `SELECT max(seq) FROM ledger.transactions WHERE merchant_id = $1`, m.id).Scan(&seq))
	_, err = conn.Exec(ctx, `CREATE TEMP TABLE saved_t AS SELECT * FROM ledger.transactions WHERE merchant_id = $1 AND seq = 2`, m.id)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `CREATE TEMP TABLE saved_p AS SELECT p.* FROM ledger.postings p JOIN saved_t t ON t.id = p.transaction_id`)
	require.NoError(t, err)
	tamper("a transaction deleted",
		`DELETE FROM ledger.postings WHERE transaction_id IN (SELECT id FROM saved_t); DELETE FROM ledger.transactions WHERE id IN (SELECT id FROM saved_t)`,
		`INSERT INTO ledger.transactions SELECT * FROM saved_t; INSERT INTO ledger.postings SELECT * FROM saved_p`,
		"hash chain broken: transaction", "seq should be 2", "hold not placed or resolved exactly once: hold "+p.GetId())
	require.Equal(t, int64(4), seq)
	require.True(t, vayva.HasIDPrefix(captureTxn, "txn"))
}
