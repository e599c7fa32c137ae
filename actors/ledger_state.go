package actors

import (
	"hash/fnv"
	"slices"
	"time"

	"github.com/vayvahq/vayva"
)

// ledgerState is what a ledger activation holds: the state projected from
// every command planned so far, committed or not. Reads of committed state
// go to the database; the actor only needs the projection to plan.
type ledgerState struct {
	merchantID string
	// currency is the merchant's store currency.
	currency string
	seq      int64
	lastHash []byte
	accounts map[string]*ledgerAccount
	// captured holds a 64-bit hash of the id of every order whose capture
	// is booked or planned. A hit is confirmed in the database (or in
	// planned), so a collision costs a read, never a lost capture.
	captured map[uint64]struct{}
	// planned maps the idempotency keys of planned, uncommitted
	// transactions to their ids; a commit removes its keys.
	planned map[string]string
	// plannedCaptures are the captures planned and not yet committed.
	plannedCaptures map[string]*OrderCapture
	// orders caches the captures of the orders refunds touched in this
	// activation, with their projected refunds.
	orders map[string]*OrderCapture
	// holds are the holds pending in the database, and those resolved by
	// planned transactions, with their projected state.
	holds map[string]*ledgerHold
}

type ledgerAccount struct {
	LedgerAccount
	balance int64
}

// ledgerHold is a hold's projected state.
type ledgerHold struct {
	rec HoldRecord
	// payout is the payout of a payout hold.
	payout *PayoutRecord
	// returned is set once a payout_return is booked for a reversed
	// transfer that had succeeded.
	returned bool
	// lastKey is the idempotency key of the planned transaction that last
	// changed the hold; "" once that is committed.
	lastKey string
}

func newLedgerState(merchantID string, snap *LedgerSnapshot) *ledgerState {
	st := &ledgerState{
		merchantID: merchantID, currency: snap.Currency, seq: snap.Seq, lastHash: snap.LastHash,
		accounts:        make(map[string]*ledgerAccount, len(snap.Accounts)),
		captured:        make(map[uint64]struct{}, len(snap.CapturedOrders)),
		planned:         map[string]string{},
		plannedCaptures: map[string]*OrderCapture{},
		orders:          map[string]*OrderCapture{},
		holds:           make(map[string]*ledgerHold, len(snap.PendingHolds)),
	}
	if st.currency == "" {
		st.currency = "NGN"
	}
	if len(st.lastHash) == 0 {
		st.lastHash = genesisHash
	}
	for _, a := range snap.Accounts {
		st.accounts[a.ID] = &ledgerAccount{LedgerAccount: a, balance: snap.Balances[a.ID]}
	}
	for _, id := range snap.CapturedOrders {
		st.captured[orderHash(id)] = struct{}{}
	}
	for _, h := range snap.PendingHolds {
		lh := &ledgerHold{rec: h}
		if p, ok := snap.Payouts[h.ID]; ok {
			lh.payout = &p
		}
		st.holds[h.ID] = lh
	}
	return st
}

func orderHash(orderID string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(orderID))
	return h.Sum64()
}

// balance is the projected balance of the merchant's account of code in
// currency.
func (st *ledgerState) balance(code, currency string) int64 {
	if a, ok := st.accounts[LedgerAccountID(st.merchantID, code, currency)]; ok {
		return a.balance
	}
	return 0
}

// leg is one posting of a planned transaction, on an account code.
type leg struct {
	code   string
	dir    string
	amount int64
}

// txnSpec is a transaction to plan.
type txnSpec struct {
	kind, refType, ref, key, holdID, phase, currency string
	legs                                             []leg
}

// errInsufficientFunds refuses what would take the available balance
// below zero.
func errInsufficientFunds(available, want int64, currency string) error {
	return vayva.Errorf(vayva.EINSUFFICIENTFUNDS,
		"The available balance is %d %s; %d is needed.", available, currency, want)
}

// plan books spec on the projection and returns its entry. It changes
// nothing when it fails: when the transaction would not balance, would
// take an account below zero (insufficient_funds for the available
// balance) or holds an amount out of range.
func (st *ledgerState) plan(spec txnSpec, now time.Time) (*LedgerEntry, error) {
	e := &LedgerEntry{Postings: make([]LedgerPosting, 0, len(spec.legs)), Deltas: make([]BalanceDelta, 0, len(spec.legs))}
	var debits, credits int64
	for _, lg := range spec.legs {
		if lg.amount == 0 {
			continue
		}
		if lg.amount < 0 || lg.amount > MaxLedgerAmount {
			return nil, vayva.Errorf(vayva.EINTERNAL, "ledger: %s leg of %d on %s", spec.kind, lg.amount, lg.code)
		}
		as, ok := ledgerAccountSpecs[lg.code]
		if !ok {
			return nil, vayva.Errorf(vayva.EINTERNAL, "ledger: unknown account code %q", lg.code)
		}
		id := LedgerAccountID(st.merchantID, lg.code, spec.currency)
		if _, ok := st.accounts[id]; !ok && !slices.ContainsFunc(e.NewAccounts, func(a LedgerAccount) bool { return a.ID == id }) {
			e.NewAccounts = append(e.NewAccounts, LedgerAccount{
				ID: id, MerchantID: st.merchantID, Code: lg.code, Currency: spec.currency, Normal: as.normal, Owner: as.owner,
			})
		}
		e.Postings = append(e.Postings, LedgerPosting{AccountID: id, Direction: lg.dir, Amount: lg.amount, Currency: spec.currency})
		d := lg.amount
		if lg.dir != as.normal {
			d = -d
		}
		if lg.dir == Debit {
			debits += lg.amount
		} else {
			credits += lg.amount
		}
		if i := slices.IndexFunc(e.Deltas, func(b BalanceDelta) bool { return b.AccountID == id }); i >= 0 {
			e.Deltas[i].Delta += d
		} else {
			e.Deltas = append(e.Deltas, BalanceDelta{AccountID: id, Delta: d})
		}
	}
	if len(e.Postings) == 0 || debits != credits {
		return nil, vayva.Errorf(vayva.EINTERNAL, "ledger: %s does not balance (debits %d, credits %d)", spec.kind, debits, credits)
	}
	for _, d := range e.Deltas {
		var bal int64
		if a, ok := st.accounts[d.AccountID]; ok {
			bal = a.balance
		}
		if bal+d.Delta < 0 {
			if d.AccountID == LedgerAccountID(st.merchantID, AccountAvailable, spec.currency) {
				return nil, errInsufficientFunds(bal, -d.Delta, spec.currency)
			}
			return nil, vayva.Errorf(vayva.EINTERNAL, "ledger: %s would take %s below zero", spec.kind, d.AccountID)
		}
	}
	for _, a := range e.NewAccounts {
		st.accounts[a.ID] = &ledgerAccount{LedgerAccount: a}
	}
	for _, d := range e.Deltas {
		st.accounts[d.AccountID].balance += d.Delta
	}
	st.seq++
	t := LedgerTransaction{
		ID: vayva.NewID("txn"), MerchantID: st.merchantID, Seq: st.seq, Kind: spec.kind, ReferenceType: spec.refType,
		Reference: spec.ref, IdempotencyKey: spec.key, HoldID: spec.holdID, Phase: spec.phase, CreatedAt: now,
		PrevHash: st.lastHash,
	}
	t.Hash = LedgerHash(t.PrevHash, t, e.Postings)
	st.lastHash = t.Hash
	st.planned[spec.key] = t.ID
	e.Transaction = t
	return e, nil
}
