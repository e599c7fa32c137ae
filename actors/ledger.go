package actors

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/messages"
)

// LedgerKind is the kind of the ledger actor; its identity is the merchant
// id.
const LedgerKind = "ledger"

// LedgerIdleTimeout is how long a ledger activation stays without messages
// before it passivates.
const LedgerIdleTimeout = 15 * time.Minute

// Event types the ledger emits. Payout jobs go to the payouts queue (their
// Data is a PayoutJob); payout.paid and payout.failed go to merchants'
// webhooks.
const (
	EventPayoutRequested = "payout.requested"
	EventPayoutReconcile = "payout.reconcile"
	EventPayoutPaid      = "payout.paid"
	EventPayoutFailed    = "payout.failed"
)

// PayoutJob is the Data of a payout job: the payout worker reads the
// payout itself, so no bank details travel through the queue.
type PayoutJob struct {
	PayoutID   string `json:"payout_id"`
	MerchantID string `json:"merchant_id"`
}

// payoutReminderPrefix names a payout's reconciliation reminder.
const payoutReminderPrefix = "payout:"

// LedgerConfig configures ledger actors.
type LedgerConfig struct {
	// ReconcileAfter is how long a payout may stay pending before the
	// ledger asks the payout worker to verify its transfer with Paystack;
	// later checks back off to ReconcileMax. Defaults to 10 minutes and 1
	// hour.
	ReconcileAfter time.Duration
	ReconcileMax   time.Duration
	// RetryScale multiplies both (VAYVA_RETRY_SCALE). Defaults to 1.
	RetryScale float64
	// MaxBatch bounds the commands committed in one transaction. Defaults
	// to DefaultMaxBatch.
	MaxBatch int
	// Observe, when set, is told each batch's size and commit time.
	Observe func(size int, took time.Duration)
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
}

// Ledger is the ledger actor: the single writer of one merchant's
// accounts, transactions, postings, holds and payouts. It plans each
// command against the state projected from every command before it and
// group-commits through a Pipeline, so commands that arrive while a batch
// commits form the next one.
type Ledger struct {
	*Processor
	repo LedgerRepository
	cfg  LedgerConfig
	pipe *Pipeline
	st   *ledgerState
}

