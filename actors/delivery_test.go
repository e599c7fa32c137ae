package actors

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
)

var allDeliveryStatuses = []string{DeliveryPending, DeliveryBooked, DeliveryPickedUp, DeliveryInTransit, DeliveryDelivered,
	DeliveryFailed, DeliveryCanceled}

// TestDeliveryMoves checks every pair of delivery statuses: forward only,
// failed and canceled from anything not final, nothing out of a final one.
func TestDeliveryMoves(t *testing.T) {
	t.Parallel()
	allowed := map[string][]string{
		DeliveryPending:   {DeliveryBooked, DeliveryPickedUp, DeliveryInTransit, DeliveryDelivered, DeliveryFailed, DeliveryCanceled},
		DeliveryBooked:    {DeliveryPickedUp, DeliveryInTransit, DeliveryDelivered, DeliveryFailed, DeliveryCanceled},
		DeliveryPickedUp:  {DeliveryInTransit, DeliveryDelivered, DeliveryFailed, DeliveryCanceled},
		DeliveryInTransit: {DeliveryDelivered, DeliveryFailed, DeliveryCanceled},
	}
	for _, from := range allDeliveryStatuses {
		for _, to := range allDeliveryStatuses {
			require.Equal(t, slices.Contains(allowed[from], to), deliveryMoves(from, to), "%s → %s", from, to)
		}
	}
}

// TestAdvanceFulfillment: a delivery first heard of past its booking
// passes through booked; what the machine refuses stays refused.
func TestAdvanceFulfillment(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		from, to string
		ok       bool
	}{
		{FulfillmentUnfulfilled, FulfillmentBooked, true},
		{FulfillmentUnfulfilled, FulfillmentPickedUp, true},
		{FulfillmentUnfulfilled, FulfillmentDelivered, true},
		{FulfillmentFailed, FulfillmentInTransit, true},
		{FulfillmentBooked, FulfillmentDelivered, true},
		{FulfillmentInTransit, FulfillmentPickedUp, false},
		{FulfillmentDelivered, FulfillmentFailed, false},
		{FulfillmentCanceled, FulfillmentBooked, false},
		{FulfillmentFulfilled, FulfillmentDelivered, false},
	} {
		err := advanceFulfillment(c.from, c.to)
		if c.ok {
			require.NoError(t, err, "%s → %s", c.from, c.to)
		} else {
			require.Equal(t, vayva.ECONFLICT, vayva.ErrorCode(err), "%s → %s", c.from, c.to)
		}
	}
}

func TestPlanShipping(t *testing.T) {
	t.Parallel()
	fee := int64(150000)
	settings, err := ParseDeliverySettings([]byte(`{"pickup_address":{"name":"Ada","line1":"5 Broad St","city":"Lagos",
		"state":"lagos","country":"Nigeria","phone":"+2348020000000"},"auto_book":true,
		"rules":[{"states":["Lagos","Ogun"],"provider":"kwik","fee":150000},{"states":["Akwa-Ibom"],"provider":"kwik"}]}`), "NGN")
	require.NoError(t, err)
	require.Equal(t, "NG", settings.PickupAddress.Country)
	b, err := json.Marshal(settings)
	require.NoError(t, err)

	flat := planShipping(b, &Address{State: "Ogun State", Country: "NG"})
	require.Equal(t, &Shipping{Method: ShippingDelivery, Provider: ProviderKwik, Fee: fee, AutoBook: true, Pickup: &settings.PickupAddress}, flat)
	quoted := planShipping(b, &Address{State: "akwa ibom", Country: "ng"})
	require.True(t, quoted.Quoted)
	require.Zero(t, quoted.Fee)
	require.Equal(t, ShippingPickup, planShipping(b, &Address{State: "Kano", Country: "NG"}).Method, "no rule covers Kano")
	require.Equal(t, ShippingPickup, planShipping(b, &Address{State: "Lagos", Country: "GH"}).Method, "not Nigeria")
	require.Equal(t, ShippingPickup, planShipping(nil, &Address{State: "Lagos", Country: "NG"}).Method, "no settings")

	_, err = ParseDeliverySettings(b, "USD")
	require.Equal(t, []string{"rules[0].provider", "rules[1].provider"}, fieldsOf(err), "Kwik delivers in NGN")
}

func fieldsOf(err error) []string {
	var e *vayva.Error
	if !errors.As(err, &e) {
		return nil
	}
	var out []string
	for _, f := range e.Fields {
		out = append(out, f.Field)
	}
	return out
}

func TestStatesHaveCoordinates(t *testing.T) {
	t.Parallel()
	require.Len(t, nigerianStates, 37)
	for name := range nigerianStates {
		got, ok := CanonicalState(name + " State")
		require.True(t, ok, name)
		require.Equal(t, name, got)
		lat, lon, ok := StateCoordinates(name)
		require.True(t, ok && validCoordinates(lat, lon) && lat > 4 && lat < 14 && lon > 2 && lon < 15, name)
	}
	_, ok := CanonicalState("Atlantis")
	require.False(t, ok)
}
