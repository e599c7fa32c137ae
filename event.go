package vayva

import (
	"encoding/json"
	"time"
)

// Event is something an actor decided happened. Actors append events to the
// transactional outbox in the same transaction as their state change; the
// outbox relay publishes each one to its queue after commit, at least once
// and in order per aggregate.
type Event struct {
	// ID is unique per event and stable across republishing; consumers
	// dedupe on it.
	ID string `json:"id"`
	// Type is a dotted event type, e.g. "order.paid" or "email.send".
	Type string `json:"type"`
	// Queue is the queue the relay publishes the event to, e.g. "email".
	Queue string `json:"queue"`
	// Key orders events within partitioned queues (e.g. a conversation id);
	// empty for unordered queues.
	Key string `json:"key,omitempty"`
	// MerchantID is the tenant the event belongs to; empty for platform events.
	MerchantID string          `json:"merchant_id,omitempty"`
	OccurredAt time.Time       `json:"occurred_at"`
	Data       json.RawMessage `json:"data"`
}

// Reminder is a durable timer owned by one actor identity. It survives the
// node that set it: the scheduler of whichever node runs fires it to the
// identity's current activation when it is due.
type Reminder struct {
	Kind     string
	Identity string
	Name     string
	DueAt    time.Time
	Payload  []byte
}

// Queue names. Events name the queue the outbox relay publishes them to.
const (
	QueueEmail            = "email"
	QueueWhatsAppInbound  = "whatsapp-inbound"
	QueueWhatsAppOutbound = "whatsapp-outbound"
	QueueWebhookDelivery  = "webhook-delivery"
	QueueOrdersSync       = "orders-sync"
	QueuePaymentsInbound  = "payments-inbound"
	QueueDelivery         = "delivery"
	// QueuePayouts carries the ledger's payout jobs to the payout worker,
	// which calls Paystack's transfer API.
	QueuePayouts = "payouts"
)

// EventSendEmail is the type of events that ask the email worker to send a
// transactional email; their Data is a SendEmail.
const EventSendEmail = "email.send"

// Email templates the email worker knows.
const (
	EmailVerification      = "verification"
	EmailWelcome           = "welcome"
	EmailOrderConfirmation = "order_confirmation"
	// EmailOrderReceived tells the merchant about a new paid order.
	EmailOrderReceived = "order_received"
	// EmailOrderRefunded tells the customer a refund was processed.
	EmailOrderRefunded = "order_refunded"
	EmailInvitation    = "invitation"
	// EmailDeliveryInTransit and EmailDeliveryDelivered tell the customer
	// their parcel is on its way, and that it arrived.
	EmailDeliveryInTransit = "delivery_in_transit"
	EmailDeliveryDelivered = "delivery_delivered"
)

// SendEmail is the data of an EventSendEmail event.
type SendEmail struct {
	// Template is one of the Email* templates.
	Template string `json:"template"`
	// To is the recipient address.
	To string `json:"to"`
	// MerchantID is the tenant the email is sent for, if any.
	MerchantID string `json:"merchant_id,omitempty"`
	// Vars fill the template, e.g. "name", "verify_url", "order_number".
	Vars map[string]string `json:"vars,omitempty"`
}

// SendEmailEvent wraps m as an event for the email queue. The outbox gives
// it its ID, which the email worker uses as the provider's idempotency key.
func SendEmailEvent(m SendEmail) Event {
	data, err := json.Marshal(m)
	if err != nil {
		panic("vayva: encode email: " + err.Error()) // strings only; cannot fail
	}
	return Event{Type: EventSendEmail, Queue: QueueEmail, MerchantID: m.MerchantID, Data: data}
}
