package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/vayvahq/vayva"
)

// DefaultLedgerCheckGrace is how old a paid order or a succeeded refund
// must be before CheckLedger expects its ledger transaction: the ledger
// books captures from the orders-sync queue (outbox relay, queue, consumer,
// with retries), so a capture may trail its order by a few seconds and, when
// the ledger was unreachable, by the queue's backoff.
const DefaultLedgerCheckGrace = 10 * time.Minute

// LedgerReport is the result of CheckLedger. The type is the root
// package's; the name stays here for callers that know it from this
// package.
type LedgerReport = vayva.LedgerReport

// LedgerCheckOptions adjust CheckLedgerWith.
type LedgerCheckOptions struct {
	// Grace is how old a paid order or a succeeded refund must be before
	// its missing capture or reversal is a problem. Defaults to
	// DefaultLedgerCheckGrace; negative means no grace.
	Grace time.Duration
}

// ledgerHashSQL recomputes actors.LedgerHash of the transaction t from its
// columns and postings.
const ledgerHashSQL = `sha256(t.prev_hash || convert_to(concat_ws(E'\n', 'vayva-ledger-v1', t.id, t.merchant_id, t.seq::text,
	t.kind, t.reference_type, t.reference, t.idempotency_key, t.hold_id, t.phase,
	(extract(epoch FROM t.created_at) * 1000000)::bigint::text,
	(SELECT string_agg(p.account_id || ' ' || p.direction || ' ' || p.amount::text || ' ' || p.currency::text, E'\n'
		ORDER BY p.account_id COLLATE "C", p.direction COLLATE "C", p.amount)
	 FROM ledger.postings p WHERE p.transaction_id = t.id)), 'UTF8'))`

// accountNetSQL is each account's balance from its postings, in its normal
// direction.
const accountNetSQL = `SELECT p.account_id, sum(CASE WHEN p.direction = a.normal THEN p.amount ELSE -p.amount END) AS net
	FROM ledger.postings p JOIN ledger.accounts a ON a.id = p.account_id GROUP BY p.account_id`

