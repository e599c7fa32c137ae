package actors

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/messages"
)

// OrderKind is the kind of the order actor; its identity is the order id.
const OrderKind = "order"

// OrderIdleTimeout is how long an order activation stays without messages
// before it passivates.
const OrderIdleTimeout = 5 * time.Minute

// Reminder names of the order actor.
const (
	orderExpireReminder    = "expire"
	orderReconcileReminder = "reconcile"
	refundReminderPrefix   = "refund:"
)

// providerTimeout bounds one call to Paystack, the store or the ledger made
// from inside an order's turn.
const providerTimeout = 15 * time.Second

// PaymentGateway is the order actor's view of the payment provider
// (Paystack). Implemented in node/ over integrations/paystack.
type PaymentGateway interface {
	// InitializePayment opens a checkout for the order's payment.
	InitializePayment(ctx context.Context, r PaymentRequest) (PaymentSession, error)
	// VerifyPayment asks the provider what became of the payment with
	// reference. A payment counts only when Status is PaymentSucceeded.
	VerifyPayment(ctx context.Context, reference string) (PaymentResult, error)
	// RefundPayment refunds amount of the payment with reference. The
	// refund's id travels with it, so FindRefund can tell whether the
	// provider has it after an answer was lost.
	RefundPayment(ctx context.Context, r RefundRequest) (RefundResult, error)
	// FindRefund looks for the refund with refundID among the refunds of
	// the payment with reference.
	FindRefund(ctx context.Context, reference, refundID string) (RefundResult, bool, error)
}

// PaymentSucceeded is the status of a payment the provider confirmed.
const PaymentSucceeded = "success"

// PaymentRequest opens a payment of Amount minor units of Currency.
type PaymentRequest struct {
	Reference   string
	Email       string
	Amount      int64
	Currency    string
	CallbackURL string
	Metadata    map[string]string
}

// PaymentSession is where the customer pays.
type PaymentSession struct {
	AuthorizationURL string
	// Reference is the reference the payment was opened under: the
	// request's, or a later one of the same order when the provider
	// already had the request's (an earlier opening whose answer was
	// lost, see PaymentReferences). Empty means the request's.
	Reference string
}

// PaymentResult is a payment as the provider's verify endpoint reports it.
type PaymentResult struct {
	Status     string
	Amount     int64
	Currency   string
	ProviderID string
	Channel    string
	PaidAt     time.Time
}

// RefundRequest refunds Amount of the payment with Reference.
type RefundRequest struct {
	Reference string
	RefundID  string
	Amount    int64
	Currency  string
	Reason    string
}

// RefundResult is a refund as the provider reports it.
type RefundResult struct {
	ProviderRefundID string
	Status           string
	Amount           int64
}

// StoreClient is how an order tells its store what became of the stock it
// reserved. Every call is idempotent. Implemented in node/ over the cluster.
type StoreClient interface {
	// CommitReservation takes the reservation's stock out of the store.
	// A reservation no longer active (released, expired) is a vayva
	// ECONFLICT error.
	CommitReservation(ctx context.Context, storeID, reservationID string) error
	// ReleaseReservation gives an active reservation's stock back.
	ReleaseReservation(ctx context.Context, storeID, reservationID string) error
	// RestockReservation puts a committed reservation's stock back on hand.
	RestockReservation(ctx context.Context, storeID, reservationID string) error
}

// LedgerClient is how an order keeps the merchant's ledger in step with
// its refunds. Implemented in node/ over the cluster.
type LedgerClient interface {
	// HoldRefund reserves the merchant's share of a refund on their
	// available balance (capturing the order's payment first if the ledger
	// has not yet); not enough available is a vayva EINSUFFICIENTFUNDS
	// error. by is who asked, for the audit line (nil: the system).
	HoldRefund(ctx context.Context, o *Order, r *Refund, by *messages.AuditActor) error
	// SettleRefund posts the refund's reversal, or releases its hold when
	// the refund failed.
	SettleRefund(ctx context.Context, o *Order, r *Refund, succeeded bool) error
}

