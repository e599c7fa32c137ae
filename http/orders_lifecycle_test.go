package http_test

import (
	nethttp "net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/node/nodetest"
)

func orderID(co apiResp) string { return co.Body["order"].(map[string]any)["id"].(string) }

func reference(co apiResp) string { return co.Body["payment"].(map[string]any)["reference"].(string) }

func TestUnpaidOrderExpiresAndLatePaymentIsRefunded(t *testing.T) {
	t.Parallel()
	n := catalogNode(t, nodetest.Options{Env: map[string]string{"VAYVA_CHECKOUT_TTL": "2s"}})
	s := newShop(t, n, 4)
	co := s.checkout(t, n, 3, "k-expire").requireStatus(t, 201)
	id := orderID(co)
	require.EqualValues(t, 1, s.available(t, n))

	o := s.waitOrder(t, n, id, "expired", func(o apiResp) bool { return o.str("status") == "expired" })
	require.Equal(t, "unpaid", o.str("payment_status"))
	require.Contains(t, eventTypes(o), "order.expired")
	require.EqualValues(t, 4, s.available(t, n), "the stock came back")

	// The customer pays anyway: the payment is refunded automatically and
	// the order stays expired; the merchant's balance never sees it.
	pay(t, n, reference(co))
	o = s.waitOrder(t, n, id, "late payment refunded", func(o apiResp) bool {
		refunds, _ := o.Body["refunds"].([]any)
		return len(refunds) == 1 && refunds[0].(map[string]any)["status"] == "succeeded"
	})
	require.Equal(t, "expired", o.str("status"))
	refund := o.Body["refunds"].([]any)[0].(map[string]any)
	require.Equal(t, true, refund["automatic"])
	require.EqualValues(t, 3*s.price, refund["amount"])
	require.Contains(t, eventTypes(o), "payment.refunded_automatically")
	require.EqualValues(t, 4, s.available(t, n))
	var applied bool
	require.NoError(t, n.DB.Pool().QueryRow(t.Context(), `SELECT applied FROM orders.payments WHERE order_id = $1`, id).Scan(&applied))
	require.False(t, applied)
	require.Eventually(t, func() bool { return len(mailTo(t, n, "buyer@example.com")) == 1 }, 20*time.Second, 50*time.Millisecond,
		"the refund notice")
}

// A node that consumes no payments-inbound never hears the webhook: the
// reconciliation reminder asks Paystack and confirms the order anyway.
func TestLostWebhookIsRecoveredByReconciliation(t *testing.T) {
	t.Parallel()
	n := catalogNode(t, nodetest.Options{Env: map[string]string{"VAYVA_ROLES": "edge,actors,relay,workers"}})
	s := newShop(t, n, 2)
	co := s.checkout(t, n, 1, "k-lost").requireStatus(t, 201)
	pay(t, n, reference(co))
	o := s.waitOrder(t, n, orderID(co), "confirmed by reconciliation", func(o apiResp) bool { return o.str("status") == "confirmed" })
	require.Equal(t, "paid", o.str("payment_status"))
}

func TestPaystackFailureAtCheckoutLeaksNoStock(t *testing.T) {
	t.Parallel()
	// Paystack is down until up holds the node's own sandbox Paystack.
	var up atomic.Pointer[httputil.ReverseProxy]
	down := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		if p := up.Load(); p != nil {
			p.ServeHTTP(w, r)
			return
		}
		w.WriteHeader(nethttp.StatusBadGateway)
	}))
	t.Cleanup(down.Close)
	n := catalogNode(t, nodetest.Options{Env: map[string]string{"VAYVA_PAYSTACK_BASE_URL": down.URL}})
	s := newShop(t, n, 3)
	s.checkout(t, n, 2, "k-down").requireProblem(t, 503, "unavailable")
	require.EqualValues(t, 3, s.available(t, n), "the reservation was released")
	// The client's retry with the same key fails the same way and leaks
	// nothing either.
	s.checkout(t, n, 2, "k-down").requireProblem(t, 503, "unavailable")
	require.EqualValues(t, 3, s.available(t, n))
	var orders int
	require.NoError(t, n.DB.Pool().QueryRow(t.Context(), `SELECT count(*) FROM orders.orders`).Scan(&orders))
	require.Zero(t, orders)

	// Once Paystack answers, the same key checks out, once.
	target, err := url.Parse(n.BaseURL + "/sandbox/paystack/api")
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	up.Store(proxy)
	co := s.checkout(t, n, 2, "k-down").requireStatus(t, 201)
	require.EqualValues(t, 1, s.available(t, n))
	require.Equal(t, orderID(co), orderID(s.checkout(t, n, 2, "k-down").requireStatus(t, 201)))
	require.NoError(t, n.DB.Pool().QueryRow(t.Context(), `SELECT count(*) FROM orders.orders`).Scan(&orders))
	require.Equal(t, 1, orders)
}

