package http_test

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/integrations/kwik"
	"github.com/vayvahq/vayva/integrations/sandbox"
	"github.com/vayvahq/vayva/node/nodetest"
	"github.com/vayvahq/vayva/persistence/redis/queue"
)

const lagosFee = 250000

func pickupAddress() map[string]any {
	return map[string]any{"name": "Ada Fabrics", "line1": "5 Broad Street", "city": "Lagos Island", "state": "Lagos",
		"country": "NG", "phone": "+2348020000000"}
}

func putDeliverySettings(t *testing.T, n *nodetest.Node, s shop, autoBook bool, rules ...map[string]any) apiResp {
	t.Helper()
	return apiCall(t, n.BaseURL, "PUT", "/v1/store/delivery-settings", s.token, map[string]any{
		"pickup_address": pickupAddress(), "auto_book": autoBook, "rules": rules,
	}).requireStatus(t, 200)
}

// checkoutTo checks out qty items to an address in state, phone phone.
func (s shop) checkoutTo(t *testing.T, n *nodetest.Node, qty int, state, phone, key string) apiResp {
	t.Helper()
	body := checkoutBody(s.variantID, qty)
	addr := body["shipping_address"].(map[string]any)
	addr["state"], addr["phone"] = state, phone
	return apiCall(t, n.BaseURL, "POST", "/v1/storefront/"+s.slug+"/checkout", "", body, "Idempotency-Key", key).requireStatus(t, 201)
}

func (s shop) deliveries(t *testing.T, n *nodetest.Node, orderID string) []map[string]any {
	t.Helper()
	return apiCall(t, n.BaseURL, "GET", "/v1/orders/"+orderID+"/deliveries", s.token, nil).requireStatus(t, 200).list()
}

// kwikTasks are the sandbox Kwik's tasks booked under a delivery id.
func kwikTasks(t *testing.T, n *nodetest.Node, deliveryID string) []map[string]any {
	t.Helper()
	return apiCall(t, n.BaseURL, "GET", "/sandbox/kwik/tasks?unique_order_id="+url.QueryEscape(deliveryID), "", nil).requireStatus(t, 200).list()
}

func delivery(o apiResp) map[string]any {
	d, _ := o.Body["delivery"].(map[string]any)
	return d
}

func TestDeliverySettingsValidation(t *testing.T) {
	t.Parallel()
	n := catalogNode(t, nodetest.Options{})
	s := newShop(t, n, 1)
	empty := apiCall(t, n.BaseURL, "GET", "/v1/store/delivery-settings", s.token, nil).requireStatus(t, 200)
	require.Nil(t, empty.Body["pickup_address"])
	require.Equal(t, []any{}, empty.Body["rules"])

	bad := apiCall(t, n.BaseURL, "PUT", "/v1/store/delivery-settings", s.token, map[string]any{
		"pickup_address": map[string]any{"name": "Ada", "line1": "5 Broad Street", "city": "Lagos", "state": "Atlantis", "country": "GH", "phone": ""},
		"auto_book":      true,
		"rules": []map[string]any{
			{"states": []string{"Lagos", "Narnia"}, "provider": "kwik"},
			{"states": []string{"lagos state"}, "provider": "dhl", "fee": -1},
			{"states": []string{}, "provider": "kwik"},
		},
	}).requireProblem(t, 422, "validation_failed")
	require.ElementsMatch(t, []string{"pickup_address.phone", "pickup_address.state", "pickup_address.country",
		"rules[0].states[1]", "rules[1].provider", "rules[1].fee", "rules[1].states[0]", "rules[2].states"}, bad.fieldNames())
	require.Contains(t, bad.fields()["rules[1].states[0]"], "rules[0]")
	apiCall(t, n.BaseURL, "PUT", "/v1/store/delivery-settings", s.token, `{"pickup_address":{},"surprise":1}`).requireProblem(t, 422, "validation_failed")
	apiCall(t, n.BaseURL, "PUT", "/v1/store/delivery-settings", "", map[string]any{}).requireProblem(t, 401, "unauthorized")
	// Nothing was stored.
	require.Nil(t, apiCall(t, n.BaseURL, "GET", "/v1/store/delivery-settings", s.token, nil).Body["pickup_address"])

	ok := putDeliverySettings(t, n, s, true, map[string]any{"states": []string{"lagos", "Ogun State"}, "provider": "kwik", "fee": lagosFee},
		map[string]any{"states": []string{"Abuja"}, "provider": "kwik"})
	rules := ok.Body["rules"].([]any)
	require.Equal(t, []any{"Lagos", "Ogun"}, rules[0].(map[string]any)["states"], "states are stored by their canonical name")
	require.Equal(t, []any{"FCT"}, rules[1].(map[string]any)["states"])
	require.NotContains(t, rules[1].(map[string]any), "fee")
	got := apiCall(t, n.BaseURL, "GET", "/v1/store/delivery-settings", s.token, nil).requireStatus(t, 200)
	require.Equal(t, ok.Body["rules"], got.Body["rules"])
	require.Equal(t, true, got.Body["auto_book"])
	require.Equal(t, "Lagos", got.Body["pickup_address"].(map[string]any)["state"])
}