// OrderConfig holds what the order actor needs from the node.
type OrderConfig struct {
	// PublicURL is the base of the links the order hands out.
	PublicURL string
	// ReconcileAfter is when an unpaid order first asks Paystack about its
	// payment, and then how often. Defaults to 3 minutes.
	ReconcileAfter time.Duration
	// RetryAfter is how soon a reminder whose work failed tries again.
	// Defaults to 30 seconds.
	RetryAfter time.Duration
	// DeliveryPollEvery is how often a booked delivery asks its provider
	// for news. Defaults to 1 minute.
	DeliveryPollEvery time.Duration
}

func (c *OrderConfig) setDefaults() {
	if c.ReconcileAfter <= 0 {
		c.ReconcileAfter = 3 * time.Minute
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = 30 * time.Second
	}
	if c.DeliveryPollEvery <= 0 {
		c.DeliveryPollEvery = time.Minute
	}
}

// OrderActor is the order actor: the single writer of one order's
// lifecycle. Its state lives in the orders tables, written in its commits;
// it loads it on activation.
type OrderActor struct {
	*Processor
	cfg      OrderConfig
	repo     OrderRepository
	payments PaymentGateway
	stores   StoreClient
	ledger   LedgerClient
	delivery DeliveryGateway
	id       string
	order    *Order // nil until created
	now      func() time.Time
}

// OrderDeps are the order actor's collaborators. Ledger may be nil on a
// node that hosts no ledger; refunds then move no money in the ledger.
type OrderDeps struct {
	Repo     OrderRepository
	Payments PaymentGateway
	Stores   StoreClient
	Ledger   LedgerClient
	// Delivery quotes and tracks deliveries; nil on a node without a
	// delivery provider (quoted rules then refuse checkout as unavailable,
	// and bookings are not tracked).
	Delivery DeliveryGateway
}

// NewOrderProducer returns a producer of order actors.
func NewOrderProducer(j Journal, deps OrderDeps, cfg OrderConfig, log zerolog.Logger) actor.Producer {
	cfg.setDefaults()
	return Producer(j, log, func(p *Processor) Behavior {
		return &OrderActor{Processor: p, cfg: cfg, repo: deps.Repo, payments: deps.Payments, stores: deps.Stores,
			ledger: deps.Ledger, delivery: deps.Delivery, now: storeNow}
	})
}

// Load reads the order; an order not created yet loads as none. An
// identity that never committed (version 0) has no order: the order is
// only ever written by its own commits, so the read is skipped.
func (o *OrderActor) Load(ctx context.Context, a *Activation) error {
	o.id = a.Identity
	if a.Version == 0 {
		return nil
	}
	ord, err := o.repo.LoadOrder(ctx, o.id)
	switch {
	case vayva.ErrorCode(err) == vayva.ENOTFOUND:
		return nil
	case err != nil:
		return err
	}
	o.order = ord
	return nil
}

// Receive handles one command.
func (o *OrderActor) Receive(ctx actor.Context, msg any) {
	if _, ok := msg.(*messages.CreateOrder); !ok && o.order == nil {
		if _, ok := msg.(*messages.ReminderFired); ok {
			// A reminder of an order that was never created: nothing to do.
			ctx.Respond(&messages.Ack{})
			return
		}
		o.Fail(ctx, vayva.Errorf(vayva.ENOTFOUND, "No order %q.", o.id))
		return
	}
	switch msg := msg.(type) {
	case *messages.CreateOrder:
		o.create(ctx, msg)
	case *messages.GetOrder:
		ctx.Respond(o.order.proto())
	case *messages.ConfirmPayment:
		o.confirmPayment(ctx, msg.GetCommandId(), msg.GetReference())
	case *messages.CancelOrder:
		o.cancel(ctx, msg)
	case *messages.RefundOrder:
		o.refundOrder(ctx, msg)
	case *messages.RefundUpdate:
		o.refundUpdate(ctx, msg)
	case *messages.FulfillOrder:
		o.fulfill(ctx, msg)
	case *messages.ReminderFired:
		o.reminderFired(ctx, msg)
	case *messages.RequestDelivery:
		o.requestDelivery(ctx, msg)
	case *messages.RecordDelivery:
		o.recordDelivery(ctx, msg)
	default:
		o.Unhandled(ctx, msg)
	}
}

