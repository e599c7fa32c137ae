package vayva

// LedgerReport is the result of checking the ledger's invariants from SQL
// alone (GET /ops/ledger/check, vayva ledger check). OK is true when
// Problems is empty; each problem names the check it failed and the rows
// at fault.
type LedgerReport struct {
	OK                  bool     `json:"ok"`
	CheckedTransactions int64    `json:"checked_transactions"`
	Problems            []string `json:"problems"`
}
