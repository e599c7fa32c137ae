package paystack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/vayvahq/vayva"
)

// Payouts go through Paystack transfers: register the bank account as a
// transfer recipient (POST /transferrecipient), then transfer from the
// Paystack balance to it (POST /transfer) under a reference of ours, which
// Paystack refuses to use twice, so a retried payout never pays twice.
// Amounts are in the currency's minor unit (kobo). The outcome arrives as a
// transfer.success, transfer.failed or transfer.reversed webhook;
// GET /transfer/verify/{reference} confirms it and reconciles transfers
// whose webhook never came.

// RecipientRequest describes a bank account to pay out to.
type RecipientRequest struct {
	// Type is the account kind: "nuban" (Nigerian bank account, the
	// default), "mobile_money", "ghipss", "basa", "authorization".
	Type          string
	Name          string
	AccountNumber string
	BankCode      string
	// Currency defaults to NGN.
	Currency    string
	Description string
	Metadata    map[string]any
}

// Recipient is a transfer recipient; transfers name it by RecipientCode.
type Recipient struct {
	ID            int64
	RecipientCode string
	Type          string
	Name          string
	Currency      string
	AccountNumber string
	AccountName   string
	BankCode      string
	BankName      string
}

// CreateTransferRecipient registers a payout account. Paystack answers a
// repeated registration of the same account with the existing recipient,
// so calls are retried after transient failures.
func (c *Client) CreateTransferRecipient(ctx context.Context, r RecipientRequest) (Recipient, error) {
	if r.Type == "" {
		r.Type = "nuban"
	}
	if r.Currency == "" {
		r.Currency = "NGN"
	}
	var v vayva.Validation
	v.Check(r.Name != "", "name", "is required")
	v.Check(r.AccountNumber != "", "account_number", "is required")
	v.Check(r.BankCode != "" || r.Type == "authorization", "bank_code", "is required")
	if err := v.Err(); err != nil {
		return Recipient{}, fmt.Errorf("paystack: create transfer recipient: %w", err)
	}
	in := struct {
		Type          string         `json:"type"`
		Name          string         `json:"name"`
		AccountNumber string         `json:"account_number"`
		BankCode      string         `json:"bank_code,omitempty"`
		Currency      string         `json:"currency"`
		Description   string         `json:"description,omitempty"`
		Metadata      map[string]any `json:"metadata,omitempty"`
	}{r.Type, r.Name, r.AccountNumber, r.BankCode, r.Currency, r.Description, r.Metadata}
	var out struct {
		ID            number `json:"id"`
		RecipientCode text   `json:"recipient_code"`
		Type          text   `json:"type"`
		Name          text   `json:"name"`
		Currency      text   `json:"currency"`
		Details       struct {
			AccountNumber text `json:"account_number"`
			AccountName   text `json:"account_name"`
			BankCode      text `json:"bank_code"`
			BankName      text `json:"bank_name"`
		} `json:"details"`
	}
	if err := c.call(ctx, http.MethodPost, "/transferrecipient", in, &out, retrySafe); err != nil {
		return Recipient{}, fmt.Errorf("paystack: create transfer recipient: %w", err)
	}
	if out.RecipientCode == "" {
		return Recipient{}, fmt.Errorf("paystack: create transfer recipient: %w",
			&Error{StatusCode: http.StatusOK, Message: "answer without recipient_code"})
	}
	return Recipient{
		ID: int64(out.ID), RecipientCode: string(out.RecipientCode), Type: string(out.Type), Name: string(out.Name),
		Currency: string(out.Currency), AccountNumber: string(out.Details.AccountNumber),
		AccountName: string(out.Details.AccountName), BankCode: string(out.Details.BankCode), BankName: string(out.Details.BankName),
	}, nil
}

// TransferRequest pays Amount from the Paystack balance to a recipient.
type TransferRequest struct {
	// Amount in minor units. Required, positive.
	Amount int64
	// Recipient is the recipient code (RCP_…). Required.
	Recipient string
	// Reference is our payout id, Paystack's idempotency key for transfers:
	// lowercase letters, digits, '-' and '_', 16 to 50 characters. Required.
	Reference string
	Reason    string
	// Currency defaults to NGN.
	Currency string
}

