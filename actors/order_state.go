package actors

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors/internal/seal"
	"github.com/vayvahq/vayva/messages"
)

// Order statuses: the order's lifecycle.
const (
	OrderAwaitingPayment = "awaiting_payment"
	OrderConfirmed       = "confirmed"
	OrderCompleted       = "completed"
	OrderExpired         = "expired"
	OrderCanceled        = "canceled"
)

// Payment statuses, derived from what was paid and refunded.
const (
	PaymentUnpaid            = "unpaid"
	PaymentPaid              = "paid"
	PaymentPartiallyRefunded = "partially_refunded"
	PaymentRefunded          = "refunded"
	PaymentFailed            = "failed"
)

// Fulfilment statuses: fulfilled by hand, or through a delivery's stages.
const (
	FulfillmentUnfulfilled = "unfulfilled"
	FulfillmentBooked      = "booked"
	FulfillmentPickedUp    = "picked_up"
	FulfillmentInTransit   = "in_transit"
	FulfillmentDelivered   = "delivered"
	FulfillmentFulfilled   = "fulfilled"
	FulfillmentFailed      = "failed"
	FulfillmentCanceled    = "canceled"
)

// Refund statuses, mirroring Paystack's refund lifecycle.
const (
	RefundPending    = "pending"
	RefundProcessing = "processing"
	RefundSucceeded  = "succeeded"
	RefundFailed     = "failed"
)

// Order event types: the timeline entries, and the events published to
// merchant webhooks (order.*) and to the ledger (orders-sync).
const (
	EventOrderCreated   = "order.created"
	EventOrderPaid      = "order.paid"
	EventOrderExpired   = "order.expired"
	EventOrderCanceled  = "order.canceled"
	EventOrderRefunded  = "order.refunded"
	EventOrderFulfilled = "order.fulfilled"
	// Timeline only.
	EventRefundRequested = "refund.requested"
	EventRefundFailed    = "refund.failed"
	EventLatePayment     = "payment.refunded_automatically"
)

// orderStep is a transition of the order's status.
type orderStep string

// The transitions of an order's status.
const (
	stepPay     orderStep = "pay"
	stepExpire  orderStep = "expire"
	stepCancel  orderStep = "cancel"
	stepFulfill orderStep = "complete"
)

// statusMachine is every allowed transition of an order's status: the
// step, the statuses it may start from, and where it leads. Anything not
// listed is refused.
var statusMachine = []struct {
	step orderStep
	from []string
	to   string
}{
	{stepPay, []string{OrderAwaitingPayment}, OrderConfirmed},
	{stepExpire, []string{OrderAwaitingPayment}, OrderExpired},
	{stepCancel, []string{OrderAwaitingPayment, OrderConfirmed}, OrderCanceled},
	{stepFulfill, []string{OrderConfirmed}, OrderCompleted},
}

// nextStatus returns the status step leads to from status, or an
// ECONFLICT error when the machine does not allow it.
func nextStatus(status string, step orderStep) (string, error) {
	for _, t := range statusMachine {
		if t.step == step && slices.Contains(t.from, status) {
			return t.to, nil
		}
	}
	return "", vayva.Errorf(vayva.ECONFLICT, "An order that is %s cannot %s.", status, step)
}

// fulfillmentMachine is every allowed transition of an order's fulfilment
// status: from each status, the statuses it may move to. A delivery moves
// through booked, picked_up, in_transit and delivered, and may fail or be
// canceled by its provider on the way; failed may be booked again;
// fulfilled, delivered and canceled are final.
var fulfillmentMachine = map[string][]string{
	FulfillmentUnfulfilled: {FulfillmentFulfilled, FulfillmentBooked, FulfillmentFailed, FulfillmentCanceled},
	FulfillmentBooked:      {FulfillmentPickedUp, FulfillmentInTransit, FulfillmentDelivered, FulfillmentFailed, FulfillmentCanceled},
	FulfillmentPickedUp:    {FulfillmentInTransit, FulfillmentDelivered, FulfillmentFailed, FulfillmentCanceled},
	FulfillmentInTransit:   {FulfillmentDelivered, FulfillmentFailed, FulfillmentCanceled},
	FulfillmentFailed:      {FulfillmentBooked, FulfillmentFulfilled, FulfillmentCanceled},
	FulfillmentDelivered:   nil,
	FulfillmentFulfilled:   nil,
	FulfillmentCanceled:    nil,
}

// nextFulfillment checks a move of the fulfilment status.
func nextFulfillment(from, to string) error {
	if slices.Contains(fulfillmentMachine[from], to) {
		return nil
	}
	return vayva.Errorf(vayva.ECONFLICT, "Fulfilment cannot move from %s to %s.", from, to)
}

// paymentStatus derives the payment status from the amounts: refunds count
// from the moment Paystack accepted them until one fails.
func paymentStatus(paid, refunded int64, failed bool) string {
	switch {
	case paid == 0 && failed:
		return PaymentFailed
	case paid == 0:
		return PaymentUnpaid
	case refunded == 0:
		return PaymentPaid
	case refunded < paid:
		return PaymentPartiallyRefunded
	default:
		return PaymentRefunded
	}
}

