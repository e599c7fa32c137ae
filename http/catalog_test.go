package http_test

import (
	"fmt"
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
	r := apiCall(t, base, "POST", "/v1/auth/signup", "", map[string]any{
		"email": vayva.NewID("u") + "@example.com", "password": "correct horse battery", "name": "Owner", "business_name": business,
	}).requireStatus(t, nethttp.StatusCreated)
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

	created := apiCall(t, n.BaseURL, "POST", "/v1/products", m.token, product("Adire scarf", "active", "SCARF-BLUE", "SCARF-RED")).requireStatus(t, 201)
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

	draft := apiCall(t, n.BaseURL, "POST", "/v1/products", m.token, product("Unreleased", "draft", "DRAFT-1")).requireStatus(t, 201).str("id")
	gone := apiCall(t, n.BaseURL, "POST", "/v1/products", m.token, product("Old stock", "active", "OLD-1")).requireStatus(t, 201).str("id")
	apiCall(t, n.BaseURL, "DELETE", "/v1/products/"+gone, m.token, nil).requireStatus(t, 204)
	got := apiCall(t, n.BaseURL, "GET", "/v1/products/"+gone, m.token, nil).requireStatus(t, 200)
	require.Equal(t, "archived", got.str("status"), "archived products stay for old orders")

	// The merchant list: newest first, archived left out, paged.
	list := apiCall(t, n.BaseURL, "GET", "/v1/products", m.token, nil).requireStatus(t, 200)
	require.Len(t, list.list(), 2)
	require.Equal(t, draft, list.list()[0]["id"])
	require.Nil(t, list.Body["next_cursor"])
	page := apiCall(t, n.BaseURL, "GET", "/v1/products?limit=1", m.token, nil).requireStatus(t, 200)
	require.Len(t, page.list(), 1)
	next := page.str("next_cursor")
	require.NotEmpty(t, next)
	page = apiCall(t, n.BaseURL, "GET", "/v1/products?limit=1&cursor="+next, m.token, nil).requireStatus(t, 200)
	require.Equal(t, scarf, page.list()[0]["id"])
	archived := apiCall(t, n.BaseURL, "GET", "/v1/products?status=archived", m.token, nil).requireStatus(t, 200)
	require.Len(t, archived.list(), 1)
	apiCall(t, n.BaseURL, "GET", "/v1/products?limit=0", m.token, nil).requireProblem(t, 422, "validation_failed")
	apiCall(t, n.BaseURL, "GET", "/v1/products?limit=500", m.token, nil).requireProblem(t, 422, "validation_failed")
	apiCall(t, n.BaseURL, "GET", "/v1/products?cursor=zz", m.token, nil).requireProblem(t, 422, "validation_failed")

	patched := apiCall(t, n.BaseURL, "PATCH", "/v1/products/"+scarf, m.token, map[string]any{
		"title": "Adire scarf (indigo)", "variants": []map[string]any{{"id": blue, "price": 175000}},
	}).requireStatus(t, 200)
	require.Equal(t, "Adire scarf (indigo)", patched.str("title"))
	require.EqualValues(t, 175000, variantsOf(patched.Body)[0]["price"])
	require.EqualValues(t, 150001, variantsOf(patched.Body)[1]["price"])

	adj := apiCall(t, n.BaseURL, "POST", "/v1/inventory/adjustments", m.token, map[string]any{"variant_id": blue, "delta": -3, "reason": "stock count"}).requireStatus(t, 200)
	require.Equal(t, blue, adj.str("variant_id"))
	require.EqualValues(t, 7, adj.Body["available"])
	require.EqualValues(t, 0, adj.Body["reserved"])
	apiCall(t, n.BaseURL, "POST", "/v1/inventory/adjustments", m.token, map[string]any{"variant_id": blue, "delta": -8, "reason": "stock count"}).
		requireProblem(t, 409, "conflict")

	col := apiCall(t, n.BaseURL, "POST", "/v1/collections", m.token, map[string]any{"title": "Scarves", "product_ids": []string{scarf, draft}}).requireStatus(t, 201)
	require.True(t, vayva.HasIDPrefix(col.str("id"), "col"))
	require.Equal(t, []any{scarf, draft}, col.Body["product_ids"])
	cols := apiCall(t, n.BaseURL, "GET", "/v1/collections", m.token, nil).requireStatus(t, 200)
	require.Len(t, cols.list(), 1)
	require.Nil(t, cols.Body["next_cursor"])

	// The storefront: active products only, stock as available units.
	sf := apiCall(t, n.BaseURL, "GET", "/v1/storefront/"+m.slug, "", nil).requireStatus(t, 200)
	require.Equal(t, map[string]any{"slug": m.slug, "name": "Kemi Prints", "currency": "NGN"}, sf.Body)
	sfl := apiCall(t, n.BaseURL, "GET", "/v1/storefront/"+m.slug+"/products", "", nil).requireStatus(t, 200)
	require.Len(t, sfl.list(), 1)
	require.Equal(t, scarf, sfl.list()[0]["id"])
	sv := variantsOf(sfl.list()[0])[0]
	require.EqualValues(t, 7, sv["available"])
	require.NotContains(t, sv, "reserved")
	require.NotContains(t, sv, "inventory_quantity")
	apiCall(t, n.BaseURL, "GET", "/v1/storefront/"+m.slug+"/products/"+scarf, "", nil).requireStatus(t, 200)
	apiCall(t, n.BaseURL, "GET", "/v1/storefront/"+m.slug+"/products/"+draft, "", nil).requireProblem(t, 404, "not_found")
	apiCall(t, n.BaseURL, "GET", "/v1/storefront/"+m.slug+"/products/"+gone, "", nil).requireProblem(t, 404, "not_found")
	apiCall(t, n.BaseURL, "GET", "/v1/storefront/no-such-shop", "", nil).requireProblem(t, 404, "not_found")
	apiCall(t, n.BaseURL, "GET", "/v1/storefront/no-such-shop/products", "", nil).requireProblem(t, 404, "not_found")

	// Publishing the draft shows it at once.
	apiCall(t, n.BaseURL, "PATCH", "/v1/products/"+draft, m.token, map[string]any{"status": "active"}).requireStatus(t, 200)
	require.Len(t, apiCall(t, n.BaseURL, "GET", "/v1/storefront/"+m.slug+"/products", "", nil).requireStatus(t, 200).list(), 2)

	// The store profile.
	st := apiCall(t, n.BaseURL, "GET", "/v1/store", m.token, nil).requireStatus(t, 200)
	require.Equal(t, m.storeID, st.str("id"))
	require.Equal(t, m.slug, st.str("slug"))
	require.Equal(t, "NGN", st.str("currency"))
	st = apiCall(t, n.BaseURL, "PATCH", "/v1/store", m.token, map[string]any{"name": "Kemi Prints Lagos", "settings": map[string]any{"theme": "indigo"}}).requireStatus(t, 200)
	require.Equal(t, "Kemi Prints Lagos", st.str("name"))
	require.Equal(t, map[string]any{"theme": "indigo"}, st.Body["settings"])
	require.Equal(t, "Kemi Prints Lagos", apiCall(t, n.BaseURL, "GET", "/v1/storefront/"+m.slug, "", nil).requireStatus(t, 200).str("name"))
	apiCall(t, n.BaseURL, "PATCH", "/v1/store", m.token, map[string]any{"currency": "GHS"}).requireProblem(t, 409, "conflict")
	apiCall(t, n.BaseURL, "PATCH", "/v1/store", m.token, map[string]any{"slug": "other"}).requireProblem(t, 422, "validation_failed")

	// Platform settings: the fee is shown, never set by the merchant; the
	// WhatsApp number is the merchant's and unique across stores.
	require.EqualValues(t, 150, st.Body["fee_bps"])
	require.Nil(t, st.Body["whatsapp_phone_number_id"])
	apiCall(t, n.BaseURL, "PATCH", "/v1/store", m.token, map[string]any{"fee_bps": 0}).requireProblem(t, 422, "validation_failed")
	st = apiCall(t, n.BaseURL, "PATCH", "/v1/store", m.token, map[string]any{"whatsapp_phone_number_id": "106540352242922"}).requireStatus(t, 200)
	require.Equal(t, "106540352242922", st.str("whatsapp_phone_number_id"))
	other := signup(t, n.BaseURL, "Other Prints")
	r := apiCall(t, n.BaseURL, "PATCH", "/v1/store", other.token, map[string]any{"whatsapp_phone_number_id": "106540352242922"}).requireProblem(t, 409, "conflict")
	require.Equal(t, []string{"whatsapp_phone_number_id"}, r.fieldNames())
	apiCall(t, n.BaseURL, "PATCH", "/v1/store", other.token, map[string]any{"whatsapp_phone_number_id": "+234 80"}).requireProblem(t, 422, "validation_failed")
	apiCall(t, n.BaseURL, "PATCH", "/v1/store", m.token, map[string]any{"whatsapp_phone_number_id": ""}).requireStatus(t, 200)
	st = apiCall(t, n.BaseURL, "PATCH", "/v1/store", other.token, map[string]any{"whatsapp_phone_number_id": "106540352242922"}).requireStatus(t, 200)
	require.Equal(t, "106540352242922", st.str("whatsapp_phone_number_id"))
	require.Nil(t, apiCall(t, n.BaseURL, "GET", "/v1/store", m.token, nil).requireStatus(t, 200).Body["whatsapp_phone_number_id"])

	// Without credentials nothing of the merchant side answers.
	apiCall(t, n.BaseURL, "GET", "/v1/products", "", nil).requireProblem(t, 401, "unauthorized")
	apiCall(t, n.BaseURL, "GET", "/v1/store", "not-a-token", nil).requireProblem(t, 401, "unauthorized")
}

