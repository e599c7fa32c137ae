package http_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	nethttp "net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/auth"
	"github.com/vayvahq/vayva/node"
	"github.com/vayvahq/vayva/node/nodetest"
)

// catalogNode starts a node whose password hashing is nearly free.
func catalogNode(t testing.TB, opts nodetest.Options) *nodetest.Node {
	t.Helper()
	opts.Configure = func(n *node.Node) { n.AuthConfig.Hash = auth.TestHashParams }
	return nodetest.Start(t, opts)
}

// catResp is one HTTP answer with its JSON body.
type catResp struct {
	Status int
	Header nethttp.Header
	Raw    []byte
	Body   map[string]any
}

func catCall(t testing.TB, base, method, path, token string, body any, headers ...string) catResp {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := nethttp.NewRequest(method, base+path, rd)
	require.NoError(t, err)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := nethttp.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	r := catResp{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &r.Body)
	}
	return r
}

func (r catResp) is(t testing.TB, status int) catResp {
	t.Helper()
	require.Equal(t, status, r.Status, "body: %s", r.Raw)
	return r
}

func (r catResp) problem(t testing.TB, status int, code string) catResp {
	t.Helper()
	r.is(t, status)
	require.Equal(t, "application/problem+json", r.Header.Get("Content-Type"))
	require.Equal(t, code, r.Body["code"], "body: %s", r.Raw)
	return r
}

func (r catResp) fields() []string {
	var out []string
	errs, _ := r.Body["errors"].([]any)
	for _, e := range errs {
		out = append(out, e.(map[string]any)["field"].(string))
	}
	return out
}

func (r catResp) str(key string) string {
	s, _ := r.Body[key].(string)
	return s
}

func (r catResp) list() []map[string]any {
	var out []map[string]any
	data, _ := r.Body["data"].([]any)
	for _, d := range data {
		out = append(out, d.(map[string]any))
	}
	return out
}

func variantsOf(p map[string]any) []map[string]any {
	var out []map[string]any
	for _, v := range p["variants"].([]any) {
		out = append(out, v.(map[string]any))
	}
	return out
}

// merchant is a signed-up merchant: its session token and store.
type merchant struct {
	token, storeID, slug string
}

func signup(t testing.TB, base, business string) merchant {
	t.Helper()
	r := catCall(t, base, "POST", "/v1/auth/signup", "", map[string]any{
		"email": vayva.NewID("u") + "@example.com", "password": "correct horse battery", "name": "Owner", "business_name": business,
	}).is(t, nethttp.StatusCreated)
	store := r.Body["store"].(map[string]any)
	return merchant{token: r.str("token"), storeID: store["id"].(string), slug: store["slug"].(string)}
}

func product(title, status string, skus ...string) map[string]any {
	var variants []map[string]any
	for i, sku := range skus {
		variants = append(variants, map[string]any{"sku": sku, "title": "Size " + sku, "price": 150000 + i, "inventory_quantity": 10})
	}
	return map[string]any{"title": title, "description": "Hand made.", "status": status, "variants": variants}
}

