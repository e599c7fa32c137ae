package actors

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors/internal/seal"
	"github.com/vayvahq/vayva/messages"
)

// deliveryReminderPrefix names the reminder that asks the provider about a
// booked delivery: "delivery:<delivery id>".
const deliveryReminderPrefix = "delivery:"

// DeliveryGateway is the order actor's view of the delivery providers.
// Implemented in node/ over integrations/kwik.
type DeliveryGateway interface {
	// Quote prices a delivery from pickup to dropoff, in minor units of
	// the currency returned.
	Quote(ctx context.Context, provider string, pickup, dropoff DeliveryStop) (fee int64, currency string, err error)
	// Track asks the provider what became of the delivery with id (our
	// delivery id, the provider's idempotency reference).
	Track(ctx context.Context, provider, id string) (DeliveryUpdate, error)
}

// DeliveryUpdate is what a provider says of a delivery. Status is one of
// the Delivery* statuses.
type DeliveryUpdate struct {
	Status            string
	ProviderReference string
	ProviderStatus    string
	TrackingURL       string
	FailureReason     string
}

// DeliveryChange inserts or updates one of an order's deliveries.
type DeliveryChange struct {
	Delivery Delivery
}

// IsChange marks DeliveryChange as a Change.
func (DeliveryChange) IsChange(seal.Token) {}

// deliveryStages orders the statuses a delivery moves forward through;
// failed and canceled end it from any stage before delivered.
var deliveryStages = []string{DeliveryPending, DeliveryBooked, DeliveryPickedUp, DeliveryInTransit, DeliveryDelivered}

// deliveryFinal reports whether a delivery's status is final.
func deliveryFinal(status string) bool {
	return status == DeliveryDelivered || status == DeliveryFailed || status == DeliveryCanceled
}

// deliveryMoves reports whether a delivery may move from one status to
// another: forward only, and nowhere once final.
func deliveryMoves(from, to string) bool {
	if deliveryFinal(from) || from == to {
		return false
	}
	if to == DeliveryFailed || to == DeliveryCanceled {
		return true
	}
	i, j := slices.Index(deliveryStages, from), slices.Index(deliveryStages, to)
	return i >= 0 && j > i
}

// fulfillmentOf is the order's fulfilment status while its current
// delivery has status; pending leaves it where it is.
func fulfillmentOf(status string) string {
	if status == DeliveryPending {
		return ""
	}
	return status // the delivery statuses past pending are fulfilment statuses too
}

// advanceFulfillment checks a move of the fulfilment status driven by a
// delivery; a delivery first heard of past its booking passes through
// booked.
func advanceFulfillment(from, to string) error {
	if nextFulfillment(from, to) == nil {
		return nil
	}
	if from != FulfillmentBooked && nextFulfillment(from, FulfillmentBooked) == nil && nextFulfillment(FulfillmentBooked, to) == nil {
		return nil
	}
	return nextFulfillment(from, to)
}

// planShipping decides an order's shipping from its store's delivery
// settings: the rule covering the address's state delivers it, at the
// rule's fee or (no fee) the provider's quote; no rule means pickup.
func planShipping(settingsJSON []byte, addr *Address) *Shipping {
	pickup := &Shipping{Method: ShippingPickup}
	if len(settingsJSON) == 0 || addr == nil {
		return pickup
	}
	var s DeliverySettings
	if err := json.Unmarshal(settingsJSON, &s); err != nil {
		return pickup
	}
	rule, ok := s.Match(addr.State, addr.Country)
	if !ok {
		return pickup
	}
	sh := &Shipping{Method: ShippingDelivery, Provider: rule.Provider, AutoBook: s.AutoBook, Pickup: &s.PickupAddress}
	if rule.Fee != nil {
		sh.Fee = *rule.Fee
	} else {
		sh.Quoted = true
	}
	return sh
}

