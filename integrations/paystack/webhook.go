package paystack

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vayvahq/vayva/integrations/internal/providerhttp"
)

// SignatureHeader carries a webhook's signature.
const SignatureHeader = "x-paystack-signature"

// Webhook errors.
var (
	ErrMissingSignature = errors.New("paystack: missing webhook signature")
	ErrInvalidSignature = errors.New("paystack: invalid webhook signature")
	ErrInvalidEvent     = errors.New("paystack: invalid webhook event")
)

// Sign returns the x-paystack-signature of body under secret: the lowercase
// hex HMAC-SHA512 of the raw bytes.
func Sign(secret string, body []byte) string {
	return providerhttp.SignHex(sha512.New, secret, body)
}

// VerifySignature checks header against the HMAC-SHA512 of the raw body
// keyed by the secret key, in constant time. Hex of either case is
// accepted.
func VerifySignature(secret string, body []byte, header string) error {
	header = strings.TrimSpace(header)
	if header == "" {
		return ErrMissingSignature
	}
	if secret == "" {
		return fmt.Errorf("%w: no secret configured", ErrInvalidSignature)
	}
	if !providerhttp.VerifyHex(sha512.New, secret, body, header) {
		return ErrInvalidSignature
	}
	return nil
}

// Event names the runtime acts on.
const (
	EventChargeSuccess    = "charge.success"
	EventTransferSuccess  = "transfer.success"
	EventTransferFailed   = "transfer.failed"
	EventTransferReversed = "transfer.reversed"
	EventRefundPending    = "refund.pending"
	EventRefundProcessing = "refund.processing"
	EventRefundProcessed  = "refund.processed"
	EventRefundFailed     = "refund.failed"
)

// Event is a decoded webhook: {"event": …, "data": {…}}.
type Event struct {
	Event string
	Data  EventData
	// Raw is the body the event was decoded from.
	Raw json.RawMessage
}

// EventData holds the fields of an event's data the runtime uses; which are
// set depends on the event. Data.Raw keeps the whole object.
type EventData struct {
	// ID is Paystack's id of the transaction or transfer.
	ID        int64
	Reference string
	Amount    int64
	Currency  string
	Status    string
	// Fees is Paystack's charge on a transaction, in minor units.
	Fees            int64
	Domain          string
	Channel         string
	GatewayResponse string
	PaidAt          time.Time
	CustomerEmail   string
	Metadata        json.RawMessage
	// TransferCode and RecipientCode are set on transfer events.
	TransferCode  string
	RecipientCode string
	Reason        string
	// TransactionReference and RefundReference are set on refund events.
	TransactionReference string
	RefundReference      string
	Raw                  json.RawMessage
}

type eventWire struct {
	Event text            `json:"event"`
	Data  json.RawMessage `json:"data"`
}

type eventDataWire struct {
	ID                   number          `json:"id"`
	Reference            text            `json:"reference"`
	Amount               number          `json:"amount"`
	Currency             text            `json:"currency"`
	Status               text            `json:"status"`
	Fees                 number          `json:"fees"`
	Domain               text            `json:"domain"`
	Channel              text            `json:"channel"`
	GatewayResponse      text            `json:"gateway_response"`
	PaidAt               timestamp       `json:"paid_at"`
	Customer             json.RawMessage `json:"customer"`
	Metadata             json.RawMessage `json:"metadata"`
	TransferCode         text            `json:"transfer_code"`
	Recipient            recipientRef    `json:"recipient"`
	Reason               text            `json:"reason"`
	TransactionReference text            `json:"transaction_reference"`
	RefundReference      text            `json:"refund_reference"`
}

// ParseEvent decodes a webhook body. Verify the signature first.
func ParseEvent(body []byte) (Event, error) {
	var w eventWire
	if err := json.Unmarshal(body, &w); err != nil {
		return Event{}, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	if w.Event == "" || len(w.Event) > 100 {
		return Event{}, fmt.Errorf("%w: no event name", ErrInvalidEvent)
	}
	if len(w.Data) == 0 || w.Data[0] != '{' {
		return Event{}, fmt.Errorf("%w: data is not an object", ErrInvalidEvent)
	}
	var d eventDataWire
	if err := json.Unmarshal(w.Data, &d); err != nil {
		return Event{}, fmt.Errorf("%w: data: %w", ErrInvalidEvent, err)
	}
	var email string
	if len(d.Customer) > 0 && d.Customer[0] == '{' {
		var c customer
		if err := json.Unmarshal(d.Customer, &c); err == nil {
			email = string(c.Email)
		}
	}
	return Event{
		Event: string(w.Event),
		Raw:   json.RawMessage(body),
		Data: EventData{
			ID: int64(d.ID), Reference: string(d.Reference), Amount: int64(d.Amount), Currency: string(d.Currency),
			Status: string(d.Status), Fees: int64(d.Fees), Domain: string(d.Domain), Channel: string(d.Channel),
			GatewayResponse: string(d.GatewayResponse), PaidAt: time.Time(d.PaidAt), CustomerEmail: email,
			Metadata: d.Metadata, TransferCode: string(d.TransferCode), RecipientCode: d.Recipient.RecipientCode,
			Reason: string(d.Reason), TransactionReference: string(d.TransactionReference),
			RefundReference: string(d.RefundReference), Raw: w.Data,
		},
	}, nil
}

// EventKey returns the key under which a delivery of ev is deduplicated.
// Paystack sends no event id and retries deliveries, so the key is the
// event name plus the most specific identifier of its object: the Paystack
// id, else the reference, else the refund's references and amount, else a hash of the
// data.
func EventKey(ev Event) string {
	d := ev.Data
	switch {
	case d.ID != 0:
		return ev.Event + ":id:" + strconv.FormatInt(d.ID, 10)
	case d.Reference != "":
		return ev.Event + ":ref:" + d.Reference
	case d.RefundReference != "" || d.TransactionReference != "":
		return ev.Event + ":refund:" + d.TransactionReference + ":" + d.RefundReference + ":" + strconv.FormatInt(d.Amount, 10)
	default:
		sum := sha256.Sum256(d.Raw)
		return ev.Event + ":sha256:" + hex.EncodeToString(sum[:16])
	}
}
