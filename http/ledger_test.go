package http_test

import (
	"context"
	"encoding/json"
	nethttp "net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/node/nodetest"
	"github.com/vayvahq/vayva/persistence/postgres"
	"github.com/vayvahq/vayva/persistence/redis/queue"
)

// publishOrderPaid records a paid order and publishes its order.paid event
// on orders-sync, as the order actor and the outbox relay would.
func publishOrderPaid(t *testing.T, n *nodetest.Node, merchantID, storeID string, number, amount int64, feeBps int) string {
	t.Helper()
	ctx := context.Background()
	orderID := vayva.NewID("ord")
	paidAt := time.Now().UTC().Truncate(time.Second)
	_, err := n.DB.Pool().Exec(ctx, `
		INSERT INTO orders.orders (id, store_id, merchant_id, number, status, payment_status, fulfillment_status, currency,
			subtotal, total, amount_paid, fee_bps, customer_email, token_hash, payment_reference, expires_at, paid_at,
			created_at, updated_at)
		VALUES ($1, $2, $3, $4, 'confirmed', 'paid', 'unfulfilled', 'NGN', $5, $5, $5, $6, 'c@example.com', '\x00',
			$7, $8, $8, $8, $8)`, orderID, storeID, merchantID, number, amount, feeBps, "pay-"+orderID, paidAt)
	require.NoError(t, err)
	data, err := json.Marshal(map[string]any{
		"order_id": orderID, "store_id": storeID, "merchant_id": merchantID, "amount": amount, "currency": "NGN",
		"fee_bps": feeBps, "payment_reference": "pay-" + orderID, "paid_at": paidAt.Format(time.RFC3339),
	})
	require.NoError(t, err)
	ev := vayva.Event{ID: vayva.NewID("evt"), Type: "order.paid", Queue: vayva.QueueOrdersSync, MerchantID: merchantID,
		OccurredAt: paidAt, Data: data}
	payload, err := json.Marshal(ev)
	require.NoError(t, err)
	for range 2 { // the relay may publish an event twice
		_, err = n.Queues.Enqueue(ctx, vayva.QueueOrdersSync, queue.Job{ID: ev.ID, Type: ev.Type, Payload: payload})
		require.NoError(t, err)
	}
	return orderID
}

func walletOf(t *testing.T, base, token string) map[string]any {
	t.Helper()
	return apiCall(t, base, "GET", "/v1/wallet", token, nil).requireStatus(t, 200).Body
}

func num(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}

