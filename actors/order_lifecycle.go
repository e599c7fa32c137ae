package actors

import (
	"strconv"
	"strings"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/messages"
)

// MaxReasonText bounds a cancel or refund reason.
const MaxReasonText = 500

func validReason(v *vayva.Validation, reason string) string {
	reason = strings.TrimSpace(reason)
	if len([]rune(reason)) > MaxReasonText || strings.ContainsFunc(reason, func(r rune) bool { return r < 0x20 && r != '\n' }) {
		v.Add("reason", "must be at most %d characters of text", MaxReasonText)
	}
	return reason
}

// refundOrder refunds part or all of what was paid. The merchant's share
// is held on their ledger balance first (refused when they do not have
// it), then Paystack is asked; the refund succeeds when Paystack says it
// processed it.
func (o *OrderActor) refundOrder(ctx actor.Context, m *messages.RefundOrder) {
	var v vayva.Validation
	reason := validReason(&v, m.GetReason())
	ord := o.order
	id := vayva.DerivedID("rfd", m.GetCommandId())
	if m.GetCommandId() != "" && ord.refund(id) != nil {
		ctx.Respond(ord.proto())
		return
	}
	if ord.AmountPaid == 0 {
		o.Refuse(ctx, m.GetCommandId(), &messages.Order{}, vayva.Errorf(vayva.ECONFLICT, "Order #%d has not been paid.", ord.Number))
		return
	}
	amount := m.GetAmount()
	if amount == 0 {
		amount = ord.refundable()
	}
	if ord.refundable() == 0 {
		o.Refuse(ctx, m.GetCommandId(), &messages.Order{}, vayva.Errorf(vayva.ECONFLICT, "Order #%d has been refunded in full.", ord.Number))
		return
	}
	if amount < 0 || amount > ord.refundable() {
		v.Add("amount", "must be between 1 and %d, what was paid and not yet refunded", ord.refundable())
	}
	if err := v.Err(); err != nil {
		o.Refuse(ctx, m.GetCommandId(), &messages.Order{}, err)
		return
	}
	o.respond(ctx, m.GetCommandId(), o.startRefund(ctx, m.GetCommandId(), id, amount, reason, m.GetAudit()))
}

// startRefund holds the refund on the ledger (its audit line naming by,
// the system when nil), records it pending and asks Paystack for it.
func (o *OrderActor) startRefund(ctx actor.Context, commandID, id string, amount int64, reason string, by *messages.AuditActor) error {
	next := o.order.clone()
	now := o.now()
	r := &Refund{ID: id, OrderID: next.ID, Amount: amount, Currency: next.Currency, Reason: reason,
		Status: RefundPending, CreatedAt: now, UpdatedAt: now}
	if o.ledger != nil {
		c, cancel := o.providerCtx()
		err := o.ledger.HoldRefund(c, o.order, r, by)
		cancel()
		switch code := vayva.ErrorCode(err); {
		case err == nil:
		case code == vayva.EINSUFFICIENTFUNDS:
			return vayva.Errorf(vayva.EINSUFFICIENTFUNDS,
				"The store's available balance does not cover this refund of %d %s.", amount, next.Currency)
		default:
			o.Log().Warn().Err(err).Msg("hold refund")
			return unavailable("The ledger", err)
		}
	}
	next.Refunds = append(next.Refunds, r)
	next.AmountRefunded += amount
	next.PaymentStatus = paymentStatus(next.AmountPaid, next.AmountRefunded, false)
	if err := o.save(ctx, commandID, next, Commit{
		Changes: []Change{RefundChange{Refund: *r},
			appendEvent(next, EventRefundRequested, now, map[string]any{"refund_id": id, "amount": amount})},
		SetReminders: []vayva.Reminder{{Name: refundReminderPrefix + id, DueAt: now.Add(o.cfg.RetryAfter)}},
	}); err != nil {
		return err
	}
	return o.sendRefund(ctx, id)
}

// cancel cancels the order. Unpaid: the stock goes back to the store. Paid
// and not yet on its way: what remains paid is refunded and the stock put
// back on hand. An order already picked up or delivered cannot be canceled
// (refund it instead).
func (o *OrderActor) cancel(ctx actor.Context, m *messages.CancelOrder) {
	var v vayva.Validation
	reason := validReason(&v, m.GetReason())
	if err := v.Err(); err != nil {
		o.Refuse(ctx, m.GetCommandId(), &messages.Order{}, err)
		return
	}
	if o.order.Status == OrderCanceled {
		ctx.Respond(o.order.proto())
		return
	}
	o.respond(ctx, m.GetCommandId(), o.cancelOrder(ctx, m, reason))
}