func (o *OrderActor) providerCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), providerTimeout)
}

// PaymentReference is the Paystack reference of an order's payment: the
// order id with the characters Paystack refuses replaced.
func PaymentReference(orderID string) string { return strings.ReplaceAll(orderID, "_", "-") }

// PaymentReferences is how many references a checkout tries: the order's
// PaymentReference, then "<reference>.2" and on. A later one is needed when
// a member opened the payment and died before the order committed: the
// provider keeps the reference, its one-time checkout link was never shown
// to anyone, and the retry, on another member, cannot get that link back.
const PaymentReferences = 5

// NthPaymentReference is the n-th (1-based) reference of a payment whose
// first reference is ref.
func NthPaymentReference(ref string, n int) string {
	if n <= 1 {
		return ref
	}
	return ref + "." + strconv.Itoa(n)
}

// OrderIDFromReference inverts PaymentReference (and NthPaymentReference);
// ok is false for a reference that is not an order's.
func OrderIDFromReference(ref string) (string, bool) {
	ref, _, _ = strings.Cut(ref, ".")
	id := strings.Replace(ref, "-", "_", 1)
	return id, vayva.HasIDPrefix(id, "ord")
}

// orderPageURL is the storefront page of an order: its number and status
// without the token, everything with it.
func (o *OrderActor) orderPageURL(ord *Order, token bool) string {
	u := strings.TrimRight(o.cfg.PublicURL, "/") + "/storefront/" + ord.StoreSlug + "/orders/" + ord.ID
	if token {
		// The token itself is never stored; the customer has it.
		u += "?token={token}"
	}
	return u
}

func (o *OrderActor) create(ctx actor.Context, m *messages.CreateOrder) {
	if o.order != nil {
		o.recreate(ctx, m)
		return
	}
	ord, err := planOrder(o.id, m, o.now())
	if err != nil {
		o.Refuse(ctx, m.GetCommandId(), &messages.Order{}, err)
		return
	}
	if err := o.quoteShipping(ord); err != nil {
		o.Refuse(ctx, m.GetCommandId(), &messages.Order{}, err)
		return
	}
	// The payment is opened before anything is written: if Paystack fails
	// there is no order, and the caller releases the stock. A Paystack
	// transaction nobody pays costs nothing.
	c, cancel := o.providerCtx()
	session, err := o.payments.InitializePayment(c, PaymentRequest{
		Reference: ord.PaymentReference, Email: ord.Customer.Email, Amount: ord.Total, Currency: ord.Currency,
		CallbackURL: o.orderPageURL(ord, false),
		Metadata:    map[string]string{"order_id": ord.ID, "store_id": ord.StoreID, "order_number": fmt.Sprint(ord.Number)},
	})
	cancel()
	if err != nil {
		o.Log().Warn().Err(err).Msg("payment could not be initialised")
		o.Fail(ctx, vayva.Errorf(vayva.EUNAVAILABLE, "The payment provider is unavailable; retry."))
		return
	}
	ord.AuthorizationURL = session.AuthorizationURL
	if session.Reference != "" {
		ord.PaymentReference = session.Reference
	}
	ord.Events = []OrderEvent{{Seq: 1, Type: EventOrderCreated, At: ord.CreatedAt}}
	o.Apply(ctx, Commit{
		CommandID: m.GetCommandId(),
		Domain:    vayva.DomainOrders,
		Changes:   []Change{OrderChange{Order: *ord, Created: true}, OrderEventChange{OrderID: ord.ID, Event: ord.Events[0]}},
		Events:    []vayva.Event{ord.event(EventOrderCreated, vayva.QueueWebhookDelivery, ord.data(ord.Total))},
		SetReminders: []vayva.Reminder{
			{Name: orderExpireReminder, DueAt: ord.ExpiresAt},
			{Name: orderReconcileReminder, DueAt: minTime(ord.CreatedAt.Add(o.cfg.ReconcileAfter), ord.ExpiresAt)},
		},
	}, ord.proto(), func() { o.order = ord })
}

