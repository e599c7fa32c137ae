package actors

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/messages"
)

// save commits next as the order's new state, with extra changes, events
// and reminder changes, and installs it once committed. A replay (the
// command was applied before, by this activation or one whose result it
// loaded) changes nothing.
func (o *OrderActor) save(ctx actor.Context, commandID string, next *Order, c Commit) error {
	next.UpdatedAt = o.now()
	c.CommandID, c.Domain = commandID, vayva.DomainOrders
	c.Changes = append([]Change{OrderChange{Order: *next}}, c.Changes...)
	out, err := o.Commit(ctx, c)
	if err != nil {
		return err
	}
	if !out.Replayed {
		o.order = next
	}
	return nil
}

// respond answers the command's sender with the order, or with err.
func (o *OrderActor) respond(ctx actor.Context, commandID string, err error) {
	if err != nil {
		o.Refuse(ctx, commandID, &messages.Order{}, err)
		return
	}
	ctx.Respond(o.order.proto())
}

// unavailable is the answer when a provider or another actor did not
// answer: the caller (or the queue, or the reminder) tries again.
func unavailable(what string, err error) error {
	if vayva.ErrorCode(err) == vayva.EUNAVAILABLE {
		return vayva.Errorf(vayva.EUNAVAILABLE, "%s is unavailable; retry.", what)
	}
	return vayva.Errorf(vayva.EUNAVAILABLE, "%s failed; retry.", what)
}

// confirmPayment checks with Paystack whether the order's payment
// succeeded and, if it did, confirms the order: the stock leaves the store,
// the payment is recorded, and order.paid goes to the merchant's webhooks,
// the ledger and the emails. A payment for an order that can no longer be
// confirmed (expired, canceled, or whose stock is gone) is refunded
// automatically. Asking again changes nothing.
func (o *OrderActor) confirmPayment(ctx actor.Context, commandID, reference string) {
	o.respond(ctx, commandID, o.checkPayment(ctx, commandID, reference))
}

func (o *OrderActor) checkPayment(ctx actor.Context, commandID, reference string) error {
	ord := o.order
	if reference != "" && reference != ord.PaymentReference {
		return vayva.Errorf(vayva.ENOTFOUND, "No payment %q for this order.", reference)
	}
	if !ord.PaidAt.IsZero() || ord.payment(ord.PaymentReference) != nil {
		return nil
	}
	c, cancel := o.providerCtx()
	res, err := o.payments.VerifyPayment(c, ord.PaymentReference)
	cancel()
	if err != nil {
		o.Log().Warn().Err(err).Msg("verify payment")
		return unavailable("Paystack", err)
	}
	if res.Status != PaymentSucceeded {
		return nil
	}
	if res.PaidAt.IsZero() {
		res.PaidAt = o.now()
	}
	res.PaidAt = res.PaidAt.UTC().Truncate(time.Microsecond)
	if res.Amount != ord.Total || !strings.EqualFold(res.Currency, ord.Currency) {
		o.Log().Error().Int64("paid", res.Amount).Str("currency", res.Currency).Int64("total", ord.Total).
			Msg("payment does not match the order; refunding it")
		return o.latePayment(ctx, commandID, res, "the amount paid does not match the order")
	}
	if ord.Status != OrderAwaitingPayment {
		return o.latePayment(ctx, commandID, res, "the order was "+ord.Status+" before the payment arrived")
	}
	c, cancel = o.providerCtx()
	err = o.stores.CommitReservation(c, ord.StoreID, ord.ID)
	cancel()
	switch {
	case vayva.ErrorCode(err) == vayva.ECONFLICT:
		return o.latePayment(ctx, commandID, res, "the order's stock was no longer held")
	case err != nil:
		o.Log().Warn().Err(err).Msg("commit reservation")
		return unavailable("The store", err)
	}

	next := ord.clone()
	if next.Status, err = nextStatus(ord.Status, stepPay); err != nil {
		return err
	}
	next.AmountPaid, next.PaidAt = res.Amount, res.PaidAt
	next.PaymentStatus = paymentStatus(next.AmountPaid, next.AmountRefunded, false)
	payment := Payment{
		ID: vayva.DerivedID("pay", ord.PaymentReference), OrderID: ord.ID, Provider: "paystack", Reference: ord.PaymentReference,
		ProviderID: res.ProviderID, Amount: res.Amount, Currency: ord.Currency, Channel: res.Channel, Applied: true,
		PaidAt: res.PaidAt, CreatedAt: o.now(),
	}
	next.Payments = append(next.Payments, &payment)
	paid := next.data(res.Amount)
	vars := o.orderVars(next)
	events := []vayva.Event{
		next.event(EventOrderPaid, vayva.QueueWebhookDelivery, paid),
		next.event(EventOrderPaid, vayva.QueueOrdersSync, paid),
		emailEvent(next, next.Customer.Email, vayva.EmailOrderConfirmation, vars),
	}
	if next.MerchantEmail == "" {
		c, cancel := o.providerCtx()
		next.MerchantEmail, err = o.repo.MerchantEmail(c, next.MerchantID)
		cancel()
		if err != nil {
			return unavailable("The database", err)
		}
	}
	if next.MerchantEmail != "" {
		events = append(events, emailEvent(next, next.MerchantEmail, vayva.EmailOrderReceived, vars))
	}
	changes := []Change{PaymentChange{Payment: payment}, appendEvent(next, EventOrderPaid, res.PaidAt, nil)}
	bookChanges, bookEvents := o.autoBook(next)
	return o.save(ctx, "pay:"+ord.PaymentReference, next, Commit{
		Changes:         append(changes, bookChanges...),
		Events:          append(events, bookEvents...),
		CancelReminders: []string{orderExpireReminder, orderReconcileReminder},
	})
}