func (o *OrderActor) cancelOrder(ctx actor.Context, m *messages.CancelOrder, reason string) error {
	commandID := m.GetCommandId()
	if o.order.Status == OrderAwaitingPayment {
		// A payment may have succeeded that no webhook told us about yet:
		// then the order is paid, and canceling it refunds it.
		if err := o.checkPayment(ctx, commandID, ""); err != nil {
			return err
		}
	}
	ord := o.order
	if _, err := nextStatus(ord.Status, stepCancel); err != nil {
		return err
	}
	switch ord.FulfillmentStatus {
	case FulfillmentUnfulfilled, FulfillmentBooked, FulfillmentFailed:
	default:
		return vayva.Errorf(vayva.ECONFLICT, "Order #%d is %s and can no longer be canceled; refund it instead.",
			ord.Number, strings.ReplaceAll(ord.FulfillmentStatus, "_", " "))
	}
	if ord.Status != OrderAwaitingPayment && ord.refundable() > 0 && !m.GetMayRefund() {
		return vayva.Errorf(vayva.EFORBIDDEN,
			"Order #%d is paid: canceling it refunds the customer, which only the owner and admins may do.", ord.Number)
	}
	c, cancel := o.providerCtx()
	defer cancel()
	if ord.Status == OrderAwaitingPayment {
		if err := o.stores.ReleaseReservation(c, ord.StoreID, ord.ID); err != nil {
			return unavailable("The store", err)
		}
	} else {
		if rest := ord.refundable(); rest > 0 {
			if err := o.startRefund(ctx, commandID+":refund", vayva.DerivedID("rfd", commandID+":cancel"), rest, "Order canceled: "+reason, m.GetAudit()); err != nil {
				return err
			}
		}
		if err := o.stores.RestockReservation(c, ord.StoreID, ord.ID); err != nil {
			return unavailable("The store", err)
		}
	}
	next := o.order.clone()
	next.Status, _ = nextStatus(next.Status, stepCancel)
	next.CanceledAt, next.CancelReason = o.now(), reason
	if next.FulfillmentStatus != FulfillmentUnfulfilled {
		next.FulfillmentStatus = FulfillmentCanceled
	}
	d := next.data(next.Total)
	d.Reason = reason
	changes := []Change{appendEvent(next, EventOrderCanceled, next.CanceledAt, map[string]string{"reason": reason})}
	events := []vayva.Event{next.event(EventOrderCanceled, vayva.QueueWebhookDelivery, d)}
	dc, de := o.cancelDelivery(next)
	return o.save(ctx, commandID, next, Commit{
		Changes:         append(changes, dc...),
		Events:          append(events, de...),
		CancelReminders: []string{orderExpireReminder, orderReconcileReminder},
	})
}

// fulfill marks a paid order fulfilled by hand: it is complete.
func (o *OrderActor) fulfill(ctx actor.Context, m *messages.FulfillOrder) {
	ord := o.order
	if ord.FulfillmentStatus == FulfillmentFulfilled {
		ctx.Respond(ord.proto())
		return
	}
	next := ord.clone()
	var err error
	if next.Status, err = nextStatus(ord.Status, stepFulfill); err == nil {
		err = nextFulfillment(ord.FulfillmentStatus, FulfillmentFulfilled)
	}
	if err != nil {
		o.Refuse(ctx, m.GetCommandId(), &messages.Order{}, err)
		return
	}
	next.FulfillmentStatus = FulfillmentFulfilled
	o.respond(ctx, m.GetCommandId(), o.save(ctx, m.GetCommandId(), next, Commit{
		Changes: []Change{appendEvent(next, EventOrderFulfilled, o.now(), nil)},
		Events:  []vayva.Event{next.event(EventOrderFulfilled, vayva.QueueWebhookDelivery, next.data(next.Total))},
	}))
}

