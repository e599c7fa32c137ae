package worker_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/integrations/standardwebhooks"
	"github.com/vayvahq/vayva/worker"
)

// merchantEvent is a merchant-facing event on the webhook-delivery queue.
func merchantEvent(merchantID, typ string, data any) vayva.Event {
	raw, _ := json.Marshal(data)
	return vayva.Event{ID: vayva.NewID("evt"), Type: typ, Queue: vayva.QueueWebhookDelivery, MerchantID: merchantID,
		OccurredAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Data: raw}
}

func (e *env) endpoint(t *testing.T, merchantID, url string, events ...string) vayva.WebhookEndpoint {
	t.Helper()
	ep, err := e.webhooks(t).CreateEndpoint(context.Background(), merchantID, url, events, standardwebhooks.NewSecret())
	require.NoError(t, err)
	return ep
}

func (e *env) deliveries(t *testing.T, merchantID, endpointID string) []vayva.WebhookDelivery {
	t.Helper()
	ds, _, err := e.webhooks(t).ListDeliveries(context.Background(), merchantID, endpointID, 200, "")
	require.NoError(t, err)
	return ds
}

func (e *env) endpointState(t *testing.T, merchantID, id string) vayva.WebhookEndpoint {
	t.Helper()
	ep, err := e.webhooks(t).GetEndpoint(context.Background(), merchantID, id)
	require.NoError(t, err)
	return ep
}