// A paid order to a covered state is booked once with Kwik and follows the
// sandbox's rider to delivered: the fee was charged with the order, every
// status change reaches the merchant's webhook in order, the order
// completes with order.fulfilled, and the customer hears twice.
func TestPaidOrderIsBookedOnceAndDelivered(t *testing.T) {
	t.Parallel()
	n := catalogNode(t, nodetest.Options{})
	s := newShop(t, n, 5)
	hook := newWeEndpointServer(t)
	ep := apiCall(t, n.BaseURL, "POST", "/v1/webhook-endpoints", s.token, map[string]any{
		"url": hook.srv.URL, "events": []string{"delivery.updated", "order.fulfilled"},
	}).requireStatus(t, 201)
	hook.set(ep.str("secret"), 200)
	putDeliverySettings(t, n, s, true, map[string]any{"states": []string{"Lagos"}, "provider": "kwik", "fee": lagosFee})

	co := s.checkoutTo(t, n, 2, "Lagos", "+2348030000000", "k-deliver")
	order := co.Body["order"].(map[string]any)
	require.EqualValues(t, lagosFee, order["shipping_total"])
	require.EqualValues(t, 2*s.price+lagosFee, order["total"], "the shipping line is part of what is charged")
	require.Equal(t, "delivery", order["shipping"].(map[string]any)["method"])
	id := orderID(co)
	pay(t, n, reference(co))

	o := s.waitOrder(t, n, id, "delivered", func(o apiResp) bool { return o.str("fulfillment_status") == "delivered" })
	require.Equal(t, "completed", o.str("status"))
	require.EqualValues(t, 2*s.price+lagosFee, o.Body["amount_paid"])
	d := delivery(o)
	require.Equal(t, "delivered", d["status"])
	require.Equal(t, "kwik", d["provider"])
	require.NotEmpty(t, d["provider_reference"])
	require.NotEmpty(t, d["tracking_url"])
	require.EqualValues(t, lagosFee, d["fee"])
	require.Len(t, s.deliveries(t, n, id), 1)
	require.Len(t, kwikTasks(t, n, d["id"].(string)), 1, "booked once")
	require.Equal(t, actors.DeliveryID(id, 1), d["id"])
	require.Subset(t, eventTypes(o), []string{"delivery.pending", "delivery.booked", "delivery.in_transit", "delivery.delivered", "order.fulfilled"})

	stages := []string{"booked", "picked_up", "in_transit", "delivered"}
	var statuses []string
	require.Eventually(t, func() bool {
		statuses = statuses[:0]
		fulfilled := false
		for _, h := range hook.hits() {
			require.True(t, h.Valid)
			switch h.Body["type"] {
			case "delivery.updated":
				data := h.Body["data"].(map[string]any)
				require.Equal(t, id, data["order_id"])
				statuses = append(statuses, data["status"].(string))
			case "order.fulfilled":
				fulfilled = true
			}
		}
		return fulfilled && len(statuses) > 0 && statuses[len(statuses)-1] == "delivered"
	}, 20*time.Second, 50*time.Millisecond)
	require.Equal(t, stages, statuses, "every status once, in order (the sandbox holds each until it was read)")

	require.Eventually(t, func() bool {
		var subjects []string
		for _, m := range mailTo(t, n, "buyer@example.com") {
			subjects = append(subjects, m["subject"].(string))
		}
		return slices.ContainsFunc(subjects, func(s string) bool { return strings.Contains(s, "is on its way") }) &&
			slices.ContainsFunc(subjects, func(s string) bool { return strings.Contains(s, "was delivered") })
	}, time.Minute, 50*time.Millisecond, "the customer's delivery emails")
}

