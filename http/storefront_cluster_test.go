package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	nethttp "net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/cluster"
	"github.com/vayvahq/vayva/messages"
	"github.com/vayvahq/vayva/node/nodetest"
)

// twoMembers starts two nodes of one cluster on one database, with env
// on both, and waits until they see each other.
func twoMembers(t *testing.T, env map[string]string) (*nodetest.Node, *nodetest.Node) {
	t.Helper()
	opts := nodetest.Options{ClusterProvider: "postgres", ClusterName: vayva.NewID("cluster"), Env: env}
	first := catalogNode(t, opts)
	opts.DatabaseURL, opts.RedisPrefix = first.DatabaseURL, first.RedisPrefix
	second := catalogNode(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.Eventually(t, func() bool {
		ma, err := first.Member.Members(ctx)
		require.NoError(t, err)
		mb, err := second.Member.Members(ctx)
		require.NoError(t, err)
		return len(ma) == 2 && len(mb) == 2
	}, 30*time.Second, 20*time.Millisecond, "the members see each other")
	return first, second
}

// ownerOf returns the node running the store's actor, and the other.
// ownerOf waits until exactly one of a and b runs the store and returns it
// first. While the members settle who owns what, a member whose view of
// the cluster was briefly alone may have activated it too, until the fence
// retired that activation; then neither may run it until the next message,
// so a read of the store through a puts it where it belongs.
func ownerOf(t *testing.T, a, b *nodetest.Node, storeID string) (owner, other *nodetest.Node) {
	t.Helper()
	require.Eventually(t, func() bool {
		ina, inb := a.Member.ActivationCounts()[actors.StoreKind] > 0, b.Member.ActivationCounts()[actors.StoreKind] > 0
		owner, other = a, b
		if inb {
			owner, other = b, a
		}
		if !ina && !inb {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, _ = cluster.Request[*messages.StoreProfile](ctx, a.Member, actors.StoreKind, storeID, &messages.GetStore{})
		}
		return ina != inb
	}, 30*time.Second, 20*time.Millisecond, "one member runs the store")
	return owner, other
}

func availableOn(t *testing.T, n *nodetest.Node, slug, productID string) (int64, string) {
	t.Helper()
	r := apiCall(t, n.BaseURL, "GET", "/v1/storefront/"+slug+"/products/"+productID, "", nil).requireStatus(t, 200)
	return int64(variantsOf(r.Body)[0]["available"].(float64)), r.Header.Get("ETag")
}

// A write is visible on the other member's storefront within the
// staleness bound: polled with a generous deadline, since the bound itself
// is not a thing to time in a test. Once both show it, both answer the
// same bytes under the same ETag.
func TestStorefrontWriteReachesTheOtherMember(t *testing.T) {
	t.Parallel()
	first, second := twoMembers(t, nil)
	m := signup(t, first.BaseURL, "Two Rooms")
	p := apiCall(t, first.BaseURL, "POST", "/v1/products", m.token, product("Lamp", "active", "LAMP")).requireStatus(t, 201)
	variant := variantsOf(p.Body)[0]["id"].(string)
	owner, other := ownerOf(t, first, second, m.storeID)
	for _, n := range []*nodetest.Node{owner, other} {
		got, _ := availableOn(t, n, m.slug, p.str("id"))
		require.EqualValues(t, 10, got)
	}
	for i, delta := range []int{3, -5, 7} {
		// Written through the member that does not run the store.
		r := apiCall(t, other.BaseURL, "POST", "/v1/inventory/adjustments", m.token,
			map[string]any{"variant_id": variant, "delta": delta, "reason": fmt.Sprintf("count %d", i)}).requireStatus(t, 200)
		want := int64(r.Body["available"].(float64))
		owner, other = ownerOf(t, first, second, m.storeID)
		// The member running the store published it before answering.
		got, ownerTag := availableOn(t, owner, m.slug, p.str("id"))
		require.Equal(t, want, got)
		var otherTag string
		require.Eventually(t, func() bool {
			got, tag := availableOn(t, other, m.slug, p.str("id"))
			otherTag = tag
			return got == want
		}, 30*time.Second, 20*time.Millisecond, "the other member shows the write")
		require.Equal(t, ownerTag, otherTag, "same bytes on both members, same ETag")
	}
}

// With VAYVA_STOREFRONT_STALENESS=0 every request reads the store's fence,
// so the version check alone decides: a write is on every member's
// storefront as soon as it is answered, not eventually.
func TestStorefrontFenceCheckSeesEveryWrite(t *testing.T) {
	t.Parallel()
	first, second := twoMembers(t, map[string]string{"VAYVA_STOREFRONT_STALENESS": "0"})
	m := signup(t, first.BaseURL, "Strict Shelf")
	p := apiCall(t, first.BaseURL, "POST", "/v1/products", m.token, product("Cup", "active", "CUP")).requireStatus(t, 201)
	variant := variantsOf(p.Body)[0]["id"].(string)
	for i := range 6 {
		via := []*nodetest.Node{first, second}[i%2]
		r := apiCall(t, via.BaseURL, "POST", "/v1/inventory/adjustments", m.token,
			map[string]any{"variant_id": variant, "delta": 1, "reason": "count"}).requireStatus(t, 200)
		for _, n := range []*nodetest.Node{first, second} {
			got, _ := availableOn(t, n, m.slug, p.str("id"))
			require.Equal(t, int64(r.Body["available"].(float64)), got, "write %d on member %s", i, n.Member.ID())
		}
	}
}

// call sends one request without failing the test, for goroutines.
func call(method, url string, body any, headers ...string) (int, map[string]any, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := nethttp.NewRequest(method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out, nil
}

// Customers decide from the storefront, whose snapshot may be up to the
// staleness bound behind, and check out what it shows while the store's
// identity moves from one member to the other: checkout reserves against
// the actor's stock, so a stale "available" is refused, never oversold.
func TestStaleStorefrontNeverOversellsWhileTheStoreMoves(t *testing.T) {
	t.Parallel()
	const staleness = 2 * time.Second
	first, second := twoMembers(t, map[string]string{"VAYVA_STOREFRONT_STALENESS": staleness.String()})
	const stock = 12
	m := signup(t, first.BaseURL, "Last Prints")
	p := apiCall(t, first.BaseURL, "POST", "/v1/products", m.token, map[string]any{
		"title": "Signed print", "status": "active",
		"variants": []map[string]any{{"sku": "SIGNED", "title": "A3", "price": 500000, "inventory_quantity": stock}},
	}).requireStatus(t, 201)
	variant := variantsOf(p.Body)[0]["id"].(string)
	owner, survivor := ownerOf(t, first, second, m.storeID)
	productURL := "/v1/storefront/" + m.slug + "/products/" + p.str("id")

	const customers = 16
	var (
		sold, refused atomic.Int64
		ownerDown     atomic.Bool
		attempts      atomic.Int64
		wg            sync.WaitGroup
		errs          = make(chan error, customers)
		halfway       = make(chan struct{})
		once          sync.Once
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for c := range customers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			soldOutSince := time.Time{}
			for r := 0; ctx.Err() == nil; r++ {
				// Browse on either member while both run.
				browse := survivor
				if c%2 == 0 && !ownerDown.Load() {
					browse = owner
				}
				status, body, err := call("GET", browse.BaseURL+productURL, nil)
				if err != nil || status != 200 {
					continue // the owner leaving; browse again
				}
				available := int64(body["variants"].([]any)[0].(map[string]any)["available"].(float64))
				if available <= 0 {
					// Sold out, or a snapshot up to the bound behind a
					// checkout that failed and gave its unit back: the
					// customer looks again after the bound.
					switch {
					case soldOutSince.IsZero():
						soldOutSince = time.Now()
					case time.Since(soldOutSince) > staleness+time.Second:
						return
					}
					time.Sleep(200 * time.Millisecond)
					continue
				}
				soldOutSince = time.Time{}
				key := fmt.Sprintf("buy-%d-%d", c, r)
				for ctx.Err() == nil {
					status, body, err = call("POST", survivor.BaseURL+"/v1/storefront/"+m.slug+"/checkout", checkoutBody(variant, 1), "Idempotency-Key", key)
					if err == nil && status != 503 {
						break
					}
				}
				switch {
				case status == 201:
					sold.Add(1)
				case status == 409 && body["code"] == vayva.EINSUFFICIENTSTOCK:
					// The storefront showed stock the store no longer had.
					refused.Add(1)
				default:
					errs <- fmt.Errorf("checkout %s: %d %v", key, status, body)
					return
				}
				if attempts.Add(1) == stock/2 {
					once.Do(func() { close(halfway) })
				}
			}
		}()
	}
	select {
	case <-halfway:
	case <-ctx.Done():
		t.Fatal("no checkouts went through")
	}
	ownerDown.Store(true)
	stopCtx, stopCancel := context.WithTimeout(ctx, 30*time.Second)
	require.NoError(t, owner.Stop(stopCtx))
	stopCancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	t.Logf("sold %d; refused %d checkouts of stock the storefront showed but the store no longer had", sold.Load(), refused.Load())
	var onHand, reserved int64
	require.NoError(t, survivor.DB.Pool().QueryRow(ctx, `SELECT on_hand, reserved FROM catalog.variants WHERE id = $1`, variant).Scan(&onHand, &reserved))
	require.EqualValues(t, stock, sold.Load(), "every unit sold once the storefront shows none (the database: on hand %d, reserved %d)", onHand, reserved)
	require.EqualValues(t, stock, onHand)
	require.Equal(t, sold.Load(), reserved, "never oversold: what is reserved is what was sold")
	got, _ := availableOn(t, survivor, m.slug, p.str("id"))
	require.Zero(t, got)
}
