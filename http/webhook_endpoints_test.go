package http_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/auth"
	"github.com/vayvahq/vayva/node"
	"github.com/vayvahq/vayva/node/nodetest"
)

func weNode(t *testing.T) *nodetest.Node {
	t.Helper()
	return nodetest.Start(t, nodetest.Options{Configure: func(n *node.Node) { n.AuthConfig.Hash = auth.TestHashParams }})
}

// weMerchant signs up a merchant and returns its session token.
func weMerchant(t *testing.T, n *nodetest.Node, email string) string {
	t.Helper()
	r := apiCall(t, n.BaseURL, "POST", "/v1/auth/signup", "", map[string]any{
		"email": email, "password": "correct horse battery", "name": "Owner", "business_name": "Shop " + email[:3],
	}).requireStatus(t, nethttp.StatusCreated)
	tok, _ := r.Body["token"].(string)
	require.NotEmpty(t, tok)
	return tok
}

// weEndpointServer is a merchant's endpoint that checks signatures the way
// the Standard Webhooks specification describes (written here from the
// specification, not with the project's library) and answers with the
// status its answer function picks.
type weEndpointServer struct {
	srv *httptest.Server

	mu     sync.Mutex
	secret string
	answer int
	got    []weHit
}

type weHit struct {
	ID    string
	Valid bool
	Body  map[string]any
}

func newWeEndpointServer(t *testing.T) *weEndpointServer {
	t.Helper()
	s := &weEndpointServer{answer: nethttp.StatusOK}
	s.srv = httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		raw, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		defer s.mu.Unlock()
		hit := weHit{ID: r.Header.Get("webhook-id"), Valid: weSpecVerify(s.secret, r.Header, raw)}
		_ = json.Unmarshal(raw, &hit.Body)
		s.got = append(s.got, hit)
		if !hit.Valid {
			w.WriteHeader(nethttp.StatusUnauthorized)
			return
		}
		w.WriteHeader(s.answer)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *weEndpointServer) set(secret string, answer int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secret, s.answer = secret, answer
}

func (s *weEndpointServer) hits() []weHit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]weHit(nil), s.got...)
}

// weSpecVerify: key = base64-decode(secret without "whsec_"); signature =
// base64(HMAC-SHA256(key, id + "." + timestamp + "." + body)); the header
// lists "v1,<sig>" values separated by spaces; timestamp within 5 minutes.
func weSpecVerify(secret string, h nethttp.Header, body []byte) bool {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || len(key) == 0 || id == "" {
		return false
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, s := range strings.Fields(sigs) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return true
		}
	}
	return false
}

