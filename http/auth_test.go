package http_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	nethttp "net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/auth"
	"github.com/vayvahq/vayva/node"
	"github.com/vayvahq/vayva/node/nodetest"
)

// authNode starts a node whose password hashing is nearly free, so that
// tests can sign up and sign in often.
func authNode(t *testing.T, opts nodetest.Options) *nodetest.Node {
	t.Helper()
	prev := opts.Configure
	opts.Configure = func(n *node.Node) {
		n.AuthConfig.Hash = auth.TestHashParams
		if prev != nil {
			prev(n)
		}
	}
	return nodetest.Start(t, opts)
}

const authPassword = "correct horse battery"

// authSignup signs up a fresh merchant and returns the answer.
func authSignup(t *testing.T, n *nodetest.Node, email, business string) apiResp {
	t.Helper()
	return apiCall(t, n.BaseURL, "POST", "/v1/auth/signup", "", map[string]any{
		"email": email, "password": authPassword, "name": "Owner of " + business, "business_name": business,
	}).requireStatus(t, nethttp.StatusCreated)
}

func authLogin(t *testing.T, n *nodetest.Node, email, password string) apiResp {
	t.Helper()
	return apiCall(t, n.BaseURL, "POST", "/v1/auth/login", "", map[string]any{"email": email, "password": password})
}

func authCount(t *testing.T, n *nodetest.Node, query string, args ...any) int {
	t.Helper()
	var c int
	require.NoError(t, n.DB.Pool().QueryRow(context.Background(), query, args...).Scan(&c))
	return c
}

// authEmails returns the email.send events in the outbox addressed to to.
func authEmails(t *testing.T, n *nodetest.Node, to string) []vayva.SendEmail {
	t.Helper()
	rows, err := n.DB.Pool().Query(context.Background(),
		`SELECT payload FROM runtime.outbox WHERE type = 'email.send' AND queue = 'email' ORDER BY id`)
	require.NoError(t, err)
	defer rows.Close()
	var out []vayva.SendEmail
	for rows.Next() {
		var raw []byte
		require.NoError(t, rows.Scan(&raw))
		var e vayva.Event
		require.NoError(t, json.Unmarshal(raw, &e))
		var m vayva.SendEmail
		require.NoError(t, json.Unmarshal(e.Data, &m))
		if strings.EqualFold(m.To, to) {
			require.Equal(t, m.MerchantID, e.MerchantID)
			out = append(out, m)
		}
	}
	require.NoError(t, rows.Err())
	return out
}

// authTokenFromEmail takes the token out of an email's verify_url.
func authTokenFromEmail(t *testing.T, n *nodetest.Node, m vayva.SendEmail) string {
	t.Helper()
	u := m.Vars["verify_url"]
	require.True(t, strings.HasPrefix(u, n.Config().PublicURL+"/verify-email?token="), u)
	parsed, err := url.Parse(u)
	require.NoError(t, err)
	tok := parsed.Query().Get("token")
	require.True(t, strings.HasPrefix(tok, auth.VerificationPrefix), tok)
	return tok
}

// authEmailsOf returns the emails of one template addressed to to.
func authEmailsOf(t *testing.T, n *nodetest.Node, to, template string) []vayva.SendEmail {
	t.Helper()
	var out []vayva.SendEmail
	for _, m := range authEmails(t, n, to) {
		if m.Template == template {
			out = append(out, m)
		}
	}
	return out
}

// authInviteFromEmail takes the token out of an invitation's accept_url.
func authInviteFromEmail(t *testing.T, n *nodetest.Node, m vayva.SendEmail) string {
	t.Helper()
	require.Equal(t, vayva.EmailInvitation, m.Template)
	u := m.Vars["accept_url"]
	require.True(t, strings.HasPrefix(u, n.Config().PublicURL+"/accept-invitation?token="), u)
	parsed, err := url.Parse(u)
	require.NoError(t, err)
	tok := parsed.Query().Get("token")
	require.True(t, strings.HasPrefix(tok, auth.InvitationPrefix), tok)
	return tok
}

// authVerify verifies the address of a signed-up user with the token of
// their verification email.
func authVerify(t *testing.T, n *nodetest.Node, email string) {
	t.Helper()
	ms := authEmailsOf(t, n, email, vayva.EmailVerification)
	require.NotEmpty(t, ms)
	apiCall(t, n.BaseURL, "POST", "/v1/auth/verify-email", "", map[string]any{"token": authTokenFromEmail(t, n, ms[len(ms)-1])}).requireStatus(t, 200)
}

// authKeys returns the sorted keys of a JSON object.
func authKeys(m map[string]any) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func toAny(m map[string]string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// authMetric sums a counter's series from a node's /metrics.
func authMetric(t *testing.T, n *nodetest.Node, name string) float64 {
	t.Helper()
	r := apiCall(t, n.BaseURL, "GET", "/metrics", "", nil).requireStatus(t, 200)
	var sum float64
	for _, line := range strings.Split(string(r.Raw), "\n") {
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			v, err := strconv.ParseFloat(strings.Fields(line)[len(strings.Fields(line))-1], 64)
			require.NoError(t, err)
			sum += v
		}
	}
	return sum
}

