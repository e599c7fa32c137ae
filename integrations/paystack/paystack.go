package paystack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/vayvahq/vayva"
)

// Transaction statuses Paystack reports.
const (
	StatusSuccess   = "success"
	StatusFailed    = "failed"
	StatusAbandoned = "abandoned"
	StatusOngoing   = "ongoing"
	StatusPending   = "pending"
	StatusReversed  = "reversed"
)

// InitializeRequest starts a checkout of Amount minor units of Currency.
type InitializeRequest struct {
	// Email is the paying customer's email. Required.
	Email string
	// Amount is in minor units (kobo for NGN). Required, positive.
	Amount int64
	// Currency is an ISO 4217 code. Defaults to the integration's currency.
	Currency string
	// Reference identifies the payment attempt; Paystack refuses a second
	// transaction with the same reference. Only letters, digits, '-', '.'
	// and '=' are allowed. Required.
	Reference string
	// CallbackURL is where the checkout page returns the customer.
	CallbackURL string
	// Channels restricts the payment channels offered (card, bank, ussd…).
	Channels []string
	// Metadata is echoed back in verify answers and webhooks.
	Metadata map[string]any
}

// Authorization is what a customer needs to pay an initialized transaction.
type Authorization struct {
	// AuthorizationURL is the one-time checkout page.
	AuthorizationURL string
	AccessCode       string
	Reference        string
}

// Transaction is a Paystack transaction as verify reports it.
type Transaction struct {
	ID              int64
	Reference       string
	Status          string
	Amount          int64
	RequestedAmount int64
	Currency        string
	// Fees is what Paystack keeps, in minor units.
	Fees            int64
	Channel         string
	GatewayResponse string
	Domain          string
	PaidAt          time.Time
	CreatedAt       time.Time
	CustomerEmail   string
	Metadata        json.RawMessage
}

type transactionWire struct {
	ID              number          `json:"id"`
	Reference       text            `json:"reference"`
	Status          text            `json:"status"`
	Amount          number          `json:"amount"`
	RequestedAmount number          `json:"requested_amount"`
	Currency        text            `json:"currency"`
	Fees            number          `json:"fees"`
	Channel         text            `json:"channel"`
	GatewayResponse text            `json:"gateway_response"`
	Domain          text            `json:"domain"`
	PaidAt          timestamp       `json:"paid_at"`
	CreatedAt       timestamp       `json:"created_at"`
	Customer        customer        `json:"customer"`
	Metadata        json.RawMessage `json:"metadata"`
}

func (w transactionWire) transaction() Transaction {
	return Transaction{
		ID: int64(w.ID), Reference: string(w.Reference), Status: string(w.Status),
		Amount: int64(w.Amount), RequestedAmount: int64(w.RequestedAmount), Currency: string(w.Currency),
		Fees: int64(w.Fees), Channel: string(w.Channel), GatewayResponse: string(w.GatewayResponse),
		Domain: string(w.Domain), PaidAt: time.Time(w.PaidAt), CreatedAt: time.Time(w.CreatedAt),
		CustomerEmail: string(w.Customer.Email), Metadata: w.Metadata,
	}
}

// InitializeTransaction creates a transaction and returns its checkout
// page. Calls are retried after transient failures: Paystack refuses a
// duplicate reference, so a retry cannot create a second charge (it may come
// back as a conflict, in which case the first attempt went through and the
// caller should start a new attempt with a new reference).
func (c *Client) InitializeTransaction(ctx context.Context, r InitializeRequest) (Authorization, error) {
	var v vayva.Validation
	v.Check(r.Email != "", "email", "is required")
	v.Check(r.Amount > 0, "amount", "must be positive")
	v.Check(validReference(r.Reference), "reference", "must be 1-100 letters, digits, '-', '.' or '='")
	if err := v.Err(); err != nil {
		return Authorization{}, fmt.Errorf("paystack: initialize transaction: %w", err)
	}
	in := struct {
		Email       string         `json:"email"`
		Amount      int64          `json:"amount"`
		Currency    string         `json:"currency,omitempty"`
		Reference   string         `json:"reference"`
		CallbackURL string         `json:"callback_url,omitempty"`
		Channels    []string       `json:"channels,omitempty"`
		Metadata    map[string]any `json:"metadata,omitempty"`
	}{r.Email, r.Amount, r.Currency, r.Reference, r.CallbackURL, r.Channels, r.Metadata}
	var out struct {
		AuthorizationURL text `json:"authorization_url"`
		AccessCode       text `json:"access_code"`
		Reference        text `json:"reference"`
	}
	if err := c.call(ctx, http.MethodPost, "/transaction/initialize", in, &out, retrySafe); err != nil {
		return Authorization{}, fmt.Errorf("paystack: initialize transaction: %w", err)
	}
	if out.AuthorizationURL == "" {
		return Authorization{}, fmt.Errorf("paystack: initialize transaction: %w",
			&Error{StatusCode: http.StatusOK, Message: "answer without authorization_url"})
	}
	return Authorization{AuthorizationURL: string(out.AuthorizationURL), AccessCode: string(out.AccessCode), Reference: string(out.Reference)}, nil
}