func TestCatalogThroughTheEdge(t *testing.T) {
	t.Parallel()
	n := catalogNode(t, nodetest.Options{})
	m := signup(t, n.BaseURL, "Kemi Prints")

	created := catCall(t, n.BaseURL, "POST", "/v1/products", m.token, product("Adire scarf", "active", "SCARF-BLUE", "SCARF-RED")).is(t, 201)
	require.True(t, vayva.HasIDPrefix(created.str("id"), "prod"))
	require.Equal(t, "Adire scarf", created.str("title"))
	require.Equal(t, "active", created.str("status"))
	vs := variantsOf(created.Body)
	require.Len(t, vs, 2)
	require.Equal(t, "SCARF-BLUE", vs[0]["sku"])
	require.Equal(t, "Size SCARF-BLUE", vs[0]["title"])
	require.EqualValues(t, 150000, vs[0]["price"])
	require.Equal(t, "NGN", vs[0]["currency"])
	require.EqualValues(t, 10, vs[0]["available"])
	require.True(t, vayva.HasIDPrefix(vs[0]["id"].(string), "var"))
	scarf, blue := created.str("id"), vs[0]["id"].(string)

	draft := catCall(t, n.BaseURL, "POST", "/v1/products", m.token, product("Unreleased", "draft", "DRAFT-1")).is(t, 201).str("id")
	gone := catCall(t, n.BaseURL, "POST", "/v1/products", m.token, product("Old stock", "active", "OLD-1")).is(t, 201).str("id")
	catCall(t, n.BaseURL, "DELETE", "/v1/products/"+gone, m.token, nil).is(t, 204)
	got := catCall(t, n.BaseURL, "GET", "/v1/products/"+gone, m.token, nil).is(t, 200)
	require.Equal(t, "archived", got.str("status"), "archived products stay for old orders")

	// The merchant list: newest first, archived left out, paged.
	list := catCall(t, n.BaseURL, "GET", "/v1/products", m.token, nil).is(t, 200)
	require.Len(t, list.list(), 2)
	require.Equal(t, draft, list.list()[0]["id"])
	require.Nil(t, list.Body["next_cursor"])
	page := catCall(t, n.BaseURL, "GET", "/v1/products?limit=1", m.token, nil).is(t, 200)
	require.Len(t, page.list(), 1)
	next := page.str("next_cursor")
	require.NotEmpty(t, next)
	page = catCall(t, n.BaseURL, "GET", "/v1/products?limit=1&cursor="+next, m.token, nil).is(t, 200)
	require.Equal(t, scarf, page.list()[0]["id"])
	archived := catCall(t, n.BaseURL, "GET", "/v1/products?status=archived", m.token, nil).is(t, 200)
	require.Len(t, archived.list(), 1)
	catCall(t, n.BaseURL, "GET", "/v1/products?limit=0", m.token, nil).problem(t, 422, "validation_failed")
	catCall(t, n.BaseURL, "GET", "/v1/products?limit=500", m.token, nil).problem(t, 422, "validation_failed")
	catCall(t, n.BaseURL, "GET", "/v1/products?cursor=zz", m.token, nil).problem(t, 422, "validation_failed")

	patched := catCall(t, n.BaseURL, "PATCH", "/v1/products/"+scarf, m.token, map[string]any{
		"title": "Adire scarf (indigo)", "variants": []map[string]any{{"id": blue, "price": 175000}},
	}).is(t, 200)
	require.Equal(t, "Adire scarf (indigo)", patched.str("title"))
	require.EqualValues(t, 175000, variantsOf(patched.Body)[0]["price"])
	require.EqualValues(t, 150001, variantsOf(patched.Body)[1]["price"])

	adj := catCall(t, n.BaseURL, "POST", "/v1/inventory/adjustments", m.token, map[string]any{"variant_id": blue, "delta": -3, "reason": "stock count"}).is(t, 200)
	require.Equal(t, blue, adj.str("variant_id"))
	require.EqualValues(t, 7, adj.Body["available"])
	require.EqualValues(t, 0, adj.Body["reserved"])
	catCall(t, n.BaseURL, "POST", "/v1/inventory/adjustments", m.token, map[string]any{"variant_id": blue, "delta": -8, "reason": "stock count"}).
		problem(t, 409, "conflict")

	col := catCall(t, n.BaseURL, "POST", "/v1/collections", m.token, map[string]any{"title": "Scarves", "product_ids": []string{scarf, draft}}).is(t, 201)
	require.True(t, vayva.HasIDPrefix(col.str("id"), "col"))
	require.Equal(t, []any{scarf, draft}, col.Body["product_ids"])
	cols := catCall(t, n.BaseURL, "GET", "/v1/collections", m.token, nil).is(t, 200)
	require.Len(t, cols.list(), 1)
	require.Nil(t, cols.Body["next_cursor"])

	// The storefront: active products only, stock as available units.
	sf := catCall(t, n.BaseURL, "GET", "/v1/storefront/"+m.slug, "", nil).is(t, 200)
	require.Equal(t, map[string]any{"slug": m.slug, "name": "Kemi Prints", "currency": "NGN"}, sf.Body)
	sfl := catCall(t, n.BaseURL, "GET", "/v1/storefront/"+m.slug+"/products", "", nil).is(t, 200)
	require.Len(t, sfl.list(), 1)
	require.Equal(t, scarf, sfl.list()[0]["id"])
	sv := variantsOf(sfl.list()[0])[0]
	require.EqualValues(t, 7, sv["available"])
	require.NotContains(t, sv, "reserved")
	require.NotContains(t, sv, "inventory_quantity")
	catCall(t, n.BaseURL, "GET", "/v1/storefront/"+m.slug+"/products/"+scarf, "", nil).is(t, 200)
	catCall(t, n.BaseURL, "GET", "/v1/storefront/"+m.slug+"/products/"+draft, "", nil).problem(t, 404, "not_found")
	catCall(t, n.BaseURL, "GET", "/v1/storefront/"+m.slug+"/products/"+gone, "", nil).problem(t, 404, "not_found")
	catCall(t, n.BaseURL, "GET", "/v1/storefront/no-such-shop", "", nil).problem(t, 404, "not_found")
	catCall(t, n.BaseURL, "GET", "/v1/storefront/no-such-shop/products", "", nil).problem(t, 404, "not_found")

	// Publishing the draft shows it at once.
	catCall(t, n.BaseURL, "PATCH", "/v1/products/"+draft, m.token, map[string]any{"status": "active"}).is(t, 200)
	require.Len(t, catCall(t, n.BaseURL, "GET", "/v1/storefront/"+m.slug+"/products", "", nil).is(t, 200).list(), 2)

	// The store profile.
	st := catCall(t, n.BaseURL, "GET", "/v1/store", m.token, nil).is(t, 200)
	require.Equal(t, m.storeID, st.str("id"))
	require.Equal(t, m.slug, st.str("slug"))
	require.Equal(t, "NGN", st.str("currency"))
	st = catCall(t, n.BaseURL, "PATCH", "/v1/store", m.token, map[string]any{"name": "Kemi Prints Lagos", "settings": map[string]any{"theme": "indigo"}}).is(t, 200)
	require.Equal(t, "Kemi Prints Lagos", st.str("name"))
	require.Equal(t, map[string]any{"theme": "indigo"}, st.Body["settings"])
	require.Equal(t, "Kemi Prints Lagos", catCall(t, n.BaseURL, "GET", "/v1/storefront/"+m.slug, "", nil).is(t, 200).str("name"))
	catCall(t, n.BaseURL, "PATCH", "/v1/store", m.token, map[string]any{"currency": "GHS"}).problem(t, 409, "conflict")
	catCall(t, n.BaseURL, "PATCH", "/v1/store", m.token, map[string]any{"slug": "other"}).problem(t, 422, "validation_failed")

	// Without credentials nothing of the merchant side answers.
	catCall(t, n.BaseURL, "GET", "/v1/products", "", nil).problem(t, 401, "unauthorized")
	catCall(t, n.BaseURL, "GET", "/v1/store", "not-a-token", nil).problem(t, 401, "unauthorized")
}

