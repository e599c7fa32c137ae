package actors

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vayvahq/vayva/actors/internal/seal"
)

// Account codes of a merchant's ledger. Per currency a merchant has the
// accounts it owns (available: funds it may pay out or refund from;
// on_hold: refunds in progress) and its slice of each platform account
// (paystack_clearing: money received at Paystack and not yet paid out or
// refunded; fee_revenue: the platform fees it was charged;
// payouts_in_transit: payouts on their way to its bank). Platform accounts
// are kept per merchant so that the merchant's actor is the only writer of
// every row its transactions touch; a platform total is the sum of its
// slices.
const (
	AccountAvailable        = "available"
	AccountOnHold           = "on_hold"
	AccountPaystackClearing = "paystack_clearing"
	AccountFeeRevenue       = "fee_revenue"
	AccountPayoutsInTransit = "payouts_in_transit"
)

// Posting directions.
const (
	Debit  = "debit"
	Credit = "credit"
)

// Transaction kinds of the ledger.
const (
	TxnCapture      = "capture"
	TxnRefundHold   = "refund_hold"
	TxnRefund       = "refund"
	TxnRefundVoid   = "refund_void"
	TxnPayoutHold   = "payout_hold"
	TxnPayout       = "payout"
	TxnPayoutVoid   = "payout_void"
	TxnPayoutReturn = "payout_return"
)

// Hold kinds, phases and statuses.
const (
	HoldPayout = "payout"
	HoldRefund = "refund"

	PhaseHold = "hold"
	PhasePost = "post"
	PhaseVoid = "void"

	HoldPending = "pending"
	HoldPosted  = "posted"
	HoldVoided  = "voided"
)

// Payout statuses.
const (
	PayoutPending = "pending"
	PayoutPaid    = "paid"
	PayoutFailed  = "failed"
)

// MaxLedgerAmount bounds every amount the ledger books (10^13 minor
// units), so sums of a merchant's amounts never overflow.
const MaxLedgerAmount = 10_000_000_000_000

// ledgerAccountSpec says who owns an account code and its normal side.
type ledgerAccountSpec struct {
	owner, normal string
}

var ledgerAccountSpecs = map[string]ledgerAccountSpec{
	AccountAvailable:        {"merchant", Credit},
	AccountOnHold:           {"merchant", Credit},
	AccountPaystackClearing: {"platform", Debit},
	AccountFeeRevenue:       {"platform", Credit},
	AccountPayoutsInTransit: {"platform", Credit},
}

// LedgerAccountID is the id of a merchant's account of code in currency.
func LedgerAccountID(merchantID, code, currency string) string {
	return merchantID + ":" + code + ":" + currency
}

// LedgerAccount is one account of a merchant's ledger.
type LedgerAccount struct {
	ID         string
	MerchantID string
	Code       string
	Currency   string
	// Normal is the side that increases the account's balance.
	Normal string
	// Owner is "merchant" or "platform".
	Owner string
}

// LedgerTransaction is one ledger transaction without its postings.
type LedgerTransaction struct {
	ID         string
	MerchantID string
	// Seq numbers the merchant's transactions from 1 without gaps.
	Seq           int64
	Kind          string
	ReferenceType string
	Reference     string
	// IdempotencyKey is unique over all transactions: what caused the
	// transaction ("capture:<order id>"), so it is posted once.
	IdempotencyKey string
	HoldID         string
	Phase          string
	CreatedAt      time.Time
	// PrevHash is the Hash of the merchant's previous transaction (32 zero
	// bytes for the first); Hash is LedgerHash of this one.
	PrevHash []byte
	Hash     []byte
}

// LedgerPosting is one leg of a transaction.
type LedgerPosting struct {
	AccountID string
	Direction string
	Amount    int64
	Currency  string
}

// BalanceDelta is how much a transaction changes an account's stored
// balance, in the account's normal direction.
type BalanceDelta struct {
	AccountID string
	Delta     int64
}