// The whole endpoint life cycle over HTTP: create (secret shown once),
// list and get without the secret, a test event delivered and verified,
// the delivery log, a replay with the same webhook-id, delete.
func TestWebhookEndpointsLifecycle(t *testing.T) {
	t.Parallel()
	n := weNode(t)
	tok := weMerchant(t, n, "hooks@example.com")
	rcv := newWeEndpointServer(t)

	created := apiCall(t, n.BaseURL, "POST", "/v1/webhook-endpoints", tok, map[string]any{
		"url": rcv.srv.URL + "/vayva", "events": []string{"order.paid", "order.created", "order.paid"},
	}).requireStatus(t, nethttp.StatusCreated)
	id, _ := created.Body["id"].(string)
	secret, _ := created.Body["secret"].(string)
	require.True(t, strings.HasPrefix(id, "we_"), id)
	require.True(t, strings.HasPrefix(secret, "whsec_"), secret)
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	require.NoError(t, err)
	require.Len(t, key, 32)
	require.Equal(t, rcv.srv.URL+"/vayva", created.Body["url"])
	require.Equal(t, []any{"order.paid", "order.created"}, created.Body["events"])
	require.Equal(t, "active", created.Body["status"])
	rcv.set(secret, nethttp.StatusOK)

	list := apiCall(t, n.BaseURL, "GET", "/v1/webhook-endpoints", tok, nil).requireStatus(t, nethttp.StatusOK)
	require.Len(t, list.list(), 1)
	require.Nil(t, list.Body["next_cursor"])
	require.NotContains(t, string(list.Raw), secret)
	require.NotContains(t, list.list()[0], "secret")
	one := apiCall(t, n.BaseURL, "GET", "/v1/webhook-endpoints/"+id, tok, nil).requireStatus(t, nethttp.StatusOK)
	require.NotContains(t, string(one.Raw), secret)

	test := apiCall(t, n.BaseURL, "POST", "/v1/webhook-endpoints/"+id+"/test", tok, nil).requireStatus(t, nethttp.StatusAccepted)
	eventID, _ := test.Body["event_id"].(string)
	require.NotEmpty(t, eventID)
	require.Eventually(t, func() bool { return len(rcv.hits()) == 1 }, 20*time.Second, 20*time.Millisecond)
	hit := rcv.hits()[0]
	require.True(t, hit.Valid, "signed with the secret shown at creation")
	require.Equal(t, "webhook.test", hit.Body["type"])
	data, _ := hit.Body["data"].(map[string]any)
	require.Equal(t, id, data["endpoint_id"])

	var ds []map[string]any
	require.Eventually(t, func() bool {
		ds = apiCall(t, n.BaseURL, "GET", "/v1/webhook-endpoints/"+id+"/deliveries", tok, nil).requireStatus(t, nethttp.StatusOK).list()
		return len(ds) == 1 && ds[0]["status"] == "succeeded"
	}, 10*time.Second, 20*time.Millisecond)
	d := ds[0]
	require.Equal(t, hit.ID, d["id"], "the delivery id is the webhook-id")
	require.Equal(t, eventID, d["event_id"])
	require.Equal(t, "webhook.test", d["event_type"])
	require.Nil(t, d["next_retry_at"])
	attempts, _ := d["attempts"].([]any)
	require.Len(t, attempts, 1)
	a := attempts[0].(map[string]any)
	require.Equal(t, 200.0, a["status_code"])
	require.Contains(t, a, "duration_ms")

	apiCall(t, n.BaseURL, "POST", "/v1/webhook-deliveries/"+hit.ID+"/replay", tok, nil).requireStatus(t, nethttp.StatusAccepted)
	require.Eventually(t, func() bool { return len(rcv.hits()) == 2 }, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, hit.ID, rcv.hits()[1].ID, "a replay keeps the webhook-id")
	require.True(t, rcv.hits()[1].Valid)

	apiCall(t, n.BaseURL, "DELETE", "/v1/webhook-endpoints/"+id, tok, nil).requireStatus(t, nethttp.StatusNoContent)
	require.Empty(t, apiCall(t, n.BaseURL, "GET", "/v1/webhook-endpoints", tok, nil).requireStatus(t, nethttp.StatusOK).list())
	apiCall(t, n.BaseURL, "GET", "/v1/webhook-endpoints/"+id, tok, nil).requireProblem(t, nethttp.StatusNotFound, "not_found")
	apiCall(t, n.BaseURL, "DELETE", "/v1/webhook-endpoints/"+id, tok, nil).requireProblem(t, nethttp.StatusNotFound, "not_found")
	apiCall(t, n.BaseURL, "POST", "/v1/webhook-endpoints/"+id+"/test", tok, nil).requireProblem(t, nethttp.StatusNotFound, "not_found")
	var stored string
	require.NoError(t, n.DB.Pool().QueryRow(context.Background(), `SELECT secret FROM merchant.webhook_endpoints WHERE id = $1`, id).Scan(&stored))
	require.Empty(t, stored, "a deleted endpoint's secret is wiped")
}