// quoteShipping checks a delivered order has a phone for the rider, asks
// the provider for the fee of a rule without one, and adds it to the
// order's total.
func (o *OrderActor) quoteShipping(ord *Order) error {
	sh := ord.Shipping
	if sh == nil || sh.Method != ShippingDelivery {
		return nil
	}
	if DropoffStop(*ord.ShippingAddress, ord.Customer).Phone == "" {
		return &vayva.Error{Code: vayva.EINVALID, Message: "A delivery needs a phone number for the rider.",
			Fields: []vayva.FieldError{{Field: "shipping_address.phone", Message: "is required: a rule of the store delivers to this state"}}}
	}
	if !sh.Quoted {
		return nil
	}
	if o.delivery == nil {
		return vayva.Errorf(vayva.EUNAVAILABLE, "No delivery provider is configured to quote this delivery; retry later.")
	}
	c, cancel := o.providerCtx()
	fee, currency, err := o.delivery.Quote(c, sh.Provider, PickupStop(*sh.Pickup), DropoffStop(*ord.ShippingAddress, ord.Customer))
	cancel()
	switch {
	case err != nil && vayva.ErrorCode(err) == vayva.EINVALID:
		return &vayva.Error{Code: vayva.EINVALID, Message: "The delivery provider cannot deliver to this address.",
			Fields: []vayva.FieldError{{Field: "shipping_address", Message: "cannot be delivered to: " + vayva.ErrorMessage(err)}}}
	case err != nil:
		o.Log().Warn().Err(err).Msg("delivery quote")
		return unavailable("The delivery provider", err)
	case currency != ord.Currency || fee < 0:
		return vayva.Errorf(vayva.EUNAVAILABLE, "The delivery provider quoted in %s, not in the store's %s.", currency, ord.Currency)
	}
	sh.Fee = fee
	ord.ShippingTotal = fee
	ord.Total = ord.Subtotal + ord.ShippingTotal
	return nil
}

// currentDelivery is the order's latest booking, nil when it has none.
func (o *Order) currentDelivery() *Delivery {
	if len(o.Deliveries) == 0 {
		return nil
	}
	return o.Deliveries[len(o.Deliveries)-1]
}

func (o *Order) delivery(id string) *Delivery {
	for _, d := range o.Deliveries {
		if d.ID == id {
			return d
		}
	}
	return nil
}

func (d *Delivery) proto() *messages.Delivery {
	return &messages.Delivery{
		Id: d.ID, Provider: d.Provider, ProviderReference: d.ProviderReference, Status: d.Status, Fee: d.Fee,
		Currency: d.Currency, TrackingUrl: d.TrackingURL, FailureReason: d.FailureReason,
		CreatedAtUnixMs: d.CreatedAt.UnixMilli(), UpdatedAtUnixMs: d.UpdatedAt.UnixMilli(),
	}
}

// deliveryJob builds a job of the delivery queue for d.
func deliveryJob(ord *Order, d *Delivery, typ string) vayva.Event {
	j := DeliveryJob{OrderID: ord.ID, DeliveryID: d.ID, Provider: d.Provider, ProviderReference: d.ProviderReference,
		Fee: d.Fee, Currency: d.Currency}
	if ord.Shipping != nil && ord.Shipping.Pickup != nil {
		j.Pickup = PickupStop(*ord.Shipping.Pickup)
	}
	if ord.ShippingAddress != nil {
		j.Dropoff = DropoffStop(*ord.ShippingAddress, ord.Customer)
	}
	b, err := json.Marshal(j)
	if err != nil {
		panic(fmt.Sprintf("actors: delivery job: %v", err))
	}
	return vayva.Event{Type: typ, Queue: vayva.QueueDelivery, Key: ord.ID, MerchantID: ord.MerchantID, Data: b}
}