func TestCatalogIdempotencyKeyAppliesOnce(t *testing.T) {
	t.Parallel()
	n := catalogNode(t, nodetest.Options{})
	m := signup(t, n.BaseURL, "Tolu Beads")
	body := product("Waist beads", "active", "BEADS-1")
	first := catCall(t, n.BaseURL, "POST", "/v1/products", m.token, body, "Idempotency-Key", "k-1").is(t, 201)
	again := catCall(t, n.BaseURL, "POST", "/v1/products", m.token, body, "Idempotency-Key", "k-1").is(t, 201)
	require.Equal(t, "true", again.Header.Get("Idempotency-Replayed"))
	require.Equal(t, first.str("id"), again.str("id"))
	require.Len(t, catCall(t, n.BaseURL, "GET", "/v1/products", m.token, nil).is(t, 200).list(), 1)

	v := variantsOf(first.Body)[0]["id"]
	adj := map[string]any{"variant_id": v, "delta": 5, "reason": "delivery"}
	catCall(t, n.BaseURL, "POST", "/v1/inventory/adjustments", m.token, adj, "Idempotency-Key", "k-2").is(t, 200)
	r := catCall(t, n.BaseURL, "POST", "/v1/inventory/adjustments", m.token, adj, "Idempotency-Key", "k-2").is(t, 200)
	require.EqualValues(t, 15, r.Body["available"])
	var onHand int64
	require.NoError(t, n.DB.Pool().QueryRow(t.Context(), `SELECT on_hand FROM catalog.variants WHERE id = $1`, v).Scan(&onHand))
	require.Equal(t, int64(15), onHand)
}