// reminderFired handles the order's durable reminders: expiry, payment
// reconciliation and refunds whose answer was lost. Work that fails is
// answered with an error, so the reminder fires again after its lease.
func (o *OrderActor) reminderFired(ctx actor.Context, m *messages.ReminderFired) {
	commandID := "reminder:" + m.GetName() + ":" + strconv.FormatInt(m.GetDueAtUnixMs(), 10)
	var err error
	switch name := m.GetName(); {
	case name == orderExpireReminder:
		err = o.expire(ctx, commandID)
	case name == orderReconcileReminder:
		err = o.reconcile(ctx, commandID)
	case strings.HasPrefix(name, refundReminderPrefix):
		err = o.retryRefund(ctx, commandID, strings.TrimPrefix(name, refundReminderPrefix))
	case strings.HasPrefix(name, deliveryReminderPrefix):
		err = o.pollDelivery(ctx, commandID, strings.TrimPrefix(name, deliveryReminderPrefix))
	default:
		err = o.dropReminder(ctx, commandID, name)
	}
	if err != nil {
		o.Fail(ctx, err)
		return
	}
	ctx.Respond(&messages.Ack{})
}

func (o *OrderActor) dropReminder(ctx actor.Context, commandID, name string) error {
	_, err := o.Commit(ctx, Commit{CommandID: commandID, Domain: vayva.DomainOrders, CancelReminders: []string{name}})
	return err
}

// expire ends an unpaid order at its expiry: a last look at Paystack first
// (a payment whose webhook was lost confirms the order instead), then the
// stock goes back to the store.
func (o *OrderActor) expire(ctx actor.Context, commandID string) error {
	if o.order.Status != OrderAwaitingPayment {
		return o.dropReminder(ctx, commandID, orderExpireReminder)
	}
	if err := o.checkPayment(ctx, commandID, ""); err != nil {
		return err
	}
	if o.order.Status != OrderAwaitingPayment {
		return nil
	}
	c, cancel := o.providerCtx()
	err := o.stores.ReleaseReservation(c, o.order.StoreID, o.order.ID)
	cancel()
	if err != nil && vayva.ErrorCode(err) != vayva.ENOTFOUND {
		return unavailable("The store", err)
	}
	next := o.order.clone()
	next.Status, _ = nextStatus(next.Status, stepExpire)
	return o.save(ctx, commandID, next, Commit{
		Changes:         []Change{appendEvent(next, EventOrderExpired, o.now(), nil)},
		CancelReminders: []string{orderExpireReminder, orderReconcileReminder},
	})
}

// reconcile asks Paystack about an unpaid order's payment, so a lost
// webhook does not lose a sale, and asks again later until the order
// expires.
func (o *OrderActor) reconcile(ctx actor.Context, commandID string) error {
	if o.order.Status != OrderAwaitingPayment {
		return o.dropReminder(ctx, commandID, orderReconcileReminder)
	}
	if err := o.checkPayment(ctx, commandID, ""); err != nil {
		return err
	}
	if o.order.Status != OrderAwaitingPayment {
		return nil
	}
	next := o.now().Add(o.cfg.ReconcileAfter)
	if !next.Before(o.order.ExpiresAt) {
		// The expiry looks one last time.
		return o.dropReminder(ctx, commandID, orderReconcileReminder)
	}
	_, err := o.Commit(ctx, Commit{CommandID: commandID, Domain: vayva.DomainOrders,
		SetReminders: []vayva.Reminder{{Name: orderReconcileReminder, DueAt: next}}})
	return err
}

// retryRefund finishes a refund whose request got no answer: if Paystack
// has it, it is processing; if not, it is asked again.
func (o *OrderActor) retryRefund(ctx actor.Context, commandID, id string) error {
	r := o.order.refund(id)
	if r == nil || r.Status != RefundPending {
		return o.dropReminder(ctx, commandID, refundReminderPrefix+id)
	}
	c, cancel := o.providerCtx()
	res, found, err := o.payments.FindRefund(c, o.order.PaymentReference, id)
	cancel()
	if err != nil {
		return unavailable("Paystack", err)
	}
	if found {
		return o.refundAccepted(ctx, r, res)
	}
	if err := o.sendRefund(ctx, id); err != nil {
		return err
	}
	if r := o.order.refund(id); r != nil && r.Status == RefundPending {
		// Still no answer: try again later.
		_, err := o.Commit(ctx, Commit{CommandID: commandID + ":again", Domain: vayva.DomainOrders,
			SetReminders: []vayva.Reminder{{Name: refundReminderPrefix + id, DueAt: o.now().Add(o.cfg.RetryAfter)}}})
		return err
	}
	return nil
}