// VerifyTransaction returns the transaction with the given reference.
// Callers confirming a payment must check Status, Amount and Currency.
func (c *Client) VerifyTransaction(ctx context.Context, reference string) (Transaction, error) {
	if reference == "" {
		return Transaction{}, fmt.Errorf("paystack: verify transaction: %w", vayva.Errorf(vayva.EINVALID, "reference is required"))
	}
	var out transactionWire
	if err := c.call(ctx, http.MethodGet, "/transaction/verify/"+url.PathEscape(reference), nil, &out, retrySafe); err != nil {
		return Transaction{}, fmt.Errorf("paystack: verify transaction: %w", err)
	}
	return out.transaction(), nil
}

// RefundRequest refunds all or part of a successful transaction.
type RefundRequest struct {
	// Transaction is the reference (or id) of the transaction. Required.
	Transaction string
	// Amount in minor units; zero refunds what remains of the transaction.
	Amount int64
	// Currency of Amount; defaults to the transaction's.
	Currency     string
	CustomerNote string
	MerchantNote string
}

// Refund is a refund as Paystack reports it. Status moves through pending,
// processing and processed (or failed), announced by refund.* webhooks.
type Refund struct {
	ID                   int64
	Status               string
	Amount               int64
	Currency             string
	TransactionReference string
	DeductedAmount       int64
	CreatedAt            time.Time
}

// Refund asks Paystack to refund a transaction. Paystack has no
// idempotency key for refunds, so a call is repeated only when Paystack
// cannot have acted on it; any other failure comes back to the caller,
// which must check before asking again.
func (c *Client) Refund(ctx context.Context, r RefundRequest) (Refund, error) {
	var v vayva.Validation
	v.Check(r.Transaction != "", "transaction", "is required")
	v.Check(r.Amount >= 0, "amount", "must not be negative")
	if err := v.Err(); err != nil {
		return Refund{}, fmt.Errorf("paystack: refund: %w", err)
	}
	in := struct {
		Transaction  string `json:"transaction"`
		Amount       int64  `json:"amount,omitempty"`
		Currency     string `json:"currency,omitempty"`
		CustomerNote string `json:"customer_note,omitempty"`
		MerchantNote string `json:"merchant_note,omitempty"`
	}{r.Transaction, r.Amount, r.Currency, r.CustomerNote, r.MerchantNote}
	var out struct {
		ID          number    `json:"id"`
		Status      text      `json:"status"`
		Amount      number    `json:"amount"`
		Currency    text      `json:"currency"`
		Deducted    number    `json:"deducted_amount"`
		CreatedAt   timestamp `json:"createdAt"`
		Transaction struct {
			Reference text `json:"reference"`
		} `json:"transaction"`
	}
	if err := c.call(ctx, http.MethodPost, "/refund", in, &out, retryUnsafe); err != nil {
		return Refund{}, fmt.Errorf("paystack: refund: %w", err)
	}
	return Refund{
		ID: int64(out.ID), Status: string(out.Status), Amount: int64(out.Amount), Currency: string(out.Currency),
		TransactionReference: string(out.Transaction.Reference), DeductedAmount: int64(out.Deducted),
		CreatedAt: time.Time(out.CreatedAt),
	}, nil
}

// ListRefunds returns the refunds of the transaction with the given
// Paystack id (as VerifyTransaction reports it), newest first, with the
// merchant notes they were asked for with: how a caller whose refund
// request got no answer finds out whether Paystack has it.
func (c *Client) ListRefunds(ctx context.Context, transactionID int64) ([]ListedRefund, error) {
	if transactionID <= 0 {
		return nil, fmt.Errorf("paystack: list refunds: %w", vayva.Errorf(vayva.EINVALID, "transaction id is required"))
	}
	var out []struct {
		ID           number    `json:"id"`
		Status       text      `json:"status"`
		Amount       number    `json:"amount"`
		Currency     text      `json:"currency"`
		MerchantNote text      `json:"merchant_note"`
		CreatedAt    timestamp `json:"createdAt"`
	}
	path := "/refund?transaction=" + strconv.FormatInt(transactionID, 10) + "&perPage=100"
	if err := c.call(ctx, http.MethodGet, path, nil, &out, retrySafe); err != nil {
		return nil, fmt.Errorf("paystack: list refunds: %w", err)
	}
	refunds := make([]ListedRefund, len(out))
	for i, r := range out {
		refunds[i] = ListedRefund{
			Refund: Refund{ID: int64(r.ID), Status: string(r.Status), Amount: int64(r.Amount), Currency: string(r.Currency),
				CreatedAt: time.Time(r.CreatedAt)},
			MerchantNote: string(r.MerchantNote),
		}
	}
	return refunds, nil
}

// ListedRefund is a refund as ListRefunds reports it.
type ListedRefund struct {
	Refund
	MerchantNote string
}

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

// validReference applies Paystack's rule for transaction references.
func validReference(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '=') {
			return false
		}
	}
	return true
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
