package actors

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/messages"
)

var allOrderStatuses = []string{OrderAwaitingPayment, OrderConfirmed, OrderCompleted, OrderExpired, OrderCanceled}

var allFulfillmentStatuses = []string{FulfillmentUnfulfilled, FulfillmentBooked, FulfillmentPickedUp, FulfillmentInTransit,
	FulfillmentDelivered, FulfillmentFulfilled, FulfillmentFailed, FulfillmentCanceled}

// TestOrderStatusMachine walks every step from every status: exactly the
// transitions written here are allowed, everything else is a conflict.
func TestOrderStatusMachine(t *testing.T) {
	t.Parallel()
	allowed := map[orderStep]map[string]string{
		stepPay:     {OrderAwaitingPayment: OrderConfirmed},
		stepExpire:  {OrderAwaitingPayment: OrderExpired},
		stepCancel:  {OrderAwaitingPayment: OrderCanceled, OrderConfirmed: OrderCanceled},
		stepFulfill: {OrderConfirmed: OrderCompleted},
	}
	for step, from := range allowed {
		for _, status := range allOrderStatuses {
			got, err := nextStatus(status, step)
			if want, ok := from[status]; ok {
				require.NoError(t, err, "%s from %s", step, status)
				require.Equal(t, want, got, "%s from %s", step, status)
				continue
			}
			require.Equal(t, vayva.ECONFLICT, vayva.ErrorCode(err), "%s from %s must be refused", step, status)
		}
	}
	_, err := nextStatus(OrderConfirmed, orderStep("teleport"))
	require.Equal(t, vayva.ECONFLICT, vayva.ErrorCode(err))
}

// TestFulfillmentMachine checks every pair of fulfilment statuses.
func TestFulfillmentMachine(t *testing.T) {
	t.Parallel()
	allowed := map[string][]string{
		FulfillmentUnfulfilled: {FulfillmentFulfilled, FulfillmentBooked, FulfillmentFailed, FulfillmentCanceled},
		FulfillmentBooked:      {FulfillmentPickedUp, FulfillmentInTransit, FulfillmentDelivered, FulfillmentFailed, FulfillmentCanceled},
		FulfillmentPickedUp:    {FulfillmentInTransit, FulfillmentDelivered, FulfillmentFailed, FulfillmentCanceled},
		FulfillmentInTransit:   {FulfillmentDelivered, FulfillmentFailed, FulfillmentCanceled},
		FulfillmentFailed:      {FulfillmentBooked, FulfillmentFulfilled, FulfillmentCanceled},
	}
	for _, from := range allFulfillmentStatuses {
		for _, to := range allFulfillmentStatuses {
			err := nextFulfillment(from, to)
			if slices.Contains(allowed[from], to) {
				require.NoError(t, err, "%s → %s", from, to)
			} else {
				require.Equal(t, vayva.ECONFLICT, vayva.ErrorCode(err), "%s → %s must be refused", from, to)
			}
		}
	}
}

func TestPaymentStatusIsDerived(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		paid, refunded int64
		failed         bool
		want           string
	}{
		{0, 0, false, PaymentUnpaid},
		{0, 0, true, PaymentFailed},
		{1000, 0, false, PaymentPaid},
		{1000, 1, false, PaymentPartiallyRefunded},
		{1000, 999, false, PaymentPartiallyRefunded},
		{1000, 1000, false, PaymentRefunded},
	} {
		require.Equal(t, c.want, paymentStatus(c.paid, c.refunded, c.failed), "%+v", c)
	}
}

func TestPaymentReferenceRoundTrips(t *testing.T) {
	t.Parallel()
	id := vayva.NewID("ord")
	ref := PaymentReference(id)
	require.NotContains(t, ref, "_", "Paystack allows only letters, digits, '-', '.' and '='")
	back, ok := OrderIDFromReference(ref)
	require.True(t, ok)
	require.Equal(t, id, back)
	for _, bad := range []string{"", "ord", "pay-123", "ord-", "ORD-abc", "ord-has_under"} {
		_, ok := OrderIDFromReference(bad)
		require.False(t, ok, bad)
	}
}

func TestPlanOrderPricesFromTheReservation(t *testing.T) {
	t.Parallel()
	id := vayva.NewID("ord")
	m := &messages.CreateOrder{
		StoreId: "sto_1", MerchantId: "mer_1", TokenHash: make([]byte, 32),
		Customer: &messages.Customer{Email: "a@b.co"}, ExpiresAtUnixMs: planNow.Add(time.Hour).UnixMilli(),
		Reservation: &messages.Reservation{ReservationId: id, Status: ReservationActive, Currency: "NGN", OrderNumber: 1007, FeeBps: 150,
			Lines: []*messages.ReservationLine{{VariantId: "v1", Quantity: 2, UnitPrice: 1500}, {VariantId: "v2", Quantity: 1, UnitPrice: 700}}},
	}
	o, err := planOrder(id, m, planNow)
	require.NoError(t, err)
	require.Equal(t, int64(3700), o.Subtotal)
	require.Equal(t, int64(3700), o.Total)
	require.Equal(t, int64(1007), o.Number)
	require.Equal(t, int32(150), o.FeeBps)
	require.Equal(t, OrderAwaitingPayment, o.Status)
	require.Equal(t, PaymentUnpaid, o.PaymentStatus)
	require.Equal(t, PaymentReference(id), o.PaymentReference)

	other := proto.Clone(m).(*messages.CreateOrder)
	other.Reservation.ReservationId = vayva.NewID("ord")
	_, err = planOrder(id, other, planNow)
	require.Equal(t, vayva.EINVALID, vayva.ErrorCode(err), "another order's reservation")
	released := proto.Clone(m).(*messages.CreateOrder)
	released.Reservation.Status = ReservationReleased
	_, err = planOrder(id, released, planNow)
	require.Equal(t, vayva.EINVALID, vayva.ErrorCode(err))
	free := proto.Clone(m).(*messages.CreateOrder)
	for _, l := range free.Reservation.Lines {
		l.UnitPrice = 0
	}
	_, err = planOrder(id, free, planNow)
	require.Equal(t, vayva.EINVALID, vayva.ErrorCode(err), "Paystack cannot charge nothing")
	past := proto.Clone(m).(*messages.CreateOrder)
	past.ExpiresAtUnixMs = planNow.Add(-time.Second).UnixMilli()
	_, err = planOrder(id, past, planNow)
	require.Equal(t, vayva.EINVALID, vayva.ErrorCode(err))
}
