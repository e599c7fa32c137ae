package http_test

import (
	"encoding/json"
	"fmt"
	nethttp "net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/integrations/paystack"
	"github.com/vayvahq/vayva/node/nodetest"
)

// shop is a merchant with one active product of one variant.
type shop struct {
	merchant
	variantID string
	price     int64
}

func newShop(t *testing.T, n *nodetest.Node, stock int) shop {
	t.Helper()
	m := signup(t, n.BaseURL, "Ada Fabrics")
	p := apiCall(t, n.BaseURL, "POST", "/v1/products", m.token, map[string]any{
		"title": "Adire scarf", "status": "active",
		"variants": []map[string]any{{"sku": "SCARF", "title": "Blue", "price": 1500000, "inventory_quantity": stock}},
	}).requireStatus(t, nethttp.StatusCreated)
	return shop{merchant: m, variantID: variantsOf(p.Body)[0]["id"].(string), price: 1500000}
}

func checkoutBody(variantID string, qty int) map[string]any {
	return map[string]any{
		"email": "buyer@example.com", "phone": "+2348030000000",
		"items": []map[string]any{{"variant_id": variantID, "quantity": qty}},
		"shipping_address": map[string]any{"name": "Bisi Ade", "line1": "12 Allen Avenue", "city": "Ikeja",
			"state": "Lagos", "country": "NG", "phone": "+2348030000000"},
	}
}

func (s shop) checkout(t *testing.T, n *nodetest.Node, qty int, key string) apiResp {
	t.Helper()
	return apiCall(t, n.BaseURL, "POST", "/v1/storefront/"+s.slug+"/checkout", "", checkoutBody(s.variantID, qty), "Idempotency-Key", key)
}

func (s shop) available(t *testing.T, n *nodetest.Node) int64 {
	t.Helper()
	r := apiCall(t, n.BaseURL, "GET", "/v1/products", s.token, nil).requireStatus(t, 200)
	v := variantsOf(r.list()[0])[0]
	return int64(v["available"].(float64))
}

func (s shop) order(t *testing.T, n *nodetest.Node, id string) apiResp {
	t.Helper()
	return apiCall(t, n.BaseURL, "GET", "/v1/orders/"+id, s.token, nil).requireStatus(t, 200)
}

// waitOrder polls the merchant's view of an order until ok holds.
func (s shop) waitOrder(t *testing.T, n *nodetest.Node, id string, what string, ok func(o apiResp) bool) apiResp {
	t.Helper()
	var last apiResp
	require.Eventually(t, func() bool {
		last = s.order(t, n, id)
		return ok(last)
	}, 20*time.Second, 20*time.Millisecond, "order %s: %s; last: %s", id, what, func() []byte { return last.Raw }())
	return last
}

// pay completes the sandbox Paystack checkout of reference, which sends a
// signed charge.success to the node.
func pay(t *testing.T, n *nodetest.Node, reference string) apiResp {
	t.Helper()
	return apiCall(t, n.BaseURL, "POST", "/sandbox/paystack/checkout/"+url.PathEscape(reference)+"/pay", "", map[string]any{}).requireStatus(t, 200)
}

func eventTypes(o apiResp) []string {
	var out []string
	evs, _ := o.Body["events"].([]any)
	for _, e := range evs {
		out = append(out, e.(map[string]any)["type"].(string))
	}
	return out
}

func mailTo(t *testing.T, n *nodetest.Node, to string) []map[string]any {
	t.Helper()
	r := apiCall(t, n.BaseURL, "GET", "/sandbox/mailbox?to="+url.QueryEscape(to), "", nil).requireStatus(t, 200)
	return r.list()
}