// A booking whose answer was lost (the worker died after Kwik took it) and
// a delivery job delivered twice book nothing more: Kwik has one task.
func TestDeliveryBookingIsIdempotent(t *testing.T) {
	t.Parallel()
	n := catalogNode(t, nodetest.Options{})
	s := newShop(t, n, 5)
	putDeliverySettings(t, n, s, true, map[string]any{"states": []string{"Lagos"}, "provider": "kwik", "fee": lagosFee})
	co := s.checkoutTo(t, n, 1, "Lagos", "+2348030000000", "k-idem")
	id := orderID(co)
	deliveryID := actors.DeliveryID(id, 1)

	// What a worker killed mid-booking leaves: Kwik has the task, the
	// order does not know.
	sc := n.Sandbox.Config()
	kc, err := kwik.New(kwik.Config{BaseURL: n.Sandbox.BaseURLs().Kwik, DomainName: sc.KwikDomainName, Email: sc.KwikEmail,
		Password: sc.KwikPassword, RetryScale: 0.001})
	require.NoError(t, err)
	lat, lon, _ := actors.StateCoordinates("Lagos")
	stop := kwik.Stop{Address: "12 Allen Avenue, Ikeja", Name: "Bisi", Phone: "+2348030000000", Latitude: lat, Longitude: lon}
	req := kwik.QuoteRequest{Pickup: stop, Dropoff: stop}
	q, err := kc.Quote(t.Context(), req)
	require.NoError(t, err)
	first, err := kc.Book(t.Context(), kwik.BookRequest{DeliveryID: deliveryID, Request: req, Quote: q})
	require.NoError(t, err)

	pay(t, n, reference(co))
	o := s.waitOrder(t, n, id, "booked", func(o apiResp) bool { return delivery(o) != nil && delivery(o)["provider_reference"] != "" })
	require.Equal(t, first.JobID, delivery(o)["provider_reference"], "the task Kwik had is the booking")

	// The same delivery.book job once more, as a redelivery would bring it.
	var payload []byte
	require.NoError(t, n.DB.Pool().QueryRow(t.Context(),
		`SELECT payload FROM runtime.outbox WHERE aggregate_id = $1 AND type = $2`, id, actors.EventDeliveryBook).Scan(&payload))
	_, err = n.Queues.Enqueue(t.Context(), vayva.QueueDelivery, queue.Job{ID: "again-" + deliveryID, Type: actors.EventDeliveryBook, Payload: payload})
	require.NoError(t, err)
	s.waitOrder(t, n, id, "delivered", func(o apiResp) bool { return o.str("fulfillment_status") == "delivered" })
	require.Eventually(t, func() bool {
		st, err := n.Queues.Stats(context.Background())
		require.NoError(t, err)
		for _, q := range st {
			if q.Name == vayva.QueueDelivery {
				return q.Length == 0 && q.Pending == 0 && q.Delayed == 0
			}
		}
		return false
	}, 20*time.Second, 50*time.Millisecond, "both jobs handled")
	require.Len(t, kwikTasks(t, n, deliveryID), 1)
	require.Len(t, s.deliveries(t, n, id), 1)
}