func TestRefundsFulfilmentAndCancelOfAPaidOrder(t *testing.T) {
	t.Parallel()
	n := catalogNode(t, nodetest.Options{})
	s := newShop(t, n, 10)
	hook := newWeEndpointServer(t)
	ep := apiCall(t, n.BaseURL, "POST", "/v1/webhook-endpoints", s.token, map[string]any{
		"url": hook.srv.URL, "events": []string{"order.refunded", "order.fulfilled", "order.canceled"},
	}).requireStatus(t, 201)
	hook.set(ep.str("secret"), 200)

	co := s.checkout(t, n, 2, "k-a").requireStatus(t, 201)
	id := orderID(co)
	pay(t, n, reference(co))
	s.waitOrder(t, n, id, "paid", func(o apiResp) bool { return o.str("payment_status") == "paid" })
	total := 2 * s.price

	// Refunds move the store's money: staff may not ask for one.
	staff := teamMember(t, n, s.token, "sam@example.com", "staff")
	apiCall(t, n.BaseURL, "POST", "/v1/orders/"+id+"/refund", staff, map[string]any{"amount": 100}).requireProblem(t, 403, "forbidden")
	require.Equal(t, "paid", apiCall(t, n.BaseURL, "GET", "/v1/orders/"+id, staff, nil).requireStatus(t, 200).str("payment_status"),
		"staff may still see the order, and the refusal changed nothing")

	apiCall(t, n.BaseURL, "POST", "/v1/orders/"+id+"/refund", s.token, map[string]any{"amount": total + 1}).requireProblem(t, 422, "validation_failed")
	apiCall(t, n.BaseURL, "POST", "/v1/orders/"+id+"/refund", s.token, map[string]any{"amount": -5}).requireProblem(t, 422, "validation_failed")
	r := apiCall(t, n.BaseURL, "POST", "/v1/orders/"+id+"/refund", s.token, map[string]any{"amount": 500000, "reason": "one scarf was torn"},
		"Idempotency-Key", "refund-1").requireStatus(t, 200)
	require.Equal(t, "partially_refunded", r.str("payment_status"))
	require.EqualValues(t, 500000, r.Body["amount_refunded"])
	// The same request again refunds nothing more.
	apiCall(t, n.BaseURL, "POST", "/v1/orders/"+id+"/refund", s.token, map[string]any{"amount": 500000, "reason": "one scarf was torn"},
		"Idempotency-Key", "refund-1").requireStatus(t, 200)
	o := s.waitOrder(t, n, id, "refund processed", func(o apiResp) bool {
		refunds, _ := o.Body["refunds"].([]any)
		return len(refunds) == 1 && refunds[0].(map[string]any)["status"] == "succeeded"
	})
	require.EqualValues(t, 500000, o.Body["amount_refunded"])

	f := apiCall(t, n.BaseURL, "POST", "/v1/orders/"+id+"/fulfill", s.token, nil).requireStatus(t, 200)
	require.Equal(t, "fulfilled", f.str("fulfillment_status"))
	require.Equal(t, "completed", f.str("status"))
	apiCall(t, n.BaseURL, "POST", "/v1/orders/"+id+"/cancel", s.token, nil).requireProblem(t, 409, "conflict")

	// The rest is refunded in full.
	r = apiCall(t, n.BaseURL, "POST", "/v1/orders/"+id+"/refund", s.token, map[string]any{"reason": "goodwill"}).requireStatus(t, 200)
	require.Equal(t, "refunded", r.str("payment_status"))
	require.EqualValues(t, total, r.Body["amount_refunded"])
	apiCall(t, n.BaseURL, "POST", "/v1/orders/"+id+"/refund", s.token, nil).requireProblem(t, 409, "conflict")

	// A paid order canceled before it ships is refunded and restocked.
	co = s.checkout(t, n, 3, "k-b").requireStatus(t, 201)
	id2 := orderID(co)
	pay(t, n, reference(co))
	s.waitOrder(t, n, id2, "paid", func(o apiResp) bool { return o.str("payment_status") == "paid" })
	require.EqualValues(t, 5, s.available(t, n))
	// Canceling it refunds it: staff may not.
	apiCall(t, n.BaseURL, "POST", "/v1/orders/"+id2+"/cancel", staff, map[string]any{"reason": "oops"}).requireProblem(t, 403, "forbidden")
	o = apiCall(t, n.BaseURL, "GET", "/v1/orders/"+id2, staff, nil).requireStatus(t, 200)
	require.Equal(t, "paid", o.str("payment_status"), "the refusal changed nothing")
	require.NotEqual(t, "canceled", o.str("status"))
	require.EqualValues(t, 5, s.available(t, n))
	c := apiCall(t, n.BaseURL, "POST", "/v1/orders/"+id2+"/cancel", s.token, map[string]any{"reason": "out of fabric"}).requireStatus(t, 200)
	require.Equal(t, "canceled", c.str("status"))
	require.Equal(t, "refunded", c.str("payment_status"))
	require.EqualValues(t, 8, s.available(t, n), "restocked")

	// Every refund's audit line names the owner who asked for it.
	owner := apiCall(t, n.BaseURL, "GET", "/v1/me", s.token, nil).requireStatus(t, 200).str("user", "id")
	holds := 0
	for _, a := range apiCall(t, n.BaseURL, "GET", "/v1/audit-log", s.token, nil).requireStatus(t, 200).list() {
		if a["action"] != "refund.hold" {
			continue
		}
		holds++
		actor := a["actor"].(map[string]any)
		require.Equal(t, "user", actor["kind"], "%v", a)
		require.Equal(t, owner, actor["user_id"], "%v", a)
	}
	require.Equal(t, 3, holds)

	// Staff may still cancel an order nobody has paid for.
	co = s.checkout(t, n, 1, "k-c").requireStatus(t, 201)
	c = apiCall(t, n.BaseURL, "POST", "/v1/orders/"+orderID(co)+"/cancel", staff, nil).requireStatus(t, 200)
	require.Equal(t, "canceled", c.str("status"))
	require.EqualValues(t, 8, s.available(t, n), "the reservation released")

	require.Eventually(t, func() bool {
		got := map[string]int{}
		for _, h := range hook.hits() {
			got[h.Body["type"].(string)]++
		}
		return got["order.refunded"] == 3 && got["order.fulfilled"] == 1 && got["order.canceled"] == 2
	}, 20*time.Second, 50*time.Millisecond, "webhooks: %v", hook.hits())
}

// teamMember invites email to the store of ownerToken with role and signs
// the invitee up through the emailed link; it returns their token.
func teamMember(t *testing.T, n *nodetest.Node, ownerToken, email, role string) string {
	t.Helper()
	apiCall(t, n.BaseURL, "POST", "/v1/store/members", ownerToken, map[string]any{"email": email, "role": role}).requireStatus(t, 201)
	invites := authEmailsOf(t, n, email, vayva.EmailInvitation)
	require.Len(t, invites, 1)
	joined := apiCall(t, n.BaseURL, "POST", "/v1/auth/signup", "", map[string]any{
		"invitation_token": authInviteFromEmail(t, n, invites[0]), "password": "a team member's password", "name": "Team Member",
	}).requireStatus(t, 201)
	require.Equal(t, role, joined.str("role"))
	return joined.str("token")
}