func TestCheckoutPayConfirmsTheOrder(t *testing.T) {
	t.Parallel()
	n := catalogNode(t, nodetest.Options{})
	s := newShop(t, n, 5)
	hook := newWeEndpointServer(t)
	ep := apiCall(t, n.BaseURL, "POST", "/v1/webhook-endpoints", s.token, map[string]any{
		"url": hook.srv.URL, "events": []string{"order.paid", "order.created"},
	}).requireStatus(t, 201)
	hook.set(ep.str("secret"), 200)

	// Checkout without a key, and with a price of its own, reserve nothing.
	apiCall(t, n.BaseURL, "POST", "/v1/storefront/"+s.slug+"/checkout", "", checkoutBody(s.variantID, 2)).requireProblem(t, 400, "bad_request")
	withPrice := checkoutBody(s.variantID, 2)
	withPrice["items"].([]map[string]any)[0]["price"] = 1
	apiCall(t, n.BaseURL, "POST", "/v1/storefront/"+s.slug+"/checkout", "", withPrice, "Idempotency-Key", "k-price").requireProblem(t, 422, "validation_failed")
	withTotal := checkoutBody(s.variantID, 2)
	withTotal["total"] = 100
	apiCall(t, n.BaseURL, "POST", "/v1/storefront/"+s.slug+"/checkout", "", withTotal, "Idempotency-Key", "k-total").requireProblem(t, 422, "validation_failed")
	require.EqualValues(t, 5, s.available(t, n))

	co := s.checkout(t, n, 2, "k-1").requireStatus(t, 201)
	order := co.Body["order"].(map[string]any)
	id := order["id"].(string)
	require.True(t, vayva.HasIDPrefix(id, "ord"), id)
	require.Equal(t, "awaiting_payment", order["status"])
	require.EqualValues(t, 2*s.price, order["total"], "the store prices the order")
	require.Equal(t, "NGN", order["currency"])
	require.EqualValues(t, 1001, order["number"])
	require.NotEmpty(t, order["expires_at"])
	token := co.str("order_token")
	require.NotEmpty(t, token)
	payment := co.Body["payment"].(map[string]any)
	require.Equal(t, "paystack", payment["provider"])
	ref := payment["reference"].(string)
	require.Contains(t, payment["authorization_url"], "/sandbox/paystack/checkout/"+ref)
	require.EqualValues(t, 3, s.available(t, n), "stock is reserved")

	// The same key and body replay the first answer; another body is refused.
	again := s.checkout(t, n, 2, "k-1").requireStatus(t, 201)
	require.Equal(t, "true", again.Header.Get("Idempotency-Replayed"))
	require.Equal(t, co.Raw, again.Raw)
	s.checkout(t, n, 1, "k-1").requireProblem(t, 422, "idempotency_key_reused")
	require.EqualValues(t, 3, s.available(t, n))

	// The customer sees the order with the token, nothing without it.
	view := apiCall(t, n.BaseURL, "GET", "/v1/storefront/"+s.slug+"/orders/"+id+"?token="+token, "", nil).requireStatus(t, 200)
	require.Equal(t, "awaiting_payment", view.str("status"))
	apiCall(t, n.BaseURL, "GET", "/v1/storefront/"+s.slug+"/orders/"+id+"?token=otok_wrong", "", nil).requireProblem(t, 404, "not_found")
	apiCall(t, n.BaseURL, "GET", "/v1/storefront/"+s.slug+"/orders/"+id, "", nil).requireProblem(t, 404, "not_found")

	// A forged charge.success changes nothing.
	forged := []byte(fmt.Sprintf(`{"event":"charge.success","data":{"id":1,"reference":%q,"amount":%d,"currency":"NGN","status":"success"}}`, ref, 2*s.price))
	apiCall(t, n.BaseURL, "POST", "/webhooks/paystack", "", string(forged), paystack.SignatureHeader, paystack.Sign("sk_wrong", forged)).requireProblem(t, 401, "unauthorized")

	paid := pay(t, n, ref)
	require.Equal(t, "success", paid.str("status"))
	o := s.waitOrder(t, n, id, "confirmed and paid", func(o apiResp) bool { return o.str("status") == "confirmed" })
	require.Equal(t, "paid", o.str("payment_status"))
	require.Equal(t, "unfulfilled", o.str("fulfillment_status"))
	require.EqualValues(t, 2*s.price, o.Body["amount_paid"])
	require.Equal(t, []string{"order.created", "order.paid"}, eventTypes(o))
	require.Equal(t, "buyer@example.com", o.Body["customer"].(map[string]any)["email"])
	require.Equal(t, "Lagos", o.Body["shipping_address"].(map[string]any)["state"])

	// The stock left the store: reserved went down, on hand too.
	require.EqualValues(t, 3, s.available(t, n))
	var onHand, reserved int64
	require.NoError(t, n.DB.Pool().QueryRow(t.Context(), `SELECT on_hand, reserved FROM catalog.variants WHERE id = $1`, s.variantID).Scan(&onHand, &reserved))
	require.Equal(t, []int64{3, 0}, []int64{onHand, reserved})

	// Emails to the customer and the merchant, and exactly one order.paid
	// to the merchant's endpoint.
	require.Eventually(t, func() bool { return len(mailTo(t, n, "buyer@example.com")) == 1 }, 20*time.Second, 50*time.Millisecond)
	require.Contains(t, mailTo(t, n, "buyer@example.com")[0]["subject"], "1001")
	require.Eventually(t, func() bool {
		paidHits := 0
		for _, h := range hook.hits() {
			if h.Body["type"] == "order.paid" {
				paidHits++
			}
		}
		return paidHits == 1
	}, 20*time.Second, 50*time.Millisecond)

	// The same webhook delivered again (four more times) pays nothing more.
	for range 4 {
		pay(t, n, ref)
	}
	body, _ := json.Marshal(map[string]any{"event": "charge.success", "data": map[string]any{
		"id": 77, "reference": ref, "amount": 2 * s.price, "currency": "NGN", "status": "success"}})
	for range 4 {
		apiCall(t, n.BaseURL, "POST", "/webhooks/paystack", "", string(body), paystack.SignatureHeader, paystack.Sign(n.Sandbox.Config().PaystackSecret, body)).requireStatus(t, 200)
	}
	require.Never(t, func() bool {
		o := s.order(t, n, id)
		return len(eventTypes(o)) != 2 || o.Body["amount_paid"] != float64(2*s.price)
	}, time.Second, 50*time.Millisecond)
	paidHits := 0
	for _, h := range hook.hits() {
		if h.Body["type"] == "order.paid" {
			paidHits++
		}
	}
	require.Equal(t, 1, paidHits)
	var payments int
	require.NoError(t, n.DB.Pool().QueryRow(t.Context(), `SELECT count(*) FROM orders.payments WHERE order_id = $1`, id).Scan(&payments))
	require.Equal(t, 1, payments)

	// The merchant's list shows it; the customer page shows it paid.
	list := apiCall(t, n.BaseURL, "GET", "/v1/orders?status=confirmed", s.token, nil).requireStatus(t, 200)
	require.Len(t, list.list(), 1)
	require.Empty(t, apiCall(t, n.BaseURL, "GET", "/v1/orders?status=expired", s.token, nil).requireStatus(t, 200).list())
	apiCall(t, n.BaseURL, "GET", "/v1/orders?status=lost", s.token, nil).requireProblem(t, 422, "validation_failed")
	page := apiCall(t, n.BaseURL, "GET", "/storefront/"+s.slug+"/orders/"+id, "", nil).requireStatus(t, 200)
	require.Contains(t, string(page.Raw), "paid and confirmed")
	require.NotContains(t, string(page.Raw), "buyer@example.com")
}