// ledgerChecks are the invariants of the ledger, each a query returning one
// row per violation as text naming the transaction, account, hold, order
// or refund at fault. A query that names $1 gets the grace period in
// seconds.
var ledgerChecks = []struct{ name, query string }{
	{"unbalanced transaction", `
		SELECT transaction_id || ' ' || currency || ': debits ' || coalesce(sum(amount) FILTER (WHERE direction = 'debit'), 0)
		       || ' credits ' || coalesce(sum(amount) FILTER (WHERE direction = 'credit'), 0)
		FROM ledger.postings GROUP BY transaction_id, currency
		HAVING coalesce(sum(amount) FILTER (WHERE direction = 'debit'), 0)
		    <> coalesce(sum(amount) FILTER (WHERE direction = 'credit'), 0)`},
	{"transaction without postings", `
		SELECT t.id FROM ledger.transactions t
		WHERE NOT EXISTS (SELECT 1 FROM ledger.postings p WHERE p.transaction_id = t.id)`},
	{"posting on an account that does not exist", `
		SELECT 'posting ' || p.id::text || ' of ' || p.transaction_id || ' on ' || p.account_id
		FROM ledger.postings p LEFT JOIN ledger.accounts a ON a.id = p.account_id
		WHERE a.id IS NULL`},
	{"posting currency differs from its account", `
		SELECT 'posting ' || p.id::text || ' of ' || p.transaction_id || ' in ' || p.currency || ' on ' || a.id || ' in ' || a.currency
		FROM ledger.postings p JOIN ledger.accounts a ON a.id = p.account_id
		WHERE p.currency <> a.currency`},
	{"platform-wide sum is not zero", `
		SELECT currency || ': debits ' || coalesce(sum(amount) FILTER (WHERE direction = 'debit'), 0)
		       || ' credits ' || coalesce(sum(amount) FILTER (WHERE direction = 'credit'), 0)
		FROM ledger.postings GROUP BY currency
		HAVING coalesce(sum(amount) FILTER (WHERE direction = 'debit'), 0)
		    <> coalesce(sum(amount) FILTER (WHERE direction = 'credit'), 0)`},
	{"stored balance differs from its postings", `
		SELECT 'account ' || b.account_id || ': stored ' || b.balance || ', postings ' || coalesce(s.net, 0)
		FROM ledger.balances b LEFT JOIN (` + accountNetSQL + `) s ON s.account_id = b.account_id
		WHERE b.balance <> coalesce(s.net, 0)`},
	{"negative balance", `
		SELECT 'account ' || s.account_id || ': ' || s.net FROM (` + accountNetSQL + `) s
		WHERE s.net < 0`},
	{"paid order without exactly one capture", `
		SELECT 'order ' || o.id || ' (paid ' || o.paid_at || '): ' || count(t.id) || ' captures'
		FROM orders.orders o LEFT JOIN ledger.transactions t ON t.idempotency_key = 'capture:' || o.id
		WHERE o.paid_at IS NOT NULL AND o.paid_at < now() - make_interval(secs => $1)
		GROUP BY o.id, o.paid_at HAVING count(t.id) <> 1`},
	{"capture does not match a paid order", `
		SELECT 'transaction ' || t.id || ' captures ' || c.amount || ' ' || c.currency || ' of order ' || t.reference || ', '
		       || CASE WHEN o.id IS NULL THEN 'which does not exist'
		               WHEN o.paid_at IS NULL THEN 'which is not paid'
		               ELSE 'which was paid ' || o.amount_paid || ' ' || o.currency END
		FROM ledger.transactions t
		LEFT JOIN orders.orders o ON o.id = t.reference
		CROSS JOIN LATERAL (SELECT coalesce(sum(p.amount) FILTER (WHERE p.direction = 'debit'), 0) AS amount, min(p.currency) AS currency
		                    FROM ledger.postings p WHERE p.transaction_id = t.id) c
		WHERE t.kind = 'capture'
		  AND (o.id IS NULL OR o.paid_at IS NULL OR o.amount_paid <> c.amount OR o.currency <> c.currency)`},
	{"succeeded refund without exactly one reversal", `
		SELECT 'refund ' || r.id || ' of order ' || r.order_id || ': ' || count(t.id) || ' reversals'
		FROM orders.refunds r LEFT JOIN ledger.transactions t ON t.idempotency_key = 'refund:' || r.id || ':post'
		WHERE r.status = 'succeeded' AND NOT r.automatic AND r.updated_at < now() - make_interval(secs => $1)
		GROUP BY r.id, r.order_id HAVING count(t.id) <> 1`},
	{"refund in the ledger does not match the order's refund", `
		SELECT 'hold ' || h.id || ' refunds ' || h.gross || ' ' || h.currency || ' of order ' || h.order_id || ', '
		       || CASE WHEN r.id IS NULL THEN 'no such refund'
		               WHEN r.automatic THEN 'an automatic refund, which never reaches a merchant account'
		               WHEN r.order_id <> h.order_id THEN 'the refund is of order ' || r.order_id
		               ELSE 'the refund is ' || r.amount || ' ' || r.currency END
		FROM ledger.holds h LEFT JOIN orders.refunds r ON r.id = h.id
		WHERE h.kind = 'refund' AND h.status = 'posted'
		  AND (r.id IS NULL OR r.automatic OR r.order_id <> h.order_id OR r.amount <> h.gross OR r.currency <> h.currency)`},
	{"hold not placed or resolved exactly once", `
		SELECT 'hold ' || h.id || ' is ' || h.status || ': ' || c.placed || ' placements, ' || c.posts || ' posts, ' || c.voids
		       || ' voids, ' || c.held || ' of ' || h.gross || ' still held'
		FROM ledger.holds h
		CROSS JOIN LATERAL (
			SELECT count(*) FILTER (WHERE t.phase = 'hold') AS placed,
			       count(*) FILTER (WHERE t.phase = 'post') AS posts,
			       count(*) FILTER (WHERE t.phase = 'void') AS voids,
			       min(t.id) FILTER (WHERE t.phase = 'hold') AS hold_txn,
			       min(t.id) FILTER (WHERE t.phase IN ('post', 'void')) AS resolve_txn,
			       coalesce((SELECT sum(CASE WHEN p.direction = 'credit' THEN p.amount ELSE -p.amount END)
			                 FROM ledger.postings p JOIN ledger.transactions t2 ON t2.id = p.transaction_id
			                 JOIN ledger.accounts a ON a.id = p.account_id
			                 WHERE t2.hold_id = h.id AND a.code IN ('on_hold', 'payouts_in_transit')), 0) AS held
			FROM ledger.transactions t WHERE t.hold_id = h.id) c
		WHERE NOT (
			c.placed = 1 AND c.hold_txn = h.hold_transaction_id AND c.resolve_txn IS NOT DISTINCT FROM h.resolve_transaction_id
			AND ((h.status = 'pending' AND c.posts = 0 AND c.voids = 0 AND c.held = h.gross)
			  OR (h.status = 'posted' AND c.posts = 1 AND c.voids = 0 AND c.held = 0)
			  OR (h.status = 'voided' AND c.posts = 0 AND c.voids = 1 AND c.held = 0)))`},
	{"transaction names a hold that does not exist", `
		SELECT 'transaction ' || t.id || ' names hold ' || t.hold_id FROM ledger.transactions t
		WHERE t.hold_id <> '' AND NOT EXISTS (SELECT 1 FROM ledger.holds h WHERE h.id = t.hold_id)`},
	{"payout disagrees with its hold", `
		SELECT 'payout ' || p.id || ' of ' || p.amount || ' is ' || p.status || ', its hold ' || coalesce(h.status || ' of ' || h.gross, 'is missing')
		       || CASE WHEN r.id IS NULL THEN '' ELSE ', returned by ' || r.id END
		FROM ledger.payouts p
		LEFT JOIN ledger.holds h ON h.id = p.id
		LEFT JOIN ledger.transactions r ON r.idempotency_key = 'payout:' || p.id || ':return'
		WHERE (h.id IS NULL OR h.kind <> 'payout' OR p.amount <> h.gross OR NOT (
			(p.status = 'pending' AND h.status = 'pending' AND r.id IS NULL)
			OR (p.status = 'paid' AND h.status = 'posted' AND r.id IS NULL)
			OR (p.status = 'failed' AND h.status = 'voided' AND r.id IS NULL)
			OR (p.status = 'failed' AND h.status = 'posted' AND r.id IS NOT NULL)))`},
	{"hash chain broken", `
		WITH c AS (
			SELECT t.id, t.merchant_id, t.seq, t.prev_hash, t.hash,
			       lag(t.hash) OVER w AS prev, row_number() OVER w AS n, ` + ledgerHashSQL + ` AS computed
			FROM ledger.transactions t
			WINDOW w AS (PARTITION BY t.merchant_id ORDER BY t.seq))
		SELECT 'transaction ' || id || ' (merchant ' || merchant_id || ', seq ' || seq || '): '
		       || CASE WHEN seq <> n THEN 'seq should be ' || n
		               WHEN prev_hash <> coalesce(prev, decode(repeat('00', 32), 'hex')) THEN 'prev_hash is not the hash of the transaction before'
		               ELSE 'hash does not match the transaction and its postings' END
		FROM c
		WHERE (seq <> n OR prev_hash <> coalesce(prev, decode(repeat('00', 32), 'hex')) OR hash <> computed)`},
}

