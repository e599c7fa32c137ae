package http_test

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/integrations/whatsapp"
	"github.com/vayvahq/vayva/node/nodetest"
	"github.com/vayvahq/vayva/persistence/redis/queue"
)

// BenchmarkWhatsAppInbound measures inbound WhatsApp messages per second
// from the signed webhook to the conversation actor's acknowledgement:
// fasthttp edge, HMAC-SHA256 check, parse, SET NX + XADD on a partition,
// the leased partition reader, the number → store lookup, the grain call
// and the actor's fenced commit of the message and its thread, for 64
// conversations a person answers (so no AI reply is drafted). The baseline,
// measured in the same run on the same Redis, is the raw ordered queue: as
// many jobs enqueued one XADD each over 16 partitions and handled by a
// no-op handler. ratio-to-queue is the share of that the pipeline keeps:
// every message must pass through that ordered queue, one at a time per
// partition, so it is the limit whatever the handler does.
func BenchmarkWhatsAppInbound(b *testing.B) {
	n := catalogNode(b, nodetest.Options{Env: map[string]string{"VAYVA_LOG_LEVEL": "error"}})
	shop := newWAShop(b, n)
	secret := n.Sandbox.Config().WhatsAppAppSecret
	url := n.BaseURL + "/webhooks/whatsapp"
	workers := 4 * runtime.GOMAXPROCS(0)
	const customers = 64
	from := func(c int) string { return "23480400" + fmt.Sprintf("%05d", c) }

	// Every conversation is handed to a person first.
	var bodies [][]byte
	var sigs []string
	add := func(c, i int, text string) {
		body := metaNotification(shop.pnid, from(c), fmt.Sprintf("wamid.b%d.%d", c, i), text, time.Now())
		bodies, sigs = append(bodies, body), append(sigs, whatsapp.Sign(secret, body))
	}
	for c := range customers {
		add(c, -1, "agent")
	}
	postWhatsApp(b, url, bodies, sigs, workers)
	waitInboundIdle(b, n)

	bodies, sigs = nil, nil
	for i := range b.N {
		add(i%customers, i, "message "+strconv.Itoa(i))
	}
	b.ResetTimer()
	start := time.Now()
	postWhatsApp(b, url, bodies, sigs, workers)
	waitInboundIdle(b, n)
	pipeline := time.Since(start)
	b.StopTimer()

	var stored int
	if err := n.DB.Pool().QueryRow(context.Background(),
		`SELECT count(*) FROM comm.whatsapp_messages WHERE store_id = $1 AND text LIKE 'message %'`, shop.storeID).Scan(&stored); err != nil {
		b.Fatal(err)
	}
	if stored != b.N {
		b.Fatalf("stored %d messages, want %d", stored, b.N)
	}
	raw := rawOrderedQueue(b, n, b.N, customers, workers)
	rate, rawRate := float64(b.N)/pipeline.Seconds(), float64(b.N)/raw.Seconds()
	b.ReportMetric(rate, "msgs/s")
	b.ReportMetric(rawRate, "raw-queue-jobs/s")
	b.ReportMetric(rate/rawRate, "ratio-to-queue")
}

func waitInboundIdle(b *testing.B, n *nodetest.Node) {
	b.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		stats, err := n.Queues.Stats(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		for _, s := range stats {
			if s.Name == vayva.QueueWhatsAppInbound && s.Length == 0 && s.Pending == 0 {
				return
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	b.Fatal("whatsapp-inbound did not drain")
}

func postWhatsApp(b *testing.B, url string, bodies [][]byte, sigs []string, workers int) {
	b.Helper()
	client := &fasthttp.Client{MaxConnsPerHost: workers}
	var next atomic.Int64
	fanOut(b, "POST "+url, workers, func() error {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI(url)
		req.Header.SetMethod("POST")
		req.Header.SetContentType("application/json")
		for {
			i := int(next.Add(1)) - 1
			if i >= len(bodies) {
				return nil
			}
			req.Header.Set(whatsapp.SignatureHeader, sigs[i])
			req.SetBodyRaw(bodies[i])
			if err := client.Do(req, resp); err != nil {
				return err
			}
			if resp.StatusCode() != 200 {
				return fmt.Errorf("status %d: %s", resp.StatusCode(), resp.Body())
			}
		}
	})
}

// rawOrderedQueue enqueues count jobs over keys conversations on a
// 16-partition ordered queue while a consumer handles them with a no-op,
// and returns how long until the last was handled.
func rawOrderedQueue(b *testing.B, n *nodetest.Node, count, keys, workers int) time.Duration {
	b.Helper()
	ctx := context.Background()
	qb, err := queue.New(n.Redis, queue.Config{Queues: []queue.QueueSpec{{
		Name: "bench-ordered", Partitions: 16, MaxAttempts: 5, BaseBackoff: time.Second, MaxBackoff: 30 * time.Second,
	}}})
	if err != nil {
		b.Fatal(err)
	}
	c, err := qb.NewConsumer("bench-raw")
	if err != nil {
		b.Fatal(err)
	}
	var handled atomic.Int64
	done := make(chan struct{})
	if err := c.Consume(ctx, "bench-ordered", func(context.Context, queue.Job) error {
		if handled.Add(1) == int64(count) {
			close(done)
		}
		return nil
	}, queue.ConsumeOptions{}); err != nil {
		b.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Stop(ctx) }()
	payload := metaNotification("100000000000001", "2348040000000", "wamid.raw", "message", time.Now())
	var next atomic.Int64
	start := time.Now()
	fanOut(b, "enqueue", workers, func() error {
		for {
			i := int(next.Add(1)) - 1
			if i >= count {
				return nil
			}
			if _, err := qb.Enqueue(ctx, "bench-ordered", queue.Job{Type: "whatsapp.message", Key: "k" + strconv.Itoa(i%keys), Payload: payload}); err != nil {
				return err
			}
		}
	})
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatal("raw queue did not drain")
	}
	return time.Since(start)
}
