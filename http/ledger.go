package http

import (
	"context"
	"encoding/json"

	"github.com/valyala/fasthttp"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/cluster"
	"github.com/vayvahq/vayva/messages"
)

// LedgerReads is what the ledger routes read: the merchant's committed
// balances, transactions, payouts and audit log. Implemented by
// persistence/postgres's Ledger.
type LedgerReads interface {
	Wallet(ctx context.Context, merchantID, currency string) (vayva.Wallet, error)
	ListTransactions(ctx context.Context, merchantID string, limit int, cursor string) ([]vayva.LedgerTxn, string, error)
	ListPayouts(ctx context.Context, merchantID, status string, limit int, cursor string) ([]actors.PayoutRecord, string, error)
	GetPayout(ctx context.Context, merchantID, payoutID string) (actors.PayoutRecord, error)
	ListAudit(ctx context.Context, merchantID string, limit int, cursor string) ([]vayva.AuditEntry, string, error)
}

// LedgerArea serves the merchant's money: the wallet, ledger transactions,
// payouts and the audit log, to owners and admins; and the operators'
// change of a store's platform fee. Payouts are commands to the merchant's
// ledger actor, which holds the funds before the 202 and leaves the
// Paystack transfer to the payout worker; reads come from the database as
// committed. Merchant routes address the caller's tenant only, so another
// merchant's payout is simply not found.
type LedgerArea struct {
	member *cluster.Member
	reads  LedgerReads
}

// NewLedgerArea returns the area, sending commands through member and
// reading through reads.
func NewLedgerArea(member *cluster.Member, reads LedgerReads) *LedgerArea {
	return &LedgerArea{member: member, reads: reads}
}

// Register adds the area's routes.
func (a *LedgerArea) Register(r *Routes) {
	r.Handle("GET", "/v1/wallet", Merchant, a.wallet)
	r.Handle("GET", "/v1/ledger/transactions", Merchant, a.transactions)
	r.Handle("POST", "/v1/payouts", Merchant, a.createPayout, RequireIdempotencyKey())
	r.Handle("GET", "/v1/payouts", Merchant, a.listPayouts)
	r.Handle("GET", "/v1/payouts/{id}", Merchant, a.getPayout)
	r.Handle("GET", "/v1/audit-log", Merchant, a.auditLog)
	r.Handle("PATCH", "/ops/stores/{id}", Ops, a.updateStoreFee)
}

// moneyRole refuses team members other than owners and admins.
func moneyRole(ctx context.Context) (vayva.Tenant, error) {
	t := tenantOf(ctx)
	if t.Role != vayva.RoleOwner && t.Role != vayva.RoleAdmin {
		return t, vayva.Errorf(vayva.EFORBIDDEN, "Only the owner and admins may see or move the store's money.")
	}
	return t, nil
}

// userAudit names the team member t who asked, for the audit log.
func userAudit(ctx context.Context, t vayva.Tenant) *messages.AuditActor {
	return &messages.AuditActor{Kind: "user", UserId: t.UserID, CredentialId: t.CredentialID, RequestId: vayva.RequestIDFromContext(ctx)}
}

func (a *LedgerArea) ready() error {
	if a.member == nil || a.reads == nil {
		return vayva.Errorf(vayva.EUNAVAILABLE, "The ledger is not reachable from this node.")
	}
	return nil
}

type walletJSON struct {
	Currency  string `json:"currency"`
	Available int64  `json:"available"`
	Pending   int64  `json:"pending"`
	OnHold    int64  `json:"on_hold"`
}

func (a *LedgerArea) wallet(ctx context.Context, rc *fasthttp.RequestCtx) error {
	t, err := moneyRole(ctx)
	if err != nil {
		return err
	}
	if err := a.ready(); err != nil {
		return err
	}
	w, err := a.reads.Wallet(ctx, t.MerchantID, "")
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusOK, walletJSON{Currency: w.Currency, Available: w.Available, Pending: w.Pending, OnHold: w.OnHold})
}

type postingJSON struct {
	Account   string `json:"account"`
	Direction string `json:"direction"`
	Amount    int64  `json:"amount"`
	Currency  string `json:"currency"`
}

type ledgerTxnJSON struct {
	ID            string        `json:"id"`
	Kind          string        `json:"kind"`
	CreatedAt     string        `json:"created_at"`
	Reference     string        `json:"reference"`
	ReferenceType string        `json:"reference_type"`
	Postings      []postingJSON `json:"postings"`
}

func ledgerTxnView(t vayva.LedgerTxn) ledgerTxnJSON {
	out := ledgerTxnJSON{ID: t.ID, Kind: t.Kind, CreatedAt: timeJSON(t.CreatedAt), Reference: t.Reference,
		ReferenceType: t.ReferenceType, Postings: []postingJSON{}}
	for _, p := range t.Postings {
		out.Postings = append(out.Postings, postingJSON{Account: p.Account, Direction: p.Direction, Amount: p.Amount, Currency: p.Currency})
	}
	return out
}