func sha(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func TestAuthSignupLoginMe(t *testing.T) {
	t.Parallel()
	n := authNode(t, nodetest.Options{})

	su := authSignup(t, n, "Ada@Example.com", "Ada's Shoes")
	token := su.str("token")
	require.True(t, strings.HasPrefix(token, auth.SessionPrefix), token)
	require.Equal(t, "Ada@Example.com", su.str("user", "email"))
	require.Equal(t, "Owner of Ada's Shoes", su.str("user", "name"))
	require.Equal(t, false, su.Body["user"].(map[string]any)["email_verified"])
	require.True(t, vayva.HasIDPrefix(su.str("user", "id"), "usr"))
	require.True(t, vayva.HasIDPrefix(su.str("merchant", "id"), "mer"))
	require.Equal(t, "Ada's Shoes", su.str("merchant", "name"))
	require.True(t, vayva.HasIDPrefix(su.str("store", "id"), "sto"))
	require.Equal(t, "ada-s-shoes", su.str("store", "slug"))
	require.Equal(t, "Ada's Shoes", su.str("store", "name"))
	require.Equal(t, "NGN", su.str("store", "currency"))
	exp, err := time.Parse(time.RFC3339, su.str("expires_at"))
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(30*24*time.Hour), exp, time.Hour)

	me := apiCall(t, n.BaseURL, "GET", "/v1/me", token, nil).requireStatus(t, 200)
	require.Equal(t, "owner", me.str("role"))
	require.Equal(t, su.str("user", "id"), me.str("user", "id"))
	require.Equal(t, su.str("merchant", "id"), me.str("merchant", "id"))
	require.Equal(t, su.str("store", "id"), me.str("store", "id"))
	require.Equal(t, "ada-s-shoes", me.str("store", "slug"))

	// Emails compare without case.
	li := authLogin(t, n, "ada@EXAMPLE.com", authPassword).requireStatus(t, 200)
	token2 := li.str("token")
	require.NotEqual(t, token, token2)
	require.Equal(t, su.str("user", "id"), li.str("user", "id"))
	require.Equal(t, su.str("store", "id"), li.str("store", "id"))
	require.Equal(t, "owner", li.str("role"))
	apiCall(t, n.BaseURL, "GET", "/v1/me", token2, nil).requireStatus(t, 200)
	apiCall(t, n.BaseURL, "GET", "/v1/me", token, nil).requireStatus(t, 200)

	// What the database holds: hashes only, and the rows of every domain.
	uid, sid, mid := su.str("user", "id"), su.str("store", "id"), su.str("merchant", "id")
	require.Equal(t, 1, authCount(t, n, `SELECT count(*) FROM auth.sessions WHERE token_hash = $1 AND user_id = $2`, sha(token), uid))
	require.Equal(t, 1, authCount(t, n, `SELECT count(*) FROM auth.sessions WHERE token_hash = $1`, sha(token2)))
	require.Equal(t, 0, authCount(t, n, `SELECT count(*) FROM auth.sessions s WHERE position($1 in s::text) > 0`, token))
	require.Equal(t, 1, authCount(t, n, `SELECT count(*) FROM auth.users WHERE id = $1 AND password_hash LIKE '$argon2id$v=19$%'`, uid))
	require.Equal(t, 1, authCount(t, n, `SELECT count(*) FROM merchant.merchants WHERE id = $1 AND owner_user_id = $2`, mid, uid))
	require.Equal(t, 1, authCount(t, n, `SELECT count(*) FROM merchant.business_profiles WHERE merchant_id = $1`, mid))
	require.Equal(t, 1, authCount(t, n, `
		SELECT count(*) FROM merchant.stores WHERE id = $1 AND merchant_id = $2 AND slug = 'ada-s-shoes'
			AND currency = 'NGN' AND status = 'active' AND settings = '{}'::jsonb AND created_at <= updated_at`, sid, mid))
	require.Equal(t, 1, authCount(t, n, `SELECT count(*) FROM merchant.team_members WHERE store_id = $1 AND user_id = $2 AND role = 'owner'`, sid, uid))
}

func TestAuthSignupConflicts(t *testing.T) {
	t.Parallel()
	n := authNode(t, nodetest.Options{})
	first := authSignup(t, n, "bola@example.com", "Bola Foods")
	require.Equal(t, "bola-foods", first.str("store", "slug"))

	// The same email in other case: 409, and nothing of it is written.
	dup := apiCall(t, n.BaseURL, "POST", "/v1/auth/signup", "", map[string]any{
		"email": "BOLA@example.com", "password": authPassword, "name": "Bola", "business_name": "Other Name",
	}).requireProblem(t, 409, "conflict")
	require.Contains(t, dup.fields(), "email")
	require.Equal(t, 1, authCount(t, n, `SELECT count(*) FROM auth.users`))
	require.Equal(t, 1, authCount(t, n, `SELECT count(*) FROM merchant.merchants`))
	require.Equal(t, 0, authCount(t, n, `SELECT count(*) FROM merchant.stores WHERE slug = 'other-name'`))
	require.Len(t, authEmails(t, n, "bola@example.com"), 1, "one verification email, from the first sign-up")

	// A derived slug that is taken gets a suffix; an explicit one is a conflict.
	second := authSignup(t, n, "tunde@example.com", "Bola Foods")
	require.Equal(t, "bola-foods-2", second.str("store", "slug"))
	third := authSignup(t, n, "kemi@example.com", "Bola Foods!")
	require.Equal(t, "bola-foods-3", third.str("store", "slug"))

	taken := apiCall(t, n.BaseURL, "POST", "/v1/auth/signup", "", map[string]any{
		"email": "femi@example.com", "password": authPassword, "name": "Femi", "business_name": "Femi", "store_slug": "bola-foods",
	}).requireProblem(t, 409, "conflict")
	require.Contains(t, taken.fields(), "store_slug")
	require.Equal(t, 0, authCount(t, n, `SELECT count(*) FROM auth.users WHERE email = 'femi@example.com'`))
	require.Empty(t, authEmails(t, n, "femi@example.com"))

	own := apiCall(t, n.BaseURL, "POST", "/v1/auth/signup", "", map[string]any{
		"email": "femi@example.com", "password": authPassword, "name": "Femi", "business_name": "Femi", "store_slug": "femi-stores",
	}).requireStatus(t, 201)
	require.Equal(t, "femi-stores", own.str("store", "slug"))
}

func TestAuthSignupValidation(t *testing.T) {
	t.Parallel()
	n := authNode(t, nodetest.Options{})

	bad := apiCall(t, n.BaseURL, "POST", "/v1/auth/signup", "", map[string]any{
		"email": "not-an-email", "password": "short", "name": "", "business_name": strings.Repeat("x", 101), "store_slug": "Bad Slug",
	}).requireProblem(t, 422, "validation_failed")
	f := bad.fields()
	for _, field := range []string{"email", "password", "name", "business_name", "store_slug"} {
		require.Contains(t, f, field)
	}
	require.Len(t, f, 5)

	missing := apiCall(t, n.BaseURL, "POST", "/v1/auth/signup", "", map[string]any{}).requireProblem(t, 422, "validation_failed")
	require.Len(t, missing.fields(), 4, "every required field is named: %s", missing.Raw)

	long := apiCall(t, n.BaseURL, "POST", "/v1/auth/signup", "", map[string]any{
		"email": strings.Repeat("a", 250) + "@x.io", "password": strings.Repeat("p", 257), "name": "A", "business_name": "B",
	}).requireProblem(t, 422, "validation_failed")
	require.Contains(t, long.fields(), "email")
	require.Contains(t, long.fields(), "password")

	apiCall(t, n.BaseURL, "POST", "/v1/auth/signup", "", `{"email":`).requireProblem(t, 400, "bad_request")
	apiCall(t, n.BaseURL, "POST", "/v1/auth/signup", "", `[]`).requireProblem(t, 400, "bad_request")
	unknown := apiCall(t, n.BaseURL, "POST", "/v1/auth/signup", "", map[string]any{
		"email": "a@b.co", "password": authPassword, "name": "A", "business_name": "B", "admin": true,
	}).requireProblem(t, 422, "validation_failed")
	require.Contains(t, unknown.fields(), "admin")
	typed := apiCall(t, n.BaseURL, "POST", "/v1/auth/signup", "", `{"email": 12}`).requireProblem(t, 422, "validation_failed")
	require.Contains(t, typed.fields(), "email")

	// Nothing was written by any refused request.
	for _, table := range []string{"auth.users", "auth.sessions", "auth.verification_tokens", "merchant.merchants", "merchant.stores", "merchant.team_members", "runtime.outbox"} {
		require.Equal(t, 0, authCount(t, n, "SELECT count(*) FROM "+table), table)
	}

	// Sign-in validates shape only.
	li := apiCall(t, n.BaseURL, "POST", "/v1/auth/login", "", map[string]any{}).requireProblem(t, 422, "validation_failed")
	require.Contains(t, li.fields(), "email")
	require.Contains(t, li.fields(), "password")
	apiCall(t, n.BaseURL, "POST", "/v1/auth/login", "", `nope`).requireProblem(t, 400, "bad_request")
}