func TestCatalogTenantsCannotSeeEachOther(t *testing.T) {
	t.Parallel()
	n := catalogNode(t, nodetest.Options{})
	a := signup(t, n.BaseURL, "Amaka Bags")
	b := signup(t, n.BaseURL, "Bisi Shoes")
	p := catCall(t, n.BaseURL, "POST", "/v1/products", a.token, product("Tote", "active", "TOTE")).is(t, 201)
	id, variant := p.str("id"), variantsOf(p.Body)[0]["id"].(string)

	catCall(t, n.BaseURL, "GET", "/v1/products/"+id, b.token, nil).problem(t, 404, "not_found")
	catCall(t, n.BaseURL, "PATCH", "/v1/products/"+id, b.token, map[string]any{"title": "Mine now"}).problem(t, 404, "not_found")
	catCall(t, n.BaseURL, "DELETE", "/v1/products/"+id, b.token, nil).problem(t, 404, "not_found")
	catCall(t, n.BaseURL, "POST", "/v1/inventory/adjustments", b.token, map[string]any{"variant_id": variant, "delta": -1, "reason": "theft"}).
		problem(t, 404, "not_found")
	r := catCall(t, n.BaseURL, "POST", "/v1/collections", b.token, map[string]any{"title": "Stolen", "product_ids": []string{id}}).
		problem(t, 422, "validation_failed")
	require.Equal(t, []string{"product_ids[0]"}, r.fields())
	require.Empty(t, catCall(t, n.BaseURL, "GET", "/v1/products", b.token, nil).is(t, 200).list())
	// SKUs are unique per store, not across stores.
	catCall(t, n.BaseURL, "POST", "/v1/products", b.token, product("Tote", "active", "TOTE")).is(t, 201)
	// Nor does a storefront show another store's product.
	catCall(t, n.BaseURL, "GET", "/v1/storefront/"+b.slug+"/products/"+id, "", nil).problem(t, 404, "not_found")

	got := catCall(t, n.BaseURL, "GET", "/v1/products/"+id, a.token, nil).is(t, 200)
	require.Equal(t, "Tote", got.str("title"))
	require.EqualValues(t, 10, variantsOf(got.Body)[0]["available"])
}