func TestCatalogIdempotencyKeyAppliesOnce(t *testing.T) {
	t.Parallel()
	n := catalogNode(t, nodetest.Options{})
	m := signup(t, n.BaseURL, "Tolu Beads")
	body := product("Waist beads", "active", "BEADS-1")
	first := apiCall(t, n.BaseURL, "POST", "/v1/products", m.token, body, "Idempotency-Key", "k-1").requireStatus(t, 201)
	again := apiCall(t, n.BaseURL, "POST", "/v1/products", m.token, body, "Idempotency-Key", "k-1").requireStatus(t, 201)
	require.Equal(t, "true", again.Header.Get("Idempotency-Replayed"))
	require.Equal(t, first.str("id"), again.str("id"))
	require.Len(t, apiCall(t, n.BaseURL, "GET", "/v1/products", m.token, nil).requireStatus(t, 200).list(), 1)

	v := variantsOf(first.Body)[0]["id"]
	adj := map[string]any{"variant_id": v, "delta": 5, "reason": "delivery"}
	apiCall(t, n.BaseURL, "POST", "/v1/inventory/adjustments", m.token, adj, "Idempotency-Key", "k-2").requireStatus(t, 200)
	r := apiCall(t, n.BaseURL, "POST", "/v1/inventory/adjustments", m.token, adj, "Idempotency-Key", "k-2").requireStatus(t, 200)
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
	p := apiCall(t, n.BaseURL, "POST", "/v1/products", a.token, product("Tote", "active", "TOTE")).requireStatus(t, 201)
	id, variant := p.str("id"), variantsOf(p.Body)[0]["id"].(string)

	apiCall(t, n.BaseURL, "GET", "/v1/products/"+id, b.token, nil).requireProblem(t, 404, "not_found")
	apiCall(t, n.BaseURL, "PATCH", "/v1/products/"+id, b.token, map[string]any{"title": "Mine now"}).requireProblem(t, 404, "not_found")
	apiCall(t, n.BaseURL, "DELETE", "/v1/products/"+id, b.token, nil).requireProblem(t, 404, "not_found")
	apiCall(t, n.BaseURL, "POST", "/v1/inventory/adjustments", b.token, map[string]any{"variant_id": variant, "delta": -1, "reason": "theft"}).
		requireProblem(t, 404, "not_found")
	r := apiCall(t, n.BaseURL, "POST", "/v1/collections", b.token, map[string]any{"title": "Stolen", "product_ids": []string{id}}).
		requireProblem(t, 422, "validation_failed")
	require.Equal(t, []string{"product_ids[0]"}, r.fieldNames())
	require.Empty(t, apiCall(t, n.BaseURL, "GET", "/v1/products", b.token, nil).requireStatus(t, 200).list())
	// SKUs are unique per store, not across stores.
	apiCall(t, n.BaseURL, "POST", "/v1/products", b.token, product("Tote", "active", "TOTE")).requireStatus(t, 201)
	// Nor does a storefront show another store's product.
	apiCall(t, n.BaseURL, "GET", "/v1/storefront/"+b.slug+"/products/"+id, "", nil).requireProblem(t, 404, "not_found")

	got := apiCall(t, n.BaseURL, "GET", "/v1/products/"+id, a.token, nil).requireStatus(t, 200)
	require.Equal(t, "Tote", got.str("title"))
	require.EqualValues(t, 10, variantsOf(got.Body)[0]["available"])
}

func TestCatalogRefusesBadRequestsAndWritesNothing(t *testing.T) {
	t.Parallel()
	n := catalogNode(t, nodetest.Options{})
	m := signup(t, n.BaseURL, "Chidi Crafts")
	p := apiCall(t, n.BaseURL, "POST", "/v1/products", m.token, product("Stool", "active", "STOOL")).requireStatus(t, 201)
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
		apiCall(t, n.BaseURL, "POST", "/v1/products", m.token, body).requireProblem(t, 400, "bad_request")
	}
	apiCall(t, n.BaseURL, "PATCH", "/v1/products/"+id, m.token, `{"title":`).requireProblem(t, 400, "bad_request")
	apiCall(t, n.BaseURL, "POST", "/v1/inventory/adjustments", m.token, `{`).requireProblem(t, 400, "bad_request")

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
		r := apiCall(t, n.BaseURL, c.method, c.path, m.token, c.body).requireProblem(t, 422, "validation_failed")
		require.ElementsMatch(t, c.fields, r.fieldNames(), "%s %s: %s", c.method, c.path, r.Raw)
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