// An address no rule covers checks out as pickup and is never booked; a
// store without auto_book books by hand, at Kwik's quote for a rule
// without a fee; canceling the paid order cancels its booking.
func TestPickupManualBookingAndCancel(t *testing.T) {
	t.Parallel()
	n := catalogNode(t, nodetest.Options{})
	s := newShop(t, n, 5)
	putDeliverySettings(t, n, s, false, map[string]any{"states": []string{"FCT"}, "provider": "kwik"})

	kano := s.checkoutTo(t, n, 1, "Kano", "+2348030000000", "k-kano")
	order := kano.Body["order"].(map[string]any)
	require.Equal(t, "pickup", order["shipping"].(map[string]any)["method"])
	noPhone := checkoutBody(s.variantID, 1)
	noPhone["phone"] = ""
	noPhone["shipping_address"].(map[string]any)["state"], noPhone["shipping_address"].(map[string]any)["phone"] = "FCT", ""
	require.Contains(t, apiCall(t, n.BaseURL, "POST", "/v1/storefront/"+s.slug+"/checkout", "", noPhone, "Idempotency-Key", "k-nophone").
		requireProblem(t, 422, "validation_failed").fieldNames(), "shipping_address.phone", "the rider needs a phone")
	require.EqualValues(t, 0, order["shipping_total"])
	require.EqualValues(t, s.price, order["total"])
	pay(t, n, reference(kano))
	o := s.waitOrder(t, n, orderID(kano), "paid", func(o apiResp) bool { return o.str("payment_status") == "paid" })
	require.Nil(t, delivery(o))
	apiCall(t, n.BaseURL, "POST", "/v1/orders/"+orderID(kano)+"/deliveries", s.token, nil).requireProblem(t, 409, "conflict")
	require.Empty(t, s.deliveries(t, n, orderID(kano)))

	abuja := s.checkoutTo(t, n, 1, "Abuja", "+2348030000000", "k-abuja")
	order = abuja.Body["order"].(map[string]any)
	shipping := order["shipping"].(map[string]any)
	require.Equal(t, true, shipping["quoted"])
	fee := int64(shipping["fee"].(float64))
	require.Greater(t, fee, int64(100000), "Kwik's fare from Lagos to Abuja")
	require.EqualValues(t, s.price+fee, order["total"])
	id := orderID(abuja)
	apiCall(t, n.BaseURL, "POST", "/v1/orders/"+id+"/deliveries", s.token, nil).requireProblem(t, 409, "conflict") // unpaid
	pay(t, n, reference(abuja))
	o = s.waitOrder(t, n, id, "paid", func(o apiResp) bool { return o.str("payment_status") == "paid" })
	require.Nil(t, delivery(o), "auto_book is off")

	d := apiCall(t, n.BaseURL, "POST", "/v1/orders/"+id+"/deliveries", s.token, nil).requireStatus(t, 202)
	require.Equal(t, "pending", d.str("status"))
	require.EqualValues(t, fee, d.Body["fee"])
	apiCall(t, n.BaseURL, "POST", "/v1/orders/"+id+"/deliveries", s.token, nil).requireProblem(t, 409, "conflict")
	s.waitOrder(t, n, id, "booked", func(o apiResp) bool { return o.str("fulfillment_status") == "booked" })

	apiCall(t, n.BaseURL, "POST", "/v1/orders/"+id+"/cancel", s.token, map[string]any{"reason": "customer changed their mind"}).requireStatus(t, 200)
	o = s.waitOrder(t, n, id, "booking canceled", func(o apiResp) bool { return delivery(o)["status"] == "canceled" })
	require.Equal(t, "canceled", o.str("fulfillment_status"))
	tasks := kwikTasks(t, n, d.str("id"))
	require.Len(t, tasks, 1)
	require.Equal(t, "canceled", tasks[0]["status"])
}

// A booking Kwik keeps refusing is retried with backoff, ends in the
// dead-letter queue, and the order shows the failed fulfilment and why.
func TestDeliveryFailureDeadLetters(t *testing.T) {
	t.Parallel()
	n := catalogNode(t, nodetest.Options{})
	s := newShop(t, n, 5)
	putDeliverySettings(t, n, s, true, map[string]any{"states": []string{"Lagos"}, "provider": "kwik", "fee": lagosFee})
	co := s.checkoutTo(t, n, 1, "Lagos", sandbox.FailingKwikPhone, "k-fail")
	id := orderID(co)
	pay(t, n, reference(co))
	o := s.waitOrder(t, n, id, "fulfilment failed", func(o apiResp) bool { return o.str("fulfillment_status") == "failed" })
	d := delivery(o)
	require.Equal(t, "failed", d["status"])
	require.Contains(t, d["failure_reason"], "No rider is available")
	require.Empty(t, kwikTasks(t, n, d["id"].(string)))

	dead, err := n.Queues.DeadLetters(t.Context(), vayva.QueueDelivery, 10)
	require.NoError(t, err)
	require.Len(t, dead, 1)
	var ev vayva.Event
	require.NoError(t, json.Unmarshal(dead[0].Job.Payload, &ev))
	require.Equal(t, actors.EventDeliveryBook, ev.Type)
	require.Equal(t, 8, dead[0].Job.Attempt, "every attempt of the queue was made")

	// The merchant may book again.
	apiCall(t, n.BaseURL, "POST", "/v1/orders/"+id+"/deliveries", s.token, nil).requireStatus(t, 202)
	require.Len(t, s.deliveries(t, n, id), 2)
}