// startDelivery adds a pending delivery to next and the job that books it.
func (o *OrderActor) startDelivery(next *Order) ([]Change, []vayva.Event) {
	now := o.now()
	seq := len(next.Deliveries) + 1
	d := &Delivery{ID: DeliveryID(next.ID, seq), OrderID: next.ID, Seq: seq, Provider: next.Shipping.Provider,
		Status: DeliveryPending, Fee: next.Shipping.Fee, Currency: next.Currency, CreatedAt: now, UpdatedAt: now}
	next.Deliveries = append(next.Deliveries, d)
	return []Change{DeliveryChange{Delivery: *d}, appendEvent(next, "delivery."+d.Status, now, map[string]string{"delivery_id": d.ID})},
		[]vayva.Event{deliveryJob(next, d, EventDeliveryBook)}
}

// autoBook queues the booking of an order just paid, when its store books
// by itself and a rule covered its address.
func (o *OrderActor) autoBook(next *Order) ([]Change, []vayva.Event) {
	if next.Shipping == nil || next.Shipping.Method != ShippingDelivery || !next.Shipping.AutoBook {
		return nil, nil
	}
	return o.startDelivery(next)
}

// requestDelivery books a paid order's delivery by hand.
func (o *OrderActor) requestDelivery(ctx actor.Context, m *messages.RequestDelivery) {
	ord := o.order
	var err error
	cur := ord.currentDelivery()
	switch {
	case ord.Shipping == nil || ord.Shipping.Method != ShippingDelivery:
		err = vayva.Errorf(vayva.ECONFLICT, "Order #%d is picked up: no delivery rule of the store covered its address.", ord.Number)
	case ord.Status != OrderConfirmed || ord.PaymentStatus != PaymentPaid:
		err = vayva.Errorf(vayva.ECONFLICT, "Order #%d is %s and %s; only a paid, confirmed order is delivered.", ord.Number, ord.Status, ord.PaymentStatus)
	case cur != nil && cur.Status != DeliveryFailed && cur.Status != DeliveryCanceled:
		err = vayva.Errorf(vayva.ECONFLICT, "Order #%d already has a delivery that is %s.", ord.Number, cur.Status)
	default:
		err = nextFulfillment(ord.FulfillmentStatus, FulfillmentBooked)
	}
	if err != nil {
		o.Refuse(ctx, m.GetCommandId(), &messages.Order{}, err)
		return
	}
	next := ord.clone()
	changes, events := o.startDelivery(next)
	o.respond(ctx, m.GetCommandId(), o.save(ctx, m.GetCommandId(), next, Commit{Changes: changes, Events: events}))
}

// recordDelivery applies what the delivery worker heard from the provider.
func (o *OrderActor) recordDelivery(ctx actor.Context, m *messages.RecordDelivery) {
	upd := DeliveryUpdate{Status: m.GetStatus(), ProviderReference: m.GetProviderReference(), ProviderStatus: m.GetProviderStatus(),
		TrackingURL: m.GetTrackingUrl(), FailureReason: m.GetFailureReason()}
	o.respond(ctx, m.GetCommandId(), o.applyDelivery(ctx, m.GetCommandId(), m.GetDeliveryId(), upd, false))
}

