package paystack

import (
	"context"
	"encoding/json"
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