func (a *LedgerArea) transactions(ctx context.Context, rc *fasthttp.RequestCtx) error {
	t, err := moneyRole(ctx)
	if err != nil {
		return err
	}
	if err := a.ready(); err != nil {
		return err
	}
	limit, cursor, err := pageParams(rc)
	if err != nil {
		return err
	}
	txns, next, err := a.reads.ListTransactions(ctx, t.MerchantID, limit, cursor)
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusOK, mapList(txns, next, ledgerTxnView))
}

type bankAccountRequest struct {
	AccountNumber *string `json:"account_number"`
	BankCode      *string `json:"bank_code"`
	Name          *string `json:"name"`
}

type payoutRequest struct {
	Amount      *int64              `json:"amount"`
	BankAccount *bankAccountRequest `json:"bank_account"`
}

// decodePayout reads a payout request; the ledger actor validates the
// values, naming the same fields.
func decodePayout(body []byte) (*messages.LedgerRequestPayout, error) {
	var req payoutRequest
	if err := decodeJSONBytes(body, &req); err != nil {
		return nil, err
	}
	var v vayva.Validation
	v.Check(req.Amount != nil, "amount", "is required")
	v.Check(req.BankAccount != nil, "bank_account", "is required")
	if req.BankAccount != nil {
		v.Check(req.BankAccount.AccountNumber != nil, "bank_account.account_number", "is required")
		v.Check(req.BankAccount.BankCode != nil, "bank_account.bank_code", "is required")
		v.Check(req.BankAccount.Name != nil, "bank_account.name", "is required")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return &messages.LedgerRequestPayout{
		Amount: *req.Amount,
		BankAccount: &messages.BankAccount{
			AccountNumber: *req.BankAccount.AccountNumber, BankCode: *req.BankAccount.BankCode, Name: *req.BankAccount.Name,
		},
	}, nil
}

type payoutBankJSON struct {
	BankCode           string `json:"bank_code"`
	Name               string `json:"name"`
	AccountNumberLast4 string `json:"account_number_last4"`
}

type payoutJSON struct {
	ID            string         `json:"id"`
	Status        string         `json:"status"`
	Amount        int64          `json:"amount"`
	Currency      string         `json:"currency"`
	BankAccount   payoutBankJSON `json:"bank_account"`
	FailureReason *string        `json:"failure_reason"`
	CreatedAt     string         `json:"created_at"`
	UpdatedAt     string         `json:"updated_at"`
}

func last4(s string) string {
	if len(s) > 4 {
		return s[len(s)-4:]
	}
	return s
}

func payoutView(p actors.PayoutRecord) payoutJSON {
	out := payoutJSON{
		ID: p.ID, Status: p.Status, Amount: p.Amount, Currency: p.Currency,
		BankAccount: payoutBankJSON{BankCode: p.BankCode, Name: p.AccountName, AccountNumberLast4: last4(p.AccountNumber)},
		CreatedAt:   timeJSON(p.CreatedAt), UpdatedAt: timeJSON(p.UpdatedAt),
	}
	if p.FailureReason != "" {
		r := p.FailureReason
		out.FailureReason = &r
	}
	return out
}

func payoutMessageView(p *messages.Payout) payoutJSON {
	out := payoutJSON{
		ID: p.GetId(), Status: p.GetStatus(), Amount: p.GetAmount(), Currency: p.GetCurrency(),
		BankAccount: payoutBankJSON{BankCode: p.GetBankCode(), Name: p.GetAccountName(), AccountNumberLast4: p.GetAccountNumberLast4()},
		CreatedAt:   rfc3339(p.GetCreatedAtUnixMs()), UpdatedAt: rfc3339(p.GetUpdatedAtUnixMs()),
	}
	if r := p.GetFailureReason(); r != "" {
		out.FailureReason = &r
	}
	return out
}

// createPayout serves POST /v1/payouts: the ledger holds the amount of the
// available balance (422 insufficient_funds when it is not there) and
// answers 202 with the pending payout; the transfer happens in the
// background. The Idempotency-Key names the payout, so a retry of a
// request whose answer was lost asks for the same payout.
func (a *LedgerArea) createPayout(ctx context.Context, rc *fasthttp.RequestCtx) error {
	t, err := moneyRole(ctx)
	if err != nil {
		return err
	}
	if err := a.ready(); err != nil {
		return err
	}
	m, err := decodePayout(rc.PostBody())
	if err != nil {
		return err
	}
	m.CommandId = commandID(rc, "payout.create")
	m.MerchantId = t.MerchantID
	m.Audit = userAudit(ctx, t)
	p, err := cluster.Request[*messages.Payout](ctx, a.member, actors.LedgerKind, t.MerchantID, m)
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusAccepted, payoutMessageView(p))
}

