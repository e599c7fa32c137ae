package sandbox

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vayvahq/vayva"
)

var paystackCurrencies = map[string]bool{"NGN": true, "GHS": true, "ZAR": true, "USD": true, "KES": true}

type psTransaction struct {
	ID              int64
	Reference       string
	AccessCode      string
	Email           string
	Amount          int64
	Currency        string
	CallbackURL     string
	Metadata        json.RawMessage
	Status          string
	GatewayResponse string
	Fees            int64
	Refunded        int64
	CustomerID      int64
	CustomerCode    string
	AuthCode        string
	CreatedAt       time.Time
	PaidAt          time.Time
}

// paystackFake is the fake Paystack API and checkout.
type paystackFake struct {
	cfg      Config
	webhooks *webhookLog

	mu         sync.Mutex // guards everything below
	nextID     int64
	txs        *store[*psTransaction]
	recipients *store[*psRecipient]
	transfers  *store[*psTransfer]
	// refunds holds each refund's answer data, by refund id.
	refunds *store[map[string]any]
}

func newPaystackFake(cfg Config, wl *webhookLog) *paystackFake {
	return &paystackFake{
		cfg: cfg, webhooks: wl, nextID: 4099260000,
		txs:        newStore[*psTransaction](cfg.MaxRecords),
		recipients: newStore[*psRecipient](cfg.MaxRecords),
		transfers:  newStore[*psTransfer](cfg.MaxRecords),
		refunds:    newStore[map[string]any](cfg.MaxRecords),
	}
}

func (p *paystackFake) routes(mux *routeMux) {
	api := PaystackAPIPrefix
	mux.HandleFunc("POST "+api+"/transaction/initialize", p.auth(p.handleInitialize))
	mux.HandleFunc("GET "+api+"/transaction/verify/{reference}", p.auth(p.handleVerify))
	mux.HandleFunc("POST "+api+"/refund", p.auth(p.handleRefund))
	mux.HandleFunc("GET "+api+"/refund", p.auth(p.handleListRefunds))
	mux.HandleFunc("POST "+api+"/transferrecipient", p.auth(p.handleRecipient))
	mux.HandleFunc("POST "+api+"/transfer", p.auth(p.handleTransfer))
	mux.HandleFunc("GET "+api+"/transfer/verify/{reference}", p.auth(p.handleVerifyTransfer))
	mux.HandleFunc("GET /sandbox/paystack/checkout/{reference}", p.handleCheckout)
	mux.HandleFunc("POST /sandbox/paystack/checkout/{reference}/pay", p.handlePay)
}

func psError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"status": false, "message": msg})
}

func psOK(w http.ResponseWriter, status int, msg string, data any) {
	writeJSON(w, status, map[string]any{"status": true, "message": msg, "data": data})
}

// auth enforces the secret key, as Paystack does.
func (p *paystackFake) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := bearer(r)
		if key == "" {
			psError(w, http.StatusUnauthorized, "No Authorization header was found")
			return
		}
		if !hmac.Equal([]byte(key), []byte(p.cfg.PaystackSecret)) {
			psError(w, http.StatusUnauthorized, "Invalid key")
			return
		}
		h(w, r)
	}
}

// amount is a Paystack amount, accepted as a JSON integer or numeric
// string.
type amount struct {
	set bool
	v   int64
	bad bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (a *amount) UnmarshalJSON(b []byte) error {
	a.set = true
	s := strings.Trim(string(bytes.TrimSpace(b)), `"`)
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		a.bad = true
		return nil
	}
	a.v = v
	return nil
}

func (p *paystackFake) id() int64 {
	p.nextID++
	return p.nextID
}

// fees follows Paystack's local card pricing: 1.5% plus NGN 100 (waived
// under NGN 2,500), capped at NGN 2,000.
func fees(amount int64) int64 {
	f := (amount*15 + 500) / 1000
	if amount >= 250000 {
		f += 10000
	}
	return min(f, 200000)
}