// Transfer statuses Paystack reports.
const (
	TransferPending  = "pending"
	TransferOTP      = "otp"
	TransferSuccess  = "success"
	TransferFailed   = "failed"
	TransferReversed = "reversed"
)

// Transfer is a payout as Paystack reports it.
type Transfer struct {
	ID            int64
	TransferCode  string
	Reference     string
	Status        string
	Amount        int64
	Currency      string
	Reason        string
	RecipientCode string
	TransferredAt time.Time
	CreatedAt     time.Time
}

type transferWire struct {
	ID            number       `json:"id"`
	TransferCode  text         `json:"transfer_code"`
	Reference     text         `json:"reference"`
	Status        text         `json:"status"`
	Amount        number       `json:"amount"`
	Currency      text         `json:"currency"`
	Reason        text         `json:"reason"`
	Recipient     recipientRef `json:"recipient"`
	TransferredAt timestamp    `json:"transferred_at"`
	CreatedAt     timestamp    `json:"createdAt"`
}

func (w transferWire) transfer() Transfer {
	return Transfer{
		ID: int64(w.ID), TransferCode: string(w.TransferCode), Reference: string(w.Reference), Status: string(w.Status),
		Amount: int64(w.Amount), Currency: string(w.Currency), Reason: string(w.Reason),
		RecipientCode: w.Recipient.RecipientCode, TransferredAt: time.Time(w.TransferredAt), CreatedAt: time.Time(w.CreatedAt),
	}
}

// InitiateTransfer starts a payout. The reference makes it idempotent: the
// call is retried after transient failures, and when Paystack refuses it
// (as it refuses a reference it has already seen) the transfer is looked up
// by reference; an existing transfer of the same amount is returned as the
// result, one of another amount is a conflict.
func (c *Client) InitiateTransfer(ctx context.Context, r TransferRequest) (Transfer, error) {
	if r.Currency == "" {
		r.Currency = "NGN"
	}
	var v vayva.Validation
	v.Check(r.Amount > 0, "amount", "must be positive")
	v.Check(r.Recipient != "", "recipient", "is required")
	v.Check(validTransferReference(r.Reference), "reference", "must be 16-50 lowercase letters, digits, '-' or '_'")
	if err := v.Err(); err != nil {
		return Transfer{}, fmt.Errorf("paystack: initiate transfer: %w", err)
	}
	in := struct {
		Source    string `json:"source"`
		Amount    int64  `json:"amount"`
		Recipient string `json:"recipient"`
		Reference string `json:"reference"`
		Reason    string `json:"reason,omitempty"`
		Currency  string `json:"currency"`
	}{"balance", r.Amount, r.Recipient, r.Reference, r.Reason, r.Currency}
	var out transferWire
	err := c.call(ctx, http.MethodPost, "/transfer", in, &out, retrySafe)
	if err == nil {
		return out.transfer(), nil
	}
	if !IsPermanent(err) {
		return Transfer{}, fmt.Errorf("paystack: initiate transfer: %w", err)
	}
	existing, verr := c.VerifyTransfer(ctx, r.Reference)
	if verr != nil {
		return Transfer{}, fmt.Errorf("paystack: initiate transfer: %w", err)
	}
	if existing.Amount != r.Amount || (existing.Currency != "" && existing.Currency != r.Currency) {
		return Transfer{}, fmt.Errorf("paystack: initiate transfer: %w", errors.Join(
			vayva.Errorf(vayva.ECONFLICT, "transfer reference %s already used for %d %s", r.Reference, existing.Amount, existing.Currency), err))
	}
	return existing, nil
}

// VerifyTransfer returns the transfer with the given reference.
func (c *Client) VerifyTransfer(ctx context.Context, reference string) (Transfer, error) {
	if reference == "" {
		return Transfer{}, fmt.Errorf("paystack: verify transfer: %w", vayva.Errorf(vayva.EINVALID, "reference is required"))
	}
	var out transferWire
	if err := c.call(ctx, http.MethodGet, "/transfer/verify/"+url.PathEscape(reference), nil, &out, retrySafe); err != nil {
		return Transfer{}, fmt.Errorf("paystack: verify transfer: %w", err)
	}
	return out.transfer(), nil
}

// validTransferReference applies Paystack's rule for transfer references.
func validTransferReference(s string) bool {
	if len(s) < 16 || len(s) > 50 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