func TestCatalogRefusesBadRequestsAndWritesNothing(t *testing.T) {
	t.Parallel()
	n := catalogNode(t, nodetest.Options{})
	m := signup(t, n.BaseURL, "Chidi Crafts")
	p := catCall(t, n.BaseURL, "POST", "/v1/products", m.token, product("Stool", "active", "STOOL")).is(t, 201)
	id := p.str("id")

	type fence struct{ version, outbox, products, adjustments, collections int64 }
	read := func() fence {
		var f fence
		require.NoError(t, n.DB.Pool().QueryRow(t.Context(), `
			SELECT (SELECT version FROM runtime.actors WHERE kind = 'store' AND identity = $1),
				(SELECT count(*) FROM runtime.outbox WHERE aggregate_kind = 'store'),
				(SELECT count(*) FROM catalog.products), (SELECT count(*) FROM catalog.inventory_adjustments),
				(SELECT count(*) FROM catalog.collections)`, m.storeID).
			Scan(&f.version, &f.outbox, &f.products, &f.adjustments, &f.collections))
		return f
	}
	before := read()

	for _, body := range []string{`{`, `[1,2]`, `{"title":"x"}{}`, ``, `nonsense`} {
		catCall(t, n.BaseURL, "POST", "/v1/products", m.token, body).problem(t, 400, "bad_request")
	}
	catCall(t, n.BaseURL, "PATCH", "/v1/products/"+id, m.token, `{"title":`).problem(t, 400, "bad_request")
	catCall(t, n.BaseURL, "POST", "/v1/inventory/adjustments", m.token, `{`).problem(t, 400, "bad_request")

	cases := []struct {
		method, path string
		body         any
		fields       []string
	}{
		{"POST", "/v1/products", map[string]any{
			"title": strings.Repeat("x", 201), "description": strings.Repeat("d", 5001), "status": "live",
			"variants": []map[string]any{
				{"sku": "STOOL", "title": "A", "price": 1, "inventory_quantity": 1},
				{"sku": "bad sku!", "title": "", "price": -5, "inventory_quantity": -1},
				{"sku": strings.Repeat("S", 65), "price": 1_000_000_000_001, "inventory_quantity": 1_000_000_001},
				{"title": "no sku or price"},
			},
		}, []string{
			"title", "description", "status", "variants[0].sku",
			"variants[1].sku", "variants[1].title", "variants[1].price", "variants[1].inventory_quantity",
			"variants[2].sku", "variants[2].price", "variants[2].inventory_quantity",
			"variants[3].sku", "variants[3].price",
		}},
		{"POST", "/v1/products", map[string]any{"title": "No variants", "variants": []any{}}, []string{"variants"}},
		{"POST", "/v1/products", map[string]any{"title": "Many", "variants": manyVariants(101)}, []string{"variants"}},
		{"POST", "/v1/products", `{"title":"T","variants":[{"sku":"A","price":1,"colour":"red"},{"sku":"B","price":1.5},7]}`,
			[]string{"variants[0].colour", "variants[1].price", "variants[2]"}},
		{"POST", "/v1/products", `{"title":5,"variants":[]}`, []string{"title"}},
		{"PATCH", "/v1/products/" + id, map[string]any{"title": "", "status": "sold", "variants": []map[string]any{{"id": "var_x", "price": -1}}},
			[]string{"title", "status", "variants[0].id"}},
		{"POST", "/v1/inventory/adjustments", map[string]any{"variant_id": variantsOf(p.Body)[0]["id"], "delta": 0, "reason": strings.Repeat("r", 201)},
			[]string{"delta", "reason"}},
		{"POST", "/v1/inventory/adjustments", map[string]any{}, []string{"variant_id", "delta", "reason"}},
		{"POST", "/v1/inventory/adjustments", `{"variant_id":"v","delta":1.5,"reason":"x"}`, []string{"delta"}},
		{"POST", "/v1/collections", map[string]any{"title": " ", "product_ids": []string{id, "prod_nope"}}, []string{"title", "product_ids[1]"}},
		{"PATCH", "/v1/store", map[string]any{"name": strings.Repeat("n", 101), "currency": "EUR", "settings": "dark"},
			[]string{"name", "currency", "settings"}},
	}
	for _, c := range cases {
		r := catCall(t, n.BaseURL, c.method, c.path, m.token, c.body).problem(t, 422, "validation_failed")
		require.ElementsMatch(t, c.fields, r.fields(), "%s %s: %s", c.method, c.path, r.Raw)
	}
	require.Equal(t, before, read(), "refused requests write nothing")
}

func manyVariants(n int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = map[string]any{"sku": fmt.Sprintf("V-%d", i), "price": 1}
	}
	return out
}