// applyDelivery records a provider's news of delivery id: the delivery's
// status, and through the fulfilment state machine the order's, with a
// delivery.updated webhook for each change, the customer's emails when the
// parcel is on its way and when it arrived, and order.fulfilled (the order
// complete) on delivery. A booking reported for an order or delivery
// canceled meanwhile is canceled with the provider. poll is set when a
// reminder asked: its next poll is then committed also when nothing
// changed.
func (o *OrderActor) applyDelivery(ctx actor.Context, commandID, id string, upd DeliveryUpdate, poll bool) error {
	ord := o.order
	if ord.delivery(id) == nil {
		return vayva.Errorf(vayva.ENOTFOUND, "Order #%d has no delivery %q.", ord.Number, id)
	}
	if !slices.Contains(deliveryStages, upd.Status) && upd.Status != DeliveryFailed && upd.Status != DeliveryCanceled {
		return vayva.Errorf(vayva.EINVALID, "%q is not a delivery status.", upd.Status)
	}
	next := ord.clone()
	d := next.delivery(id)
	now := o.now()
	pollAgain := vayva.Reminder{Name: deliveryReminderPrefix + id, DueAt: now.Add(o.cfg.DeliveryPollEvery)}
	booking := upd.Status != DeliveryFailed && upd.Status != DeliveryCanceled && upd.Status != DeliveryPending &&
		upd.ProviderReference != "" && d.ProviderReference == ""
	current := d == next.currentDelivery()
	// A booking recorded failed for good that a replayed job then made
	// anyway revives its delivery if it is still the order's current one.
	revived := booking && d.Status == DeliveryFailed && current && next.Status != OrderCanceled
	if booking && !revived && (d.Status == DeliveryCanceled || d.Status == DeliveryFailed || next.Status == OrderCanceled) {
		d.ProviderReference, d.ProviderStatus, d.TrackingURL, d.UpdatedAt = upd.ProviderReference, upd.ProviderStatus, upd.TrackingURL, now
		return o.save(ctx, commandID, next, Commit{
			Changes: []Change{DeliveryChange{Delivery: *d}},
			Events:  []vayva.Event{deliveryJob(next, d, EventDeliveryCancel)},
		})
	}
	if !revived && !deliveryMoves(d.Status, upd.Status) {
		if upd.Status != d.Status && !poll {
			return vayva.Errorf(vayva.ECONFLICT, "Delivery %s is %s and cannot move to %s.", id, d.Status, upd.Status)
		}
		if !poll || deliveryFinal(d.Status) {
			return nil
		}
		_, err := o.Commit(ctx, Commit{CommandID: commandID, Domain: vayva.DomainOrders, SetReminders: []vayva.Reminder{pollAgain}})
		return err
	}
	if current && next.Status != OrderCanceled {
		if f := fulfillmentOf(upd.Status); f != "" && f != next.FulfillmentStatus {
			if err := advanceFulfillment(next.FulfillmentStatus, f); err != nil {
				return err
			}
			next.FulfillmentStatus = f
		}
	}
	d.Status, d.UpdatedAt = upd.Status, now
	if upd.ProviderReference != "" {
		d.ProviderReference = upd.ProviderReference
	}
	if upd.ProviderStatus != "" {
		d.ProviderStatus = upd.ProviderStatus
	}
	if upd.TrackingURL != "" {
		d.TrackingURL = upd.TrackingURL
	}
	if upd.Status == DeliveryFailed {
		d.FailureReason = firstOf(upd.FailureReason, "The delivery provider reported the delivery failed.")
	} else {
		d.FailureReason = ""
	}
	c := Commit{
		Changes: []Change{DeliveryChange{Delivery: *d}, appendEvent(next, "delivery."+d.Status, now, map[string]string{"delivery_id": d.ID})},
		Events:  []vayva.Event{next.deliveryEvent(d)},
	}
	if deliveryFinal(d.Status) {
		c.CancelReminders = []string{deliveryReminderPrefix + id}
	} else if d.Status != DeliveryPending {
		c.SetReminders = []vayva.Reminder{pollAgain}
	}
	vars := o.orderVars(next)
	vars["tracking_url"] = d.TrackingURL
	switch d.Status {
	case DeliveryInTransit:
		c.Events = append(c.Events, emailEvent(next, next.Customer.Email, vayva.EmailDeliveryInTransit, vars))
	case DeliveryDelivered:
		c.Events = append(c.Events, emailEvent(next, next.Customer.Email, vayva.EmailDeliveryDelivered, vars))
		if status, err := nextStatus(next.Status, stepFulfill); err == nil && current {
			next.Status = status
			c.Changes = append(c.Changes, appendEvent(next, EventOrderFulfilled, now, nil))
			c.Events = append(c.Events, next.event(EventOrderFulfilled, vayva.QueueWebhookDelivery, next.data(next.Total)))
		}
	}
	return o.save(ctx, commandID, next, c)
}