func TestAuthVerificationEmail(t *testing.T) {
	t.Parallel()
	n := authNode(t, nodetest.Options{})
	su := authSignup(t, n, "chidi@example.com", "Chidi Wears")
	token := su.str("token")

	emails := authEmails(t, n, "chidi@example.com")
	require.Len(t, emails, 1)
	m := emails[0]
	require.Equal(t, vayva.EmailVerification, m.Template)
	require.Equal(t, su.str("merchant", "id"), m.MerchantID)
	require.Equal(t, "Owner of Chidi Wears", m.Vars["name"])
	vtok := authTokenFromEmail(t, n, m)
	require.Equal(t, 1, authCount(t, n, `SELECT count(*) FROM auth.verification_tokens WHERE token_hash = $1 AND purpose = 'verify_email'`, sha(vtok)))

	// A password is not accepted with an email verification.
	pw := apiCall(t, n.BaseURL, "POST", "/v1/auth/verify-email", "", map[string]any{"token": vtok, "password": "another long password"}).
		requireProblem(t, 422, "validation_failed")
	require.Contains(t, pw.fields(), "password")

	v := apiCall(t, n.BaseURL, "POST", "/v1/auth/verify-email", "", map[string]any{"token": vtok}).requireStatus(t, 200)
	require.Equal(t, true, v.Body["user"].(map[string]any)["email_verified"])
	require.Equal(t, su.str("user", "id"), v.str("user", "id"))
	me := apiCall(t, n.BaseURL, "GET", "/v1/me", token, nil).requireStatus(t, 200)
	require.Equal(t, true, me.Body["user"].(map[string]any)["email_verified"])

	// Single use.
	again := apiCall(t, n.BaseURL, "POST", "/v1/auth/verify-email", "", map[string]any{"token": vtok}).requireProblem(t, 422, "validation_failed")
	require.Contains(t, again.fields(), "token")
	// Unknown, malformed and missing tokens.
	for _, tok := range []string{vayva.NewSecret(auth.VerificationPrefix), "garbage", ""} {
		r := apiCall(t, n.BaseURL, "POST", "/v1/auth/verify-email", "", map[string]any{"token": tok}).requireProblem(t, 422, "validation_failed")
		require.Contains(t, r.fields(), "token")
	}

	// Expired.
	su2 := authSignup(t, n, "ngozi@example.com", "Ngozi Hair")
	vtok2 := authTokenFromEmail(t, n, authEmails(t, n, "ngozi@example.com")[0])
	_, err := n.DB.Pool().Exec(context.Background(), `UPDATE auth.verification_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = $1`, sha(vtok2))
	require.NoError(t, err)
	apiCall(t, n.BaseURL, "POST", "/v1/auth/verify-email", "", map[string]any{"token": vtok2}).requireProblem(t, 422, "validation_failed")
	me2 := apiCall(t, n.BaseURL, "GET", "/v1/me", su2.str("token"), nil).requireStatus(t, 200)
	require.Equal(t, false, me2.Body["user"].(map[string]any)["email_verified"])
}

func authProblemWithoutRequestID(t *testing.T, r apiResp) map[string]any {
	t.Helper()
	out := map[string]any{}
	for k, v := range r.Body {
		if k != "request_id" {
			out[k] = v
		}
	}
	return out
}

func TestAuthLoginFailuresLookAlike(t *testing.T) {
	t.Parallel()
	n := authNode(t, nodetest.Options{})
	authSignup(t, n, "dayo@example.com", "Dayo Prints")

	wrong := authLogin(t, n, "dayo@example.com", "not the password").requireProblem(t, 401, "unauthorized")
	unknown := authLogin(t, n, "nobody@example.com", "not the password").requireProblem(t, 401, "unauthorized")
	require.Equal(t, authProblemWithoutRequestID(t, wrong), authProblemWithoutRequestID(t, unknown))
	require.Equal(t, wrong.Header.Get("Content-Type"), unknown.Header.Get("Content-Type"))
	require.Empty(t, wrong.Header.Get("Www-Authenticate"))
}

func TestAuthLoginRateLimits(t *testing.T) {
	t.Parallel()
	t.Run("per email", func(t *testing.T) {
		t.Parallel()
		n := authNode(t, nodetest.Options{})
		authSignup(t, n, "eze@example.com", "Eze Phones")
		// Successful sign-ins are not counted.
		for i := 0; i < 12; i++ {
			authLogin(t, n, "eze@example.com", authPassword).requireStatus(t, 200)
		}
		for i := 0; i < 10; i++ {
			authLogin(t, n, "eze@example.com", "wrong password").requireProblem(t, 401, "unauthorized")
		}
		r := authLogin(t, n, "EZE@example.com", "wrong password").requireProblem(t, 429, "rate_limited")
		secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
		require.NoError(t, err)
		require.GreaterOrEqual(t, secs, 1)
		require.LessOrEqual(t, secs, 60)
		// Now even the right password waits, and other emails are fine.
		authLogin(t, n, "eze@example.com", authPassword).requireProblem(t, 429, "rate_limited")
		authLogin(t, n, "other@example.com", "wrong password").requireProblem(t, 401, "unauthorized")
	})
	t.Run("per address", func(t *testing.T) {
		t.Parallel()
		n := authNode(t, nodetest.Options{})
		for i := 0; i < 50; i++ {
			authLogin(t, n, fmt.Sprintf("user%d@example.com", i), "wrong password").requireProblem(t, 401, "unauthorized")
		}
		r := authLogin(t, n, "fresh@example.com", "wrong password").requireProblem(t, 429, "rate_limited")
		require.NotEmpty(t, r.Header.Get("Retry-After"))
	})
}

func TestAuthLogoutAndBadTokens(t *testing.T) {
	t.Parallel()
	n := authNode(t, nodetest.Options{})
	su := authSignup(t, n, "funke@example.com", "Funke Bags")
	token := su.str("token")
	apiCall(t, n.BaseURL, "GET", "/v1/me", token, nil).requireStatus(t, 200)
	other := authLogin(t, n, "funke@example.com", authPassword).requireStatus(t, 200).str("token")

	r := apiCall(t, n.BaseURL, "POST", "/v1/auth/logout", token, nil).requireStatus(t, 204)
	require.Empty(t, r.Raw)
	apiCall(t, n.BaseURL, "GET", "/v1/me", token, nil).requireProblem(t, 401, "unauthorized")
	apiCall(t, n.BaseURL, "POST", "/v1/auth/logout", token, nil).requireProblem(t, 401, "unauthorized")
	// Other sessions of the user live on.
	apiCall(t, n.BaseURL, "GET", "/v1/me", other, nil).requireStatus(t, 200)

	for _, bad := range []string{"", "garbage", vayva.NewSecret(auth.SessionPrefix), vayva.NewSecret(auth.APIKeyPrefix), token + "x"} {
		apiCall(t, n.BaseURL, "GET", "/v1/me", bad, nil).requireProblem(t, 401, "unauthorized")
	}

	// An expired session stops working.
	fresh := authLogin(t, n, "funke@example.com", authPassword).requireStatus(t, 200).str("token")
	_, err := n.DB.Pool().Exec(context.Background(), `UPDATE auth.sessions SET expires_at = now() - interval '1 second' WHERE token_hash = $1`, sha(fresh))
	require.NoError(t, err)
	apiCall(t, n.BaseURL, "GET", "/v1/me", fresh, nil).requireProblem(t, 401, "unauthorized")
}