// latePayment records a payment the order cannot accept and refunds it
// automatically. It never touches the merchant's balance: the money never
// reached it.
func (o *OrderActor) latePayment(ctx actor.Context, commandID string, res PaymentResult, why string) error {
	ord := o.order
	next := ord.clone()
	payment := Payment{
		ID: vayva.DerivedID("pay", ord.PaymentReference), OrderID: ord.ID, Provider: "paystack", Reference: ord.PaymentReference,
		ProviderID: res.ProviderID, Amount: res.Amount, Currency: strings.ToUpper(res.Currency), Channel: res.Channel,
		PaidAt: res.PaidAt, CreatedAt: o.now(),
	}
	r := &Refund{
		ID: vayva.DerivedID("rfd", "late:"+ord.PaymentReference), OrderID: ord.ID, Amount: res.Amount, Currency: payment.Currency,
		Reason: "Refunded automatically: " + why + ".", Status: RefundPending, Automatic: true,
		CreatedAt: o.now(), UpdatedAt: o.now(),
	}
	next.Payments = append(next.Payments, &payment)
	next.Refunds = append(next.Refunds, r)
	if err := o.save(ctx, "late:"+ord.PaymentReference, next, Commit{
		Changes: []Change{PaymentChange{Payment: payment}, RefundChange{Refund: *r},
			appendEvent(next, EventLatePayment, o.now(), map[string]string{"reason": why})},
		SetReminders: []vayva.Reminder{{Name: refundReminderPrefix + r.ID, DueAt: o.now().Add(o.cfg.RetryAfter)}},
	}); err != nil {
		return err
	}
	return o.sendRefund(ctx, r.ID)
}

// sendRefund asks Paystack for the pending refund id and records its
// answer. A refusal fails the refund (and releases its ledger hold); no
// answer leaves it pending for its reminder, which first looks whether
// Paystack has it.
func (o *OrderActor) sendRefund(ctx actor.Context, id string) error {
	ord := o.order
	r := ord.refund(id)
	if r == nil || r.Status != RefundPending {
		return nil
	}
	c, cancel := o.providerCtx()
	res, err := o.payments.RefundPayment(c, RefundRequest{
		Reference: ord.PaymentReference, RefundID: r.ID, Amount: r.Amount, Currency: r.Currency, Reason: r.Reason,
	})
	cancel()
	switch {
	case vayva.ErrorCode(err) == vayva.EUNAVAILABLE:
		// Paystack may or may not have it; the reminder finds out.
		o.Log().Warn().Err(err).Str("refund", r.ID).Msg("refund not confirmed by Paystack; will check again")
		return nil
	case err != nil:
		return o.failRefund(ctx, "refund:"+r.ID+":refused", r, vayva.ErrorMessage(err))
	}
	return o.refundAccepted(ctx, r, res)
}

// refundAccepted records that Paystack took the refund.
func (o *OrderActor) refundAccepted(ctx actor.Context, r *Refund, res RefundResult) error {
	next := o.order.clone()
	nr := next.refund(r.ID)
	nr.Status, nr.ProviderRefundID, nr.UpdatedAt = RefundProcessing, res.ProviderRefundID, o.now()
	return o.save(ctx, "refund:"+r.ID+":accepted", next, Commit{
		Changes:         []Change{RefundChange{Refund: *nr}},
		CancelReminders: []string{refundReminderPrefix + r.ID},
	})
}