func TestCheckoutInsufficientStockReservesNothing(t *testing.T) {
	t.Parallel()
	n := catalogNode(t, nodetest.Options{})
	s := newShop(t, n, 2)
	r := s.checkout(t, n, 3, "k-much").requireProblem(t, 409, "insufficient_stock")
	require.Contains(t, r.str("detail"), s.variantID)
	require.EqualValues(t, 2, s.available(t, n))
	r = apiCall(t, n.BaseURL, "POST", "/v1/storefront/"+s.slug+"/checkout", "", map[string]any{
		"email": "not-an-email", "items": []map[string]any{{"variant_id": "var_nope", "quantity": 0}},
	}, "Idempotency-Key", "k-bad").requireProblem(t, 422, "validation_failed")
	require.ElementsMatch(t, []string{"email", "items[0].quantity", "shipping_address"}, r.fieldNames())
	r = apiCall(t, n.BaseURL, "POST", "/v1/storefront/"+s.slug+"/checkout", "", checkoutBody("var_nope", 1), "Idempotency-Key", "k-unknown").
		requireProblem(t, 422, "validation_failed")
	require.Equal(t, []string{"items[0].variant_id"}, r.fieldNames())
	apiCall(t, n.BaseURL, "POST", "/v1/storefront/no-such-shop/checkout", "", checkoutBody(s.variantID, 1), "Idempotency-Key", "k-x").requireProblem(t, 404, "not_found")
	var orders int
	require.NoError(t, n.DB.Pool().QueryRow(t.Context(), `SELECT count(*) FROM orders.orders`).Scan(&orders))
	require.Zero(t, orders)
}