func validTxReference(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '=') {
			return false
		}
	}
	return true
}

func (p *paystackFake) handleInitialize(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email       string          `json:"email"`
		Amount      amount          `json:"amount"`
		Currency    string          `json:"currency"`
		Reference   string          `json:"reference"`
		CallbackURL string          `json:"callback_url"`
		Metadata    json.RawMessage `json:"metadata"`
	}
	if err := readJSON(w, r, &in); err != nil {
		psError(w, http.StatusBadRequest, "Invalid request body: "+err.Error())
		return
	}
	switch {
	case !strings.Contains(in.Email, "@"):
		psError(w, http.StatusBadRequest, "Invalid Email Address Passed")
		return
	case !in.Amount.set || in.Amount.bad || in.Amount.v <= 0:
		psError(w, http.StatusBadRequest, "Invalid Amount Sent")
		return
	case in.Amount.v > 1_000_000_000:
		psError(w, http.StatusBadRequest, "Amount exceeds the maximum allowed")
		return
	}
	if in.Currency == "" {
		in.Currency = "NGN"
	}
	if !paystackCurrencies[in.Currency] {
		psError(w, http.StatusBadRequest, "Currency not supported by merchant")
		return
	}
	if in.Reference == "" {
		in.Reference = randomHex(8)
	}
	if !validTxReference(in.Reference) {
		psError(w, http.StatusBadRequest, "Invalid transaction reference. Only -, ., = and alphanumeric characters allowed")
		return
	}
	if in.CallbackURL != "" {
		if u, err := url.Parse(in.CallbackURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			psError(w, http.StatusBadRequest, "Invalid callback_url")
			return
		}
	}
	p.mu.Lock()
	if _, dup := p.txs.get(in.Reference); dup {
		p.mu.Unlock()
		psError(w, http.StatusBadRequest, "Duplicate Transaction Reference")
		return
	}
	tx := &psTransaction{
		ID: p.id(), Reference: in.Reference, AccessCode: randomHex(8), Email: in.Email, Amount: in.Amount.v,
		Currency: in.Currency, CallbackURL: in.CallbackURL, Metadata: in.Metadata, Status: "abandoned",
		GatewayResponse: "The transaction was not completed", CustomerID: p.id(), CustomerCode: "CUS_" + randomHex(8),
		CreatedAt: p.cfg.Now().UTC(),
	}
	p.txs.put(tx.Reference, tx)
	p.mu.Unlock()
	psOK(w, http.StatusOK, "Authorization URL created", map[string]any{
		"authorization_url": p.checkoutURL(tx.Reference),
		"access_code":       tx.AccessCode,
		"reference":         tx.Reference,
	})
}

func (p *paystackFake) checkoutURL(ref string) string {
	return p.cfg.PublicURL + "/sandbox/paystack/checkout/" + url.PathEscape(ref)
}

// txJSON renders a transaction as verify and charge.success carry it;
// p.mu is held.
func (p *paystackFake) txJSON(tx *psTransaction) map[string]any {
	var paidAt any
	if !tx.PaidAt.IsZero() {
		paidAt = tx.PaidAt.Format(time.RFC3339Nano)
	}
	var metadata any = ""
	if len(tx.Metadata) > 0 {
		metadata = tx.Metadata
	}
	m := map[string]any{
		"id": tx.ID, "domain": "test", "status": tx.Status, "reference": tx.Reference, "amount": tx.Amount,
		"message": nil, "gateway_response": tx.GatewayResponse, "paid_at": paidAt, "paidAt": paidAt,
		"created_at": tx.CreatedAt.Format(time.RFC3339Nano), "createdAt": tx.CreatedAt.Format(time.RFC3339Nano),
		"channel": "card", "currency": tx.Currency, "ip_address": "127.0.0.1", "metadata": metadata,
		"fees": nil, "requested_amount": tx.Amount,
		"customer": map[string]any{"id": tx.CustomerID, "email": tx.Email, "customer_code": tx.CustomerCode,
			"first_name": nil, "last_name": nil, "phone": nil, "metadata": nil, "risk_action": "default"},
		"authorization": nil,
	}
	if tx.AuthCode != "" {
		m["fees"] = tx.Fees
		m["authorization"] = map[string]any{
			"authorization_code": tx.AuthCode, "bin": "408408", "last4": "4081", "exp_month": "12", "exp_year": "2030",
			"channel": "card", "card_type": "visa", "bank": "TEST BANK", "country_code": "NG", "brand": "visa",
			"reusable": true, "signature": "SIG_" + tx.AuthCode[5:], "account_name": nil,
		}
	}
	return m
}

