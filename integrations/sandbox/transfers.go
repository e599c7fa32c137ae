package sandbox

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// The fake Paystack's transfers: recipients, transfers that complete by
// themselves after Config.TransferDelay (times RetryScale) and announce
// their outcome with a signed transfer.success webhook (transfer.failed
// for the failing account number), and their verify endpoint.

// failingAccountNumber is the account number whose transfers fail, so
// flows can exercise payout failures.
const failingAccountNumber = "0000000000"

type psRecipient struct {
	ID            int64
	Code          string
	Type          string
	Name          string
	AccountNumber string
	BankCode      string
	Currency      string
	CreatedAt     time.Time
}

type psTransfer struct {
	ID            int64
	Code          string
	Reference     string
	Amount        int64
	Currency      string
	Reason        string
	Status        string
	Recipient     *psRecipient
	CreatedAt     time.Time
	TransferredAt time.Time
}

func recipientJSON(rc *psRecipient) map[string]any {
	return map[string]any{
		"active": true, "createdAt": rc.CreatedAt.Format(time.RFC3339Nano), "currency": rc.Currency, "domain": "test",
		"id": rc.ID, "integration": 100032, "name": rc.Name, "recipient_code": rc.Code, "type": rc.Type,
		"updatedAt": rc.CreatedAt.Format(time.RFC3339Nano), "is_deleted": false,
		"details": map[string]any{"authorization_code": nil, "account_number": rc.AccountNumber,
			"account_name": rc.Name, "bank_code": rc.BankCode, "bank_name": "Sandbox Bank " + rc.BankCode},
	}
}

func (p *paystackFake) handleRecipient(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Type          string `json:"type"`
		Name          string `json:"name"`
		AccountNumber string `json:"account_number"`
		BankCode      string `json:"bank_code"`
		Currency      string `json:"currency"`
	}
	if err := readJSON(w, r, &in); err != nil {
		psError(w, http.StatusBadRequest, "Invalid request body: "+err.Error())
		return
	}
	if in.Currency == "" {
		in.Currency = "NGN"
	}
	switch {
	case in.Type == "":
		psError(w, http.StatusBadRequest, "Recipient type is required")
		return
	case in.Type != "nuban" && in.Type != "mobile_money" && in.Type != "ghipss" && in.Type != "basa":
		psError(w, http.StatusBadRequest, "Recipient type is invalid")
		return
	case in.Name == "":
		psError(w, http.StatusBadRequest, "Name is required")
		return
	case in.BankCode == "":
		psError(w, http.StatusBadRequest, "Bank code is required")
		return
	case in.Type == "nuban" && (len(in.AccountNumber) != 10 || strings.Trim(in.AccountNumber, "0123456789") != ""):
		psError(w, http.StatusBadRequest, "Account number is invalid")
		return
	case !paystackCurrencies[in.Currency]:
		psError(w, http.StatusBadRequest, "Currency is not supported")
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, rc := range p.recipients.items {
		if rc.Type == in.Type && rc.AccountNumber == in.AccountNumber && rc.BankCode == in.BankCode && rc.Currency == in.Currency {
			psOK(w, http.StatusOK, "Transfer recipient created successfully", recipientJSON(rc))
			return
		}
	}
	rc := &psRecipient{
		ID: p.id(), Code: "RCP_" + randomHex(8), Type: in.Type, Name: in.Name, AccountNumber: in.AccountNumber,
		BankCode: in.BankCode, Currency: in.Currency, CreatedAt: p.cfg.Now().UTC(),
	}
	p.recipients.put(rc.Code, rc)
	psOK(w, http.StatusCreated, "Transfer recipient created successfully", recipientJSON(rc))
}

