package vayva

import (
	"encoding/json"
	"time"
)

// Wallet is a merchant's balances in one currency, in minor units:
// Available may be paid out or refunded from, Pending is on its way to the
// merchant's bank (payouts whose transfer has not completed) and OnHold is
// held for refunds in progress.
type Wallet struct {
	Currency  string
	Available int64
	Pending   int64
	OnHold    int64
}

// LedgerTxn is one transaction of a merchant's ledger as the API shows it.
type LedgerTxn struct {
	ID            string
	Seq           int64
	Kind          string
	ReferenceType string
	Reference     string
	CreatedAt     time.Time
	Postings      []LedgerLeg
}

// LedgerLeg is one posting of a LedgerTxn. Account is the account's code
// for the merchant's own accounts ("available", "on_hold") and
// "platform:<code>" for its slice of a platform account.
type LedgerLeg struct {
	Account   string
	Direction string
	Amount    int64
	Currency  string
}

// AuditEntry is one line of a merchant's audit log: who did what, when,
// from which credential.
type AuditEntry struct {
	ID int64
	// ActorKind is "user", "operator" or "system".
	ActorKind    string
	UserID       string
	CredentialID string
	RequestID    string
	Action       string
	ObjectType   string
	ObjectID     string
	Data         json.RawMessage
	CreatedAt    time.Time
}