// failRefund marks a refund failed: what it held counts as paid again, and
// the ledger hold is released.
func (o *OrderActor) failRefund(ctx actor.Context, commandID string, r *Refund, why string) error {
	if !r.Automatic && o.ledger != nil {
		c, cancel := o.providerCtx()
		err := o.ledger.SettleRefund(c, o.order, r, false)
		cancel()
		if err != nil {
			return unavailable("The ledger", err)
		}
	}
	next := o.order.clone()
	nr := next.refund(r.ID)
	nr.Status, nr.FailureReason, nr.UpdatedAt = RefundFailed, why, o.now()
	if !nr.Automatic {
		next.AmountRefunded -= nr.Amount
		next.PaymentStatus = paymentStatus(next.AmountPaid, next.AmountRefunded, false)
	}
	return o.save(ctx, commandID, next, Commit{
		Changes:         []Change{RefundChange{Refund: *nr}, appendEvent(next, EventRefundFailed, o.now(), map[string]string{"refund_id": r.ID, "reason": why})},
		CancelReminders: []string{refundReminderPrefix + r.ID},
	})
}

// refundSucceeded records that Paystack processed the refund: the ledger
// posts its reversal, the merchant's webhooks hear order.refunded and the
// customer gets an email.
func (o *OrderActor) refundSucceeded(ctx actor.Context, commandID string, r *Refund) error {
	if !r.Automatic && o.ledger != nil {
		c, cancel := o.providerCtx()
		err := o.ledger.SettleRefund(c, o.order, r, true)
		cancel()
		if err != nil {
			return unavailable("The ledger", err)
		}
	}
	next := o.order.clone()
	nr := next.refund(r.ID)
	nr.Status, nr.UpdatedAt = RefundSucceeded, o.now()
	d := next.data(nr.Amount)
	d.RefundID, d.Reason = nr.ID, nr.Reason
	vars := o.orderVars(next)
	vars["amount"], vars["currency"], vars["total"] = strconv.FormatInt(nr.Amount, 10), nr.Currency, ""
	events := []vayva.Event{emailEvent(next, next.Customer.Email, vayva.EmailOrderRefunded, vars)}
	if !nr.Automatic {
		events = append(events, next.event(EventOrderRefunded, vayva.QueueWebhookDelivery, d))
	}
	return o.save(ctx, commandID, next, Commit{
		Changes:         []Change{RefundChange{Refund: *nr}, appendEvent(next, EventOrderRefunded, o.now(), map[string]string{"refund_id": nr.ID})},
		Events:          events,
		CancelReminders: []string{refundReminderPrefix + r.ID},
	})
}

// refundUpdate handles Paystack's refund.processed and refund.failed.
func (o *OrderActor) refundUpdate(ctx actor.Context, m *messages.RefundUpdate) {
	r := o.findRefund(m.GetProviderRefundId(), m.GetAmount())
	if r == nil {
		o.Log().Warn().Str("provider_refund_id", m.GetProviderRefundId()).Msg("refund event for no refund of this order")
		ctx.Respond(o.order.proto())
		return
	}
	var err error
	switch {
	case r.Status == RefundSucceeded || r.Status == RefundFailed:
	case m.GetStatus() == "processed":
		err = o.refundSucceeded(ctx, "refund:"+r.ID+":succeeded", r)
	case m.GetStatus() == "failed":
		err = o.failRefund(ctx, "refund:"+r.ID+":failed", r, "Paystack could not process the refund.")
	}
	o.respond(ctx, m.GetCommandId(), err)
}

// findRefund matches a provider's refund to one of the order's: by the
// provider's id, else the oldest pending or processing refund of the same
// amount whose id Paystack's answer never told us.
func (o *OrderActor) findRefund(providerID string, amount int64) *Refund {
	for _, r := range o.order.Refunds {
		if providerID != "" && r.ProviderRefundID == providerID {
			return r
		}
	}
	for _, r := range o.order.Refunds {
		if (r.Status == RefundPending || r.Status == RefundProcessing) && r.ProviderRefundID == "" && r.Amount == amount {
			return r
		}
	}
	return nil
}

// orderVars are the template variables of the order's emails.
func (o *OrderActor) orderVars(ord *Order) map[string]string {
	return map[string]string{
		"order_number": strconv.FormatInt(ord.Number, 10),
		"order_id":     ord.ID,
		"amount":       strconv.FormatInt(ord.Total, 10),
		"currency":     ord.Currency,
		"store_name":   ord.StoreName,
		"name":         ord.Customer.Name,
		"order_url":    o.orderPageURL(ord, false),
		"items":        fmt.Sprint(len(ord.Lines)),
	}
}

// emailEvent asks the email worker to send template to to.
func emailEvent(ord *Order, to, template string, vars map[string]string) vayva.Event {
	return vayva.SendEmailEvent(vayva.SendEmail{Template: template, To: to, MerchantID: ord.MerchantID, Vars: vars})
}