// An endpoint answering 410 Gone is disabled; tests to it are refused
// until it is enabled again.
func TestWebhookEndpointGoneIsDisabled(t *testing.T) {
	t.Parallel()
	n := weNode(t)
	tok := weMerchant(t, n, "gone@example.com")
	rcv := newWeEndpointServer(t)
	created := apiCall(t, n.BaseURL, "POST", "/v1/webhook-endpoints", tok, map[string]any{
		"url": rcv.srv.URL, "events": []string{"delivery.updated"},
	}).requireStatus(t, nethttp.StatusCreated)
	id := created.Body["id"].(string)
	rcv.set(created.Body["secret"].(string), nethttp.StatusGone)

	apiCall(t, n.BaseURL, "POST", "/v1/webhook-endpoints/"+id+"/test", tok, nil).requireStatus(t, nethttp.StatusAccepted)
	require.Eventually(t, func() bool {
		return apiCall(t, n.BaseURL, "GET", "/v1/webhook-endpoints/"+id, tok, nil).requireStatus(t, nethttp.StatusOK).Body["status"] == "disabled"
	}, 20*time.Second, 20*time.Millisecond)
	require.Len(t, rcv.hits(), 1)
	ep := apiCall(t, n.BaseURL, "GET", "/v1/webhook-endpoints/"+id, tok, nil)
	require.Contains(t, ep.Body["disabled_reason"], "410")
	ds := apiCall(t, n.BaseURL, "GET", "/v1/webhook-endpoints/"+id+"/deliveries", tok, nil).requireStatus(t, nethttp.StatusOK).list()
	require.Len(t, ds, 1)
	require.Equal(t, "failed", ds[0]["status"])
	require.Equal(t, 410.0, ds[0]["last_status_code"])

	apiCall(t, n.BaseURL, "POST", "/v1/webhook-endpoints/"+id+"/test", tok, nil).requireProblem(t, nethttp.StatusConflict, "conflict")
	apiCall(t, n.BaseURL, "POST", "/v1/webhook-deliveries/"+ds[0]["id"].(string)+"/replay", tok, nil).requireProblem(t, nethttp.StatusConflict, "conflict")
	rcv.set(created.Body["secret"].(string), nethttp.StatusOK)
	apiCall(t, n.BaseURL, "POST", "/v1/webhook-endpoints/"+id+"/enable", tok, nil).requireStatus(t, nethttp.StatusOK)
	apiCall(t, n.BaseURL, "POST", "/v1/webhook-endpoints/"+id+"/test", tok, nil).requireStatus(t, nethttp.StatusAccepted)
	require.Eventually(t, func() bool {
		h := rcv.hits()
		return len(h) == 2 && h[1].Valid
	}, 20*time.Second, 20*time.Millisecond)
}

// Another merchant's endpoints and deliveries are not found, and never
// listed.
func TestWebhookEndpointsTenancy(t *testing.T) {
	t.Parallel()
	n := weNode(t)
	alice := weMerchant(t, n, "alice@example.com")
	bob := weMerchant(t, n, "bob@example.com")
	rcv := newWeEndpointServer(t)
	created := apiCall(t, n.BaseURL, "POST", "/v1/webhook-endpoints", alice, map[string]any{
		"url": rcv.srv.URL, "events": []string{"order.created"},
	}).requireStatus(t, nethttp.StatusCreated)
	id := created.Body["id"].(string)
	rcv.set(created.Body["secret"].(string), nethttp.StatusOK)
	apiCall(t, n.BaseURL, "POST", "/v1/webhook-endpoints/"+id+"/test", alice, nil).requireStatus(t, nethttp.StatusAccepted)
	var delivery string
	require.Eventually(t, func() bool {
		ds := apiCall(t, n.BaseURL, "GET", "/v1/webhook-endpoints/"+id+"/deliveries", alice, nil).list()
		if len(ds) == 1 {
			delivery = ds[0]["id"].(string)
		}
		return delivery != ""
	}, 20*time.Second, 20*time.Millisecond)

	require.Empty(t, apiCall(t, n.BaseURL, "GET", "/v1/webhook-endpoints", bob, nil).requireStatus(t, nethttp.StatusOK).list())
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/webhook-endpoints/" + id},
		{"DELETE", "/v1/webhook-endpoints/" + id},
		{"GET", "/v1/webhook-endpoints/" + id + "/deliveries"},
		{"POST", "/v1/webhook-endpoints/" + id + "/test"},
		{"POST", "/v1/webhook-endpoints/" + id + "/enable"},
		{"POST", "/v1/webhook-deliveries/" + delivery + "/replay"},
		{"POST", "/v1/webhook-deliveries/msg_nope/replay"},
		{"GET", "/v1/webhook-endpoints/not-an-id"},
	} {
		apiCall(t, n.BaseURL, c.method, c.path, bob, nil).requireProblem(t, nethttp.StatusNotFound, "not_found")
	}
	apiCall(t, n.BaseURL, "GET", "/v1/webhook-endpoints/"+id, alice, nil).requireStatus(t, nethttp.StatusOK)
	apiCall(t, n.BaseURL, "GET", "/v1/webhook-endpoints", "", nil).requireProblem(t, nethttp.StatusUnauthorized, "unauthorized")
}