func validTransferRef(s string) bool {
	if len(s) < 16 || len(s) > 50 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// transferJSON renders a transfer; withRecipient expands the recipient as
// verify answers and events do. p.mu is held.
func transferJSON(t *psTransfer, withRecipient bool) map[string]any {
	m := map[string]any{
		"integration": 100032, "domain": "test", "amount": t.Amount, "currency": t.Currency, "source": "balance",
		"source_details": nil, "reason": t.Reason, "status": t.Status, "failures": nil, "transfer_code": t.Code,
		"id": t.ID, "reference": t.Reference, "titan_code": nil,
		"createdAt": t.CreatedAt.Format(time.RFC3339Nano), "updatedAt": t.CreatedAt.Format(time.RFC3339Nano),
		"transferred_at": nil, "recipient": t.Recipient.ID,
	}
	if !t.TransferredAt.IsZero() {
		m["transferred_at"] = t.TransferredAt.Format(time.RFC3339Nano)
	}
	if withRecipient {
		m["recipient"] = recipientJSON(t.Recipient)
	}
	return m
}

func (p *paystackFake) handleTransfer(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Source    string `json:"source"`
		Amount    amount `json:"amount"`
		Recipient string `json:"recipient"`
		Reference string `json:"reference"`
		Reason    string `json:"reason"`
		Currency  string `json:"currency"`
	}
	if err := readJSON(w, r, &in); err != nil {
		psError(w, http.StatusBadRequest, "Invalid request body: "+err.Error())
		return
	}
	if in.Currency == "" {
		in.Currency = "NGN"
	}
	switch {
	case in.Source != "balance":
		psError(w, http.StatusBadRequest, "Invalid transfer source")
		return
	case !in.Amount.set || in.Amount.bad || in.Amount.v <= 0:
		psError(w, http.StatusBadRequest, "Invalid amount")
		return
	case in.Reference != "" && !validTransferRef(in.Reference):
		psError(w, http.StatusBadRequest, "Invalid transfer reference. Only lowercase alphanumeric characters, - and _ allowed (16 to 50 characters)")
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	rc, ok := p.recipients.get(in.Recipient)
	if !ok {
		psError(w, http.StatusBadRequest, "Recipient specified is invalid")
		return
	}
	if rc.Currency != in.Currency {
		psError(w, http.StatusBadRequest, "Recipient currency does not match transfer currency")
		return
	}
	if in.Reference == "" {
		in.Reference = "trf_" + randomHex(10)
	}
	if _, dup := p.transfers.get(in.Reference); dup {
		psError(w, http.StatusBadRequest, "Duplicate Transfer Reference")
		return
	}
	t := &psTransfer{
		ID: p.id(), Code: "TRF_" + randomHex(8), Reference: in.Reference, Amount: in.Amount.v, Currency: in.Currency,
		Reason: in.Reason, Status: "pending", Recipient: rc, CreatedAt: p.cfg.Now().UTC(),
	}
	p.transfers.put(t.Reference, t)
	psOK(w, http.StatusOK, "Transfer has been queued", transferJSON(t, false))

	event := "transfer.success"
	if rc.AccountNumber == failingAccountNumber {
		event = "transfer.failed"
	}
	// Like Paystack, the transfer completes a little later, by itself, and
	// the outcome comes as a signed webhook.
	p.emitAfter(time.Duration(float64(p.cfg.TransferDelay)*p.cfg.RetryScale), event, func() map[string]any {
		if t.Status != "pending" {
			return nil
		}
		if event == "transfer.success" {
			t.Status, t.TransferredAt = "success", p.cfg.Now().UTC()
		} else {
			t.Status = "failed"
		}
		return transferJSON(t, true)
	})
}

func (p *paystackFake) handleVerifyTransfer(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("reference")
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.transfers.get(ref)
	if !ok {
		psError(w, http.StatusNotFound, "Transfer not found")
		return
	}
	psOK(w, http.StatusOK, "Transfer retrieved", transferJSON(t, true))
}

// emitAfter sends a Paystack event like emit, after delay; data runs when
// the delay has passed, under p.mu, and may return nil to send nothing.
func (p *paystackFake) emitAfter(delay time.Duration, event string, data func() map[string]any) {
	p.webhooks.spawn(func(ctx context.Context) {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
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