// recreate answers a CreateOrder for an order that exists: the checkout's
// retry after its first answer was lost (order ids and tokens derive from
// the request and its Idempotency-Key, so the retry carries the same
// token). A create from another customer is refused.
func (o *OrderActor) recreate(ctx actor.Context, m *messages.CreateOrder) {
	cur := o.order
	if !strings.EqualFold(m.GetCustomer().GetEmail(), cur.Customer.Email) || m.GetReservation().GetReservationId() != cur.ID {
		o.Refuse(ctx, m.GetCommandId(), &messages.Order{}, vayva.Errorf(vayva.ECONFLICT, "Order %q exists with another customer.", cur.ID))
		return
	}
	ctx.Respond(cur.proto())
}

// planOrder validates a CreateOrder and builds the order from its
// reservation: lines and prices are the store's.
func planOrder(id string, m *messages.CreateOrder, now time.Time) (*Order, error) {
	var v vayva.Validation
	r := m.GetReservation()
	switch {
	case r == nil:
		v.Add("reservation", "is required")
	case r.GetReservationId() != id:
		v.Add("reservation", "belongs to another order")
	case r.GetStatus() != ReservationActive:
		v.Add("reservation", "is %s, not active", r.GetStatus())
	case len(r.GetLines()) == 0:
		v.Add("reservation", "holds nothing")
	}
	v.Check(m.GetStoreId() != "", "store_id", "is required")
	v.Check(m.GetMerchantId() != "", "merchant_id", "is required")
	v.Check(m.GetCustomer().GetEmail() != "", "email", "is required")
	v.Check(len(m.GetTokenHash()) == 32, "token_hash", "must be a SHA-256")
	expires := time.UnixMilli(m.GetExpiresAtUnixMs()).UTC()
	v.Check(expires.After(now), "expires_at", "must be in the future")
	if err := v.Err(); err != nil {
		return nil, err
	}
	ord := &Order{
		ID: id, StoreID: m.GetStoreId(), MerchantID: m.GetMerchantId(), Number: r.GetOrderNumber(),
		Status: OrderAwaitingPayment, PaymentStatus: PaymentUnpaid, FulfillmentStatus: FulfillmentUnfulfilled,
		Currency: r.GetCurrency(), FeeBps: r.GetFeeBps(),
		Customer:         Customer{Email: m.GetCustomer().GetEmail(), Phone: m.GetCustomer().GetPhone(), Name: m.GetCustomer().GetName()},
		TokenHash:        m.GetTokenHash(),
		PaymentReference: PaymentReference(id),
		ExpiresAt:        expires, CreatedAt: now, UpdatedAt: now,
		StoreSlug: m.GetStoreSlug(), StoreName: m.GetStoreName(),
	}
	if a := m.GetShippingAddress(); a != nil {
		ord.ShippingAddress = &Address{Name: a.GetName(), Line1: a.GetLine1(), City: a.GetCity(), State: a.GetState(), Country: a.GetCountry(), Phone: a.GetPhone()}
	}
	for _, l := range r.GetLines() {
		line := OrderLine{
			VariantID: l.GetVariantId(), ProductID: l.GetProductId(), SKU: l.GetSku(), Title: l.GetProductTitle(),
			VariantTitle: l.GetVariantTitle(), Quantity: l.GetQuantity(), UnitPrice: l.GetUnitPrice(),
		}
		ord.Lines = append(ord.Lines, line)
		ord.Subtotal += line.Total()
	}
	ord.Shipping = planShipping(r.GetDeliverySettingsJson(), ord.ShippingAddress)
	ord.ShippingTotal = ord.Shipping.Fee
	ord.Total = ord.Subtotal + ord.ShippingTotal
	if ord.Total <= 0 {
		return nil, vayva.Errorf(vayva.EINVALID, "An order must cost something: Paystack cannot charge %d.", ord.Total)
	}
	return ord, nil
}

// appendEvent adds a timeline entry to ord and returns its change.
func appendEvent(ord *Order, typ string, at time.Time, data any) Change {
	e := OrderEvent{Seq: len(ord.Events) + 1, Type: typ, At: at}
	if data != nil {
		e.Data, _ = json.Marshal(data)
	}
	ord.Events = append(ord.Events, e)
	return OrderEventChange{OrderID: ord.ID, Event: e}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