func TestWebhookEndpointsValidation(t *testing.T) {
	t.Parallel()
	n := weNode(t)
	tok := weMerchant(t, n, "valid@example.com")
	long := "https://example.com/" + strings.Repeat("a", 2048)
	for _, c := range []struct {
		name   string
		body   any
		fields []string
	}{
		{"empty object", map[string]any{}, []string{"url", "events"}},
		{"ftp url", map[string]any{"url": "ftp://example.com/x", "events": []string{"order.paid"}}, []string{"url"}},
		{"relative url", map[string]any{"url": "/hooks", "events": []string{"order.paid"}}, []string{"url"}},
		{"too long", map[string]any{"url": long, "events": []string{"order.paid"}}, []string{"url"}},
		{"no events", map[string]any{"url": "https://example.com", "events": []string{}}, []string{"events"}},
		{"unknown event", map[string]any{"url": "https://example.com", "events": []string{"order.paid", "order.stolen"}}, []string{"events[1]"}},
		{"test event", map[string]any{"url": "https://example.com", "events": []string{"webhook.test"}}, []string{"events[0]"}},
		{"mistyped events", `{"url": "https://example.com", "events": "order.paid"}`, []string{"events"}},
		{"mistyped url", `{"url": 42, "events": ["order.paid"]}`, []string{"url"}},
		{"unknown field", `{"url": "https://example.com", "events": ["order.paid"], "secret": "whsec_mine"}`, []string{"secret"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := apiCall(t, n.BaseURL, "POST", "/v1/webhook-endpoints", tok, c.body).requireProblem(t, nethttp.StatusUnprocessableEntity, vayva.EINVALID)
			for _, f := range c.fields {
				require.Contains(t, r.fields(), f, "body: %s", r.Raw)
			}
		})
	}
	apiCall(t, n.BaseURL, "POST", "/v1/webhook-endpoints", tok, `{"url":`).requireProblem(t, nethttp.StatusBadRequest, vayva.EBADREQUEST)
	apiCall(t, n.BaseURL, "GET", "/v1/webhook-endpoints?limit=0", tok, nil).requireProblem(t, nethttp.StatusUnprocessableEntity, vayva.EINVALID)
	apiCall(t, n.BaseURL, "GET", "/v1/webhook-endpoints?cursor=%FF%FE", tok, nil).requireProblem(t, nethttp.StatusUnprocessableEntity, vayva.EINVALID)
	apiCall(t, n.BaseURL, "GET", "/v1/webhook-endpoints?cursor="+base64.RawURLEncoding.EncodeToString([]byte("1|\xff\xfe")), tok, nil).
		requireProblem(t, nethttp.StatusUnprocessableEntity, vayva.EINVALID)
	require.Empty(t, apiCall(t, n.BaseURL, "GET", "/v1/webhook-endpoints", tok, nil).requireStatus(t, nethttp.StatusOK).list(), "nothing was created")
}

// Lists page with limit and cursor, newest first.
func TestWebhookEndpointsPaging(t *testing.T) {
	t.Parallel()
	n := weNode(t)
	tok := weMerchant(t, n, "pages@example.com")
	var ids []string
	for i := range 5 {
		r := apiCall(t, n.BaseURL, "POST", "/v1/webhook-endpoints", tok, map[string]any{
			"url": "https://example.com/hook/" + strconv.Itoa(i), "events": []string{"payout.paid"},
		}).requireStatus(t, nethttp.StatusCreated)
		ids = append([]string{r.Body["id"].(string)}, ids...)
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5)
		path := "/v1/webhook-endpoints?limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := apiCall(t, n.BaseURL, "GET", path, tok, nil).requireStatus(t, nethttp.StatusOK)
		for _, e := range r.list() {
			got = append(got, e["id"].(string))
		}
		next, _ := r.Body["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	require.Equal(t, ids, got)
}