// NewLedgerProducer returns a producer of ledger actors that commit
// through j and load their state from repo.
func NewLedgerProducer(j Journal, repo LedgerRepository, cfg LedgerConfig, log zerolog.Logger) actor.Producer {
	if cfg.ReconcileAfter <= 0 {
		cfg.ReconcileAfter = 10 * time.Minute
	}
	if cfg.ReconcileMax < cfg.ReconcileAfter {
		cfg.ReconcileMax = max(time.Hour, cfg.ReconcileAfter)
	}
	if cfg.RetryScale <= 0 {
		cfg.RetryScale = 1
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return Producer(j, log, func(p *Processor) Behavior {
		l := &Ledger{Processor: p, repo: repo, cfg: cfg}
		l.pipe = p.NewPipeline(PipelineConfig{MaxBatch: cfg.MaxBatch, Observe: cfg.Observe, Diverged: l.diverged})
		return l
	})
}

// Load reads the merchant's accounts, balances, pending holds and captured
// orders.
func (l *Ledger) Load(ctx context.Context, a *Activation) error {
	snap, err := l.repo.LoadLedger(ctx, a.Identity)
	if err != nil {
		if vayva.ErrorCode(err) == vayva.ENOTFOUND {
			return vayva.Errorf(vayva.ENOTFOUND, "No merchant %q.", a.Identity)
		}
		return err
	}
	l.st = newLedgerState(a.Identity, snap)
	return nil
}

// diverged reloads the projection after a batch was refused inside its
// transaction: the database holds exactly what committed.
func (l *Ledger) diverged(ctx actor.Context) {
	c, cancel := context.WithTimeout(context.Background(), storageTimeout)
	defer cancel()
	if err := l.Load(c, l.act); err != nil {
		l.log.Error().Err(err).Msg("ledger reload after a refused batch failed; stopping")
		l.stop(ctx, &vayva.Error{Code: vayva.EUNAVAILABLE, Message: "ledger state could not be reloaded; retry"})
	}
}

// Receive handles one command.
func (l *Ledger) Receive(ctx actor.Context, msg any) {
	switch msg := msg.(type) {
	case *messages.LedgerCapture:
		l.capture(ctx, msg)
	case *messages.LedgerHoldRefund:
		l.holdRefund(ctx, msg)
	case *messages.LedgerSettleRefund:
		l.settleRefund(ctx, msg)
	case *messages.LedgerRequestPayout:
		l.requestPayout(ctx, msg)
	case *messages.LedgerSettlePayout:
		l.settlePayout(ctx, msg)
	case *messages.ReminderFired:
		l.reminderFired(ctx, msg)
	default:
		l.Unhandled(ctx, msg)
	}
}

func (l *Ledger) now() time.Time { return l.cfg.Now().UTC().Truncate(time.Microsecond) }

// storage answers a failed read of the ledger's tables.
func (l *Ledger) storage(ctx actor.Context, err error) {
	l.log.Error().Err(err).Msg("ledger read failed")
	l.Fail(ctx, &vayva.Error{Code: vayva.EUNAVAILABLE, Message: "ledger storage unavailable; retry"})
}

// submit queues a planned command; its commit forgets the planned keys.
func (l *Ledger) submit(ctx actor.Context, c Commit, reply proto.Message, keys []string, after func()) {
	c.Domain = vayva.DomainLedger
	st := l.st
	l.pipe.Submit(ctx, Pending{Commit: c, Reply: reply, Sender: ctx.Sender(), Apply: func() {
		for _, k := range keys {
			delete(st.planned, k)
		}
		if after != nil {
			after()
		}
	}})
}

// replay answers a command whose effect is already planned or booked: at
// once when it is committed, else after the batch holding it commits (an
// empty commit behind it in the pipeline).
func (l *Ledger) replay(ctx actor.Context, inFlight bool, reply proto.Message) {
	if !inFlight {
		ctx.Respond(reply)
		return
	}
	l.pipe.Submit(ctx, Pending{Commit: Commit{Domain: vayva.DomainLedger}, Reply: reply, Sender: ctx.Sender()})
}

func captureKey(orderID string) string { return "capture:" + orderID }

func holdKey(kind, id, phase string) string { return kind + ":" + id + ":" + phase }

// checkCapture validates a capture for this ledger.
func (l *Ledger) checkCapture(m *messages.LedgerCapture, prefix string) error {
	var v vayva.Validation
	v.Check(m.GetMerchantId() == l.st.merchantID, prefix+"merchant_id", "must be the ledger's merchant")
	v.Check(validRef(m.GetOrderId()), prefix+"order_id", "is required (at most 100 characters)")
	v.Check(m.GetAmount() > 0 && m.GetAmount() <= MaxLedgerAmount, prefix+"amount", "must be between 1 and %d", int64(MaxLedgerAmount))
	v.Check(ValidCurrency(m.GetCurrency()), prefix+"currency", "must be one of %s", strings.Join(Currencies, ", "))
	v.Check(m.GetFeeBps() >= 0 && m.GetFeeBps() <= MaxFeeBps, prefix+"fee_bps", "must be between 0 and %d", MaxFeeBps)
	return v.Err()
}

func validRef(s string) bool { return s != "" && len(s) <= 100 }

// planCapture books an order's payment on the projection.
func (l *Ledger) planCapture(m *messages.LedgerCapture, now time.Time) (*LedgerEntry, *OrderCapture, error) {
	st := l.st
	fee := PlatformFee(m.GetAmount(), m.GetFeeBps())
	e, err := st.plan(txnSpec{
		kind: TxnCapture, refType: "order", ref: m.GetOrderId(), key: captureKey(m.GetOrderId()), currency: m.GetCurrency(),
		legs: []leg{
			{AccountPaystackClearing, Debit, m.GetAmount()},
			{AccountAvailable, Credit, m.GetAmount() - fee},
			{AccountFeeRevenue, Credit, fee},
		},
	}, now)
	if err != nil {
		return nil, nil, err
	}
	oc := &OrderCapture{OrderID: m.GetOrderId(), TransactionID: e.Transaction.ID, Currency: m.GetCurrency(), Amount: m.GetAmount(), Fee: fee}
	st.captured[orderHash(m.GetOrderId())] = struct{}{}
	st.plannedCaptures[oc.OrderID] = oc
	return e, oc, nil
}

// findCapture returns the order's capture, planned or booked, and whether
// it is still in flight; nil when the order has none.
func (l *Ledger) findCapture(ctx context.Context, orderID string) (*OrderCapture, bool, error) {
	st := l.st
	_, inFlight := st.planned[captureKey(orderID)]
	if oc, ok := st.orders[orderID]; ok {
		return oc, inFlight, nil
	}
	if oc, ok := st.plannedCaptures[orderID]; ok {
		return oc, true, nil
	}
	if _, hit := st.captured[orderHash(orderID)]; !hit {
		return nil, false, nil
	}
	oc, err := l.repo.LoadOrderCapture(ctx, st.merchantID, orderID)
	return oc, false, err
}

func (l *Ledger) capture(ctx actor.Context, m *messages.LedgerCapture) {
	if err := l.checkCapture(m, ""); err != nil {
		l.Fail(ctx, err)
		return
	}
	st := l.st
	key := captureKey(m.GetOrderId())
	if id, ok := st.planned[key]; ok {
		l.replay(ctx, true, &messages.LedgerPosted{TransactionId: id, Replayed: true})
		return
	}
	if _, hit := st.captured[orderHash(m.GetOrderId())]; hit {
		c, cancel := context.WithTimeout(context.Background(), storageTimeout)
		id, err := l.repo.FindTransaction(c, st.merchantID, key)
		cancel()
		if err != nil {
			l.storage(ctx, err)
			return
		}
		if id != "" {
			ctx.Respond(&messages.LedgerPosted{TransactionId: id, Replayed: true})
			return
		}
	}
	e, _, err := l.planCapture(m, l.now())
	if err != nil {
		l.Fail(ctx, err)
		return
	}
	orderID := m.GetOrderId()
	l.submit(ctx, Commit{Changes: []Change{*e}}, &messages.LedgerPosted{TransactionId: e.Transaction.ID},
		[]string{key}, func() { delete(st.plannedCaptures, orderID) })
}

// holdReply is the reply about a hold in its projected state.
func holdReply(h *ledgerHold) *messages.LedgerHold {
	txn := h.rec.HoldTransactionID
	if h.rec.ResolveTransactionID != "" {
		txn = h.rec.ResolveTransactionID
	}
	return &messages.LedgerHold{HoldId: h.rec.ID, Status: h.rec.Status, Amount: h.rec.Amount, Currency: h.rec.Currency, TransactionId: txn}
}

// findHold returns a hold in its projected state, loading a resolved one
// from the database; nil when there is none. Loaded holds stay in memory
// for the activation.
func (l *Ledger) findHold(ctx context.Context, id string) (*ledgerHold, error) {
	if h, ok := l.st.holds[id]; ok {
		return h, nil
	}
	rec, err := l.repo.LoadHold(ctx, l.st.merchantID, id)
	if err != nil || rec == nil {
		return nil, err
	}
	h := &ledgerHold{rec: *rec}
	if rec.Kind == HoldPayout {
		p, err := l.repo.LoadPayout(ctx, l.st.merchantID, id)
		if err != nil {
			return nil, err
		}
		if p == nil {
			return nil, vayva.Errorf(vayva.EINTERNAL, "ledger: payout hold %s has no payout", id)
		}
		h.payout = p
		if p.Status == PayoutFailed && rec.Status == HoldPosted {
			h.returned = true
		}
	}
	l.st.holds[id] = h
	return h, nil
}

func (l *Ledger) holdRefund(ctx actor.Context, m *messages.LedgerHoldRefund) {
	st := l.st
	var v vayva.Validation
	v.Check(m.GetMerchantId() == st.merchantID, "merchant_id", "must be the ledger's merchant")
	v.Check(validRef(m.GetRefundId()), "refund_id", "is required (at most 100 characters)")
	v.Check(validRef(m.GetOrderId()), "order_id", "is required (at most 100 characters)")
	v.Check(m.GetAmount() > 0 && m.GetAmount() <= MaxLedgerAmount, "amount", "must be between 1 and %d", int64(MaxLedgerAmount))
	v.Check(ValidCurrency(m.GetCurrency()), "currency", "must be one of %s", strings.Join(Currencies, ", "))
	if err := v.Err(); err != nil {
		l.Fail(ctx, err)
		return
	}
	c, cancel := context.WithTimeout(context.Background(), storageTimeout)
	defer cancel()
	h, err := l.findHold(c, m.GetRefundId())
	if err != nil {
		l.storage(ctx, err)
		return
	}
	if h != nil {
		if h.rec.Kind != HoldRefund || h.rec.OrderID != m.GetOrderId() {
			l.Fail(ctx, vayva.Errorf(vayva.ECONFLICT, "Hold %s is not a refund of order %s.", m.GetRefundId(), m.GetOrderId()))
			return
		}
		l.replay(ctx, h.lastKey != "", holdReply(h))
		return
	}
	oc, _, err := l.findCapture(c, m.GetOrderId())
	if err != nil {
		l.storage(ctx, err)
		return
	}
	var capture *messages.LedgerCapture
	if oc == nil {
		capture = m.GetCapture()
		if capture == nil {
			l.Fail(ctx, vayva.Errorf(vayva.ENOTFOUND, "Order %s has no capture to refund.", m.GetOrderId()))
			return
		}
		if capture.GetOrderId() != m.GetOrderId() {
			l.Fail(ctx, &vayva.Error{Code: vayva.EINVALID, Message: "The request has invalid fields.",
				Fields: []vayva.FieldError{{Field: "capture.order_id", Message: "must be the refund's order"}}})
			return
		}
		if err := l.checkCapture(capture, "capture."); err != nil {
			l.Fail(ctx, err)
			return
		}
		oc = &OrderCapture{OrderID: capture.GetOrderId(), Currency: capture.GetCurrency(), Amount: capture.GetAmount(),
			Fee: PlatformFee(capture.GetAmount(), capture.GetFeeBps())}
	}
	if oc.Currency != m.GetCurrency() {
		l.Fail(ctx, &vayva.Error{Code: vayva.EINVALID, Message: "The request has invalid fields.",
			Fields: []vayva.FieldError{{Field: "currency", Message: "must be the currency of the order's payment, " + oc.Currency}}})
		return
	}
	if left := oc.Amount - oc.RefundedGross; m.GetAmount() > left {
		l.Fail(ctx, &vayva.Error{Code: vayva.EINVALID, Message: "The request has invalid fields.",
			Fields: []vayva.FieldError{{Field: "amount", Message: "exceeds what is left to refund of the order's payment, " + strconv.FormatInt(left, 10)}}})
		return
	}
	gross := m.GetAmount()
	fee := RefundFeeShare(oc.Amount, oc.Fee, oc.RefundedGross, oc.RefundedFee, gross)
	share := gross - fee
	available := st.balance(AccountAvailable, oc.Currency)
	if capture != nil {
		available += oc.Amount - oc.Fee
	}

	now := l.now()
	var changes []Change
	var keys []string
	var after []func()
	if capture != nil {
		e, planned, err := l.planCapture(capture, now)
		if err != nil {
			l.Fail(ctx, err)
			return
		}
		oc = planned
		changes = append(changes, *e)
		keys = append(keys, e.Transaction.IdempotencyKey)
		orderID := oc.OrderID
		after = append(after, func() { delete(st.plannedCaptures, orderID) })
	}
	if share > available {
		// The capture is booked all the same: the order was paid.
		refusal := ErrorReply(errInsufficientFunds(available, share, oc.Currency))
		if len(changes) == 0 {
			ctx.Respond(refusal)
			return
		}
		l.submit(ctx, Commit{Changes: changes}, refusal, keys, runAll(after))
		return
	}
	key := holdKey(HoldRefund, m.GetRefundId(), PhaseHold)
	e, err := st.plan(txnSpec{
		kind: TxnRefundHold, refType: "refund", ref: m.GetRefundId(), key: key, holdID: m.GetRefundId(), phase: PhaseHold,
		currency: oc.Currency,
		legs:     []leg{{AccountAvailable, Debit, share}, {AccountFeeRevenue, Debit, fee}, {AccountOnHold, Credit, gross}},
	}, now)
	if err != nil {
		// Only an internal error gets here. A capture planned above is
		// committed all the same, answered with the error.
		if len(changes) == 0 {
			l.Fail(ctx, err)
			return
		}
		l.submit(ctx, Commit{Changes: changes}, ErrorReply(err), keys, runAll(after))
		return
	}
	rec := HoldRecord{
		ID: m.GetRefundId(), MerchantID: st.merchantID, Kind: HoldRefund, OrderID: oc.OrderID, Currency: oc.Currency,
		Amount: share, Gross: gross, Fee: fee, Status: HoldPending, HoldTransactionID: e.Transaction.ID, CreatedAt: now,
	}
	e.NewHold = &rec
	h = &ledgerHold{rec: rec, lastKey: key}
	st.holds[rec.ID] = h
	oc.RefundedGross += gross
	oc.RefundedFee += fee
	st.orders[oc.OrderID] = oc
	changes = append(changes, *e, auditRecord(st.merchantID, "refund.hold", "refund", rec.ID, m.GetAudit(),
		map[string]any{"order_id": oc.OrderID, "amount": gross, "currency": oc.Currency, "held": share}, now))
	keys = append(keys, key)
	after = append(after, func() { h.lastKey = "" })
	l.submit(ctx, Commit{Changes: changes}, holdReply(h), keys, runAll(after))
}

func runAll(fs []func()) func() {
	return func() {
		for _, f := range fs {
			f()
		}
	}
}

func (l *Ledger) settleRefund(ctx actor.Context, m *messages.LedgerSettleRefund) {
	st := l.st
	var v vayva.Validation
	v.Check(m.GetMerchantId() == st.merchantID, "merchant_id", "must be the ledger's merchant")
	v.Check(validRef(m.GetRefundId()), "refund_id", "is required (at most 100 characters)")
	if err := v.Err(); err != nil {
		l.Fail(ctx, err)
		return
	}
	c, cancel := context.WithTimeout(context.Background(), storageTimeout)
	defer cancel()
	h, err := l.findHold(c, m.GetRefundId())
	switch {
	case err != nil:
		l.storage(ctx, err)
		return
	case h == nil || h.rec.Kind != HoldRefund:
		l.Fail(ctx, vayva.Errorf(vayva.ENOTFOUND, "No refund hold %q.", m.GetRefundId()))
		return
	}
	want := HoldVoided
	if m.GetSucceeded() {
		want = HoldPosted
	}
	switch h.rec.Status {
	case want:
		l.replay(ctx, h.lastKey != "", holdReply(h))
		return
	case HoldPosted, HoldVoided:
		l.Fail(ctx, vayva.Errorf(vayva.ECONFLICT, "Refund %s is already %s.", h.rec.ID, h.rec.Status))
		return
	}
	oc, _, err := l.findCapture(c, h.rec.OrderID)
	if err != nil {
		l.storage(ctx, err)
		return
	}
	rec := h.rec
	spec := txnSpec{refType: "refund", ref: rec.ID, holdID: rec.ID, currency: rec.Currency}
	if m.GetSucceeded() {
		spec.kind, spec.phase = TxnRefund, PhasePost
		spec.legs = []leg{{AccountOnHold, Debit, rec.Gross}, {AccountPaystackClearing, Credit, rec.Gross}}
	} else {
		spec.kind, spec.phase = TxnRefundVoid, PhaseVoid
		spec.legs = []leg{{AccountOnHold, Debit, rec.Gross}, {AccountAvailable, Credit, rec.Amount}, {AccountFeeRevenue, Credit, rec.Fee}}
	}
	spec.key = holdKey(HoldRefund, rec.ID, spec.phase)
	now := l.now()
	e, err := st.plan(spec, now)
	if err != nil {
		l.Fail(ctx, err)
		return
	}
	rec.Status, rec.ResolveTransactionID, rec.ResolvedAt = want, e.Transaction.ID, now
	e.ResolvedHold = &rec
	h.rec, h.lastKey = rec, spec.key
	if want == HoldVoided && oc != nil {
		oc.RefundedGross -= rec.Gross
		oc.RefundedFee -= rec.Fee
		st.orders[oc.OrderID] = oc
	}
	id := rec.ID
	l.submit(ctx, Commit{Changes: []Change{*e}}, holdReply(h), []string{spec.key}, func() {
		if h.lastKey == spec.key {
			delete(st.holds, id)
		}
	})
}

// payoutIDEncoding spells payout ids as NewID does.
var payoutIDEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// PayoutID is the id of the payout a merchant's command asks for: the same
// command always names the same payout. It is also the Paystack transfer
// reference.
func PayoutID(merchantID, commandID string) string {
	sum := sha256.Sum256([]byte("payout\x00" + merchantID + "\x00" + commandID))
	return "po_" + payoutIDEncoding.EncodeToString(sum[:16])
}

func payoutReply(p *PayoutRecord, replayed bool) *messages.Payout {
	last4 := p.AccountNumber
	if len(last4) > 4 {
		last4 = last4[len(last4)-4:]
	}
	return &messages.Payout{
		Id: p.ID, MerchantId: p.MerchantID, Status: p.Status, Amount: p.Amount, Currency: p.Currency, BankCode: p.BankCode,
		AccountName: p.AccountName, AccountNumberLast4: last4, FailureReason: p.FailureReason,
		CreatedAtUnixMs: p.CreatedAt.UnixMilli(), UpdatedAtUnixMs: p.UpdatedAt.UnixMilli(), Replayed: replayed,
	}
}

// payoutEventData is the Data of payout.paid and payout.failed, as the API
// shows a payout.
func payoutEventData(p *PayoutRecord) json.RawMessage {
	last4 := p.AccountNumber
	if len(last4) > 4 {
		last4 = last4[len(last4)-4:]
	}
	b, _ := json.Marshal(map[string]any{
		"id": p.ID, "status": p.Status, "amount": p.Amount, "currency": p.Currency, "failure_reason": p.FailureReason,
		"bank_account": map[string]string{"bank_code": p.BankCode, "name": p.AccountName, "account_number_last4": last4},
		"created_at":   p.CreatedAt.UTC().Format(time.RFC3339), "updated_at": p.UpdatedAt.UTC().Format(time.RFC3339),
	})
	return b
}

// validBankAccount checks a payout's bank account: a 10-digit NUBAN for
// NGN, else 6 to 34 letters and digits; a bank code of 1 to 20 letters and
// digits; a name.
func validBankAccount(v *vayva.Validation, b *messages.BankAccount, currency string) {
	if b == nil {
		v.Add("bank_account", "is required")
		return
	}
	n := b.GetAccountNumber()
	if currency == "NGN" {
		v.Check(len(n) == 10 && isDigits(n), "bank_account.account_number", "must be a 10-digit NUBAN")
	} else {
		v.Check(len(n) >= 6 && len(n) <= 34 && isAlnum(n), "bank_account.account_number", "must be 6 to 34 letters and digits")
	}
	v.Check(len(b.GetBankCode()) >= 1 && len(b.GetBankCode()) <= 20 && isAlnum(b.GetBankCode()), "bank_account.bank_code", "must be 1 to 20 letters and digits")
	name := strings.TrimSpace(b.GetName())
	v.Check(name != "" && len(name) <= 100 && !strings.ContainsAny(name, "\x00\r\n"), "bank_account.name", "is required (at most 100 characters)")
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func (l *Ledger) requestPayout(ctx actor.Context, m *messages.LedgerRequestPayout) {
	st := l.st
	currency := m.GetCurrency()
	if currency == "" {
		currency = st.currency
	}
	var v vayva.Validation
	v.Check(m.GetMerchantId() == st.merchantID, "merchant_id", "must be the ledger's merchant")
	v.Check(m.GetCommandId() != "", "command_id", "is required: it names the payout")
	v.Check(m.GetAmount() > 0 && m.GetAmount() <= MaxLedgerAmount, "amount", "must be between 1 and %d", int64(MaxLedgerAmount))
	v.Check(ValidCurrency(currency), "currency", "must be one of %s", strings.Join(Currencies, ", "))
	validBankAccount(&v, m.GetBankAccount(), currency)
	if err := v.Err(); err != nil {
		l.Fail(ctx, err)
		return
	}
	id := PayoutID(st.merchantID, m.GetCommandId())
	c, cancel := context.WithTimeout(context.Background(), storageTimeout)
	defer cancel()
	h, err := l.findHold(c, id)
	if err != nil {
		l.storage(ctx, err)
		return
	}
	if h != nil {
		if h.rec.Kind != HoldPayout || h.payout == nil {
			l.Fail(ctx, vayva.Errorf(vayva.ECONFLICT, "Hold %s is not a payout.", id))
			return
		}
		l.replay(ctx, h.lastKey != "", payoutReply(h.payout, true))
		return
	}
	if available := st.balance(AccountAvailable, currency); m.GetAmount() > available {
		l.Fail(ctx, errInsufficientFunds(available, m.GetAmount(), currency))
		return
	}
	now := l.now()
	key := holdKey(HoldPayout, id, PhaseHold)
	e, err := st.plan(txnSpec{
		kind: TxnPayoutHold, refType: "payout", ref: id, key: key, holdID: id, phase: PhaseHold, currency: currency,
		legs: []leg{{AccountAvailable, Debit, m.GetAmount()}, {AccountPayoutsInTransit, Credit, m.GetAmount()}},
	}, now)
	if err != nil {
		l.Fail(ctx, err)
		return
	}
	b := m.GetBankAccount()
	p := &PayoutRecord{
		ID: id, MerchantID: st.merchantID, Amount: m.GetAmount(), Currency: currency, Status: PayoutPending,
		BankCode: b.GetBankCode(), AccountNumber: b.GetAccountNumber(), AccountName: strings.TrimSpace(b.GetName()),
		CreatedAt: now, UpdatedAt: now,
	}
	rec := HoldRecord{
		ID: id, MerchantID: st.merchantID, Kind: HoldPayout, Currency: currency, Amount: p.Amount, Gross: p.Amount,
		Status: HoldPending, HoldTransactionID: e.Transaction.ID, CreatedAt: now,
	}
	e.NewHold, e.NewPayout = &rec, p
	h = &ledgerHold{rec: rec, payout: p, lastKey: key}
	st.holds[id] = h
	job, _ := json.Marshal(PayoutJob{PayoutID: id, MerchantID: st.merchantID})
	last4 := p.AccountNumber[len(p.AccountNumber)-4:]
	l.submit(ctx, Commit{
		Changes: []Change{*e, auditRecord(st.merchantID, "payout.request", "payout", id, m.GetAudit(),
			map[string]any{"amount": p.Amount, "currency": currency, "bank_code": p.BankCode, "account_number_last4": last4}, now)},
		Events:       []vayva.Event{{Type: EventPayoutRequested, Queue: vayva.QueuePayouts, Key: id, MerchantID: st.merchantID, Data: job}},
		SetReminders: []vayva.Reminder{l.reconcileReminder(id, 0, now)},
	}, payoutReply(p, false), []string{key}, func() {
		if h.lastKey == key {
			h.lastKey = ""
		}
	})
}

// reconcileReminder is the n-th check of a pending payout: after
// ReconcileAfter, doubling up to ReconcileMax, times RetryScale.
func (l *Ledger) reconcileReminder(payoutID string, n int, now time.Time) vayva.Reminder {
	d := l.cfg.ReconcileAfter
	for i := 0; i < n && d < l.cfg.ReconcileMax; i++ {
		d *= 2
	}
	d = min(d, l.cfg.ReconcileMax)
	d = time.Duration(float64(d) * l.cfg.RetryScale)
	return vayva.Reminder{Name: payoutReminderPrefix + payoutID, DueAt: now.Add(d), Payload: []byte(strconv.Itoa(n + 1))}
}

func (l *Ledger) settlePayout(ctx actor.Context, m *messages.LedgerSettlePayout) {
	st := l.st
	var v vayva.Validation
	v.Check(m.GetMerchantId() == st.merchantID, "merchant_id", "must be the ledger's merchant")
	v.Check(validRef(m.GetPayoutId()), "payout_id", "is required")
	switch m.GetOutcome() {
	case messages.TransferOutcome_TRANSFER_OUTCOME_SUCCESS, messages.TransferOutcome_TRANSFER_OUTCOME_FAILED,
		messages.TransferOutcome_TRANSFER_OUTCOME_REVERSED:
	default:
		v.Add("outcome", "must be success, failed or reversed")
	}
	if err := v.Err(); err != nil {
		l.Fail(ctx, err)
		return
	}
	c, cancel := context.WithTimeout(context.Background(), storageTimeout)
	defer cancel()
	h, err := l.findHold(c, m.GetPayoutId())
	switch {
	case err != nil:
		l.storage(ctx, err)
		return
	case h == nil || h.rec.Kind != HoldPayout || h.payout == nil:
		l.Fail(ctx, vayva.Errorf(vayva.ENOTFOUND, "No payout %q.", m.GetPayoutId()))
		return
	}
	rec, p := h.rec, *h.payout
	now := l.now()
	outcome := m.GetOutcome()
	reason := strings.TrimSpace(m.GetReason())
	if len(reason) > 500 {
		reason = reason[:500]
	}
	spec := txnSpec{refType: "payout", ref: rec.ID, currency: rec.Currency}
	var event string
	switch {
	case rec.Status == HoldPending && outcome == messages.TransferOutcome_TRANSFER_OUTCOME_SUCCESS:
		spec.kind, spec.holdID, spec.phase = TxnPayout, rec.ID, PhasePost
		spec.legs = []leg{{AccountPayoutsInTransit, Debit, rec.Amount}, {AccountPaystackClearing, Credit, rec.Amount}}
		rec.Status, p.Status, event = HoldPosted, PayoutPaid, EventPayoutPaid
	case rec.Status == HoldPending:
		spec.kind, spec.holdID, spec.phase = TxnPayoutVoid, rec.ID, PhaseVoid
		spec.legs = []leg{{AccountPayoutsInTransit, Debit, rec.Amount}, {AccountAvailable, Credit, rec.Amount}}
		rec.Status, p.Status, event = HoldVoided, PayoutFailed, EventPayoutFailed
		if reason == "" {
			reason = "The transfer " + transferWord(outcome) + "."
		}
		p.FailureReason = reason
	case rec.Status == HoldPosted && outcome == messages.TransferOutcome_TRANSFER_OUTCOME_REVERSED && !h.returned:
		// The bank sent a paid transfer back: Paystack credits the balance
		// again, and so does the ledger.
		spec.kind = TxnPayoutReturn
		spec.legs = []leg{{AccountPaystackClearing, Debit, rec.Amount}, {AccountAvailable, Credit, rec.Amount}}
		p.Status, event = PayoutFailed, EventPayoutFailed
		if reason == "" {
			reason = "The transfer was reversed by the bank."
		}
		p.FailureReason = reason
	default:
		// Already booked: a redelivered or late event.
		l.replay(ctx, h.lastKey != "", payoutReply(h.payout, true))
		return
	}
	if spec.phase != "" {
		spec.key = holdKey(HoldPayout, rec.ID, spec.phase)
	} else {
		spec.key = holdKey(HoldPayout, rec.ID, "return")
	}
	e, err := st.plan(spec, now)
	if err != nil {
		l.Fail(ctx, err)
		return
	}
	if code := strings.TrimSpace(m.GetTransferCode()); code != "" && len(code) <= 100 {
		p.TransferCode = code
	}
	p.UpdatedAt = now
	e.UpdatedPayout = &p
	if spec.phase != "" {
		rec.ResolveTransactionID, rec.ResolvedAt = e.Transaction.ID, now
		e.ResolvedHold = &rec
		h.rec = rec
	} else {
		h.returned = true
	}
	h.payout, h.lastKey = &p, spec.key
	l.submit(ctx, Commit{
		Changes:         []Change{*e},
		Events:          []vayva.Event{{Type: event, Queue: vayva.QueueWebhookDelivery, MerchantID: st.merchantID, Data: payoutEventData(&p)}},
		CancelReminders: []string{payoutReminderPrefix + rec.ID},
	}, payoutReply(&p, false), []string{spec.key}, func() {
		if h.lastKey == spec.key {
			delete(st.holds, rec.ID)
		}
	})
}

func transferWord(o messages.TransferOutcome) string {
	if o == messages.TransferOutcome_TRANSFER_OUTCOME_REVERSED {
		return "was reversed"
	}
	return "failed"
}

// reminderFired handles a payout's reconciliation reminder: while the
// payout is pending, it asks the payout worker to verify the transfer and
// re-arms itself, backing off; otherwise it is cancelled.
func (l *Ledger) reminderFired(ctx actor.Context, m *messages.ReminderFired) {
	name := m.GetName()
	id, ok := strings.CutPrefix(name, payoutReminderPrefix)
	c := Commit{CancelReminders: []string{name}}
	if ok {
		cctx, cancel := context.WithTimeout(context.Background(), storageTimeout)
		h, err := l.findHold(cctx, id)
		cancel()
		if err != nil {
			l.storage(ctx, err)
			return
		}
		if h != nil && h.rec.Kind == HoldPayout && h.rec.Status == HoldPending {
			n, _ := strconv.Atoi(string(m.GetPayload()))
			job, _ := json.Marshal(PayoutJob{PayoutID: id, MerchantID: l.st.merchantID})
			c = Commit{
				Events:       []vayva.Event{{Type: EventPayoutReconcile, Queue: vayva.QueuePayouts, Key: id, MerchantID: l.st.merchantID, Data: job}},
				SetReminders: []vayva.Reminder{l.reconcileReminder(id, max(n, 1), l.now())},
			}
		}
	}
	l.submit(ctx, c, &messages.Ack{}, nil, nil)
}

// auditRecord is the audit line of an action on the merchant's money.
func auditRecord(merchantID, action, objectType, objectID string, a *messages.AuditActor, data map[string]any, at time.Time) AuditRecord {
	r := AuditRecord{MerchantID: merchantID, Action: action, ActorKind: "system", ObjectType: objectType, ObjectID: objectID, At: at}
	if a != nil {
		switch a.GetKind() {
		case "user", "operator":
			r.ActorKind = a.GetKind()
		}
		r.UserID, r.CredentialID, r.RequestID = a.GetUserId(), a.GetCredentialId(), a.GetRequestId()
	}
	if data != nil {
		r.Data, _ = json.Marshal(data)
	}
	return r
}

// AuditFor is the audit line a kind commits with a change to a merchant's
// money made by a: the action on objectType objectID, with data.
func AuditFor(merchantID, action, objectType, objectID string, a *messages.AuditActor, data map[string]any, at time.Time) AuditRecord {
	return auditRecord(merchantID, action, objectType, objectID, a, data, at)
}