func TestAuthAPIKeys(t *testing.T) {
	t.Parallel()
	n := authNode(t, nodetest.Options{})
	su := authSignup(t, n, "gbenga@example.com", "Gbenga Tools")
	token := su.str("token")

	created := apiCall(t, n.BaseURL, "POST", "/v1/api-keys", token, map[string]any{"name": "CI"}).requireStatus(t, 201)
	key, id := created.str("key"), created.str("id")
	require.True(t, strings.HasPrefix(key, auth.APIKeyPrefix), key)
	require.True(t, vayva.HasIDPrefix(id, "key"), id)
	require.Equal(t, "CI", created.str("name"))
	require.Equal(t, key[len(key)-4:], created.str("last4"))
	require.Equal(t, 1, authCount(t, n, `SELECT count(*) FROM auth.api_keys WHERE id = $1 AND token_hash = $2`, id, sha(key)))
	require.Equal(t, 0, authCount(t, n, `SELECT count(*) FROM auth.api_keys k WHERE position($1 in k::text) > 0`, key))

	list := apiCall(t, n.BaseURL, "GET", "/v1/api-keys", token, nil).requireStatus(t, 200)
	require.NotContains(t, string(list.Raw), key)
	data := list.Body["data"].([]any)
	require.Len(t, data, 1)
	item := data[0].(map[string]any)
	require.Equal(t, id, item["id"])
	require.Equal(t, "CI", item["name"])
	require.NotContains(t, item, "key")
	require.Nil(t, list.Body["next_cursor"])

	me := apiCall(t, n.BaseURL, "GET", "/v1/me", key, nil).requireStatus(t, 200)
	require.Equal(t, su.str("store", "id"), me.str("store", "id"))
	require.Equal(t, "owner", me.str("role"))

	apiCall(t, n.BaseURL, "DELETE", "/v1/api-keys/"+id, token, nil).requireStatus(t, 204)
	apiCall(t, n.BaseURL, "GET", "/v1/me", key, nil).requireProblem(t, 401, "unauthorized")
	apiCall(t, n.BaseURL, "DELETE", "/v1/api-keys/"+id, token, nil).requireProblem(t, 404, "not_found")
	apiCall(t, n.BaseURL, "DELETE", "/v1/api-keys/nonsense", token, nil).requireProblem(t, 404, "not_found")
	list = apiCall(t, n.BaseURL, "GET", "/v1/api-keys", token, nil).requireStatus(t, 200)
	require.Empty(t, list.Body["data"])

	apiCall(t, n.BaseURL, "POST", "/v1/api-keys", token, map[string]any{"name": ""}).requireProblem(t, 422, "validation_failed")

	// Pages, newest first.
	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, apiCall(t, n.BaseURL, "POST", "/v1/api-keys", token, map[string]any{"name": fmt.Sprintf("k%d", i)}).requireStatus(t, 201).str("id"))
	}
	p1 := apiCall(t, n.BaseURL, "GET", "/v1/api-keys?limit=2", token, nil).requireStatus(t, 200)
	require.Len(t, p1.Body["data"], 2)
	require.Equal(t, ids[2], p1.Body["data"].([]any)[0].(map[string]any)["id"])
	cursor := p1.str("next_cursor")
	require.NotEmpty(t, cursor)
	p2 := apiCall(t, n.BaseURL, "GET", "/v1/api-keys?limit=2&cursor="+url.QueryEscape(cursor), token, nil).requireStatus(t, 200)
	require.Len(t, p2.Body["data"], 1)
	require.Equal(t, ids[0], p2.Body["data"].([]any)[0].(map[string]any)["id"])
	require.Nil(t, p2.Body["next_cursor"])
	apiCall(t, n.BaseURL, "GET", "/v1/api-keys?limit=0", token, nil).requireProblem(t, 422, "validation_failed")
	apiCall(t, n.BaseURL, "GET", "/v1/api-keys?cursor=%21%21", token, nil).requireProblem(t, 422, "validation_failed")

	// A key signs itself out too.
	k2 := apiCall(t, n.BaseURL, "POST", "/v1/api-keys", token, map[string]any{"name": "temp"}).requireStatus(t, 201).str("key")
	apiCall(t, n.BaseURL, "POST", "/v1/auth/logout", k2, nil).requireStatus(t, 204)
	apiCall(t, n.BaseURL, "GET", "/v1/me", k2, nil).requireProblem(t, 401, "unauthorized")
}

func TestAuthTenantIsolation(t *testing.T) {
	t.Parallel()
	n := authNode(t, nodetest.Options{})
	a := authSignup(t, n, "hauwa@example.com", "Hauwa Spices")
	b := authSignup(t, n, "ike@example.com", "Ike Electronics")
	ta, tb := a.str("token"), b.str("token")

	keyA := apiCall(t, n.BaseURL, "POST", "/v1/api-keys", ta, map[string]any{"name": "A's key"}).requireStatus(t, 201)
	memberA := apiCall(t, n.BaseURL, "POST", "/v1/store/members", ta, map[string]any{"email": "staff-of-a@example.com", "role": "staff"}).requireStatus(t, 201)

	// B sees none of A's keys or members, and cannot delete them.
	require.Empty(t, apiCall(t, n.BaseURL, "GET", "/v1/api-keys", tb, nil).requireStatus(t, 200).Body["data"])
	members := apiCall(t, n.BaseURL, "GET", "/v1/store/members", tb, nil).requireStatus(t, 200).Body["data"].([]any)
	require.Len(t, members, 1)
	require.Equal(t, "ike@example.com", members[0].(map[string]any)["email"])
	apiCall(t, n.BaseURL, "DELETE", "/v1/api-keys/"+keyA.str("id"), tb, nil).requireProblem(t, 404, "not_found")
	apiCall(t, n.BaseURL, "DELETE", "/v1/store/members/"+memberA.str("id"), tb, nil).requireProblem(t, 404, "not_found")
	ownerA := apiCall(t, n.BaseURL, "GET", "/v1/store/members", ta, nil).requireStatus(t, 200).Body["data"].([]any)[0].(map[string]any)
	apiCall(t, n.BaseURL, "DELETE", "/v1/store/members/"+ownerA["id"].(string), tb, nil).requireProblem(t, 404, "not_found")

	// A's things are untouched.
	apiCall(t, n.BaseURL, "GET", "/v1/me", keyA.str("key"), nil).requireStatus(t, 200)
	require.Len(t, apiCall(t, n.BaseURL, "GET", "/v1/store/members", ta, nil).requireStatus(t, 200).Body["data"], 2)
	// B's key acts for B only.
	keyB := apiCall(t, n.BaseURL, "POST", "/v1/api-keys", tb, map[string]any{"name": "B"}).requireStatus(t, 201).str("key")
	require.Equal(t, b.str("store", "id"), apiCall(t, n.BaseURL, "GET", "/v1/me", keyB, nil).requireStatus(t, 200).str("store", "id"))
	apiCall(t, n.BaseURL, "DELETE", "/v1/api-keys/"+keyA.str("id"), keyB, nil).requireProblem(t, 404, "not_found")
}