func (p *paystackFake) handleVerify(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("reference")
	p.mu.Lock()
	defer p.mu.Unlock()
	tx, ok := p.txs.get(ref)
	if !ok {
		psError(w, http.StatusBadRequest, "Transaction reference not found")
		return
	}
	psOK(w, http.StatusOK, "Verification successful", p.txJSON(tx))
}

var checkoutPage = template.Must(template.New("checkout").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sandbox checkout {{.Reference}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#222}
.card{border:1px solid #ddd;border-radius:8px;padding:1.5rem}.amount{font-size:2rem;font-weight:600}
button{font-size:1rem;padding:.7rem 1.4rem;border-radius:6px;border:0;cursor:pointer;margin-right:.5rem}
.pay{background:#0ba4db;color:#fff}.decline{background:#eee}.muted{color:#777;font-size:.9rem}</style></head>
<body><div class="card">
<p class="muted">Vayva sandbox: Paystack test checkout. No money moves.</p>
<p>{{.Email}}</p>
<p class="amount">{{.Currency}} {{.Major}}</p>
<p class="muted">Reference <code>{{.Reference}}</code> · status <strong id="status">{{.Status}}</strong></p>
{{if eq .Status "success"}}<p>This transaction is paid.</p>{{else}}
<form method="post" action="{{.PayURL}}">
<input type="hidden" name="via" value="checkout">
<button class="pay" type="submit" name="outcome" value="success">Pay {{.Currency}} {{.Major}}</button>
<button class="decline" type="submit" name="outcome" value="failed">Decline</button>
</form>{{end}}
</div></body></html>`))

func majorUnits(minor int64) string {
	return fmt.Sprintf("%d.%02d", minor/100, minor%100)
}

func (p *paystackFake) handleCheckout(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("reference")
	p.mu.Lock()
	tx, ok := p.txs.get(ref)
	var view map[string]string
	if ok {
		view = map[string]string{
			"Reference": tx.Reference, "Email": tx.Email, "Currency": tx.Currency, "Major": majorUnits(tx.Amount),
			"Status": tx.Status, "PayURL": "/sandbox/paystack/checkout/" + url.PathEscape(tx.Reference) + "/pay",
		}
	}
	p.mu.Unlock()
	if !ok {
		writeProblem(w, vayva.ENOTFOUND, "No sandbox transaction has this reference.")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = checkoutPage.Execute(w, view)
}

// handlePay settles a checkout. It takes the checkout page's form, a JSON
// body ({"outcome": "failed"}) or no body at all. A form post from the
// checkout page is redirected to the callback URL; a script gets JSON.
func (p *paystackFake) handlePay(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("reference")
	fromPage := false
	outcome := r.URL.Query().Get("outcome")
	raw, ok := readControlBody(w, r)
	if !ok {
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); len(raw) > 0 && mt == "application/x-www-form-urlencoded" {
		form, err := url.ParseQuery(string(raw))
		if err != nil {
			writeProblem(w, vayva.EBADREQUEST, "The form could not be read.")
			return
		}
		fromPage = form.Get("via") == "checkout"
		if o := form.Get("outcome"); o != "" {
			outcome = o
		}
	} else {
		var in struct {
			Outcome string `json:"outcome"`
		}
		if !decodeControlJSON(w, r, raw, &in, true) {
			return
		}
		if in.Outcome != "" {
			outcome = in.Outcome
		}
	}
	if outcome == "" {
		outcome = "success"
	}
	if outcome != "success" && outcome != "failed" {
		invalidField(w, "outcome", "must be success or failed")
		return
	}

	p.mu.Lock()
	tx, ok := p.txs.get(ref)
	if !ok {
		p.mu.Unlock()
		writeProblem(w, vayva.ENOTFOUND, "No sandbox transaction has this reference.")
		return
	}
	already := tx.Status == "success" || tx.Status == "reversed"
	var body []byte
	if !already {
		now := p.cfg.Now().UTC()
		if outcome == "success" {
			tx.Status, tx.GatewayResponse, tx.PaidAt = "success", "Successful", now
			tx.Fees, tx.AuthCode = fees(tx.Amount), "AUTH_"+randomHex(5)
			body, _ = json.Marshal(map[string]any{"event": "charge.success", "data": p.txJSON(tx)})
		} else {
			tx.Status, tx.GatewayResponse = "failed", "Declined"
		}
	}
	result := map[string]any{
		"reference": tx.Reference, "status": tx.Status, "amount": tx.Amount, "currency": tx.Currency,
		"already_paid": already,
	}
	callback := tx.CallbackURL
	p.mu.Unlock()

	if body != nil {
		d := p.webhooks.record("paystack", "charge.success", p.cfg.NodeURL+PaystackWebhookPath, body, p.signedHeader(body))
		status, err := p.webhooks.sendNow(r.Context(), d)
		result["webhook_status"] = status
		result["webhook_id"] = d.ID
		if err != nil {
			result["webhook_error"] = err.Error()
		}
	}
	if fromPage {
		if callback != "" {
			u, err := url.Parse(callback)
			if err == nil {
				q := u.Query()
				q.Set("trxref", ref)
				q.Set("reference", ref)
				u.RawQuery = q.Encode()
				http.Redirect(w, r, u.String(), http.StatusSeeOther)
				return
			}
		}
		http.Redirect(w, r, "/sandbox/paystack/checkout/"+url.PathEscape(ref), http.StatusSeeOther)
		return
	}
	writeJSON(w, http.StatusOK, result)
}

// signedHeader returns the headers of a Paystack webhook of body.
func (p *paystackFake) signedHeader(body []byte) http.Header {
	m := hmac.New(sha512.New, []byte(p.cfg.PaystackSecret))
	m.Write(body)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-Paystack-Signature", hex.EncodeToString(m.Sum(nil)))
	h.Set("User-Agent", "Paystack-Sandbox")
	return h
}

// emit sends a Paystack event from an owned goroutine, after apply (if
// any) has changed state under p.mu and built the data.
func (p *paystackFake) emit(event string, data func() map[string]any) {
	p.webhooks.spawn(func(ctx context.Context) {
		p.mu.Lock()
		d := data()
		p.mu.Unlock()
		if d == nil {
			return
		}
		body, _ := json.Marshal(map[string]any{"event": event, "data": d})
		wd := p.webhooks.record("paystack", event, p.cfg.NodeURL+PaystackWebhookPath, body, p.signedHeader(body))
		p.webhooks.deliver(ctx, wd)
	})
}

func (p *paystackFake) handleRefund(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Transaction  json.RawMessage `json:"transaction"`
		Amount       amount          `json:"amount"`
		Currency     string          `json:"currency"`
		CustomerNote string          `json:"customer_note"`
		MerchantNote string          `json:"merchant_note"`
	}
	if err := readJSON(w, r, &in); err != nil {
		psError(w, http.StatusBadRequest, "Invalid request body: "+err.Error())
		return
	}
	key := strings.Trim(string(in.Transaction), `" `)
	if key == "" {
		psError(w, http.StatusBadRequest, "Transaction reference or id is required")
		return
	}
	if in.Amount.bad || (in.Amount.set && in.Amount.v < 0) {
		psError(w, http.StatusBadRequest, "Invalid amount")
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	tx, ok := p.txs.get(key)
	if !ok {
		for _, t := range p.txs.items {
			if strconv.FormatInt(t.ID, 10) == key {
				tx, ok = t, true
				break
			}
		}
	}
	if !ok {
		psError(w, http.StatusNotFound, "Transaction not found")
		return
	}
	if in.Currency != "" && in.Currency != tx.Currency {
		psError(w, http.StatusBadRequest, "Currency does not match the transaction currency")
		return
	}
	remaining := tx.Amount - tx.Refunded
	switch {
	case tx.Status != "success" && tx.Status != "reversed":
		psError(w, http.StatusBadRequest, "Cannot refund a transaction that was not successful")
		return
	case remaining <= 0:
		psError(w, http.StatusBadRequest, "Transaction has been fully reversed")
		return
	}
	amt := remaining
	if in.Amount.set && in.Amount.v > 0 {
		amt = in.Amount.v
	}
	if amt > remaining {
		psError(w, http.StatusBadRequest, "Refund amount cannot be greater than transaction amount")
		return
	}
	tx.Refunded += amt
	if tx.Refunded == tx.Amount {
		tx.Status = "reversed"
	}
	id := p.id()
	now := p.cfg.Now().UTC()
	refundRef := "RFD_" + randomHex(8)
	data := map[string]any{
		"transaction": map[string]any{"id": tx.ID, "domain": "test", "reference": tx.Reference, "amount": tx.Amount,
			"paid_at": tx.PaidAt.Format(time.RFC3339Nano), "channel": "card", "currency": tx.Currency},
		"integration": 100032, "deducted_amount": 0, "channel": nil, "merchant_note": in.MerchantNote,
		"customer_note": in.CustomerNote, "status": "pending", "refunded_by": "sandbox", "expected_at": now.Add(24 * time.Hour).Format(time.RFC3339Nano),
		"currency": tx.Currency, "domain": "test", "amount": amt, "fully_deducted": false, "id": id,
		"createdAt": now.Format(time.RFC3339Nano), "updatedAt": now.Format(time.RFC3339Nano),
	}
	p.refunds.put(strconv.FormatInt(id, 10), data)
	txRef, currency, email, customerCode := tx.Reference, tx.Currency, tx.Email, tx.CustomerCode
	p.emit("refund.processed", func() map[string]any {
		return map[string]any{
			"status": "processed", "transaction_reference": txRef, "refund_reference": refundRef, "amount": amt,
			"currency": currency, "processor": "card", "integration": 100032, "domain": "test", "id": id,
			"customer": map[string]any{"email": email, "customer_code": customerCode},
		}
	})
	psOK(w, http.StatusOK, "Refund has been queued for processing", data)
}

// handleListRefunds answers GET /refund?transaction=<id>: the refunds of
// one transaction (or of all, without the parameter), newest first.
func (p *paystackFake) handleListRefunds(w http.ResponseWriter, r *http.Request) {
	want := r.URL.Query().Get("transaction")
	p.mu.Lock()
	defer p.mu.Unlock()
	out := []map[string]any{}
	for i := len(p.refunds.order) - 1; i >= 0; i-- {
		d, ok := p.refunds.get(p.refunds.order[i])
		if !ok {
			continue
		}
		tx, _ := d["transaction"].(map[string]any)
		if want != "" && fmt.Sprint(tx["id"]) != want {
			continue
		}
		out = append(out, d)
	}
	psOK(w, http.StatusOK, "Refunds retrieved", out)
}