// OrderLine is one line of an order.
type OrderLine struct {
	VariantID    string
	ProductID    string
	SKU          string
	Title        string
	VariantTitle string
	Quantity     int64
	UnitPrice    int64
}

// Total is the line's amount.
func (l OrderLine) Total() int64 { return l.Quantity * l.UnitPrice }

// Customer is who placed an order.
type Customer struct {
	Email string
	Phone string
	Name  string
}

// Address is a shipping address.
type Address struct {
	Name    string `json:"name"`
	Line1   string `json:"line1"`
	City    string `json:"city"`
	State   string `json:"state"`
	Country string `json:"country"`
	Phone   string `json:"phone"`
}

// OrderEvent is one entry of an order's timeline.
type OrderEvent struct {
	Seq  int
	Type string
	At   time.Time
	Data json.RawMessage
}

// Refund is one refund of an order.
type Refund struct {
	ID               string
	OrderID          string
	Amount           int64
	Currency         string
	Reason           string
	Status           string
	Automatic        bool
	ProviderRefundID string
	FailureReason    string
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Payment is a payment received for an order, as Paystack's verify
// endpoint reported it. Applied is false for a payment that came too late
// and was refunded automatically.
type Payment struct {
	ID         string
	OrderID    string
	Provider   string
	Reference  string
	ProviderID string
	Amount     int64
	Currency   string
	Channel    string
	Applied    bool
	PaidAt     time.Time
	CreatedAt  time.Time
}

// Order is an order's state: the row of orders.orders with its lines,
// timeline, payments and refunds.
type Order struct {
	ID                string
	StoreID           string
	MerchantID        string
	Number            int64
	Status            string
	PaymentStatus     string
	FulfillmentStatus string
	Currency          string
	Lines             []OrderLine
	Subtotal          int64
	ShippingTotal     int64
	Total             int64
	AmountPaid        int64
	AmountRefunded    int64
	FeeBps            int32
	Customer          Customer
	ShippingAddress   *Address
	TokenHash         []byte
	PaymentReference  string
	AuthorizationURL  string
	ExpiresAt         time.Time
	PaidAt            time.Time
	CanceledAt        time.Time
	CancelReason      string
	CreatedAt         time.Time
	UpdatedAt         time.Time
	Events            []OrderEvent
	Refunds           []*Refund
	Payments          []*Payment
	// Shipping is what checkout chose (nil on orders from before delivery
	// scheduling); Deliveries its bookings, oldest first.
	Shipping   *Shipping
	Deliveries []*Delivery

	// Read from the store and the merchant, not stored with the order;
	// MerchantEmail is looked up when the first notice goes out.
	StoreSlug     string
	StoreName     string
	MerchantEmail string
}

// refundable is what may still be refunded.
func (o *Order) refundable() int64 { return o.AmountPaid - o.AmountRefunded }

// refund returns the refund with id.
func (o *Order) refund(id string) *Refund {
	for _, r := range o.Refunds {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// payment returns the payment with the provider's reference.
func (o *Order) payment(reference string) *Payment {
	for _, p := range o.Payments {
		if p.Reference == reference {
			return p
		}
	}
	return nil
}

// clone copies o deeply enough that a planned change never touches the
// installed state.
func (o *Order) clone() *Order {
	c := *o
	c.Lines = slices.Clone(o.Lines)
	c.Events = slices.Clone(o.Events)
	c.Refunds = make([]*Refund, len(o.Refunds))
	for i, r := range o.Refunds {
		rc := *r
		c.Refunds[i] = &rc
	}
	c.Payments = slices.Clone(o.Payments)
	c.Deliveries = make([]*Delivery, len(o.Deliveries))
	for i, d := range o.Deliveries {
		dc := *d
		c.Deliveries[i] = &dc
	}
	return &c
}

// OrderRepository reads what the order actor keeps in the orders tables.
// Writes go through the Journal as Commit.Changes. Implemented by
// persistence/postgres.
type OrderRepository interface {
	// LoadOrder returns the order with its lines, timeline, payments and
	// refunds, or a vayva.ENOTFOUND error.
	LoadOrder(ctx context.Context, id string) (*Order, error)
	// MerchantEmail returns where the merchant's order notices go: the
	// owner's email, "" when there is none.
	MerchantEmail(ctx context.Context, merchantID string) (string, error)
}

// OrderChanges are the change types the order kind commits.
var OrderChanges = []Change{OrderChange{}, OrderEventChange{}, PaymentChange{}, RefundChange{}, DeliveryChange{}}

// OrderChange writes the order's row (inserting it with its lines when
// Created).
type OrderChange struct {
	Order   Order
	Created bool
}

// OrderEventChange appends an entry to an order's timeline.
type OrderEventChange struct {
	OrderID string
	Event   OrderEvent
}

// PaymentChange records a payment received for an order.
type PaymentChange struct {
	Payment Payment
}

// RefundChange inserts or updates a refund.
type RefundChange struct {
	Refund Refund
}

// IsChange marks OrderChange as a Change.
func (OrderChange) IsChange(seal.Token) {}

// IsChange marks OrderEventChange as a Change.
func (OrderEventChange) IsChange(seal.Token) {}

// IsChange marks PaymentChange as a Change.
func (PaymentChange) IsChange(seal.Token) {}

// IsChange marks RefundChange as a Change.
func (RefundChange) IsChange(seal.Token) {}

func (o *Order) proto() *messages.Order {
	out := &messages.Order{
		Id: o.ID, Number: o.Number, StoreId: o.StoreID, MerchantId: o.MerchantID,
		Status: o.Status, PaymentStatus: o.PaymentStatus, FulfillmentStatus: o.FulfillmentStatus,
		Currency: o.Currency, Subtotal: o.Subtotal, ShippingTotal: o.ShippingTotal, Total: o.Total,
		AmountPaid: o.AmountPaid, AmountRefunded: o.AmountRefunded, FeeBps: o.FeeBps,
		Customer:         &messages.Customer{Email: o.Customer.Email, Phone: o.Customer.Phone, Name: o.Customer.Name},
		PaymentReference: o.PaymentReference, AuthorizationUrl: o.AuthorizationURL,
		ExpiresAtUnixMs: o.ExpiresAt.UnixMilli(), PaidAtUnixMs: unixMs(o.PaidAt),
		CreatedAtUnixMs: o.CreatedAt.UnixMilli(), UpdatedAtUnixMs: o.UpdatedAt.UnixMilli(),
		CancelReason: o.CancelReason,
	}
	if s := o.Shipping; s != nil {
		out.Shipping = &messages.Shipping{Method: s.Method, Provider: s.Provider, Fee: s.Fee, Quoted: s.Quoted, AutoBook: s.AutoBook}
	}
	for _, d := range o.Deliveries {
		out.Deliveries = append(out.Deliveries, d.proto())
	}
	if a := o.ShippingAddress; a != nil {
		out.ShippingAddress = &messages.Address{Name: a.Name, Line1: a.Line1, City: a.City, State: a.State, Country: a.Country, Phone: a.Phone}
	}
	for _, l := range o.Lines {
		out.Lines = append(out.Lines, &messages.OrderLine{
			VariantId: l.VariantID, ProductId: l.ProductID, Sku: l.SKU, Title: l.Title, VariantTitle: l.VariantTitle,
			Quantity: l.Quantity, UnitPrice: l.UnitPrice, Total: l.Total(),
		})
	}
	for _, e := range o.Events {
		out.Events = append(out.Events, &messages.OrderEvent{Type: e.Type, AtUnixMs: e.At.UnixMilli()})
	}
	for _, r := range o.Refunds {
		out.Refunds = append(out.Refunds, &messages.Refund{
			Id: r.ID, Amount: r.Amount, Currency: r.Currency, Reason: r.Reason, Status: r.Status,
			Automatic: r.Automatic, CreatedAtUnixMs: r.CreatedAt.UnixMilli(),
		})
	}
	return out
}

func unixMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// orderData is the Data of the order events published to merchant
// webhooks and to the ledger.
type orderData struct {
	OrderID           string `json:"order_id"`
	Number            int64  `json:"number"`
	StoreID           string `json:"store_id"`
	MerchantID        string `json:"merchant_id"`
	Status            string `json:"status"`
	PaymentStatus     string `json:"payment_status"`
	FulfillmentStatus string `json:"fulfillment_status"`
	Amount            int64  `json:"amount"`
	Currency          string `json:"currency"`
	Total             int64  `json:"total"`
	AmountRefunded    int64  `json:"amount_refunded"`
	FeeBps            int32  `json:"fee_bps"`
	PaymentReference  string `json:"payment_reference,omitempty"`
	PaidAt            string `json:"paid_at,omitempty"`
	RefundID          string `json:"refund_id,omitempty"`
	Reason            string `json:"reason,omitempty"`
	CustomerEmail     string `json:"customer_email"`
}

func (o *Order) data(amount int64) orderData {
	d := orderData{
		OrderID: o.ID, Number: o.Number, StoreID: o.StoreID, MerchantID: o.MerchantID,
		Status: o.Status, PaymentStatus: o.PaymentStatus, FulfillmentStatus: o.FulfillmentStatus,
		Amount: amount, Currency: o.Currency, Total: o.Total, AmountRefunded: o.AmountRefunded, FeeBps: o.FeeBps,
		PaymentReference: o.PaymentReference, CustomerEmail: o.Customer.Email,
	}
	if !o.PaidAt.IsZero() {
		d.PaidAt = o.PaidAt.UTC().Format(time.RFC3339Nano)
	}
	return d
}

// event builds an outbox event of the order for queue.
func (o *Order) event(typ, queue string, d orderData) vayva.Event {
	b, err := json.Marshal(d)
	if err != nil {
		panic(fmt.Sprintf("actors: order event data: %v", err))
	}
	return vayva.Event{Type: typ, Queue: queue, Key: o.ID, MerchantID: o.MerchantID, Data: b}
}