func TestAuthTeam(t *testing.T) {
	t.Parallel()
	n := authNode(t, nodetest.Options{})
	owner := authSignup(t, n, "jumoke@example.com", "Jumoke Fabrics")
	to := owner.str("token")
	storeID := owner.str("store", "id")

	// Adding someone is an invitation: nobody joins the team yet.
	sam := apiCall(t, n.BaseURL, "POST", "/v1/store/members", to, map[string]any{"email": "Sam@Example.com", "role": "staff"}).requireStatus(t, 201)
	require.ElementsMatch(t, []string{"id", "email", "role", "status", "created_at", "expires_at"}, authKeys(sam.Body))
	require.True(t, vayva.HasIDPrefix(sam.str("id"), "inv"), sam.str("id"))
	require.Equal(t, "Sam@Example.com", sam.str("email"))
	require.Equal(t, "staff", sam.str("role"))
	require.Equal(t, "invited", sam.str("status"))
	exp, err := time.Parse(time.RFC3339, sam.str("expires_at"))
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(7*24*time.Hour), exp, time.Hour)
	invites := authEmails(t, n, "sam@example.com")
	require.Len(t, invites, 1)
	require.Equal(t, vayva.EmailInvitation, invites[0].Template)
	require.Equal(t, "Jumoke Fabrics", invites[0].Vars["store_name"])
	require.Equal(t, "Owner of Jumoke Fabrics", invites[0].Vars["invited_by"])
	require.Equal(t, "staff", invites[0].Vars["role"])
	invite := authInviteFromEmail(t, n, invites[0])
	require.Equal(t, 1, authCount(t, n, `SELECT count(*) FROM merchant.invitations WHERE token_hash = $1 AND id = $2`, sha(invite), sam.str("id")))
	require.Equal(t, 0, authCount(t, n, `SELECT count(*) FROM merchant.invitations i WHERE position($1 in i::text) > 0`, invite))
	require.Equal(t, 0, authCount(t, n, `SELECT count(*) FROM auth.users WHERE lower(email) = 'sam@example.com'`), "no account is made for the invitee")

	// Sam signs up through the invitation: a user of the inviting store, as
	// staff, with the address verified, and no business of their own.
	apiCall(t, n.BaseURL, "POST", "/v1/auth/signup", "", map[string]any{
		"invitation_token": invite, "password": "sam's own password", "name": "Sam", "business_name": "Sam's",
	}).requireProblem(t, 422, "validation_failed")
	apiCall(t, n.BaseURL, "POST", "/v1/auth/signup", "", map[string]any{
		"invitation_token": invite, "email": "someone.else@example.com", "password": "sam's own password", "name": "Sam",
	}).requireProblem(t, 422, "validation_failed")
	joined := apiCall(t, n.BaseURL, "POST", "/v1/auth/signup", "", map[string]any{
		"invitation_token": invite, "password": "sam's own password", "name": "Sam",
	}).requireStatus(t, 201)
	require.Equal(t, "staff", joined.str("role"))
	require.Equal(t, storeID, joined.str("store", "id"))
	require.Equal(t, owner.str("merchant", "id"), joined.str("merchant", "id"))
	require.Equal(t, "Sam@Example.com", joined.str("user", "email"))
	require.Equal(t, true, joined.Body["user"].(map[string]any)["email_verified"])
	require.Len(t, authEmails(t, n, "sam@example.com"), 1, "no verification email: the invitation proved the address")
	require.Equal(t, 1, authCount(t, n, `SELECT count(*) FROM merchant.merchants`), "no merchant of Sam's own")
	staff := joined.str("token")
	again := apiCall(t, n.BaseURL, "POST", "/v1/auth/signup", "", map[string]any{
		"invitation_token": invite, "password": "sam's own password", "name": "Sam Two",
	}).requireProblem(t, 422, "validation_failed")
	require.Contains(t, again.fields(), "invitation_token", "an invitation works once")
	ts := authLogin(t, n, "sam@example.com", "sam's own password").requireStatus(t, 200)
	require.Equal(t, "staff", ts.str("role"))
	require.Equal(t, storeID, ts.str("store", "id"))

	// Staff may not manage the team or API keys.
	apiCall(t, n.BaseURL, "GET", "/v1/store/members", staff, nil).requireProblem(t, 403, "forbidden")
	apiCall(t, n.BaseURL, "POST", "/v1/store/members", staff, map[string]any{"email": "x@example.com", "role": "staff"}).requireProblem(t, 403, "forbidden")
	apiCall(t, n.BaseURL, "POST", "/v1/store/members", staff, `{"bad":`).requireProblem(t, 403, "forbidden")
	apiCall(t, n.BaseURL, "DELETE", "/v1/store/members/"+sam.str("id"), staff, nil).requireProblem(t, 403, "forbidden")
	apiCall(t, n.BaseURL, "POST", "/v1/api-keys", staff, map[string]any{"name": "mine"}).requireProblem(t, 403, "forbidden")
	apiCall(t, n.BaseURL, "GET", "/v1/api-keys", staff, nil).requireProblem(t, 403, "forbidden")
	require.Equal(t, "staff", apiCall(t, n.BaseURL, "GET", "/v1/me", staff, nil).requireStatus(t, 200).str("role"))

	// An existing user (with a store of their own) is invited as admin and
	// joins by accepting while signed in, once their address is verified.
	kola := authSignup(t, n, "kola@example.com", "Kola Ventures")
	ki := apiCall(t, n.BaseURL, "POST", "/v1/store/members", to, map[string]any{"email": "kola@example.com", "role": "admin"}).requireStatus(t, 201)
	require.Equal(t, "invited", ki.str("status"))
	require.NotContains(t, ki.Body, "user_id")
	authLogin(t, n, "kola@example.com", authPassword).requireStatus(t, 200)
	apiCall(t, n.BaseURL, "POST", "/v1/auth/login", "", map[string]any{"email": "kola@example.com", "password": authPassword, "store_id": storeID}).
		requireProblem(t, 401, "unauthorized")
	kolaInvite := authInviteFromEmail(t, n, authEmailsOf(t, n, "kola@example.com", vayva.EmailInvitation)[0])
	apiCall(t, n.BaseURL, "POST", "/v1/invitations/accept", kola.str("token"), map[string]any{"token": kolaInvite}).requireProblem(t, 403, "forbidden")
	authVerify(t, n, "kola@example.com")
	apiCall(t, n.BaseURL, "POST", "/v1/invitations/accept", kola.str("token"), map[string]any{"token": kolaInvite, "password": authPassword}).
		requireProblem(t, 422, "validation_failed")
	ka := apiCall(t, n.BaseURL, "POST", "/v1/invitations/accept", kola.str("token"), map[string]any{"token": kolaInvite}).requireStatus(t, 200)
	require.Equal(t, "admin", ka.str("role"))
	require.Equal(t, storeID, ka.str("store", "id"))
	require.Equal(t, kola.str("user", "id"), ka.str("user", "id"))
	adminToken := ka.str("token")
	me := apiCall(t, n.BaseURL, "GET", "/v1/me", adminToken, nil).requireStatus(t, 200)
	require.Equal(t, "admin", me.str("role"))
	require.Equal(t, storeID, me.str("store", "id"))
	apiCall(t, n.BaseURL, "POST", "/v1/invitations/accept", kola.str("token"), map[string]any{"token": kolaInvite}).requireProblem(t, 422, "validation_failed")
	require.Equal(t, kola.str("store", "id"), authLogin(t, n, "kola@example.com", authPassword).requireStatus(t, 200).str("store", "id"),
		"by default a user signs in to their own store")
	apiCall(t, n.BaseURL, "POST", "/v1/auth/login", "", map[string]any{"email": "sam@example.com", "password": "sam's own password", "store_id": kola.str("store", "id")}).
		requireProblem(t, 401, "unauthorized")

	// The list holds members and pending invitations, oldest first.
	newbie := apiCall(t, n.BaseURL, "POST", "/v1/store/members", adminToken, map[string]any{"email": "newbie@example.com", "role": "staff"}).requireStatus(t, 201)
	list := apiCall(t, n.BaseURL, "GET", "/v1/store/members", adminToken, nil).requireStatus(t, 200).list()
	require.Len(t, list, 4)
	require.Equal(t, []string{"owner", "staff", "admin", "staff"}, []string{list[0]["role"].(string), list[1]["role"].(string), list[2]["role"].(string), list[3]["role"].(string)})
	for i, st := range []string{"active", "active", "active", "invited"} {
		require.Equal(t, st, list[i]["status"], i)
	}
	require.Equal(t, owner.str("user", "id"), list[0]["user_id"])
	for _, k := range []string{"id", "user_id", "email", "name", "role", "status", "created_at"} {
		require.Contains(t, list[0], k)
	}
	require.Equal(t, newbie.str("id"), list[3]["id"])
	require.NotContains(t, list[3], "user_id")
	require.Contains(t, list[3], "expires_at")
	p := apiCall(t, n.BaseURL, "GET", "/v1/store/members?limit=3", adminToken, nil).requireStatus(t, 200)
	require.Len(t, p.Body["data"], 3)
	p2 := apiCall(t, n.BaseURL, "GET", "/v1/store/members?limit=3&cursor="+url.QueryEscape(p.str("next_cursor")), adminToken, nil).requireStatus(t, 200)
	require.Len(t, p2.Body["data"], 1)
	require.Equal(t, newbie.str("id"), p2.list()[0]["id"])
	require.Nil(t, p2.Body["next_cursor"])

	// A member of the team is a conflict; a pending address gets a new
	// link, and only the newest works.
	apiCall(t, n.BaseURL, "POST", "/v1/store/members", to, map[string]any{"email": "SAM@example.com", "role": "admin"}).requireProblem(t, 409, "conflict")
	oldLink := authInviteFromEmail(t, n, authEmailsOf(t, n, "newbie@example.com", vayva.EmailInvitation)[0])
	renewed := apiCall(t, n.BaseURL, "POST", "/v1/store/members", to, map[string]any{"email": "Newbie@example.com", "role": "admin"}).requireStatus(t, 201)
	require.Equal(t, newbie.str("id"), renewed.str("id"))
	require.Equal(t, "admin", renewed.str("role"))
	newbieEmails := authEmailsOf(t, n, "newbie@example.com", vayva.EmailInvitation)
	require.Len(t, newbieEmails, 2)
	newLink := authInviteFromEmail(t, n, newbieEmails[1])
	require.NotEqual(t, oldLink, newLink)
	apiCall(t, n.BaseURL, "POST", "/v1/auth/signup", "", map[string]any{"invitation_token": oldLink, "password": authPassword, "name": "Newbie"}).
		requireProblem(t, 422, "validation_failed")

	// Nobody removes the owner; bad input names its fields.
	first := list[0]
	apiCall(t, n.BaseURL, "DELETE", "/v1/store/members/"+first["id"].(string), adminToken, nil).requireProblem(t, 403, "forbidden")
	apiCall(t, n.BaseURL, "DELETE", "/v1/store/members/"+first["id"].(string), to, nil).requireProblem(t, 403, "forbidden")
	bad := apiCall(t, n.BaseURL, "POST", "/v1/store/members", to, map[string]any{"email": "nope", "role": "owner"}).requireProblem(t, 422, "validation_failed")
	require.Contains(t, bad.fields(), "email")
	require.Contains(t, bad.fields(), "role")
	apiCall(t, n.BaseURL, "POST", "/v1/store/members", to, map[string]any{"email": "x@example.com", "role": "staff", "name": "X"}).
		requireProblem(t, 422, "validation_failed")

	// Revoking an invitation kills its link.
	apiCall(t, n.BaseURL, "DELETE", "/v1/store/members/"+newbie.str("id"), to, nil).requireStatus(t, 204)
	apiCall(t, n.BaseURL, "DELETE", "/v1/store/members/"+newbie.str("id"), to, nil).requireProblem(t, 404, "not_found")
	apiCall(t, n.BaseURL, "POST", "/v1/auth/signup", "", map[string]any{"invitation_token": newLink, "password": authPassword, "name": "Newbie"}).
		requireProblem(t, 422, "validation_failed")
	require.Len(t, apiCall(t, n.BaseURL, "GET", "/v1/store/members", to, nil).requireStatus(t, 200).list(), 3)

	// Removing a member ends their sessions and keys for the store at once.
	samMember := list[1]["id"].(string)
	require.True(t, vayva.HasIDPrefix(samMember, "mem"))
	apiCall(t, n.BaseURL, "DELETE", "/v1/store/members/"+samMember, adminToken, nil).requireStatus(t, 204)
	apiCall(t, n.BaseURL, "GET", "/v1/me", staff, nil).requireProblem(t, 401, "unauthorized")
	authLogin(t, n, "sam@example.com", "sam's own password").requireProblem(t, 401, "unauthorized")
	apiCall(t, n.BaseURL, "DELETE", "/v1/store/members/"+samMember, to, nil).requireProblem(t, 404, "not_found")

	// Invited again, Sam (in no store now, so unable to sign in) accepts
	// with the password; old credentials stay dead.
	apiCall(t, n.BaseURL, "POST", "/v1/store/members", to, map[string]any{"email": "sam@example.com", "role": "staff"}).requireStatus(t, 201)
	samEmails := authEmailsOf(t, n, "sam@example.com", vayva.EmailInvitation)
	require.Len(t, samEmails, 2)
	second := authInviteFromEmail(t, n, samEmails[1])
	apiCall(t, n.BaseURL, "POST", "/v1/invitations/accept", "", map[string]any{"token": second}).requireProblem(t, 422, "validation_failed")
	apiCall(t, n.BaseURL, "POST", "/v1/invitations/accept", "", map[string]any{"token": second, "password": "not sam's password"}).requireProblem(t, 401, "unauthorized")
	back := apiCall(t, n.BaseURL, "POST", "/v1/invitations/accept", "", map[string]any{"token": second, "password": "sam's own password"}).requireStatus(t, 200)
	require.Equal(t, joined.str("user", "id"), back.str("user", "id"))
	require.Equal(t, storeID, back.str("store", "id"))
	apiCall(t, n.BaseURL, "GET", "/v1/me", staff, nil).requireProblem(t, 401, "unauthorized")
	apiCall(t, n.BaseURL, "GET", "/v1/me", back.str("token"), nil).requireStatus(t, 200)
	authLogin(t, n, "sam@example.com", "sam's own password").requireStatus(t, 200)
}

