package http_test

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/integrations/paystack"
	"github.com/vayvahq/vayva/node/nodetest"
	"github.com/vayvahq/vayva/persistence/redis/queue"
)

type opsQueue struct {
	Name    string `json:"name"`
	Length  int64  `json:"length"`
	Pending int64  `json:"pending"`
	Delayed int64  `json:"delayed"`
	Dead    int64  `json:"dead"`
}

func opsQueues(t *testing.T, n *nodetest.Node) map[string]opsQueue {
	t.Helper()
	r := hookDo(t, "GET", n.BaseURL+"/ops/queues", nil, "Authorization", "Bearer "+n.OpsToken)
	require.Equal(t, 200, r.status, "body %s", r.body)
	var list []opsQueue
	require.NoError(t, json.Unmarshal(r.body, &list))
	out := map[string]opsQueue{}
	for _, q := range list {
		out[q.Name] = q
	}
	require.Len(t, out, len(list), "each queue once")
	return out
}

// deadLetterJobs enqueues two jobs with payload on orders-sync and has a
// real consumer fail their only attempt, so they are dead-lettered.
func deadLetterJobs(t *testing.T, n *nodetest.Node, payload string) {
	t.Helper()
	ctx := context.Background()
	for range 2 {
		_, err := n.Queues.Enqueue(ctx, vayva.QueueOrdersSync, queue.Job{Type: "orders.sync", MaxAttempts: 1, Payload: []byte(payload)})
		require.NoError(t, err)
	}
	c, err := n.Queues.NewConsumer(vayva.NewID("ops-test"))
	require.NoError(t, err)
	require.NoError(t, c.Consume(ctx, vayva.QueueOrdersSync, func(context.Context, queue.Job) error {
		return errors.New("upstream refused")
	}, queue.ConsumeOptions{}))
	require.NoError(t, c.Start(ctx))
	require.Eventually(t, func() bool {
		return opsQueues(t, n)[vayva.QueueOrdersSync].Dead == 2
	}, 20*time.Second, 20*time.Millisecond)
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, c.Stop(stopCtx))
}

func TestOpsQueuesListAndReplay(t *testing.T) {
	t.Parallel()
	n := hookNode(t, nil)
	hookDo(t, "GET", n.BaseURL+"/ops/queues", nil).problem(t, 401, "unauthorized")
	hookDo(t, "GET", n.BaseURL+"/ops/queues", nil, "Authorization", "Bearer wrong").problem(t, 401, "unauthorized")
	hookDo(t, "POST", n.BaseURL+"/ops/queues/orders-sync/dead/replay", nil).problem(t, 401, "unauthorized")

	qs := opsQueues(t, n)
	for _, name := range []string{vayva.QueueEmail, vayva.QueueWhatsAppInbound, vayva.QueueWhatsAppOutbound, vayva.QueueWebhookDelivery, vayva.QueueOrdersSync, vayva.QueuePaymentsInbound, vayva.QueueDelivery} {
		require.Contains(t, qs, name)
	}
	require.Equal(t, opsQueue{Name: vayva.QueuePaymentsInbound}, qs[vayva.QueuePaymentsInbound])

	body := chargeSuccess(4099260200, "ord-ops-1")
	r := hookDo(t, "POST", n.BaseURL+"/webhooks/paystack", body, paystack.SignatureHeader, paystack.Sign(n.Sandbox.Config().PaystackSecret, body))
	require.Equal(t, 200, r.status)
	require.Equal(t, int64(1), opsQueues(t, n)[vayva.QueuePaymentsInbound].Length)

	// Two jobs on orders-sync fail their only attempt and are dead-lettered
	// by a real consumer.
	deadLetterJobs(t, n, `{}`)
	require.Equal(t, opsQueue{Name: vayva.QueueOrdersSync, Dead: 2}, opsQueues(t, n)[vayva.QueueOrdersSync])

	// Inspection: what failed and why, without the payload.
	hookDo(t, "GET", n.BaseURL+"/ops/queues/orders-sync/dead", nil).problem(t, 401, "unauthorized")
	r = hookDo(t, "GET", n.BaseURL+"/ops/queues/orders-sync/dead", nil, "Authorization", "Bearer "+n.OpsToken)
	require.Equal(t, 200, r.status, "body %s", r.body)
	var dead []map[string]any
	require.NoError(t, json.Unmarshal(r.body, &dead))
	require.Len(t, dead, 2)
	for _, d := range dead {
		require.Equal(t, "orders.sync", d["type"])
		require.Equal(t, "upstream refused", d["last_error"])
		require.Equal(t, float64(1), d["attempts"])
		require.Equal(t, float64(2), d["payload_bytes"])
		require.NotContains(t, d, "payload")
		require.NotEmpty(t, d["job_id"])
		require.NotEmpty(t, d["dead_at"])
	}
	r = hookDo(t, "GET", n.BaseURL+"/ops/queues/orders-sync/dead?limit=1", nil, "Authorization", "Bearer "+n.OpsToken)
	require.NoError(t, json.Unmarshal(r.body, &dead))
	require.Len(t, dead, 1)
	hookDo(t, "GET", n.BaseURL+"/ops/queues/orders-sync/dead?limit=101", nil, "Authorization", "Bearer "+n.OpsToken).problem(t, 422, "validation_failed")
	hookDo(t, "GET", n.BaseURL+"/ops/queues/nope/dead", nil, "Authorization", "Bearer "+n.OpsToken).problem(t, 404, "not_found")
	require.Equal(t, opsQueue{Name: vayva.QueueOrdersSync, Dead: 2}, opsQueues(t, n)[vayva.QueueOrdersSync], "inspection changes nothing")

	r = hookDo(t, "POST", n.BaseURL+"/ops/queues/orders-sync/dead/replay", nil, "Authorization", "Bearer "+n.OpsToken)
	require.Equal(t, 200, r.status, "body %s", r.body)
	require.Equal(t, map[string]any{"replayed": float64(2)}, r.json(t))
	require.Equal(t, opsQueue{Name: vayva.QueueOrdersSync, Length: 2}, opsQueues(t, n)[vayva.QueueOrdersSync])

	r = hookDo(t, "POST", n.BaseURL+"/ops/queues/orders-sync/dead/replay", nil, "Authorization", "Bearer "+n.OpsToken)
	require.Equal(t, map[string]any{"replayed": float64(0)}, r.json(t))
	hookDo(t, "POST", n.BaseURL+"/ops/queues/nope/dead/replay", nil, "Authorization", "Bearer "+n.OpsToken).problem(t, 404, "not_found")

	// Queue depth is exported to Prometheus on every scrape.
	m := hookDo(t, "GET", n.BaseURL+"/metrics", nil)
	require.Equal(t, 200, m.status)
	require.Regexp(t, regexp.MustCompile(`(?m)^vayva_queue_length\{queue="payments-inbound"\} 1$`), string(m.body))
	require.Regexp(t, regexp.MustCompile(`(?m)^vayva_queue_length\{queue="orders-sync"\} 2$`), string(m.body))
	require.Regexp(t, regexp.MustCompile(`(?m)^vayva_queue_dead\{queue="orders-sync"\} 0$`), string(m.body))
}
