package node_test

import (
	"encoding/json"
	"io"
	nethttp "net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva/auth"
	"github.com/vayvahq/vayva/node"
	"github.com/vayvahq/vayva/node/nodetest"
)

// linkNode starts a node with cheap password hashing.
func linkNode(t *testing.T, env map[string]string) *nodetest.Node {
	t.Helper()
	return nodetest.Start(t, nodetest.Options{Env: env, Configure: func(n *node.Node) { n.AuthConfig.Hash = auth.TestHashParams }})
}

type linkResp struct {
	status int
	header nethttp.Header
	body   string
	json   map[string]any
}

// call sends one request; body is JSON (a map), a form (url.Values) or nil.
func call(t *testing.T, method, u, token string, body any) linkResp {
	t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case url.Values:
		rd, ct = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		rd, ct = strings.NewReader(string(raw)), "application/json"
	}
	req, err := nethttp.NewRequest(method, u, rd)
	require.NoError(t, err)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := nethttp.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	r := linkResp{status: resp.StatusCode, header: resp.Header, body: string(raw)}
	_ = json.Unmarshal(raw, &r.json)
	return r
}

func (r linkResp) str(path ...string) string {
	var v any = r.json
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

var linkPattern = regexp.MustCompile(`https?://[^\s"<>]+`)

// mailedLink waits for an email to to in the sandbox mailbox (read over
// HTTP, as a script would) and returns the link in its text that has path.
func mailedLink(t *testing.T, n *nodetest.Node, to, path string) *url.URL {
	t.Helper()
	var link string
	require.Eventually(t, func() bool {
		r := call(t, "GET", n.BaseURL+"/sandbox/mailbox?to="+url.QueryEscape(to), "", nil)
		require.Equal(t, 200, r.status, r.body)
		var box struct {
			Data []struct {
				Text string `json:"text"`
				HTML string `json:"html"`
			} `json:"data"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.body), &box))
		for _, m := range box.Data {
			for _, l := range linkPattern.FindAllString(m.Text, -1) {
				if u, err := url.Parse(l); err == nil && u.Path == path {
					link = l
					return true
				}
			}
		}
		return false
	}, 20*time.Second, 50*time.Millisecond, "an email to %s with a %s link", to, path)
	u, err := url.Parse(link)
	require.NoError(t, err)
	return u
}

func requirePage(t *testing.T, r linkResp, status int, contains ...string) {
	t.Helper()
	require.Equal(t, status, r.status, r.body)
	require.Equal(t, "text/html; charset=utf-8", r.header.Get("Content-Type"))
	require.Contains(t, r.header.Get("Content-Security-Policy"), "default-src 'none'")
	require.Equal(t, "no-referrer", r.header.Get("Referrer-Policy"))
	require.Equal(t, "no-store", r.header.Get("Cache-Control"))
	require.NotContains(t, r.body, "<script")
	require.NotContains(t, r.body, "http://", "the page loads nothing from elsewhere")
	require.NotContains(t, r.body, "https://")
	for _, c := range contains {
		require.Contains(t, r.body, c)
	}
}

// hiddenToken reads the token a page's form posts.
func hiddenToken(t *testing.T, page string) string {
	t.Helper()
	m := regexp.MustCompile(`name="token" value="([^"]+)"`).FindStringSubmatch(page)
	require.NotNil(t, m, page)
	return m[1]
}

// The verification link opens a page on the node; opening it uses nothing
// up, and its button verifies the address.
func TestVerificationLinkCompletesOnTheNode(t *testing.T) {
	t.Parallel()
	n := linkNode(t, nil)
	require.Equal(t, n.BaseURL, n.Config().PublicURL, "the public URL defaults to the listener")
	su := call(t, "POST", n.BaseURL+"/v1/auth/signup", "", map[string]any{
		"email": "lola@example.com", "password": "correct horse battery", "name": "Lola", "business_name": "Lola Lace",
	})
	require.Equal(t, 201, su.status, su.body)
	link := mailedLink(t, n, "lola@example.com", "/verify-email")
	require.Equal(t, n.BaseURL+"/verify-email", link.Scheme+"://"+link.Host+link.Path)

	// A prefetcher, a scanner and the person all GET the page first.
	for i := 0; i < 3; i++ {
		page := call(t, "GET", link.String(), "", nil)
		requirePage(t, page, 200, `<form method="post" action="/verify-email">`, "Verify my email")
		require.Equal(t, link.Query().Get("token"), hiddenToken(t, page.body))
	}
	me := call(t, "GET", n.BaseURL+"/v1/me", su.str("token"), nil)
	require.Equal(t, false, me.json["user"].(map[string]any)["email_verified"])

	done := call(t, "POST", n.BaseURL+"/verify-email", "", url.Values{"token": {link.Query().Get("token")}})
	requirePage(t, done, 200, "lola@example.com is verified")
	me = call(t, "GET", n.BaseURL+"/v1/me", su.str("token"), nil)
	require.Equal(t, 200, me.status, me.body)
	require.Equal(t, true, me.json["user"].(map[string]any)["email_verified"])

	// The link works once; broken links get a page, never a 500.
	requirePage(t, call(t, "POST", n.BaseURL+"/verify-email", "", url.Values{"token": {link.Query().Get("token")}}), 422, "invalid, used or expired")
	requirePage(t, call(t, "GET", n.BaseURL+"/verify-email?token=%3Cscript%3E", "", nil), 422)
	requirePage(t, call(t, "GET", n.BaseURL+"/verify-email", "", nil), 422)
	requirePage(t, call(t, "POST", n.BaseURL+"/verify-email", "", map[string]any{"token": "x"}), 415)
	requirePage(t, call(t, "POST", n.BaseURL+"/verify-email", "", url.Values{"token": {"a", "b"}}), 400)
}

// An invitation travels by email to a page on the node where a newcomer
// signs up and an existing user signs in, each joining the team.
func TestInvitationLinkCompletesOnTheNode(t *testing.T) {
	t.Parallel()
	n := linkNode(t, nil)
	owner := call(t, "POST", n.BaseURL+"/v1/auth/signup", "", map[string]any{
		"email": "musa@example.com", "password": "correct horse battery", "name": "Musa", "business_name": "Musa Mats",
	})
	require.Equal(t, 201, owner.status, owner.body)
	inv := call(t, "POST", n.BaseURL+"/v1/store/members", owner.str("token"), map[string]any{"email": "nneka@example.com", "role": "staff"})
	require.Equal(t, 201, inv.status, inv.body)

	link := mailedLink(t, n, "nneka@example.com", "/accept-invitation")
	page := call(t, "GET", link.String(), "", nil)
	requirePage(t, page, 200, "Musa invited <strong>nneka@example.com</strong> to join <strong>Musa Mats</strong> on Vayva as staff.",
		`value="signin"`, `value="signup"`)
	token := hiddenToken(t, page.body)
	require.Equal(t, link.Query().Get("token"), token)

	// A short password is refused on the page, which keeps the forms.
	short := call(t, "POST", n.BaseURL+"/accept-invitation", "", url.Values{"token": {token}, "action": {"signup"}, "name": {"Nneka"}, "password": {"short"}})
	requirePage(t, short, 422, "The password must be at least 10 characters.", `value="signup"`)
	joined := call(t, "POST", n.BaseURL+"/accept-invitation", "", url.Values{"token": {token}, "action": {"signup"}, "name": {"Nneka"}, "password": {"nneka's password"}})
	requirePage(t, joined, 200, "You joined <strong>Musa Mats</strong> as staff.")
	requirePage(t, call(t, "GET", link.String(), "", nil), 422, "invalid, used or expired")

	li := call(t, "POST", n.BaseURL+"/v1/auth/login", "", map[string]any{"email": "nneka@example.com", "password": "nneka's password"})
	require.Equal(t, 200, li.status, li.body)
	me := call(t, "GET", n.BaseURL+"/v1/me", li.str("token"), nil)
	require.Equal(t, "staff", me.str("role"))
	require.Equal(t, owner.str("store", "id"), me.str("store", "id"))
	require.Equal(t, true, me.json["user"].(map[string]any)["email_verified"])

	// An existing user verifies their address, then signs in on the
	// invitation page.
	vet := call(t, "POST", n.BaseURL+"/v1/auth/signup", "", map[string]any{
		"email": "obi@example.com", "password": "obi's long password", "name": "Obi", "business_name": "Obi Oils",
	})
	require.Equal(t, 201, vet.status, vet.body)
	vlink := mailedLink(t, n, "obi@example.com", "/verify-email")
	requirePage(t, call(t, "POST", n.BaseURL+"/verify-email", "", url.Values{"token": {vlink.Query().Get("token")}}), 200)
	inv = call(t, "POST", n.BaseURL+"/v1/store/members", owner.str("token"), map[string]any{"email": "obi@example.com", "role": "admin"})
	require.Equal(t, 201, inv.status, inv.body)
	olink := mailedLink(t, n, "obi@example.com", "/accept-invitation")
	otoken := olink.Query().Get("token")
	wrong := call(t, "POST", n.BaseURL+"/accept-invitation", "", url.Values{"token": {otoken}, "action": {"signin"}, "password": {"not the password"}})
	requirePage(t, wrong, 401, "incorrect", `value="signin"`)
	taken := call(t, "POST", n.BaseURL+"/accept-invitation", "", url.Values{"token": {otoken}, "action": {"signup"}, "name": {"Obi"}, "password": {"another password"}})
	requirePage(t, taken, 409, "sign in to accept")
	ok := call(t, "POST", n.BaseURL+"/accept-invitation", "", url.Values{"token": {otoken}, "action": {"signin"}, "password": {"obi's long password"}})
	requirePage(t, ok, 200, "You joined <strong>Musa Mats</strong> as admin.")
	li = call(t, "POST", n.BaseURL+"/v1/auth/login", "", map[string]any{"email": "obi@example.com", "password": "obi's long password", "store_id": owner.str("store", "id")})
	require.Equal(t, 200, li.status, li.body)
	require.Equal(t, "admin", li.str("role"))
}

// The node's own clients of the sandbox call its listener, so emails go
// out whatever VAYVA_PUBLIC_URL says; links in them use the public URL.
func TestSandboxClientsCallTheListener(t *testing.T) {
	t.Parallel()
	n := linkNode(t, map[string]string{"VAYVA_PUBLIC_URL": "https://shop.example.invalid/"})
	require.Equal(t, "https://shop.example.invalid", n.Config().PublicURL)
	require.Equal(t, n.BaseURL+"/sandbox/resend", n.Sandbox.BaseURLs().Resend)
	su := call(t, "POST", n.BaseURL+"/v1/auth/signup", "", map[string]any{
		"email": "pat@example.com", "password": "correct horse battery", "name": "Pat", "business_name": "Pat Pots",
	})
	require.Equal(t, 201, su.status, su.body)
	link := mailedLink(t, n, "pat@example.com", "/verify-email")
	require.Equal(t, "https", link.Scheme)
	require.Equal(t, "shop.example.invalid", link.Host)
	requirePage(t, call(t, "POST", n.BaseURL+"/verify-email", "", url.Values{"token": {link.Query().Get("token")}}), 200)
	me := call(t, "GET", n.BaseURL+"/v1/me", su.str("token"), nil)
	require.Equal(t, true, me.json["user"].(map[string]any)["email_verified"])
}
