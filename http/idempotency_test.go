package http_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/node/nodetest"
)

// Idempotency-Key records belong to the principal that made them: two
// tenants, or two users of one store, using the same key on the same route
// each get their own result; only the same principal with the same body
// gets a replay.
func TestIdempotencyKeysBelongToTheirPrincipal(t *testing.T) {
	t.Parallel()
	n := authNode(t, nodetest.Options{})
	a := authSignup(t, n, "gold@example.com", "Gold Beads")
	b := authSignup(t, n, "hadiza@example.com", "Hadiza Hats")
	const key = "client-key-0001"
	body := map[string]any{"email": "helper@example.com", "role": "staff"}

	ra := apiCall(t, n.BaseURL, "POST", "/v1/store/members", a.str("token"), body, "Idempotency-Key", key).requireStatus(t, 201)
	rb := apiCall(t, n.BaseURL, "POST", "/v1/store/members", b.str("token"), body, "Idempotency-Key", key).requireStatus(t, 201)
	require.Empty(t, rb.Header.Get("Idempotency-Replayed"), "another tenant's key is not ours")
	require.NotEqual(t, ra.str("id"), rb.str("id"))
	require.Len(t, apiCall(t, n.BaseURL, "GET", "/v1/store/members", b.str("token"), nil).requireStatus(t, 200).list(), 2)

	again := apiCall(t, n.BaseURL, "POST", "/v1/store/members", a.str("token"), body, "Idempotency-Key", key).requireStatus(t, 201)
	require.Equal(t, "true", again.Header.Get("Idempotency-Replayed"))
	require.Equal(t, string(ra.Raw), string(again.Raw))
	require.Len(t, authEmailsOf(t, n, "helper@example.com", vayva.EmailInvitation), 2, "the replay sent no email")
	apiCall(t, n.BaseURL, "POST", "/v1/store/members", a.str("token"), map[string]any{"email": "other@example.com", "role": "staff"}, "Idempotency-Key", key).
		requireProblem(t, 422, "idempotency_key_reused")
	// The session and an API key of one user are one principal.
	k := apiCall(t, n.BaseURL, "POST", "/v1/api-keys", a.str("token"), map[string]any{"name": "ci"}).requireStatus(t, 201).str("key")
	viaKey := apiCall(t, n.BaseURL, "POST", "/v1/store/members", k, body, "Idempotency-Key", key).requireStatus(t, 201)
	require.Equal(t, "true", viaKey.Header.Get("Idempotency-Replayed"))

	// A second user of A's store (an admin who accepted an invitation)
	// has keys of their own, also for the store actor's commands.
	authSignup(t, n, "ibro@example.com", "Ibro Imports")
	authVerify(t, n, "ibro@example.com")
	apiCall(t, n.BaseURL, "POST", "/v1/store/members", a.str("token"), map[string]any{"email": "ibro@example.com", "role": "admin"}).requireStatus(t, 201)
	tok := authInviteFromEmail(t, n, authEmailsOf(t, n, "ibro@example.com", vayva.EmailInvitation)[0])
	admin := apiCall(t, n.BaseURL, "POST", "/v1/invitations/accept", "", map[string]any{"token": tok, "password": authPassword}).requireStatus(t, 200).str("token")
	fromAdmin := apiCall(t, n.BaseURL, "POST", "/v1/store/members", admin, body, "Idempotency-Key", key).requireStatus(t, 201)
	require.Empty(t, fromAdmin.Header.Get("Idempotency-Replayed"), "two users of one store do not share keys")

	product := map[string]any{"title": "Beads", "status": "active", "variants": []map[string]any{{"sku": "BEAD-1", "title": "One", "price": 1000, "inventory_quantity": 5}}}
	first := apiCall(t, n.BaseURL, "POST", "/v1/products", a.str("token"), product, "Idempotency-Key", "product-key").requireStatus(t, 201)
	replay := apiCall(t, n.BaseURL, "POST", "/v1/products", a.str("token"), product, "Idempotency-Key", "product-key").requireStatus(t, 201)
	require.Equal(t, "true", replay.Header.Get("Idempotency-Replayed"))
	require.Equal(t, first.str("id"), replay.str("id"))
	// The admin's identical request is a command of its own: it is not
	// answered with the owner's product, and its SKU is taken by then.
	theirs := apiCall(t, n.BaseURL, "POST", "/v1/products", admin, product, "Idempotency-Key", "product-key")
	require.Empty(t, theirs.Header.Get("Idempotency-Replayed"))
	require.NotEqual(t, 201, theirs.Status, "body: %s", theirs.Raw)
	require.Contains(t, string(theirs.Raw), "sku")
}

// Anonymous routes share keys per route: the same key replays only a
// byte-identical request.
func TestIdempotencyKeysOnAnonymousRoutes(t *testing.T) {
	t.Parallel()
	n := authNode(t, nodetest.Options{})
	authSignup(t, n, "jide@example.com", "Jide Juice")
	authSignup(t, n, "kemi@example.com", "Kemi Kitchen")
	t1 := authTokenFromEmail(t, n, authEmailsOf(t, n, "jide@example.com", vayva.EmailVerification)[0])
	t2 := authTokenFromEmail(t, n, authEmailsOf(t, n, "kemi@example.com", vayva.EmailVerification)[0])

	first := apiCall(t, n.BaseURL, "POST", "/v1/auth/verify-email", "", map[string]any{"token": t1}, "Idempotency-Key", "anon-1").requireStatus(t, 200)
	again := apiCall(t, n.BaseURL, "POST", "/v1/auth/verify-email", "", map[string]any{"token": t1}, "Idempotency-Key", "anon-1").requireStatus(t, 200)
	require.Equal(t, "true", again.Header.Get("Idempotency-Replayed"))
	require.Equal(t, string(first.Raw), string(again.Raw))
	apiCall(t, n.BaseURL, "POST", "/v1/auth/verify-email", "", map[string]any{"token": t2}, "Idempotency-Key", "anon-1").
		requireProblem(t, 422, "idempotency_key_reused")
	// Bytes matter: the same JSON spelled differently is another request.
	apiCall(t, n.BaseURL, "POST", "/v1/auth/verify-email", "", `{"token": "`+t1+`"}`, "Idempotency-Key", "anon-1").
		requireProblem(t, 422, "idempotency_key_reused")
	apiCall(t, n.BaseURL, "POST", "/v1/auth/verify-email", "", map[string]any{"token": t2}, "Idempotency-Key", "anon-2").requireStatus(t, 200)
}
