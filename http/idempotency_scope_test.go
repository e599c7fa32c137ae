package http

import (
	"testing"

	"github.com/fasthttp/router"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"

	"github.com/vayvahq/vayva"
)

func TestIdempotencyScope(t *testing.T) {
	scope := func(path string, values map[any]any) string {
		var rc fasthttp.RequestCtx
		rc.Request.SetRequestURI(path)
		for k, v := range values {
			rc.SetUserValue(k, v)
		}
		return idempotencyScope(&rc)
	}
	tenant := func(merchant, store, user string) vayva.Tenant {
		return vayva.Tenant{MerchantID: merchant, StoreID: store, UserID: user, CredentialID: "ses_1", Role: vayva.RoleOwner}
	}
	const checkout = "/v1/storefront/{slug}/checkout"
	scopes := []string{
		scope("/v1/products", map[any]any{tenantKey: tenant("mer_a", "sto_a", "usr_1")}),
		scope("/v1/products", map[any]any{tenantKey: tenant("mer_a", "sto_a", "usr_2")}),
		scope("/v1/products", map[any]any{tenantKey: tenant("mer_b", "sto_b", "usr_1")}),
		scope("/v1/storefront/shop-a/checkout", map[any]any{router.MatchedRoutePathParam: checkout, "slug": "shop-a"}),
		scope("/v1/storefront/shop-b/checkout", map[any]any{router.MatchedRoutePathParam: checkout, "slug": "shop-b"}),
		scope("/v1/auth/verify-email", map[any]any{router.MatchedRoutePathParam: "/v1/auth/verify-email"}),
	}
	seen := map[string]bool{}
	for _, s := range scopes {
		require.False(t, seen[s], "scope %q is shared", s)
		seen[s] = true
	}
	// The same principal keeps its scope whatever the route or credential.
	other := tenant("mer_a", "sto_a", "usr_1")
	other.CredentialID = "key_1"
	require.Equal(t, scopes[0], scope("/v1/store/members", map[any]any{tenantKey: other}))
	require.Equal(t, "public:"+checkout+":shop-a", scopes[3])
}