func TestLedgerEndToEnd(t *testing.T) {
	t.Parallel()
	n := catalogNode(t, nodetest.Options{})
	m := signup(t, n.BaseURL, "Ada Fabrics")
	me := apiCall(t, n.BaseURL, "GET", "/v1/me", m.token, nil).requireStatus(t, 200)
	merchantID := me.str("merchant", "id")
	require.NotEmpty(t, merchantID)
	require.Equal(t, map[string]any{"currency": "NGN", "available": 0.0, "pending": 0.0, "on_hold": 0.0}, walletOf(t, n.BaseURL, m.token))

	// Two paid orders reach the ledger through orders-sync: 1.5% fee.
	publishOrderPaid(t, n, merchantID, m.storeID, 1, 500000, 150)
	publishOrderPaid(t, n, merchantID, m.storeID, 2, 100000, 150)
	require.Eventually(t, func() bool { return num(walletOf(t, n.BaseURL, m.token)["available"]) == 591000 },
		20*time.Second, 20*time.Millisecond)

	payoutBody := func(amount int64, account string) map[string]any {
		return map[string]any{"amount": amount, "bank_account": map[string]any{"account_number": account, "bank_code": "058", "name": "Ada Obi"}}
	}
	// No Idempotency-Key: refused.
	apiCall(t, n.BaseURL, "POST", "/v1/payouts", m.token, payoutBody(1000, "0123456789")).requireProblem(t, 400, "bad_request")
	// More than available: 422 and nothing held.
	apiCall(t, n.BaseURL, "POST", "/v1/payouts", m.token, payoutBody(591001, "0123456789"), "Idempotency-Key", "too-much").
		requireProblem(t, 422, "insufficient_funds")
	bad := apiCall(t, n.BaseURL, "POST", "/v1/payouts", m.token, map[string]any{"amount": 0, "bank_account": map[string]any{
		"account_number": "12", "bank_code": "", "name": "Ada"}}, "Idempotency-Key", "bad").requireProblem(t, 422, "validation_failed")
	require.ElementsMatch(t, []string{"amount", "bank_account.account_number", "bank_account.bank_code"}, bad.fieldNames())
	apiCall(t, n.BaseURL, "POST", "/v1/payouts", m.token, `{"amount": 5, "bank_account": {}, "iban": "x"}`, "Idempotency-Key", "unknown").
		requireProblem(t, 422, "validation_failed")

	// A payout is held at once and paid when the sandbox's transfer
	// succeeds.
	p := apiCall(t, n.BaseURL, "POST", "/v1/payouts", m.token, payoutBody(400000, "0123456789"), "Idempotency-Key", "payout-1").requireStatus(t, 202)
	payoutID := p.str("id")
	require.True(t, vayva.HasIDPrefix(payoutID, "po"))
	require.Equal(t, "pending", p.str("status"))
	require.Equal(t, 400000.0, p.Body["amount"])
	require.Equal(t, "6789", p.str("bank_account", "account_number_last4"))
	require.NotContains(t, string(p.Raw), "0123456789", "the account number is not echoed")
	replay := apiCall(t, n.BaseURL, "POST", "/v1/payouts", m.token, payoutBody(400000, "0123456789"), "Idempotency-Key", "payout-1").requireStatus(t, 202)
	require.Equal(t, "true", replay.Header.Get("Idempotency-Replayed"))
	require.Equal(t, payoutID, replay.str("id"))
	require.Eventually(t, func() bool {
		return apiCall(t, n.BaseURL, "GET", "/v1/payouts/"+payoutID, m.token, nil).requireStatus(t, 200).str("status") == "paid"
	}, 20*time.Second, 20*time.Millisecond)
	w := walletOf(t, n.BaseURL, m.token)
	require.Equal(t, int64(191000), num(w["available"]))
	require.Equal(t, int64(0), num(w["pending"]))

	// A payout to the failing account fails and gives the funds back.
	f := apiCall(t, n.BaseURL, "POST", "/v1/payouts", m.token, payoutBody(150000, "0000000000"), "Idempotency-Key", "payout-2").requireStatus(t, 202)
	require.Equal(t, int64(41000), num(walletOf(t, n.BaseURL, m.token)["available"]))
	require.Eventually(t, func() bool {
		return apiCall(t, n.BaseURL, "GET", "/v1/payouts/"+f.str("id"), m.token, nil).requireStatus(t, 200).str("status") == "failed"
	}, 20*time.Second, 20*time.Millisecond)
	failed := apiCall(t, n.BaseURL, "GET", "/v1/payouts/"+f.str("id"), m.token, nil)
	require.NotEmpty(t, failed.str("failure_reason"))
	require.Equal(t, map[string]any{"currency": "NGN", "available": 191000.0, "pending": 0.0, "on_hold": 0.0}, walletOf(t, n.BaseURL, m.token))

	// Lists.
	all := apiCall(t, n.BaseURL, "GET", "/v1/payouts", m.token, nil).requireStatus(t, 200)
	require.Len(t, all.list(), 2)
	require.Equal(t, f.str("id"), all.list()[0]["id"], "newest first")
	paid := apiCall(t, n.BaseURL, "GET", "/v1/payouts?status=paid", m.token, nil).requireStatus(t, 200).list()
	require.Len(t, paid, 1)
	require.Equal(t, payoutID, paid[0]["id"])
	apiCall(t, n.BaseURL, "GET", "/v1/payouts?status=lost", m.token, nil).requireProblem(t, 422, "validation_failed")
	var kinds []string
	cursor := ""
	for {
		path := "/v1/ledger/transactions?limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		page := apiCall(t, n.BaseURL, "GET", path, m.token, nil).requireStatus(t, 200)
		for _, tx := range page.list() {
			kinds = append(kinds, tx["kind"].(string))
			require.NotEmpty(t, tx["postings"])
		}
		next, _ := page.Body["next_cursor"].(string)
		if next == "" {
			require.Nil(t, page.Body["next_cursor"])
			break
		}
		cursor = next
	}
	require.Equal(t, []string{"payout_void", "payout_hold", "payout", "payout_hold", "capture", "capture"}, kinds)
	capture := apiCall(t, n.BaseURL, "GET", "/v1/ledger/transactions?limit=200", m.token, nil).list()[5]
	require.ElementsMatch(t, []any{
		map[string]any{"account": "platform:paystack_clearing", "direction": "debit", "amount": 500000.0, "currency": "NGN"},
		map[string]any{"account": "available", "direction": "credit", "amount": 492500.0, "currency": "NGN"},
		map[string]any{"account": "platform:fee_revenue", "direction": "credit", "amount": 7500.0, "currency": "NGN"},
	}, capture["postings"])
	apiCall(t, n.BaseURL, "GET", "/v1/ledger/transactions?cursor=nope", m.token, nil).requireProblem(t, 422, "validation_failed")

	// The audit log names who asked, from which credential.
	audit := apiCall(t, n.BaseURL, "GET", "/v1/audit-log", m.token, nil).requireStatus(t, 200).list()
	require.Len(t, audit, 2)
	actor := audit[0]["actor"].(map[string]any)
	require.Equal(t, "user", actor["kind"])
	require.Equal(t, me.str("user", "id"), actor["user_id"])
	require.NotEmpty(t, actor["credential_id"])
	require.Equal(t, "payout.request", audit[0]["action"])

	// Another merchant sees none of it.
	other := signup(t, n.BaseURL, "Other Shop")
	apiCall(t, n.BaseURL, "GET", "/v1/payouts/"+payoutID, other.token, nil).requireProblem(t, 404, "not_found")
	require.Empty(t, apiCall(t, n.BaseURL, "GET", "/v1/payouts", other.token, nil).requireStatus(t, 200).list())
	require.Empty(t, apiCall(t, n.BaseURL, "GET", "/v1/ledger/transactions", other.token, nil).requireStatus(t, 200).list())
	require.Empty(t, apiCall(t, n.BaseURL, "GET", "/v1/audit-log", other.token, nil).requireStatus(t, 200).list())
	apiCall(t, n.BaseURL, "GET", "/v1/wallet", "", nil).requireProblem(t, 401, "unauthorized")

	// Operators change the fee; the merchant cannot.
	apiCall(t, n.BaseURL, "PATCH", "/v1/store", m.token, map[string]any{"fee_bps": 0}).requireProblem(t, 422, "validation_failed")
	apiCall(t, n.BaseURL, "PATCH", "/ops/stores/"+m.storeID, "", map[string]any{"fee_bps": 200}).requireProblem(t, 401, "unauthorized")
	apiCall(t, n.BaseURL, "PATCH", "/ops/stores/"+m.storeID, n.OpsToken, map[string]any{"fee_bps": 10001}).requireProblem(t, 422, "validation_failed")
	apiCall(t, n.BaseURL, "PATCH", "/ops/stores/sto_unknown", n.OpsToken, map[string]any{"fee_bps": 200}).requireProblem(t, 404, "not_found")
	st := apiCall(t, n.BaseURL, "PATCH", "/ops/stores/"+m.storeID, n.OpsToken, map[string]any{"fee_bps": 200}).requireStatus(t, 200)
	require.Equal(t, 200.0, st.Body["fee_bps"])
	require.Equal(t, 200.0, apiCall(t, n.BaseURL, "GET", "/v1/store", m.token, nil).Body["fee_bps"])
	audit = apiCall(t, n.BaseURL, "GET", "/v1/audit-log?limit=1", m.token, nil).requireStatus(t, 200).list()
	require.Equal(t, "store.fee_bps.update", audit[0]["action"])
	require.Equal(t, "operator", audit[0]["actor"].(map[string]any)["kind"])
	require.Equal(t, map[string]any{"from": 150.0, "to": 200.0}, audit[0]["data"])

	// Merchant webhooks were queued for both outcomes.
	var events []string
	rows, err := n.DB.Pool().Query(context.Background(),
		`SELECT type FROM runtime.outbox WHERE merchant_id = $1 AND queue = 'webhook-delivery' ORDER BY id`, merchantID)
	require.NoError(t, err)
	for rows.Next() {
		var typ string
		require.NoError(t, rows.Scan(&typ))
		events = append(events, typ)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"payout.paid", "payout.failed"}, events)

	// The ledger checks hold, from the ops route too.
	report, err := n.DB.CheckLedgerWith(context.Background(), postgres.LedgerCheckOptions{Grace: -1})
	require.NoError(t, err)
	require.True(t, report.OK, "%v", report.Problems)
	ops := apiCall(t, n.BaseURL, "GET", "/ops/ledger/check", n.OpsToken, nil).requireStatus(t, 200)
	require.Equal(t, true, ops.Body["ok"], "%s", ops.Raw)
	require.Equal(t, 6.0, ops.Body["checked_transactions"])

	metrics := apiCall(t, n.BaseURL, "GET", "/metrics", "", nil)
	require.Equal(t, nethttp.StatusOK, metrics.Status)
	require.True(t, strings.Contains(string(metrics.Raw), "vayva_ledger_batch_size_count") &&
		strings.Contains(string(metrics.Raw), "vayva_ledger_commit_seconds_bucket"))
}

