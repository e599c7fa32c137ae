package http_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/valyala/fasthttp"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/node/nodetest"
)

// BenchmarkCheckout measures checkouts through the whole path (fasthttp
// edge, Idempotency-Key claim and record, store actor reservation commit,
// Paystack initialisation against the sandbox over loopback, order actor
// activation and commit) against a raw baseline measured in the same run:
// the same rows (idempotency key, reservation with its line and stock,
// order with its item, timeline entry, inbox, outbox and reminders, fences)
// written by plain pgx transactions, one per step that ours commits.
// ratio-to-raw is the share of the raw throughput checkout keeps: those
// rows in those transactions are what checkout must make durable, so they
// are its limit; the rest is the edge, the actors and the provider call.
func BenchmarkCheckout(b *testing.B) {
	// Retries at their real pace: reconciliation would otherwise verify
	// every order while the benchmark runs.
	n := catalogNode(b, nodetest.Options{Env: map[string]string{"VAYVA_RETRY_SCALE": "1"}})
	m := signup(b, n.BaseURL, "Bench Market")
	const variants = 32
	var ids []string
	for i := range variants {
		p := apiCall(b, n.BaseURL, "POST", "/v1/products", m.token, map[string]any{
			"title": fmt.Sprintf("Item %d", i), "status": "active",
			"variants": []map[string]any{{"sku": fmt.Sprintf("B-%d", i), "price": 150000, "inventory_quantity": 900000000}},
		}).requireStatus(b, 201)
		ids = append(ids, variantsOf(p.Body)[0]["id"].(string))
	}
	url := n.BaseURL + "/v1/storefront/" + m.slug + "/checkout"
	workers := 8 * runtime.GOMAXPROCS(0)
	var seq atomic.Int64
	checkout := func() error {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		i := seq.Add(1)
		body, _ := json.Marshal(map[string]any{
			"email":            "bench@example.com",
			"items":            []map[string]any{{"variant_id": ids[i%variants], "quantity": 1}},
			"shipping_address": map[string]any{"name": "B", "line1": "1 Road", "city": "Lagos", "state": "Lagos", "country": "NG"},
		})
		req.SetRequestURI(url)
		req.Header.SetMethod("POST")
		req.Header.SetContentType("application/json")
		req.Header.Set("Idempotency-Key", fmt.Sprintf("bench-%d", i))
		req.SetBody(body)
		if err := benchClient.Do(req, resp); err != nil {
			return err
		}
		if resp.StatusCode() != 201 {
			return fmt.Errorf("checkout: %d %s", resp.StatusCode(), resp.Body())
		}
		return nil
	}
	run := func(total int, op func() error) time.Duration {
		var left atomic.Int64
		left.Store(int64(total))
		return fanOut(b, "checkout", workers, func() error {
			for left.Add(-1) >= 0 {
				if err := op(); err != nil {
					return err
				}
			}
			return nil
		})
	}

	// The raw baseline writes into a store of its own.
	db := n.DB
	ctx := context.Background()
	rm := signup(b, n.BaseURL, "Raw Market")
	rp := apiCall(b, n.BaseURL, "POST", "/v1/products", rm.token, map[string]any{
		"title": "Raw item", "status": "active",
		"variants": []map[string]any{{"sku": "RAW", "price": 150000, "inventory_quantity": 900000000}},
	}).requireStatus(b, 201)
	storeID, rawVariant := rm.storeID, variantsOf(rp.Body)[0]["id"].(string)
	if _, err := db.Pool().Exec(ctx, `INSERT INTO runtime.actors (kind, identity, epoch, owner) VALUES ('store', $1, 1, 'raw')
		ON CONFLICT (kind, identity) DO UPDATE SET owner = 'raw'`, storeID); err != nil {
		b.Fatal(err)
	}
	var rawSeq atomic.Int64
	raw := func() error {
		i := rawSeq.Add(1)
		orderID, now := vayva.NewID("ord"), time.Now().UTC()
		key := fmt.Sprintf("raw-%d", i)
		hash := sha256.Sum256([]byte(key))
		if _, err := db.Pool().Exec(ctx, `INSERT INTO runtime.idempotency_keys (scope, key, request_hash, status) VALUES ('bench', $1, $2, 0)`, key, hash[:]); err != nil {
			return err
		}
		err := db.InDomain(ctx, vayva.DomainCatalog, func(ctx context.Context, tx pgx.Tx) error {
			var bt pgx.Batch
			bt.Queue(`UPDATE runtime.actors SET version = version + 1 WHERE kind = 'store' AND identity = $1`, storeID)
			bt.Queue(`INSERT INTO catalog.reservations (store_id, id, status, expires_at, created_at, updated_at, order_number)
				VALUES ($1, $2, 'active', $3, $4, $4, $5)`, storeID, orderID, now.Add(time.Hour), now, 1_000_000+i)
			bt.Queue(`INSERT INTO catalog.reservation_lines (store_id, reservation_id, variant_id, position, quantity, unit_price)
				VALUES ($1, $2, $3, 0, 1, 150000)`, storeID, orderID, rawVariant)
			bt.Queue(`UPDATE catalog.variants SET reserved = reserved + 1 WHERE id = $1`, rawVariant)
			bt.Queue(`INSERT INTO runtime.inbox (kind, identity, command_id, reply) VALUES ('store', $1, $2, $3)`, storeID, "raw:"+orderID, []byte("reply"))
			bt.Queue(`INSERT INTO runtime.reminders (kind, identity, name, due_at) VALUES ('store', $1, $2, $3)`, storeID, "reservation:"+orderID, now.Add(time.Hour))
			return tx.SendBatch(ctx, &bt).Close()
		})
		if err != nil {
			return err
		}
		err = db.InDomain(ctx, vayva.DomainOrders, func(ctx context.Context, tx pgx.Tx) error {
			var bt pgx.Batch
			bt.Queue(`INSERT INTO runtime.actors (kind, identity, epoch, owner) VALUES ('order', $1, 1, 'raw')`, orderID)
			bt.Queue(`INSERT INTO orders.orders (id, store_id, merchant_id, number, status, payment_status, fulfillment_status, currency,
				subtotal, total, fee_bps, customer_email, token_hash, payment_reference, expires_at, created_at, updated_at)
				SELECT $1, id, merchant_id, $2, 'awaiting_payment', 'unpaid', 'unfulfilled', 'NGN', 150000, 150000, 150,
					'bench@example.com', $3, $4, $5, $6, $6 FROM merchant.stores WHERE id = $7`,
				orderID, 1_000_000+i, hash[:], "raw-"+orderID, now.Add(time.Hour), now, storeID)
			bt.Queue(`INSERT INTO orders.order_items (order_id, position, variant_id, product_id, sku, title, variant_title, quantity, unit_price, total)
				VALUES ($1, 0, $2, 'prod', 'B-0', 'Item', 'Default', 1, 150000, 150000)`, orderID, rawVariant)
			bt.Queue(`INSERT INTO orders.order_events (order_id, seq, type, at) VALUES ($1, 1, 'order.created', $2)`, orderID, now)
			bt.Queue(`UPDATE runtime.actors SET version = version + 1 WHERE kind = 'order' AND identity = $1`, orderID)
			bt.Queue(`INSERT INTO runtime.inbox (kind, identity, command_id, reply) VALUES ('order', $1, 'create', $2)`, orderID, []byte("reply"))
			eventID := vayva.NewID("evt")
			payload, _ := json.Marshal(vayva.Event{ID: eventID, Type: "order.created", Queue: vayva.QueueWebhookDelivery, Key: orderID,
				MerchantID: "mer_bench", OccurredAt: now, Data: json.RawMessage(`{}`)})
			bt.Queue(`INSERT INTO runtime.outbox (event_id, aggregate_kind, aggregate_id, queue, key, type, merchant_id, payload)
				VALUES ($1, 'order', $2, 'webhook-delivery', $2, 'order.created', 'mer_bench', $3)`, eventID, orderID, payload)
			bt.Queue(`INSERT INTO runtime.reminders (kind, identity, name, due_at) VALUES ('order', $1, 'expire', $2), ('order', $1, 'reconcile', $2)`,
				orderID, now.Add(time.Hour))
			return tx.SendBatch(ctx, &bt).Close()
		})
		if err != nil {
			return err
		}
		_, err = db.Pool().Exec(ctx, `UPDATE runtime.idempotency_keys SET status = 201, response = $3, content_type = 'application/json' WHERE scope = 'bench' AND key = $1 AND request_hash = $2`,
			key, hash[:], []byte(`{"order":{}}`))
		return err
	}

	run(2*workers, checkout) // warm both paths
	run(2*workers, raw)
	b.ResetTimer()
	ours := run(b.N, checkout)
	b.StopTimer()
	baseline := run(b.N, raw)
	oursRate, rawRate := float64(b.N)/ours.Seconds(), float64(b.N)/baseline.Seconds()
	b.ReportMetric(oursRate, "orders/s")
	b.ReportMetric(rawRate, "raw-orders/s")
	b.ReportMetric(oursRate/rawRate, "ratio-to-raw")
}

// benchClient is the benchmarks' fasthttp client, with enough connections
// for every worker.
var benchClient = &fasthttp.Client{MaxConnsPerHost: 256, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