// Inviting an address with an account and one without answer alike, and
// neither puts anyone on the team or tells anything about the account.
func TestAuthInvitationRevealsNothing(t *testing.T) {
	t.Parallel()
	n := authNode(t, nodetest.Options{})
	a := authSignup(t, n, "ayo@example.com", "Ayo Crafts")
	other := authSignup(t, n, "bisi@example.com", "Bisi Bakes")

	hashesBefore := authMetric(t, n, "vayva_auth_password_hashes_total")
	known := apiCall(t, n.BaseURL, "POST", "/v1/store/members", a.str("token"), map[string]any{"email": "bisi@example.com", "role": "admin"}).requireStatus(t, 201)
	unknown := apiCall(t, n.BaseURL, "POST", "/v1/store/members", a.str("token"), map[string]any{"email": "nobody@example.com", "role": "admin"}).requireStatus(t, 201)
	require.Equal(t, hashesBefore, authMetric(t, n, "vayva_auth_password_hashes_total"), "inviting does no password work")
	require.Equal(t, authKeys(known.Body), authKeys(unknown.Body))
	require.Equal(t, known.Header.Get("Content-Type"), unknown.Header.Get("Content-Type"))
	for _, r := range []apiResp{known, unknown} {
		require.Equal(t, "invited", r.str("status"))
		require.NotContains(t, string(r.Raw), other.str("user", "id"))
		require.NotContains(t, string(r.Raw), "Owner of Bisi Bakes")
	}
	// The emails are alike too.
	ke := authEmailsOf(t, n, "bisi@example.com", vayva.EmailInvitation)
	ue := authEmailsOf(t, n, "nobody@example.com", vayva.EmailInvitation)
	require.Len(t, ke, 1)
	require.Len(t, ue, 1)
	require.Equal(t, authKeys(toAny(ke[0].Vars)), authKeys(toAny(ue[0].Vars)))
	require.Equal(t, ke[0].Vars["store_name"], ue[0].Vars["store_name"])

	// Bisi is not on Ayo's team until she accepts, and the list shows
	// only what Ayo typed.
	require.Equal(t, 0, authCount(t, n, `SELECT count(*) FROM merchant.team_members WHERE store_id = $1 AND user_id = $2`, a.str("store", "id"), other.str("user", "id")))
	list := apiCall(t, n.BaseURL, "GET", "/v1/store/members", a.str("token"), nil).requireStatus(t, 200)
	require.NotContains(t, string(list.Raw), other.str("user", "id"))
	require.NotContains(t, string(list.Raw), "Owner of Bisi Bakes")
	apiCall(t, n.BaseURL, "POST", "/v1/auth/login", "", map[string]any{"email": "bisi@example.com", "password": authPassword, "store_id": a.str("store", "id")}).
		requireProblem(t, 401, "unauthorized")

	// Another verified user cannot take an invitation sent to someone else.
	carol := authSignup(t, n, "carol@example.com", "Carol Co")
	authVerify(t, n, "carol@example.com")
	tok := authInviteFromEmail(t, n, ke[0])
	apiCall(t, n.BaseURL, "POST", "/v1/invitations/accept", carol.str("token"), map[string]any{"token": tok}).requireProblem(t, 403, "forbidden")
	// The invitation still stands for Bisi.
	authVerify(t, n, "bisi@example.com")
	apiCall(t, n.BaseURL, "POST", "/v1/invitations/accept", other.str("token"), map[string]any{"token": tok}).requireStatus(t, 200)

	// Another tenant can neither see nor revoke the invitations.
	apiCall(t, n.BaseURL, "DELETE", "/v1/store/members/"+unknown.str("id"), carol.str("token"), nil).requireProblem(t, 404, "not_found")
	require.Len(t, apiCall(t, n.BaseURL, "GET", "/v1/store/members", carol.str("token"), nil).requireStatus(t, 200).list(), 1)
	apiCall(t, n.BaseURL, "DELETE", "/v1/store/members/"+unknown.str("id"), a.str("token"), nil).requireStatus(t, 204)
}