// payoutStatuses are the values of ?status= on GET /v1/payouts.
var payoutStatuses = map[string]bool{actors.PayoutPending: true, actors.PayoutPaid: true, actors.PayoutFailed: true}

func (a *LedgerArea) listPayouts(ctx context.Context, rc *fasthttp.RequestCtx) error {
	t, err := moneyRole(ctx)
	if err != nil {
		return err
	}
	if err := a.ready(); err != nil {
		return err
	}
	limit, cursor, err := pageParams(rc)
	if err != nil {
		return err
	}
	status := string(rc.QueryArgs().Peek("status"))
	if status != "" && !payoutStatuses[status] {
		return &vayva.Error{Code: vayva.EINVALID, Message: "The request has invalid fields.",
			Fields: []vayva.FieldError{{Field: "status", Message: "must be pending, paid or failed"}}}
	}
	payouts, next, err := a.reads.ListPayouts(ctx, t.MerchantID, status, limit, cursor)
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusOK, mapList(payouts, next, payoutView))
}

func (a *LedgerArea) getPayout(ctx context.Context, rc *fasthttp.RequestCtx) error {
	t, err := moneyRole(ctx)
	if err != nil {
		return err
	}
	if err := a.ready(); err != nil {
		return err
	}
	id, _ := rc.UserValue("id").(string)
	if !vayva.HasIDPrefix(id, "po") {
		return vayva.Errorf(vayva.ENOTFOUND, "No payout %q.", id)
	}
	p, err := a.reads.GetPayout(ctx, t.MerchantID, id)
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusOK, payoutView(p))
}

type auditJSON struct {
	ID        int64           `json:"id"`
	Action    string          `json:"action"`
	Actor     auditActorJSON  `json:"actor"`
	RequestID string          `json:"request_id"`
	Object    auditObjectJSON `json:"object"`
	Data      json.RawMessage `json:"data"`
	CreatedAt string          `json:"created_at"`
}

type auditActorJSON struct {
	Kind         string `json:"kind"`
	UserID       string `json:"user_id,omitempty"`
	CredentialID string `json:"credential_id,omitempty"`
}

type auditObjectJSON struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

func auditView(e vayva.AuditEntry) auditJSON {
	data := e.Data
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	return auditJSON{
		ID: e.ID, Action: e.Action, RequestID: e.RequestID, Data: data, CreatedAt: timeJSON(e.CreatedAt),
		Actor:  auditActorJSON{Kind: e.ActorKind, UserID: e.UserID, CredentialID: e.CredentialID},
		Object: auditObjectJSON{Type: e.ObjectType, ID: e.ObjectID},
	}
}

// auditLog serves GET /v1/audit-log: who moved the store's money or
// changed its fee, newest first.
func (a *LedgerArea) auditLog(ctx context.Context, rc *fasthttp.RequestCtx) error {
	t, err := moneyRole(ctx)
	if err != nil {
		return err
	}
	if err := a.ready(); err != nil {
		return err
	}
	limit, cursor, err := pageParams(rc)
	if err != nil {
		return err
	}
	entries, next, err := a.reads.ListAudit(ctx, t.MerchantID, limit, cursor)
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusOK, mapList(entries, next, auditView))
}

type storeFeeRequest struct {
	FeeBps *int32 `json:"fee_bps"`
}

func decodeStoreFee(body []byte) (*messages.UpdateStore, error) {
	var req storeFeeRequest
	if err := decodeJSONBytes(body, &req); err != nil {
		return nil, err
	}
	if req.FeeBps == nil {
		return nil, &vayva.Error{Code: vayva.EINVALID, Message: "The request has invalid fields.",
			Fields: []vayva.FieldError{{Field: "fee_bps", Message: "is required"}}}
	}
	return &messages.UpdateStore{FeeBps: req.FeeBps}, nil
}

// updateStoreFee serves PATCH /ops/stores/{id}: an operator changes a
// store's platform fee. The store actor records who changed it in the
// audit log in the same transaction; new orders carry the new fee, orders
// already placed keep theirs.
func (a *LedgerArea) updateStoreFee(ctx context.Context, rc *fasthttp.RequestCtx) error {
	if a.member == nil {
		return vayva.Errorf(vayva.EUNAVAILABLE, "This node runs no cluster member.")
	}
	id, _ := rc.UserValue("id").(string)
	if !vayva.HasIDPrefix(id, "sto") {
		return vayva.Errorf(vayva.ENOTFOUND, "No store %q.", id)
	}
	m, err := decodeStoreFee(rc.PostBody())
	if err != nil {
		return err
	}
	m.CommandId = vayva.NewID("cmd")
	m.Audit = &messages.AuditActor{Kind: "operator", CredentialId: "ops_token", RequestId: vayva.RequestIDFromContext(ctx)}
	p, err := cluster.Request[*messages.StoreProfile](ctx, a.member, actors.StoreKind, id, m)
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusOK, storeView(p))
}