// The ledger follows real orders: a paid checkout is captured through
// orders-sync, a refund holds and settles the merchant's share, a payout
// takes what is left, a refund the balance no longer covers is refused,
// and the checks hold against the orders' own rows.
func TestLedgerFollowsOrders(t *testing.T) {
	t.Parallel()
	n := catalogNode(t, nodetest.Options{})
	s := newShop(t, n, 5)
	co := s.checkout(t, n, 2, "ledger-orders-1").requireStatus(t, 201)
	id := co.str("order", "id")
	pay(t, n, co.str("payment", "reference"))
	total := 2 * s.price
	fee := (total*150 + 5000) / 10000
	require.Eventually(t, func() bool { return num(walletOf(t, n.BaseURL, s.token)["available"]) == total-fee },
		20*time.Second, 20*time.Millisecond, "the capture came through orders-sync")

	// A partial refund holds the merchant's share and, once Paystack has
	// processed it, takes it out for good.
	apiCall(t, n.BaseURL, "POST", "/v1/orders/"+id+"/refund", s.token, map[string]any{"amount": 500000, "reason": "torn"},
		"Idempotency-Key", "refund-1").requireStatus(t, 200)
	share := int64(500000 - 500000*fee/total)
	s.waitOrder(t, n, id, "refund processed", func(o apiResp) bool {
		refunds, _ := o.Body["refunds"].([]any)
		return len(refunds) == 1 && refunds[0].(map[string]any)["status"] == "succeeded"
	})
	require.Eventually(t, func() bool {
		w := walletOf(t, n.BaseURL, s.token)
		return num(w["available"]) == total-fee-share && num(w["on_hold"]) == 0
	}, 20*time.Second, 20*time.Millisecond)

	// Pay out all but a little; a refund larger than that is refused.
	left := total - fee - share
	apiCall(t, n.BaseURL, "POST", "/v1/payouts", s.token, map[string]any{"amount": left - 1000,
		"bank_account": map[string]any{"account_number": "0123456789", "bank_code": "058", "name": "Ada Obi"}},
		"Idempotency-Key", "payout-most").requireStatus(t, 202)
	apiCall(t, n.BaseURL, "POST", "/v1/orders/"+id+"/refund", s.token, map[string]any{"amount": 500000, "reason": "late"},
		"Idempotency-Key", "refund-2").requireProblem(t, 422, "insufficient_funds")
	require.Equal(t, int64(1000), num(walletOf(t, n.BaseURL, s.token)["available"]))

	kinds := map[string]int{}
	for _, tx := range apiCall(t, n.BaseURL, "GET", "/v1/ledger/transactions", s.token, nil).requireStatus(t, 200).list() {
		kinds[tx["kind"].(string)]++
	}
	require.Equal(t, 1, kinds["capture"])
	require.Equal(t, 1, kinds["refund_hold"])
	require.Equal(t, 1, kinds["refund"])
	require.Equal(t, 1, kinds["payout_hold"])
	audit := apiCall(t, n.BaseURL, "GET", "/v1/audit-log", s.token, nil).requireStatus(t, 200).list()
	actions := []string{}
	for _, a := range audit {
		actions = append(actions, a["action"].(string))
	}
	require.Contains(t, actions, "refund.hold")
	require.Contains(t, actions, "payout.request")

	require.Eventually(t, func() bool {
		r, err := n.DB.CheckLedgerWith(context.Background(), postgres.LedgerCheckOptions{Grace: -1})
		require.NoError(t, err)
		return r.OK
	}, 20*time.Second, 50*time.Millisecond, "the checks hold once the payout has settled")
}