// cancelDelivery cancels next's delivery in flight as the order is
// canceled: a booking not yet confirmed is canceled at once (a booking
// that still comes is canceled with the provider when it is recorded); a
// booked one is canceled with the provider through the delivery queue.
func (o *OrderActor) cancelDelivery(next *Order) ([]Change, []vayva.Event) {
	d := next.currentDelivery()
	switch {
	case d == nil || deliveryFinal(d.Status):
		return nil, nil
	case d.Status == DeliveryPending:
		d.Status, d.UpdatedAt = DeliveryCanceled, o.now()
		return []Change{DeliveryChange{Delivery: *d}, appendEvent(next, "delivery."+d.Status, d.UpdatedAt, map[string]string{"delivery_id": d.ID})},
			[]vayva.Event{next.deliveryEvent(d)}
	default:
		return nil, []vayva.Event{deliveryJob(next, d, EventDeliveryCancel)}
	}
}

// pollDelivery asks the provider about a delivery in flight.
func (o *OrderActor) pollDelivery(ctx actor.Context, commandID, id string) error {
	d := o.order.delivery(id)
	if d == nil || deliveryFinal(d.Status) || o.delivery == nil {
		return o.dropReminder(ctx, commandID, deliveryReminderPrefix+id)
	}
	c, cancel := o.providerCtx()
	upd, err := o.delivery.Track(c, d.Provider, d.ID)
	cancel()
	if err != nil {
		o.Log().Warn().Err(err).Str("delivery", id).Msg("track delivery")
		return unavailable("The delivery provider", err)
	}
	err = o.applyDelivery(ctx, commandID, id, upd, true)
	if code := vayva.ErrorCode(err); code == vayva.ECONFLICT || code == vayva.EINVALID {
		// The provider's news does not fit the order's state machine:
		// keep it for the logs and ask again later.
		o.Log().Warn().Err(err).Str("delivery", id).Str("status", upd.Status).Msg("delivery update refused")
		_, err = o.Commit(ctx, Commit{CommandID: commandID, Domain: vayva.DomainOrders,
			SetReminders: []vayva.Reminder{{Name: deliveryReminderPrefix + id, DueAt: o.now().Add(o.cfg.DeliveryPollEvery)}}})
	}
	return err
}

// deliveryData is the data of delivery.updated webhooks.
type deliveryData struct {
	OrderID           string `json:"order_id"`
	Number            int64  `json:"number"`
	StoreID           string `json:"store_id"`
	DeliveryID        string `json:"delivery_id"`
	Provider          string `json:"provider"`
	ProviderReference string `json:"provider_reference,omitempty"`
	Status            string `json:"status"`
	FulfillmentStatus string `json:"fulfillment_status"`
	Fee               int64  `json:"fee"`
	Currency          string `json:"currency"`
	TrackingURL       string `json:"tracking_url,omitempty"`
	Reason            string `json:"reason,omitempty"`
}

func (o *Order) deliveryEvent(d *Delivery) vayva.Event {
	b, err := json.Marshal(deliveryData{
		OrderID: o.ID, Number: o.Number, StoreID: o.StoreID, DeliveryID: d.ID, Provider: d.Provider,
		ProviderReference: d.ProviderReference, Status: d.Status, FulfillmentStatus: o.FulfillmentStatus, Fee: d.Fee,
		Currency: d.Currency, TrackingURL: d.TrackingURL, Reason: d.FailureReason,
	})
	if err != nil {
		panic(fmt.Sprintf("actors: delivery event data: %v", err))
	}
	return vayva.Event{Type: EventDeliveryUpdated, Queue: vayva.QueueWebhookDelivery, Key: o.ID, MerchantID: o.MerchantID, Data: b}
}