// HoldRecord is a two-phase hold as stored.
type HoldRecord struct {
	ID         string
	MerchantID string
	Kind       string
	OrderID    string
	Currency   string
	// Amount is what the hold took from the available balance; Gross is
	// what it holds in all (for a refund: what the customer gets back) and
	// Fee the platform fee's share of that.
	Amount int64
	Gross  int64
	Fee    int64
	Status string
	// HoldTransactionID placed the hold; ResolveTransactionID resolved it.
	HoldTransactionID    string
	ResolveTransactionID string
	CreatedAt            time.Time
	ResolvedAt           time.Time
}

// PayoutRecord is a payout as stored.
type PayoutRecord struct {
	ID            string
	MerchantID    string
	Amount        int64
	Currency      string
	Status        string
	BankCode      string
	AccountNumber string
	AccountName   string
	TransferCode  string
	FailureReason string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// LedgerEntry is one transaction the ledger actor commits: the transaction
// with its postings, the stored balances it changes, the accounts it opens,
// and the hold and payout rows it writes. Entries of a batch are written
// together, as a few multi-row statements.
type LedgerEntry struct {
	Transaction LedgerTransaction
	Postings    []LedgerPosting
	Deltas      []BalanceDelta
	NewAccounts []LedgerAccount
	// NewHold is inserted; ResolvedHold updates the pending hold of its id.
	NewHold      *HoldRecord
	ResolvedHold *HoldRecord
	// NewPayout is inserted; UpdatedPayout replaces the row of its id.
	NewPayout     *PayoutRecord
	UpdatedPayout *PayoutRecord
}

// IsChange marks LedgerEntry as a Change.
func (LedgerEntry) IsChange(seal.Token) {}

// AuditRecord appends one line to the merchant's audit log: who (the
// actor's kind, user and credential) did what (action) to which object.
// Any kind may commit one with the change it records.
type AuditRecord struct {
	MerchantID   string
	Action       string
	ActorKind    string
	UserID       string
	CredentialID string
	RequestID    string
	ObjectType   string
	ObjectID     string
	Data         json.RawMessage
	At           time.Time
}

// IsChange marks AuditRecord as a Change.
func (AuditRecord) IsChange(seal.Token) {}

// LedgerChanges are the change types the ledger kind commits.
var LedgerChanges = []Change{LedgerEntry{}, AuditRecord{}}

// LedgerSnapshot is what a ledger activation loads.
type LedgerSnapshot struct {
	// Currency is the merchant's store currency, the default of payouts.
	Currency string
	// Seq and LastHash are those of the merchant's last transaction.
	Seq      int64
	LastHash []byte
	Accounts []LedgerAccount
	// Balances are the stored balances by account id.
	Balances map[string]int64
	// PendingHolds are the holds not yet resolved, with the payouts of
	// the payout holds by id.
	PendingHolds []HoldRecord
	Payouts      map[string]PayoutRecord
	// CapturedOrders are the ids of the orders whose capture is booked.
	CapturedOrders []string
}

// OrderCapture is an order's capture and what has been refunded of it.
type OrderCapture struct {
	OrderID       string
	TransactionID string
	Currency      string
	Amount        int64
	Fee           int64
	// RefundedGross and RefundedFee sum the refund holds of the order that
	// were not voided.
	RefundedGross int64
	RefundedFee   int64
}

// LedgerRepository reads a merchant's ledger for its actor; the actor's
// writes are LedgerEntry changes. Implemented by persistence/postgres.
type LedgerRepository interface {
	// LoadLedger reads what an activation keeps in memory. An unknown
	// merchant is ENOTFOUND.
	LoadLedger(ctx context.Context, merchantID string) (*LedgerSnapshot, error)
	// FindTransaction returns the id of the merchant's transaction with
	// the idempotency key, or "" when there is none.
	FindTransaction(ctx context.Context, merchantID, key string) (string, error)
	// LoadOrderCapture returns the order's capture, nil when it has none.
	LoadOrderCapture(ctx context.Context, merchantID, orderID string) (*OrderCapture, error)
	// LoadHold returns a hold, nil when there is none.
	LoadHold(ctx context.Context, merchantID, holdID string) (*HoldRecord, error)
	// LoadPayout returns a payout, nil when there is none.
	LoadPayout(ctx context.Context, merchantID, payoutID string) (*PayoutRecord, error)
}

// genesisHash is the PrevHash of a merchant's first transaction.
var genesisHash = make([]byte, sha256.Size)

// ledgerHashVersion starts the canonical encoding, so that another
// encoding can be told apart.
const ledgerHashVersion = "vayva-ledger-v1"

// LedgerHash is SHA-256 of prev followed by the canonical encoding of t and
// its postings: the lines version, id, merchant id, seq, kind, reference
// type, reference, idempotency key, hold id, phase and the creation time in
// Unix microseconds, then one line "<account> <direction> <amount>
// <currency>" per posting, sorted bytewise by account, direction and
// amount, joined with "\n". The ledger check recomputes it in SQL.
func LedgerHash(prev []byte, t LedgerTransaction, postings []LedgerPosting) []byte {
	ps := slices.Clone(postings)
	slices.SortFunc(ps, func(a, b LedgerPosting) int {
		if c := strings.Compare(a.AccountID, b.AccountID); c != 0 {
			return c
		}
		if c := strings.Compare(a.Direction, b.Direction); c != 0 {
			return c
		}
		return cmp.Compare(a.Amount, b.Amount)
	})
	buf := make([]byte, 0, len(prev)+256+64*len(ps))
	buf = append(buf, prev...)
	line := func(s string) { buf = append(append(buf, s...), '\n') }
	line(ledgerHashVersion)
	line(t.ID)
	line(t.MerchantID)
	buf = append(strconv.AppendInt(buf, t.Seq, 10), '\n')
	line(t.Kind)
	line(t.ReferenceType)
	line(t.Reference)
	line(t.IdempotencyKey)
	line(t.HoldID)
	line(t.Phase)
	buf = strconv.AppendInt(buf, t.CreatedAt.UnixMicro(), 10)
	for _, p := range ps {
		buf = append(buf, '\n')
		buf = append(append(buf, p.AccountID...), ' ')
		buf = append(append(buf, p.Direction...), ' ')
		buf = append(strconv.AppendInt(buf, p.Amount, 10), ' ')
		buf = append(buf, p.Currency...)
	}
	sum := sha256.Sum256(buf)
	return sum[:]
}

// PlatformFee is the fee of bps basis points on amount, rounded half up.
func PlatformFee(amount int64, bps int32) int64 {
	return (amount*int64(bps) + 5000) / 10000
}

// feeRefunded is the part of fee that refunds totalling refunded of
// amount give back: fee·refunded/amount rounded down, so that refunding
// everything gives back exactly fee. It needs 128-bit intermediates.
func feeRefunded(fee, amount, refunded int64) int64 {
	if amount <= 0 || refunded <= 0 || fee <= 0 {
		return 0
	}
	if refunded >= amount {
		return fee
	}
	hi, lo := bits.Mul64(uint64(fee), uint64(refunded))
	q, _ := bits.Div64(hi, lo, uint64(amount))
	return int64(q)
}

// RefundFeeShare is the platform fee's share of a refund of amount when
// refunded has been refunded (and not voided) of a capture of gross with
// fee, of which refundedFee was given back: the rest of the merchant's
// share comes from its available balance. Refunding the whole capture, in
// any steps, gives back the whole fee.
func RefundFeeShare(gross, fee, refunded, refundedFee, amount int64) int64 {
	share := feeRefunded(fee, gross, refunded+amount) - refundedFee
	return max(0, min(share, amount, fee-refundedFee))
}