// An expired invitation shows as expired and no longer works; inviting
// the address again sends a working link.
func TestAuthInvitationExpires(t *testing.T) {
	t.Parallel()
	n := authNode(t, nodetest.Options{})
	a := authSignup(t, n, "dele@example.com", "Dele Deli")
	inv := apiCall(t, n.BaseURL, "POST", "/v1/store/members", a.str("token"), map[string]any{"email": "efe@example.com", "role": "staff"}).requireStatus(t, 201)
	tok := authInviteFromEmail(t, n, authEmailsOf(t, n, "efe@example.com", vayva.EmailInvitation)[0])
	_, err := n.DB.Pool().Exec(context.Background(), `UPDATE merchant.invitations SET expires_at = now() - interval '1 second' WHERE id = $1`, inv.str("id"))
	require.NoError(t, err)
	list := apiCall(t, n.BaseURL, "GET", "/v1/store/members", a.str("token"), nil).requireStatus(t, 200).list()
	require.Equal(t, "expired", list[1]["status"])
	apiCall(t, n.BaseURL, "POST", "/v1/auth/signup", "", map[string]any{"invitation_token": tok, "password": authPassword, "name": "Efe"}).
		requireProblem(t, 422, "validation_failed")
	apiCall(t, n.BaseURL, "POST", "/v1/store/members", a.str("token"), map[string]any{"email": "efe@example.com", "role": "staff"}).requireStatus(t, 201)
	fresh := authInviteFromEmail(t, n, authEmailsOf(t, n, "efe@example.com", vayva.EmailInvitation)[1])
	apiCall(t, n.BaseURL, "POST", "/v1/auth/signup", "", map[string]any{"invitation_token": fresh, "password": authPassword, "name": "Efe"}).requireStatus(t, 201)
}