func TestMerchantOrderRoutesAreTenantScoped(t *testing.T) {
	t.Parallel()
	n := catalogNode(t, nodetest.Options{})
	s := newShop(t, n, 5)
	other := signup(t, n.BaseURL, "Other Shop")
	id := s.checkout(t, n, 1, "k").requireStatus(t, 201).Body["order"].(map[string]any)["id"].(string)
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/orders/" + id}, {"POST", "/v1/orders/" + id + "/cancel"}, {"POST", "/v1/orders/" + id + "/refund"}, {"POST", "/v1/orders/" + id + "/fulfill"},
	} {
		apiCall(t, n.BaseURL, c.method, c.path, other.token, nil).requireProblem(t, 404, "not_found")
	}
	require.Empty(t, apiCall(t, n.BaseURL, "GET", "/v1/orders", other.token, nil).requireStatus(t, 200).list())
	apiCall(t, n.BaseURL, "GET", "/v1/orders", "", nil).requireProblem(t, 401, "unauthorized")
	// Unpaid orders cannot be refunded or fulfilled.
	apiCall(t, n.BaseURL, "POST", "/v1/orders/"+id+"/refund", s.token, nil).requireProblem(t, 409, "conflict")
	apiCall(t, n.BaseURL, "POST", "/v1/orders/"+id+"/fulfill", s.token, nil).requireProblem(t, 409, "conflict")
	// Cancel gives the stock back.
	require.EqualValues(t, 4, s.available(t, n))
	c := apiCall(t, n.BaseURL, "POST", "/v1/orders/"+id+"/cancel", s.token, map[string]any{"reason": "customer asked"}).requireStatus(t, 200)
	require.Equal(t, "canceled", c.str("status"))
	require.Equal(t, "customer asked", c.str("cancel_reason"))
	require.EqualValues(t, 5, s.available(t, n))
	require.True(t, strings.Contains(strings.Join(eventTypes(c), ","), "order.canceled"))
}

// A checkout whose answer was lost (the member died after the order
// committed; its Idempotency-Key claim was released with it) is retried
// with the same key: the retry reaches the same order and reservation and
// answers with the same token.
func TestCheckoutRetryAfterALostAnswerReachesTheSameOrder(t *testing.T) {
	t.Parallel()
	n := catalogNode(t, nodetest.Options{})
	s := newShop(t, n, 5)
	first := s.checkout(t, n, 2, "k-lost").requireStatus(t, 201)
	id := first.str("order", "id")
	_, err := n.DB.Pool().Exec(t.Context(), `DELETE FROM runtime.idempotency_keys`)
	require.NoError(t, err)

	retry := s.checkout(t, n, 2, "k-lost").requireStatus(t, 201)
	require.Equal(t, id, retry.str("order", "id"), "the retry reaches the first order")
	require.Equal(t, first.str("order_token"), retry.str("order_token"))
	require.EqualValues(t, 3, s.available(t, n), "stock reserved once")
	var orders int
	require.NoError(t, n.DB.Pool().QueryRow(t.Context(), `SELECT count(*) FROM orders.orders`).Scan(&orders))
	require.Equal(t, 1, orders)
	view := "/v1/storefront/" + s.slug + "/orders/" + id + "?token="
	apiCall(t, n.BaseURL, "GET", view+retry.str("order_token"), "", nil).requireStatus(t, 200)

}
