package postgres

import (
	"context"
	"fmt"

	"github.com/vayvahq/vayva"
)

// LedgerReport is the result of CheckLedger. The type is the root
// package's; the name stays here for callers that know it from this
// package.
type LedgerReport = vayva.LedgerReport

// ledgerChecks are the invariants of the ledger, each a query returning one
// row per violation as text.
var ledgerChecks = []struct{ name, query string }{
	{"unbalanced transaction", `
		SELECT transaction_id || ' ' || currency || ': debits ' || sum(amount) FILTER (WHERE direction = 'debit')
		       || ' credits ' || sum(amount) FILTER (WHERE direction = 'credit')
		FROM ledger.postings GROUP BY transaction_id, currency
		HAVING coalesce(sum(amount) FILTER (WHERE direction = 'debit'), 0)
		    <> coalesce(sum(amount) FILTER (WHERE direction = 'credit'), 0)`},
	{"transaction without postings", `
		SELECT t.id FROM ledger.transactions t
		WHERE NOT EXISTS (SELECT 1 FROM ledger.postings p WHERE p.transaction_id = t.id)`},
	{"posting currency differs from its account", `
		SELECT p.id::text || ' ' || p.currency || ' on ' || a.id || ' ' || a.currency
		FROM ledger.postings p JOIN ledger.accounts a ON a.id = p.account_id
		WHERE p.currency <> a.currency`},
}

// CheckLedger verifies the ledger's invariants from SQL alone: every
// transaction balances per currency, every transaction has postings, and
// postings match their account's currency.
func (db *DB) CheckLedger(ctx context.Context) (LedgerReport, error) {
	r := LedgerReport{Problems: []string{}}
	if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM ledger.transactions`).Scan(&r.CheckedTransactions); err != nil {
		return r, fmt.Errorf("postgres: ledger check: %w", interpretError(err))
	}
	for _, c := range ledgerChecks {
		rows, err := db.Pool().Query(ctx, c.query+` LIMIT 100`)
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
