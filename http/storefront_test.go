package http_test

import (
	nethttp "net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva/node/nodetest"
)

// Every storefront read carries a strong ETag of its bytes and
// Cache-Control; If-None-Match with a current tag (weakly compared, in a
// list, or "*") is 304 with no body; a write changes the tag.
func TestStorefrontETagAndNotModified(t *testing.T) {
	t.Parallel()
	n := catalogNode(t, nodetest.Options{})
	m := signup(t, n.BaseURL, "Tagged Wares")
	p := apiCall(t, n.BaseURL, "POST", "/v1/products", m.token, product("Tote", "active", "TOTE")).requireStatus(t, 201)
	apiCall(t, n.BaseURL, "POST", "/v1/products", m.token, product("Draft", "draft", "DRAFT")).requireStatus(t, 201)
	variant := variantsOf(p.Body)[0]["id"].(string)

	paths := []string{
		"/v1/storefront/" + m.slug,
		"/v1/storefront/" + m.slug + "/products",
		"/v1/storefront/" + m.slug + "/products?limit=1",
		"/v1/storefront/" + m.slug + "/products/" + p.str("id"),
	}
	tags := map[string]string{}
	for _, path := range paths {
		first := apiCall(t, n.BaseURL, "GET", path, "", nil).requireStatus(t, 200)
		tag := first.Header.Get("ETag")
		require.Regexp(t, `^"[0-9a-f]{16}"$`, tag, path)
		require.Equal(t, "public, max-age=5", first.Header.Get("Cache-Control"), path)
		again := apiCall(t, n.BaseURL, "GET", path, "", nil).requireStatus(t, 200)
		require.Equal(t, tag, again.Header.Get("ETag"), "same bytes, same tag: %s", path)
		require.Equal(t, first.Raw, again.Raw)

		for _, inm := range []string{tag, "W/" + tag, `"0000000000000000", ` + tag, "*"} {
			nm := apiCall(t, n.BaseURL, "GET", path, "", nil, "If-None-Match", inm).requireStatus(t, nethttp.StatusNotModified)
			require.Empty(t, nm.Raw, "304 has no body")
			require.Equal(t, tag, nm.Header.Get("ETag"))
			require.Equal(t, "public, max-age=5", nm.Header.Get("Cache-Control"))
		}
		other := apiCall(t, n.BaseURL, "GET", path, "", nil, "If-None-Match", `"0000000000000000"`).requireStatus(t, 200)
		require.Equal(t, first.Raw, other.Raw)
		tags[path] = tag
	}
	// Products of another store, drafts and unknown ids are not found and
	// carry no tag.
	nf := apiCall(t, n.BaseURL, "GET", "/v1/storefront/"+m.slug+"/products/prod_unknown", "", nil).requireStatus(t, 404)
	require.Empty(t, nf.Header.Get("ETag"))

	// A stock change shows on the node that runs the store at once: the
	// list and the product answer anew, with a new tag; the store's own
	// answer did not change and keeps its tag.
	apiCall(t, n.BaseURL, "POST", "/v1/inventory/adjustments", m.token, map[string]any{"variant_id": variant, "delta": 5, "reason": "restock"}).requireStatus(t, 200)
	for _, path := range paths {
		r := apiCall(t, n.BaseURL, "GET", path, "", nil, "If-None-Match", tags[path])
		if path == paths[0] {
			r.requireStatus(t, nethttp.StatusNotModified)
			continue
		}
		r.requireStatus(t, 200)
		require.NotEqual(t, tags[path], r.Header.Get("ETag"), path)
	}
	got := apiCall(t, n.BaseURL, "GET", paths[3], "", nil).requireStatus(t, 200)
	require.EqualValues(t, 15, variantsOf(got.Body)[0]["available"])

	// A profile change changes the store's tag.
	apiCall(t, n.BaseURL, "PATCH", "/v1/store", m.token, map[string]any{"name": "Tagged Wares Ltd"}).requireStatus(t, 200)
	r := apiCall(t, n.BaseURL, "GET", paths[0], "", nil, "If-None-Match", tags[paths[0]]).requireStatus(t, 200)
	require.Equal(t, "Tagged Wares Ltd", r.str("name"))
}

// VAYVA_STOREFRONT_MAX_AGE=0 makes every answer revalidate.
func TestStorefrontNoCache(t *testing.T) {
	t.Parallel()
	n := catalogNode(t, nodetest.Options{Env: map[string]string{"VAYVA_STOREFRONT_MAX_AGE": "0"}})
	m := signup(t, n.BaseURL, "Fresh Goods")
	r := apiCall(t, n.BaseURL, "GET", "/v1/storefront/"+m.slug+"/products", "", nil).requireStatus(t, 200)
	require.Equal(t, "public, no-cache", r.Header.Get("Cache-Control"))
}