// Bad tokens are refused before any argon2 work: email verification never
// hashes, and the invitation routes check the token first.
func TestAuthBadTokensCostNoPasswordWork(t *testing.T) {
	t.Parallel()
	n := authNode(t, nodetest.Options{})
	before := authMetric(t, n, "vayva_auth_password_hashes_total")
	for _, tok := range []string{vayva.NewSecret(auth.VerificationPrefix), "garbage"} {
		apiCall(t, n.BaseURL, "POST", "/v1/auth/verify-email", "", map[string]any{"token": tok}).requireProblem(t, 422, "validation_failed")
	}
	apiCall(t, n.BaseURL, "POST", "/v1/auth/verify-email", "", map[string]any{"token": vayva.NewSecret(auth.VerificationPrefix), "password": authPassword}).
		requireProblem(t, 422, "validation_failed")
	bad := vayva.NewSecret(auth.InvitationPrefix)
	apiCall(t, n.BaseURL, "POST", "/v1/invitations/accept", "", map[string]any{"token": bad, "password": authPassword}).requireProblem(t, 422, "validation_failed")
	r := apiCall(t, n.BaseURL, "POST", "/v1/auth/signup", "", map[string]any{"invitation_token": bad, "password": authPassword, "name": "X"}).
		requireProblem(t, 422, "validation_failed")
	require.Contains(t, r.fields(), "invitation_token")
	require.Equal(t, before, authMetric(t, n, "vayva_auth_password_hashes_total"))
	// A good sign-up does hash, so the counter is the right one.
	authSignup(t, n, "fola@example.com", "Fola Farms")
	require.Greater(t, authMetric(t, n, "vayva_auth_password_hashes_total"), before)
}

func TestAuthSignupRateLimitPerAddress(t *testing.T) {
	t.Parallel()
	n := authNode(t, nodetest.Options{Env: map[string]string{"VAYVA_SIGNUP_RATE_LIMIT": "3/1m"}})
	for i := 0; i < 3; i++ {
		authSignup(t, n, fmt.Sprintf("s%d@example.com", i), fmt.Sprintf("Shop %d", i))
	}
	// Refused before any work, with when to come back; nothing is written.
	r := apiCall(t, n.BaseURL, "POST", "/v1/auth/signup", "", map[string]any{
		"email": "s3@example.com", "password": authPassword, "name": "S", "business_name": "Shop 3",
	}).requireProblem(t, 429, "rate_limited")
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, secs, 1)
	require.LessOrEqual(t, secs, 60)
	require.Equal(t, 0, authCount(t, n, `SELECT count(*) FROM auth.users WHERE email = 's3@example.com'`))
	// Invalid bodies are refused without counting.
	apiCall(t, n.BaseURL, "POST", "/v1/auth/signup", "", map[string]any{}).requireProblem(t, 422, "validation_failed")
	// Sign-in is limited separately.
	authLogin(t, n, "s0@example.com", authPassword).requireStatus(t, 200)
}

// authCacheHits reads a node's token cache hit counter from /metrics.
func authCacheHits(t *testing.T, n *nodetest.Node) float64 {
	t.Helper()
	r := apiCall(t, n.BaseURL, "GET", "/metrics", "", nil).requireStatus(t, 200)
	for _, line := range strings.Split(string(r.Raw), "\n") {
		if strings.HasPrefix(line, `vayva_auth_token_cache_lookups_total{result="hit"}`) {
			v, err := strconv.ParseFloat(strings.Fields(line)[1], 64)
			require.NoError(t, err)
			return v
		}
	}
	return 0
}

// authWarm makes sure node n answers token from its cache.
func authWarm(t *testing.T, n *nodetest.Node, token string) {
	t.Helper()
	before := authCacheHits(t, n)
	require.Eventually(t, func() bool {
		apiCall(t, n.BaseURL, "GET", "/v1/me", token, nil).requireStatus(t, 200)
		return authCacheHits(t, n) > before
	}, 10*time.Second, 10*time.Millisecond, "the token is served from the cache")
}

func TestAuthRevocationReachesEveryNode(t *testing.T) {
	t.Parallel()
	a := authNode(t, nodetest.Options{})
	b := authNode(t, nodetest.Options{DatabaseURL: a.DatabaseURL, RedisPrefix: a.RedisPrefix})

	su := authSignup(t, a, "lami@example.com", "Lami Gadgets")
	owner := su.str("token")
	for i := 0; i < 5; i++ {
		// Logout on A; B, which had the session cached, refuses it on the
		// very next request.
		tok := authLogin(t, a, "lami@example.com", authPassword).requireStatus(t, 200).str("token")
		authWarm(t, b, tok)
		apiCall(t, a.BaseURL, "POST", "/v1/auth/logout", tok, nil).requireStatus(t, 204)
		apiCall(t, b.BaseURL, "GET", "/v1/me", tok, nil).requireProblem(t, 401, "unauthorized")
		apiCall(t, a.BaseURL, "GET", "/v1/me", tok, nil).requireProblem(t, 401, "unauthorized")

		// The same for an API key deleted on A.
		k := apiCall(t, a.BaseURL, "POST", "/v1/api-keys", owner, map[string]any{"name": "k"}).requireStatus(t, 201)
		authWarm(t, b, k.str("key"))
		apiCall(t, a.BaseURL, "DELETE", "/v1/api-keys/"+k.str("id"), owner, nil).requireStatus(t, 204)
		apiCall(t, b.BaseURL, "GET", "/v1/me", k.str("key"), nil).requireProblem(t, 401, "unauthorized")
	}

	// And for a member removed on A.
	apiCall(t, a.BaseURL, "POST", "/v1/store/members", owner, map[string]any{"email": "musa@example.com", "role": "admin"}).requireStatus(t, 201)
	invite := authInviteFromEmail(t, a, authEmails(t, a, "musa@example.com")[0])
	apiCall(t, b.BaseURL, "POST", "/v1/auth/signup", "", map[string]any{"invitation_token": invite, "password": "musa's password!", "name": "Musa"}).requireStatus(t, 201)
	mt := authLogin(t, b, "musa@example.com", "musa's password!").requireStatus(t, 200).str("token")
	mk := apiCall(t, b.BaseURL, "POST", "/v1/api-keys", mt, map[string]any{"name": "musa's key"}).requireStatus(t, 201).str("key")
	authWarm(t, b, mt)
	authWarm(t, b, mk)
	var m apiResp
	for _, e := range apiCall(t, a.BaseURL, "GET", "/v1/store/members", owner, nil).requireStatus(t, 200).list() {
		if e["email"] == "musa@example.com" {
			m.Body = e
		}
	}
	require.True(t, vayva.HasIDPrefix(m.str("id"), "mem"))
	apiCall(t, a.BaseURL, "DELETE", "/v1/store/members/"+m.str("id"), owner, nil).requireStatus(t, 204)
	apiCall(t, b.BaseURL, "GET", "/v1/me", mt, nil).requireProblem(t, 401, "unauthorized")
	apiCall(t, b.BaseURL, "GET", "/v1/me", mk, nil).requireProblem(t, 401, "unauthorized")
	apiCall(t, b.BaseURL, "GET", "/v1/me", owner, nil).requireStatus(t, 200)
}
