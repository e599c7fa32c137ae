package paystack

import (
	"bytes"
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

// Verifier checks webhook signatures under one secret key, as
// VerifySignature does, without setting the key up on every call: the
// webhook edge keeps one.
type Verifier struct {
	configured bool
	hv         *providerhttp.HexVerifier
}

// NewVerifier returns the verifier of bodies signed with secret.
func NewVerifier(secret string) *Verifier {
	return &Verifier{configured: secret != "", hv: providerhttp.NewHexVerifier(sha512.New, secret)}
}

// Verify answers as VerifySignature(secret, body, header) does.
func (v *Verifier) Verify(body []byte, header string) error {
	header = strings.TrimSpace(header)
	if header == "" {
		return ErrMissingSignature
	}
	if !v.configured {
		return fmt.Errorf("%w: no secret configured", ErrInvalidSignature)
	}
	if !v.hv.Verify(body, header) {
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

// EventKey returns the key under which a delivery of ev is deduplicated.
// Paystack sends no event id and retries deliveries, so the key is the
// event name plus the most specific identifier of its object: the Paystack
// id, else the reference, else the refund's references and amount, else a hash of the
// data (compacted, so whitespace does not count).
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
		// Whitespace is not part of the event: a re-serialised delivery
		// hashes the same.
		raw := d.Raw
		var compact bytes.Buffer
		if json.Compact(&compact, raw) == nil {
			raw = compact.Bytes()
		}
		sum := sha256.Sum256(raw)
		return ev.Event + ":sha256:" + hex.EncodeToString(sum[:16])
	}
}