// CheckLedger verifies the ledger's invariants from SQL alone, with the
// default grace period; see CheckLedgerWith.
func (db *DB) CheckLedger(ctx context.Context) (LedgerReport, error) {
	return db.CheckLedgerWith(ctx, LedgerCheckOptions{})
}

// CheckLedgerWith verifies the ledger's invariants from SQL alone: every
// transaction balances per currency and has postings on existing accounts
// in their currency; the platform-wide sum per currency is zero; stored balances
// equal the sum of their postings and no account is below zero; every
// order paid longer than the grace ago has exactly one capture, of what was
// paid, and every capture is of a paid order; every non-automatic refund
// that succeeded longer than the grace ago has exactly one reversal, and
// every reversal matches its refund; every hold was placed once and is
// pending, posted or voided exactly once with the money it held moved
// accordingly; payouts agree with their holds; each merchant's hash chain
// is intact. Each problem names what is at fault; at most 100 per check
// are reported.
func (db *DB) CheckLedgerWith(ctx context.Context, opts LedgerCheckOptions) (LedgerReport, error) {
	grace := opts.Grace
	switch {
	case grace == 0:
		grace = DefaultLedgerCheckGrace
	case grace < 0:
		grace = 0
	}
	r := LedgerReport{Problems: []string{}}
	if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM ledger.transactions`).Scan(&r.CheckedTransactions); err != nil {
		return r, fmt.Errorf("postgres: ledger check: %w", interpretError(err))
	}
	for _, c := range ledgerChecks {
		var args []any
		if strings.Contains(c.query, "$1") {
			args = append(args, grace.Seconds())
		}
		rows, err := db.Pool().Query(ctx, c.query+` LIMIT 100`, args...)
		if err != nil {
			return r, fmt.Errorf("postgres: ledger check %s: %w", c.name, interpretError(err))
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				return r, fmt.Errorf("postgres: ledger check %s: %w", c.name, interpretError(err))
			}
			r.Problems = append(r.Problems, c.name+": "+s)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return r, fmt.Errorf("postgres: ledger check %s: %w", c.name, interpretError(err))
		}
	}
	r.OK = len(r.Problems) == 0
	return r, nil
}
