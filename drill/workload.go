package drill

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// shop is one merchant of the workload, with its store and variants.
type shop struct {
	idx                 int
	token, slug, id     string
	variants            []string
	initial             map[string]int64
	merchantID, product string
}

// op is one operation of the workload, with every attempt it took to get
// a definitive answer (2xx, or a 4xx that refuses it for good).
type op struct {
	kind   string // read, checkout, pay, adjust, payout
	shop   int
	key    string
	start  time.Time
	end    time.Time
	status int // the definitive answer; 0 when none came
	acked  bool

	orderID, reference, variant string
	qty, delta, amount          int64
	payoutID                    string
	paid                        bool // the sandbox took the payment of this checkout
	// failures describes each failed attempt ("502 at 13:04:05.123",
	// "no answer (...) at ..."), for the report of a duplicate.
	failures []string
}

// attempt is one HTTP exchange of an op.
type attempt struct {
	shop       int
	start, end time.Time
	status     int
	// failed: no answer, a 5xx, 429, or "still in progress"; the client
	// tries again.
	failed bool
}

// recorder keeps every op and attempt of the run.
type recorder struct {
	mu       sync.Mutex
	ops      []*op
	attempts []attempt
}

func (r *recorder) addOp(o *op) {
	r.mu.Lock()
	r.ops = append(r.ops, o)
	r.mu.Unlock()
}

func (r *recorder) addAttempt(a attempt) {
	r.mu.Lock()
	r.attempts = append(r.attempts, a)
	r.mu.Unlock()
}

func (r *recorder) snapshot() ([]*op, []attempt) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*op(nil), r.ops...), append([]attempt(nil), r.attempts...)
}

// roundTrip sends req with the drill's client and reads the answer.
func (d *drill) roundTrip(req *http.Request) (int, []byte, error) {
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, body, err
}

// send makes one attempt of a request.
func (d *drill) send(ctx context.Context, method, url, token, key string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	// Every attempt is the drill's own and recorded: net/http must not
	// send one again by itself on a broken connection.
	req.GetBody = nil
	return d.roundTrip(req)
}

// retryable reports whether an answer leaves the outcome open, so the
// client asks again with the same Idempotency-Key.
func retryable(status int, body []byte, err error) bool {
	return err != nil || status >= 500 || status == http.StatusTooManyRequests ||
		status == http.StatusConflict && bytes.Contains(body, []byte("still in progress"))
}

