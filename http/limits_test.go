package http_test

import (
	nethttp "net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/node/nodetest"
)

// maxProblemSize bounds the answer to a request with a huge list: 50 field
// errors of a few hundred bytes each, whatever the list's length.
const maxProblemSize = 16 << 10

// jsonList returns a JSON list of n copies of item.
func jsonList(item string, n int) string {
	return "[" + strings.TrimSuffix(strings.Repeat(item+",", n), ",") + "]"
}

// requireSmallValidationProblem checks a 422 whose answer stayed small and
// lists at most vayva.MaxFieldErrors fields.
func requireSmallValidationProblem(t *testing.T, r apiResp) apiResp {
	t.Helper()
	r.requireProblem(t, nethttp.StatusUnprocessableEntity, vayva.EINVALID)
	require.Less(t, len(r.Raw), maxProblemSize, "the answer is %d bytes", len(r.Raw))
	require.LessOrEqual(t, len(r.fieldNames()), vayva.MaxFieldErrors)
	for _, k := range []string{"type", "title", "status", "detail", "code"} {
		require.Contains(t, r.Body, k)
	}
	return r
}

func TestHugeListsGetSmallAnswers(t *testing.T) {
	t.Parallel()
	n := catalogNode(t, nodetest.Options{})
	m := signup(t, n.BaseURL, "Huge Lists")
	id := apiCall(t, n.BaseURL, "POST", "/v1/products", m.token, product("Scarf", "active", "H-1")).requireStatus(t, 201).str("id")

	t.Run("PATCH product with 100k empty variants", func(t *testing.T) {
		body := `{"variants":` + jsonList(`{}`, 100_000) + `}`
		r := requireSmallValidationProblem(t, apiCall(t, n.BaseURL, "PATCH", "/v1/products/"+id, m.token, body))
		require.Equal(t, []string{"variants"}, r.fieldNames(), "one error for the list: %s", r.Raw)
	})
	t.Run("PATCH product with 40k mistyped variants", func(t *testing.T) {
		body := `{"variants":` + jsonList(`{"id":1,"bogus":true}`, 40_000) + `}`
		r := requireSmallValidationProblem(t, apiCall(t, n.BaseURL, "PATCH", "/v1/products/"+id, m.token, body))
		require.Equal(t, []string{"variants"}, r.fieldNames(), "one error for the list: %s", r.Raw)
	})
	t.Run("POST product with 100k variants", func(t *testing.T) {
		body := `{"title":"Many","variants":` + jsonList(`{}`, 100_000) + `}`
		r := requireSmallValidationProblem(t, apiCall(t, n.BaseURL, "POST", "/v1/products", m.token, body))
		require.Equal(t, []string{"variants"}, r.fieldNames())
	})
	t.Run("a list within its bound, every entry wrong", func(t *testing.T) {
		// 100 variants without ids: the store actor finds 100 problems and
		// the answer lists the first 50, saying how many more there were.
		body := `{"variants":` + jsonList(`{}`, 100) + `}`
		r := requireSmallValidationProblem(t, apiCall(t, n.BaseURL, "PATCH", "/v1/products/"+id, m.token, body))
		names := r.fieldNames()
		require.Len(t, names, vayva.MaxFieldErrors)
		require.Equal(t, "variants[0].id", names[0])
		require.Equal(t, "variants[49].id", names[49])
		require.Contains(t, r.str("detail"), "50 more")
	})

	tok := weMerchant(t, n, "hugelists@example.com")
	t.Run("POST webhook endpoint with 100k events", func(t *testing.T) {
		body := `{"url":"https://example.com/hook","events":` + jsonList(`"x"`, 100_000) + `}`
		r := requireSmallValidationProblem(t, apiCall(t, n.BaseURL, "POST", "/v1/webhook-endpoints", tok, body))
		require.Equal(t, []string{"events"}, r.fieldNames())
	})
	t.Run("POST webhook endpoint with 70k known events", func(t *testing.T) {
		body := `{"url":"https://example.com/hook","events":` + jsonList(`"order.paid"`, 70_000) + `}`
		r := requireSmallValidationProblem(t, apiCall(t, n.BaseURL, "POST", "/v1/webhook-endpoints", tok, body))
		require.Equal(t, []string{"events"}, r.fieldNames())
	})
	t.Run("webhook endpoint errors past the cap", func(t *testing.T) {
		body := `{"url":"ftp://example.com","events":` + jsonList(`"order.stolen"`, 50) + `}`
		r := requireSmallValidationProblem(t, apiCall(t, n.BaseURL, "POST", "/v1/webhook-endpoints", tok, body))
		require.Len(t, r.fieldNames(), vayva.MaxFieldErrors)
		require.Equal(t, "url", r.fieldNames()[0])
		require.Contains(t, r.str("detail"), "1 more")
	})
	require.Empty(t, apiCall(t, n.BaseURL, "GET", "/v1/webhook-endpoints", tok, nil).requireStatus(t, 200).list(), "nothing was created")
	got := apiCall(t, n.BaseURL, "GET", "/v1/products/"+id, m.token, nil).requireStatus(t, 200)
	require.Len(t, variantsOf(got.Body), 1, "nothing changed")
}