// A merchant event reaches every subscribed endpoint of its merchant, and
// only those, signed per Standard Webhooks; failed attempts are retried
// with the same webhook-id, and the endpoint acknowledges the event once.
func TestWebhookDeliveryRetriesUntilAcknowledged(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	merchant, other := e.newMerchant(t), e.newMerchant(t)
	rcv, unsubscribed, foreign := newReceiver(t), newReceiver(t), newReceiver(t)
	ep := e.endpoint(t, merchant, rcv.srv.URL+"/hooks?src=vayva", "order.paid", "order.created")
	rcv.setSecret(ep.Secret)
	e.endpoint(t, merchant, unsubscribed.srv.URL, "payout.paid")
	e.endpoint(t, other, foreign.srv.URL, "order.paid")
	rcv.setAnswer(func(n int, _ *http.Request) (int, http.Header) {
		if n <= 2 {
			return http.StatusInternalServerError, nil
		}
		return http.StatusNoContent, nil
	})

	e.startRelay(t, worker.RelayConfig{}, nil)
	e.startWebhooks(t, worker.WebhooksConfig{})
	ev := e.appendEvent(t, "order", "ord_1", merchantEvent(merchant, "order.paid", map[string]any{"order_id": "ord_1", "amount": 250000, "currency": "NGN"}))

	var d vayva.WebhookDelivery
	require.Eventually(t, func() bool {
		ds := e.deliveries(t, merchant, ep.ID)
		if len(ds) != 1 || ds[0].Status != vayva.WebhookDeliverySucceeded {
			return false
		}
		d = ds[0]
		return true
	}, 15*time.Second, 20*time.Millisecond)

	got := rcv.received()
	require.Len(t, got, 3)
	for _, r := range got {
		require.True(t, r.Valid, "every attempt carries a valid signature")
		require.Equal(t, d.ID, r.ID, "the webhook-id is the delivery's, stable across retries")
		var body map[string]any
		require.NoError(t, json.Unmarshal(r.Body, &body))
		require.Equal(t, "order.paid", body["type"])
		require.Equal(t, "2026-03-01T12:00:00Z", body["timestamp"])
		require.Equal(t, map[string]any{"order_id": "ord_1", "amount": 250000.0, "currency": "NGN"}, body["data"])
	}
	require.Equal(t, []int{500, 500, 204}, []int{got[0].Status, got[1].Status, got[2].Status})
	require.Equal(t, map[string]int{d.ID: 1}, rcv.ackCounts(), "acknowledged once")
	require.Empty(t, unsubscribed.received())
	require.Empty(t, foreign.received())

	require.Equal(t, ev.ID, d.EventID)
	require.Equal(t, 3, d.Attempts)
	require.Equal(t, 204, *d.LastStatusCode)
	require.Nil(t, d.NextAttemptAt)
	require.Len(t, d.Log, 3)
	for i, a := range d.Log {
		require.Equal(t, i+1, a.Attempt)
		require.Equal(t, got[i].Status, *a.StatusCode)
	}
	require.Contains(t, d.Log[0].Error, "HTTP 500")
	require.Equal(t, 0, e.endpointState(t, merchant, ep.ID).ConsecutiveFailures)

	// The event is redelivered by the queue (at least once): no second
	// delivery is created.
	_, err := e.broker.Enqueue(context.Background(), vayva.QueueWebhookDelivery, mustJob(t, ev))
	require.NoError(t, err)
	e.queueIdle(t, vayva.QueueWebhookDelivery)
	require.Len(t, e.deliveries(t, merchant, ep.ID), 1)
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM comm.webhook_deliveries WHERE event_id = $1`, ev.ID))
}

// 410 Gone disables the endpoint at once; later events are not delivered
// to it.
func TestWebhookGoneDisablesEndpoint(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	merchant := e.newMerchant(t)
	rcv := newReceiver(t)
	ep := e.endpoint(t, merchant, rcv.srv.URL, "order.created")
	rcv.setSecret(ep.Secret)
	rcv.setAnswer(func(int, *http.Request) (int, http.Header) { return http.StatusGone, nil })
	e.startRelay(t, worker.RelayConfig{}, nil)
	e.startWebhooks(t, worker.WebhooksConfig{})
	e.appendEvent(t, "order", "ord_1", merchantEvent(merchant, "order.created", map[string]string{"order_id": "ord_1"}))

	require.Eventually(t, func() bool {
		return e.endpointState(t, merchant, ep.ID).Status == vayva.WebhookDisabled
	}, 10*time.Second, 20*time.Millisecond)
	st := e.endpointState(t, merchant, ep.ID)
	require.Contains(t, st.DisabledReason, "410")
	ds := e.deliveries(t, merchant, ep.ID)
	require.Len(t, ds, 1)
	require.Equal(t, vayva.WebhookDeliveryFailed, ds[0].Status)
	require.Len(t, rcv.received(), 1, "no retry after 410")

	second := e.appendEvent(t, "order", "ord_2", merchantEvent(merchant, "order.created", map[string]string{"order_id": "ord_2"}))
	require.Eventually(t, func() bool {
		return e.count(t, `SELECT count(*) FROM runtime.outbox WHERE event_id = $1 AND published_at IS NOT NULL`, second.ID) == 1
	}, 10*time.Second, 20*time.Millisecond)
	e.queueIdle(t, vayva.QueueWebhookDelivery)
	require.Len(t, e.deliveries(t, merchant, ep.ID), 1, "a disabled endpoint gets no new deliveries")

	// Replaying needs the endpoint enabled again; then it is delivered
	// under the same webhook-id.
	err := e.webhooks(t).ReplayDelivery(context.Background(), merchant, ds[0].ID)
	require.Equal(t, vayva.ECONFLICT, vayva.ErrorCode(err))
	_, err = e.webhooks(t).EnableEndpoint(context.Background(), merchant, ep.ID)
	require.NoError(t, err)
	rcv.setAnswer(func(int, *http.Request) (int, http.Header) { return http.StatusOK, nil })
	require.NoError(t, e.webhooks(t).ReplayDelivery(context.Background(), merchant, ds[0].ID))
	require.Eventually(t, func() bool { return len(rcv.received()) == 2 }, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, ds[0].ID, rcv.received()[1].ID)
	require.True(t, rcv.received()[1].Valid)
}

// Deliveries that exhaust their retries count against the endpoint; a run
// of them disables it. Redirects are failures and are not followed.
func TestWebhookExhaustedDeliveriesDisableEndpoint(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	merchant := e.newMerchant(t)
	target := newReceiver(t)
	rcv := newReceiver(t)
	ep := e.endpoint(t, merchant, rcv.srv.URL, "payout.failed")
	rcv.setSecret(ep.Secret)
	rcv.setAnswer(func(int, *http.Request) (int, http.Header) {
		return http.StatusFound, http.Header{"Location": {target.srv.URL}}
	})
	e.startRelay(t, worker.RelayConfig{}, nil)
	e.startWebhooks(t, worker.WebhooksConfig{Schedule: []time.Duration{time.Millisecond, time.Millisecond}, RetryScale: 1, DisableAfter: 2})

	first := e.appendEvent(t, "payout", "po_1", merchantEvent(merchant, "payout.failed", map[string]string{"payout_id": "po_1"}))
	require.Eventually(t, func() bool {
		ds := e.deliveries(t, merchant, ep.ID)
		return len(ds) == 1 && ds[0].Status == vayva.WebhookDeliveryExhausted
	}, 10*time.Second, 20*time.Millisecond)
	st := e.endpointState(t, merchant, ep.ID)
	require.Equal(t, vayva.WebhookActive, st.Status)
	require.Equal(t, 1, st.ConsecutiveFailures)
	ds := e.deliveries(t, merchant, ep.ID)
	require.Equal(t, first.ID, ds[0].EventID)
	require.Equal(t, 3, ds[0].Attempts, "len(schedule)+1 attempts")
	require.Len(t, ds[0].Log, 3)
	require.Contains(t, ds[0].Log[0].Error, "redirects are not followed")
	require.Empty(t, target.received(), "the redirect was not followed")

	e.appendEvent(t, "payout", "po_2", merchantEvent(merchant, "payout.failed", map[string]string{"payout_id": "po_2"}))
	require.Eventually(t, func() bool {
		return e.endpointState(t, merchant, ep.ID).Status == vayva.WebhookDisabled
	}, 10*time.Second, 20*time.Millisecond)
	st = e.endpointState(t, merchant, ep.ID)
	require.Equal(t, 2, st.ConsecutiveFailures)
	require.Contains(t, st.DisabledReason, "2 deliveries in a row")
	require.Len(t, rcv.received(), 6)
}

// A delivery claimed by a worker that died mid-attempt is attempted again
// once its lease has expired; the lost attempt is not logged.
func TestWebhookDeliveryOfDeadWorkerIsRetriedAfterLease(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	merchant := e.newMerchant(t)
	rcv := newReceiver(t)
	ep := e.endpoint(t, merchant, rcv.srv.URL, "conversation.handoff")
	rcv.setSecret(ep.Secret)
	store := e.webhooks(t)
	ev := merchantEvent(merchant, "conversation.handoff", map[string]string{"conversation_id": "conv_1"})
	body := []byte(`{"type":"conversation.handoff","timestamp":"2026-03-01T12:00:00Z","data":{"conversation_id":"conv_1"}}`)
	n, err := store.FanOut(context.Background(), ev, body, "")
	require.NoError(t, err)
	require.Equal(t, 1, n)

	claimed, err := store.ClaimDue(context.Background(), 10, 300*time.Millisecond)
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	require.Equal(t, 1, claimed[0].Attempt)
	require.Equal(t, ep.Secret, claimed[0].Secret)
	again, err := store.ClaimDue(context.Background(), 10, time.Minute)
	require.NoError(t, err)
	require.Empty(t, again, "a claimed delivery is not claimed twice")

	// The claimer dies here. A live worker picks the delivery up later.
	start := time.Now()
	e.startWebhooks(t, worker.WebhooksConfig{})
	require.Eventually(t, func() bool {
		ds := e.deliveries(t, merchant, ep.ID)
		return len(ds) == 1 && ds[0].Status == vayva.WebhookDeliverySucceeded
	}, 10*time.Second, 20*time.Millisecond)
	require.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond, "not before the lease expired")
	got := rcv.received()
	require.Len(t, got, 1)
	require.True(t, got[0].Valid)
	require.JSONEq(t, string(body), string(got[0].Body))
	ds := e.deliveries(t, merchant, ep.ID)
	require.Equal(t, 2, ds[0].Attempts)
	require.Len(t, ds[0].Log, 1)
	require.Equal(t, 2, ds[0].Log[0].Attempt)

	// A late result of the dead claimer changes nothing.
	_, err = store.RecordAttempt(context.Background(), vayva.WebhookAttemptResult{
		DeliveryID: claimed[0].ID, EndpointID: ep.ID, Attempt: 1, StatusCode: 500, Error: "late", At: time.Now(),
		Status: vayva.WebhookDeliveryPending, NextAttemptAt: time.Now(),
	})
	require.NoError(t, err)
	ds = e.deliveries(t, merchant, ep.ID)
	require.Equal(t, vayva.WebhookDeliverySucceeded, ds[0].Status)
}

// Events that are not for merchants, or lack a merchant, are dropped.
func TestWebhookFanOutDropsUndeliverableEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	merchant := e.newMerchant(t)
	rcv := newReceiver(t)
	ep := e.endpoint(t, merchant, rcv.srv.URL, "order.paid")
	rcv.setSecret(ep.Secret)
	e.startRelay(t, worker.RelayConfig{}, nil)
	e.startWebhooks(t, worker.WebhooksConfig{})
	e.appendEvent(t, "order", "ord_1", merchantEvent(merchant, "order.secret_internal", map[string]string{}))
	e.appendEvent(t, "order", "ord_1", merchantEvent("", "order.paid", map[string]string{}))
	e.appendEvent(t, "order", "ord_1", merchantEvent(merchant, vayva.EventWebhookTest, map[string]string{"endpoint_id": "we_other"}))
	e.appendEvent(t, "order", "ord_1", merchantEvent(merchant, vayva.EventWebhookTest, map[string]string{"endpoint_id": ep.ID}))
	require.Eventually(t, func() bool { return len(rcv.received()) == 1 }, 10*time.Second, 20*time.Millisecond)
	e.queueIdle(t, vayva.QueueWebhookDelivery)
	ds := e.deliveries(t, merchant, ep.ID)
	require.Len(t, ds, 1)
	require.Equal(t, vayva.EventWebhookTest, ds[0].EventType, "webhook.test reaches its endpoint whatever it subscribed to")
	dead, err := e.broker.DeadLetters(context.Background(), vayva.QueueWebhookDelivery, 10)
	require.NoError(t, err)
	require.Empty(t, dead)
}

func TestWebhookRetryPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, err := worker.NewWebhooks(worker.WebhooksConfig{ConsumerName: "policy"}, e.broker, e.webhooks(t))
	require.NoError(t, err)
	for n, step := range worker.DefaultWebhookSchedule {
		d := worker.RetryDelay(w, n+1, 500, 0)
		require.GreaterOrEqual(t, d, step-step/10, "retry %d", n+1)
		require.LessOrEqual(t, d, step+step/10, "retry %d", n+1)
	}
	require.GreaterOrEqual(t, worker.RetryDelay(w, 1, 429, time.Hour), time.Hour, "Retry-After of a 429 is honoured")
	require.GreaterOrEqual(t, worker.RetryDelay(w, 1, 503, time.Hour), time.Hour, "Retry-After of a 503 is honoured")
	require.Less(t, worker.RetryDelay(w, 1, 500, time.Hour), time.Minute, "Retry-After of other answers is not")
	require.LessOrEqual(t, worker.RetryDelay(w, 1, 429, 100*24*time.Hour), 24*time.Hour, "capped")

	scaled, err := worker.NewWebhooks(worker.WebhooksConfig{ConsumerName: "policy2", RetryScale: 0.001}, e.broker, e.webhooks(t))
	require.NoError(t, err)
	require.LessOrEqual(t, worker.RetryDelay(scaled, 7, 429, time.Hour), 11*time.Hour/1000)

	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	require.Equal(t, 120*time.Second, worker.ParseRetryAfter("120", now))
	require.Equal(t, 90*time.Second, worker.ParseRetryAfter(now.Add(90*time.Second).Format(http.TimeFormat), now))
	for _, bad := range []string{"", "-1", "soon", "1.5", strconv.Itoa(30 * 24 * 3600)} {
		require.Zero(t, worker.ParseRetryAfter(bad, now), bad)
	}
}

func mustJob(t *testing.T, ev vayva.Event) queueJob {
	t.Helper()
	raw, err := json.Marshal(ev)
	require.NoError(t, err)
	return queueJob{ID: ev.ID, Type: ev.Type, Payload: raw}
}

func TestDefaultClientRefusesPrivateAddresses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	hits := make(chan struct{}, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits <- struct{}{}
		w.WriteHeader(200)
	}))
	t.Cleanup(srv.Close)
	cfg := worker.WebhooksConfig{ConsumerName: "ssrf", RetryScale: 0.001, Logger: e.log}
	w, err := worker.NewWebhooks(cfg, e.broker, e.webhooks(t))
	require.NoError(t, err)
	client := w.HTTPClient()
	_, err = client.Get(srv.URL)
	require.Error(t, err, "loopback is refused")
	require.ErrorContains(t, err, "non-public address")
	require.Empty(t, hits)
}