// call runs o's request until a definitive answer or until the drill gives
// up (Ctrl-C, or resolveBy after the load stopped); o.status stays 0 then.
func (d *drill) call(ctx context.Context, o *op, method, url, token string, body any) []byte {
	o.start = time.Now()
	d.rec.addOp(o)
	backoff := 50 * time.Millisecond
	for {
		start := time.Now()
		st, rb, err := d.send(ctx, method, url, token, o.key, body)
		failed := retryable(st, rb, err)
		d.rec.addAttempt(attempt{shop: o.shop, start: start, end: time.Now(), status: st, failed: failed})
		if !failed {
			o.end, o.status, o.acked = time.Now(), st, st >= 200 && st < 300
			return rb
		}
		what := fmt.Sprint(st)
		if err != nil {
			what = "no answer (" + err.Error() + ")"
		} else if st == http.StatusConflict {
			what = "409 still in progress"
		}
		o.failures = append(o.failures, what+" at "+start.Format("15:04:05.000"))
		if ctx.Err() != nil || d.pastResolveBy() {
			o.end = time.Now()
			return nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

func (d *drill) pastResolveBy() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.resolveBy.IsZero() && time.Now().After(d.resolveBy)
}

// setupShop signs a merchant up and gives it a product of two variants.
// Nothing is failing yet; a failure stops the drill.
func (d *drill) setupShop(ctx context.Context, idx int) (*shop, error) {
	s := &shop{idx: idx, initial: map[string]int64{}}
	email := fmt.Sprintf("owner-%d-%s@example.com", idx, d.runID)
	st, body, err := d.send(ctx, "POST", d.lb.url+"/v1/auth/signup", "", "", map[string]any{
		"email": email, "password": "correct horse battery", "name": "Drill Owner",
		"business_name": fmt.Sprintf("Drill Shop %d", idx),
	})
	if err != nil {
		return nil, fmt.Errorf("drill: sign-up %d: %w", idx, err)
	}
	if st != http.StatusCreated {
		return nil, fmt.Errorf("drill: sign-up %d: %d %s", idx, st, body)
	}
	var su struct {
		Token string `json:"token"`
		Store struct {
			ID   string `json:"id"`
			Slug string `json:"slug"`
		} `json:"store"`
	}
	if err := json.Unmarshal(body, &su); err != nil {
		return nil, fmt.Errorf("drill: sign-up answer: %w", err)
	}
	s.token, s.slug, s.id = su.Token, su.Store.Slug, su.Store.ID
	stock := d.cfg.stock()
	st, body, err = d.send(ctx, "POST", d.lb.url+"/v1/products", s.token, fmt.Sprintf("drill-product-%d", idx), map[string]any{
		"title": "Drill tee", "status": "active",
		"variants": []map[string]any{
			{"sku": "TEE-M", "title": "M", "price": 500000, "inventory_quantity": stock},
			{"sku": "TEE-L", "title": "L", "price": 650000, "inventory_quantity": stock},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("drill: product of shop %d: %w", idx, err)
	}
	if st != http.StatusCreated {
		return nil, fmt.Errorf("drill: product of shop %d: %d %s", idx, st, body)
	}
	var p struct {
		ID       string `json:"id"`
		Variants []struct {
			ID string `json:"id"`
		} `json:"variants"`
	}
	if err := json.Unmarshal(body, &p); err != nil || len(p.Variants) != 2 {
		return nil, fmt.Errorf("drill: product answer: %s", body)
	}
	s.product = p.ID
	for _, v := range p.Variants {
		s.variants = append(s.variants, v.ID)
		s.initial[v.ID] = stock
	}
	return s, nil
}

// customer runs one customer-and-merchant loop on s until stop closes.
func (d *drill) customer(ctx context.Context, s *shop, n int, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(uint64(s.idx), uint64(n))) //nolint:gosec // The mix of operations, not a secret.
	for seq := 0; ; seq++ {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-time.After(d.cfg.think()):
		}
		key := fmt.Sprintf("drill-%s-%d-%d-%d", d.runID, s.idx, n, seq)
		switch r := rng.IntN(100); {
		case r < 40:
			d.read(ctx, s)
		case r < 70:
			d.checkout(ctx, s, key, rng)
		case r < 85:
			delta := int64(rng.IntN(8) - 3)
			if delta >= 0 {
				delta++
			}
			o := &op{kind: "adjust", shop: s.idx, key: key, variant: s.variants[rng.IntN(len(s.variants))], delta: delta}
			d.call(ctx, o, "POST", d.lb.url+"/v1/inventory/adjustments", s.token,
				map[string]any{"variant_id": o.variant, "delta": delta, "reason": "drill count"})
		default:
			o := &op{kind: "payout", shop: s.idx, key: key, amount: 1000}
			body := d.call(ctx, o, "POST", d.lb.url+"/v1/payouts", s.token, map[string]any{
				"amount":       o.amount,
				"bank_account": map[string]any{"account_number": "0123456789", "bank_code": "058", "name": "Drill Payee"},
			})
			if o.acked {
				var p struct {
					ID string `json:"id"`
				}
				_ = json.Unmarshal(body, &p)
				o.payoutID = p.ID
			}
		}
	}
}

// read is a storefront read: one attempt, recorded.
func (d *drill) read(ctx context.Context, s *shop) {
	o := &op{kind: "read", shop: s.idx, start: time.Now()}
	st, _, err := d.send(ctx, "GET", d.lb.url+"/v1/storefront/"+s.slug+"/products", "", "", nil)
	o.end, o.status, o.acked = time.Now(), st, err == nil && st == http.StatusOK
	d.rec.addOp(o)
	d.rec.addAttempt(attempt{shop: s.idx, start: o.start, end: o.end, status: st, failed: retryable(st, nil, err)})
}

// checkout places an order and, nine times in ten, pays it on the
// sandbox's checkout, whose charge.success webhook goes through the
// balancer to a member.
func (d *drill) checkout(ctx context.Context, s *shop, key string, rng *rand.Rand) {
	o := &op{kind: "checkout", shop: s.idx, key: key, variant: s.variants[rng.IntN(len(s.variants))], qty: int64(1 + rng.IntN(2))}
	body := d.call(ctx, o, "POST", d.lb.url+"/v1/storefront/"+s.slug+"/checkout", "", map[string]any{
		"email": "buyer@example.com",
		"items": []map[string]any{{"variant_id": o.variant, "quantity": o.qty}},
		"shipping_address": map[string]any{"name": "Bisi", "line1": "12 Allen Avenue", "city": "Ikeja",
			"state": "Lagos", "country": "NG"},
	})
	if !o.acked {
		return
	}
	var co struct {
		Order struct {
			ID string `json:"id"`
		} `json:"order"`
		Payment struct {
			Reference string `json:"reference"`
		} `json:"payment"`
	}
	_ = json.Unmarshal(body, &co)
	o.orderID, o.reference = co.Order.ID, co.Payment.Reference
	if o.orderID == "" || o.reference == "" || rng.IntN(10) == 0 {
		return
	}
	// The sandbox is in this process and always answers, once its
	// synchronous delivery of charge.success to the cluster returned (on
	// failure it retries later, as Paystack does); that delivery is the
	// attempt recorded.
	start := time.Now()
	st, rb, err := d.pay(ctx, o.reference)
	var pay struct {
		Status        string `json:"status"`
		WebhookStatus int    `json:"webhook_status"`
	}
	_ = json.Unmarshal(rb, &pay)
	o.paid = err == nil && st == http.StatusOK && pay.Status == "success"
	if err != nil {
		// No answer: whether the sandbox took the payment is its to say.
		o.paid = d.sandboxPaid(ctx, o.reference)
	}
	d.rec.addAttempt(attempt{shop: s.idx, start: start, end: time.Now(), status: pay.WebhookStatus,
		failed: pay.WebhookStatus < 200 || pay.WebhookStatus > 299})
}

// pay presses Pay on the sandbox's checkout of reference. Its answer waits
// for the webhook's first delivery (up to the balancer's timeout), so it
// has a client of its own with a longer timeout.
func (d *drill) pay(ctx context.Context, reference string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", d.sandboxURL+"/sandbox/paystack/checkout/"+reference+"/pay",
		strings.NewReader(`{"outcome":"success"}`))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.payClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, err
}

// sandboxPaid asks the sandbox's verify endpoint whether reference was
// paid.
func (d *drill) sandboxPaid(ctx context.Context, reference string) bool {
	st, body, err := d.get(ctx, d.sandboxURL+"/sandbox/paystack/api/transaction/verify/"+reference, d.paystackSecret)
	var v struct {
		Data struct {
			Status string `json:"status"`
		} `json:"data"`
	}
	return err == nil && st == http.StatusOK && json.Unmarshal(body, &v) == nil && v.Data.Status == "success"
}
