package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	nethttp "net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/auth"
	"github.com/vayvahq/vayva/http/openapitest"
	"github.com/vayvahq/vayva/node"
	"github.com/vayvahq/vayva/node/nodetest"
)

// api is a client of the HTTP API whose every exchange is checked against
// the OpenAPI document.
type api struct {
	t      *testing.T
	client *nethttp.Client
}

func newAPI(t *testing.T) *api {
	v, err := openapitest.Default()
	require.NoError(t, err)
	return &api{t: t, client: &nethttp.Client{Transport: v.Transport(t, nil), Timeout: 60 * time.Second}}
}

type answer struct {
	status int
	body   map[string]any
	raw    []byte
}

func (a *api) do(method, url, token string, body any, headers ...string) answer {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(a.t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := nethttp.NewRequest(method, url, rd)
	require.NoError(a.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := a.client.Do(req)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(a.t, err)
	out := answer{status: resp.StatusCode, raw: raw}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

func (r answer) must(t *testing.T, status int) answer {
	t.Helper()
	require.Equal(t, status, r.status, "%s", r.raw)
	return r
}

func (r answer) str(path ...string) string {
	var v any = r.body
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

// seller is a merchant with one product of one variant.
type seller struct {
	token, slug, variant string
}

func newSeller(t *testing.T, a *api, base string, stock int) seller {
	t.Helper()
	su := a.do("POST", base+"/v1/auth/signup", "", map[string]any{
		"email": vayva.NewID("u") + "@example.com", "password": "correct horse battery", "name": "Owner", "business_name": "Hot Drop",
	}).must(t, 201)
	token := su.str("token")
	slug := su.body["store"].(map[string]any)["slug"].(string)
	p := a.do("POST", base+"/v1/products", token, map[string]any{
		"title": "Limited sneaker", "status": "active",
		"variants": []map[string]any{{"sku": "SNK-42", "title": "42", "price": 4500000, "inventory_quantity": stock}},
	}).must(t, 201)
	variant := p.body["variants"].([]any)[0].(map[string]any)["id"].(string)
	return seller{token: token, slug: slug, variant: variant}
}

func (s seller) checkout(a *api, base, key string) answer {
	return a.do("POST", base+"/v1/storefront/"+s.slug+"/checkout", "", map[string]any{
		"email": "fan@example.com",
		"items": []map[string]any{{"variant_id": s.variant, "quantity": 1}},
		"shipping_address": map[string]any{"name": "Fan", "line1": "1 Broad St", "city": "Lagos", "state": "Lagos",
			"country": "NG"},
	}, "Idempotency-Key", key)
}

// payURL is the sandbox's pay action for a checkout's authorization_url.
func payURL(co answer) string {
	return co.body["payment"].(map[string]any)["authorization_url"].(string) + "/pay"
}

func waitMembers(t *testing.T, base, opsToken string, want int) {
	t.Helper()
	require.Eventually(t, func() bool {
		req, _ := nethttp.NewRequest("GET", base+"/ops/cluster", nil)
		req.Header.Set("Authorization", "Bearer "+opsToken)
		resp, err := nethttp.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var c struct {
			Members []struct {
				Status string `json:"status"`
			} `json:"members"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&c)
		alive := 0
		for _, m := range c.Members {
			if m.Status == "alive" {
				alive++
			}
		}
		return alive == want
	}, 60*time.Second, 50*time.Millisecond, "%d members alive", want)
}

func queryInt(t *testing.T, db interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	require.NoError(t, db.QueryRow(context.Background(), sql, args...).Scan(&n), sql)
	return n
}

// More buyers than stock check out one hot variant at once through two
// cluster members, then pay: the variant is never oversold, and every
// payment has exactly one order, one reservation commit and one order.paid.
func TestHotVariantCheckoutsAcrossTwoMembersNeverOversell(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	hash := func(n *node.Node) { n.AuthConfig.Hash = auth.TestHashParams }
	opts := nodetest.Options{ClusterProvider: "postgres", Configure: hash}
	first := nodetest.Start(t, opts)
	// One Paystack for the cluster: the second node pays through the
	// first's sandbox, as every node of a deployment uses the same account.
	opts.DatabaseURL, opts.RedisPrefix, opts.ClusterName = first.DatabaseURL, first.RedisPrefix, first.Config().ClusterName
	opts.Env = map[string]string{"VAYVA_PAYSTACK_BASE_URL": first.BaseURL + "/sandbox/paystack/api"}
	second := nodetest.Start(t, opts)
	waitMembers(t, first.BaseURL, first.OpsToken, 2)

	const stock, buyers = 20, 60
	s := newSeller(t, a, first.BaseURL, stock)
	var (
		wg                sync.WaitGroup
		mu                sync.Mutex
		sold              []answer
		refused, failures atomic.Int64
	)
	for i := range buyers {
		wg.Go(func() {
			base := first.BaseURL
			if i%2 == 1 {
				base = second.BaseURL
			}
			r := s.checkout(a, base, fmt.Sprintf("buyer-%d", i))
			switch r.status {
			case 201:
				mu.Lock()
				sold = append(sold, r)
				mu.Unlock()
			case 409:
				refused.Add(1)
			default:
				failures.Add(1)
				t.Errorf("checkout %d: %d %s", i, r.status, r.raw)
			}
		})
	}
	wg.Wait()
	require.Zero(t, failures.Load())
	require.Len(t, sold, stock, "every unit sold once, the rest refused")
	require.EqualValues(t, buyers-stock, refused.Load())

	for _, co := range sold {
		wg.Go(func() {
			resp, err := nethttp.Post(payURL(co), "application/json", strings.NewReader("{}"))
			if err == nil {
				resp.Body.Close()
			}
			if err != nil || resp.StatusCode != 200 {
				t.Errorf("pay: %v %v", err, resp)
			}
		})
	}
	wg.Wait()
	db := first.DB.Pool()
	require.Eventually(t, func() bool {
		return queryInt(t, db, `SELECT count(*) FROM orders.orders WHERE status = 'confirmed' AND payment_status = 'paid'`) == stock
	}, 60*time.Second, 100*time.Millisecond, "every sold order paid")

	require.EqualValues(t, stock, queryInt(t, db, `SELECT count(*) FROM orders.orders`))
	require.EqualValues(t, 0, queryInt(t, db, `SELECT on_hand FROM catalog.variants WHERE id = $1`, s.variant))
	require.EqualValues(t, 0, queryInt(t, db, `SELECT reserved FROM catalog.variants WHERE id = $1`, s.variant))
	require.EqualValues(t, stock, queryInt(t, db, `SELECT count(*) FROM catalog.reservations WHERE status = 'committed'`))
	require.EqualValues(t, stock, queryInt(t, db, `SELECT count(*) FROM orders.payments WHERE applied`))
	require.EqualValues(t, 0, queryInt(t, db, `
		SELECT count(*) FROM (SELECT aggregate_id FROM runtime.outbox WHERE type = 'order.paid' AND queue = 'webhook-delivery'
		GROUP BY aggregate_id HAVING count(*) <> 1) x`), "exactly one order.paid per order")
	require.EqualValues(t, stock, queryInt(t, db, `SELECT count(*) FROM runtime.outbox WHERE type = 'order.paid' AND queue = 'webhook-delivery'`))
	for _, co := range sold {
		id := co.body["order"].(map[string]any)["id"].(string)
		require.EqualValues(t, 1, queryInt(t, db, `SELECT count(*) FROM orders.orders WHERE id = $1`, id))
	}
}

// The member that owns an order is killed with SIGKILL between checkout
// and payment: the payment still confirms the order on the survivor, and
// another unpaid order it owned still expires there.
func TestOrdersSurviveTheirMemberBeingKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes")
	}
	t.Parallel()
	a := newAPI(t)
	env := map[string]string{"VAYVA_CHECKOUT_TTL": "20s"}
	survivor := nodetest.StartProcess(t, nodetest.Options{ClusterProvider: "postgres", Env: env})
	victim := nodetest.StartProcess(t, nodetest.Options{
		ClusterProvider: "postgres", ClusterName: survivor.ClusterName, DatabaseURL: survivor.DatabaseURL, RedisPrefix: survivor.RedisPrefix,
		Env: map[string]string{"VAYVA_CHECKOUT_TTL": "20s", "VAYVA_PAYSTACK_BASE_URL": survivor.BaseURL + "/sandbox/paystack/api"},
	})
	waitMembers(t, survivor.BaseURL, survivor.OpsToken, 2)
	db, err := pgxpool.New(context.Background(), survivor.DatabaseURL)
	require.NoError(t, err)
	t.Cleanup(db.Close)

	s := newSeller(t, a, survivor.BaseURL, 50)
	// Check out until two orders run on the victim.
	var onVictim []answer
	victimOwner := fmt.Sprintf(":%d", victim.Pid())
	for i := 0; len(onVictim) < 2; i++ {
		require.Less(t, i, 40, "no order placed on the second member")
		co := s.checkout(a, survivor.BaseURL, fmt.Sprintf("k-%d", i)).must(t, 201)
		var owner string
		require.NoError(t, db.QueryRow(context.Background(), `SELECT owner FROM runtime.actors WHERE kind = 'order' AND identity = $1`,
			co.body["order"].(map[string]any)["id"]).Scan(&owner))
		if strings.HasSuffix(owner, victimOwner) {
			onVictim = append(onVictim, co)
		}
	}
	paidID := onVictim[0].body["order"].(map[string]any)["id"].(string)
	unpaidID := onVictim[1].body["order"].(map[string]any)["id"].(string)

	victim.Kill()
	resp, err := nethttp.Post(payURL(onVictim[0]), "application/json", strings.NewReader("{}"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)

	order := func(id string) answer { return a.do("GET", survivor.BaseURL+"/v1/orders/"+id, s.token, nil) }
	require.Eventually(t, func() bool {
		o := order(paidID)
		return o.status == 200 && o.str("status") == "confirmed" && o.str("payment_status") == "paid"
	}, 60*time.Second, 100*time.Millisecond, "the paid order is confirmed on the survivor")
	require.Eventually(t, func() bool { return order(unpaidID).str("status") == "expired" }, 60*time.Second, 100*time.Millisecond,
		"the unpaid order expires on the survivor")
	var reserved int64
	require.NoError(t, db.QueryRow(context.Background(), `SELECT count(*) FROM catalog.reservations WHERE id = $1 AND status IN ('released', 'expired')`,
		unpaidID).Scan(&reserved))
	require.EqualValues(t, 1, reserved, "its stock went back")
	var applied int64
	require.NoError(t, db.QueryRow(context.Background(), `SELECT count(*) FROM orders.payments WHERE order_id = $1 AND applied`, paidID).Scan(&applied))
	require.EqualValues(t, 1, applied)
}
