package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva/integrations/sandbox"
	"github.com/vayvahq/vayva/internal/startstop/startstoptest"
)

// node is an httptest server standing in for a Vayva node: the sandbox
// under /sandbox/ and the node's webhook routes next to it.
type node struct {
	srv *httptest.Server
	mux *http.ServeMux
	sb  *sandbox.Sandbox
}

func newNode(t *testing.T, cfg sandbox.Config) *node {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	cfg.PublicURL = srv.URL + "/"
	if cfg.RetryScale == 0 {
		cfg.RetryScale = 0.001
	}
	sb := sandbox.New(cfg)
	mux.Handle("/sandbox/", sb.Handler())
	t.Cleanup(func() { require.NoError(t, sb.Stop(context.Background())) })
	return &node{srv: srv, mux: mux, sb: sb}
}

func (n *node) do(t *testing.T, method, path, token, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, n.srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

type webhookEntry struct {
	ID        string `json:"id"`
	Provider  string `json:"provider"`
	Event     string `json:"event"`
	Attempts  int    `json:"attempts"`
	Delivered bool   `json:"delivered"`
}

func (n *node) webhooks(t *testing.T) []webhookEntry {
	t.Helper()
	resp, err := n.srv.Client().Get(n.srv.URL + "/sandbox/webhooks")
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct {
		Data []webhookEntry `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out.Data
}

func TestConfigDefaultsAndBaseURLs(t *testing.T) {
	t.Parallel()
	sb := sandbox.New(sandbox.Config{})
	cfg := sb.Config()
	require.Equal(t, "http://127.0.0.1:8080", cfg.PublicURL)
	require.Equal(t, sandbox.DefaultPaystackSecret, cfg.PaystackSecret)
	require.Equal(t, 1000, cfg.MaxRecords)
	require.Equal(t, sandbox.BaseURLs{
		Paystack: "http://127.0.0.1:8080/sandbox/paystack/api",
		Resend:   "http://127.0.0.1:8080/sandbox/resend",
		WhatsApp: "http://127.0.0.1:8080/sandbox/whatsapp/api/v21.0",
		Kwik:     "http://127.0.0.1:8080/sandbox/kwik",
	}, sb.BaseURLs())

	n := newNode(t, sandbox.Config{})
	status, out := n.do(t, http.MethodGet, "/sandbox/", "", "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, n.srv.URL, out["public_url"])
}

func TestEveryFakeEnforcesAuth(t *testing.T) {
	t.Parallel()
	n := newNode(t, sandbox.Config{})
	cfg := n.sb.Config()

	status, out := n.do(t, http.MethodPost, "/sandbox/paystack/api/transaction/initialize", "", `{"email":"a@b.c","amount":100}`)
	require.Equal(t, http.StatusUnauthorized, status)
	require.Equal(t, false, out["status"])
	status, _ = n.do(t, http.MethodGet, "/sandbox/paystack/api/transaction/verify/x", "sk_test_wrong", "")
	require.Equal(t, http.StatusUnauthorized, status)
	status, _ = n.do(t, http.MethodPost, "/sandbox/paystack/api/transaction/initialize", cfg.PaystackSecret, `{"email":"a@b.c","amount":"100"}`)
	require.Equal(t, http.StatusOK, status, "amounts may be numeric strings")
	status, out = n.do(t, http.MethodPost, "/sandbox/paystack/api/transaction/initialize", cfg.PaystackSecret, `{"email":"a@b.c","amount":1.5}`)
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, "Invalid Amount Sent", out["message"])
	status, _ = n.do(t, http.MethodPost, "/sandbox/paystack/api/transaction/initialize", cfg.PaystackSecret, `{not json`)
	require.Equal(t, http.StatusBadRequest, status)

	status, out = n.do(t, http.MethodPost, "/sandbox/resend/emails", "", `{}`)
	require.Equal(t, http.StatusUnauthorized, status)
	require.Equal(t, "missing_api_key", out["name"])
	status, out = n.do(t, http.MethodPost, "/sandbox/resend/emails", cfg.ResendAPIKey, `{"from":"a@b.c","to":"x@y.z","subject":"s"}`)
	require.Equal(t, http.StatusUnprocessableEntity, status)
	require.Equal(t, "missing_required_field", out["name"])
	status, out = n.do(t, http.MethodPost, "/sandbox/resend/emails", cfg.ResendAPIKey, `{"from":"a@b.c","to":"x@y.z","subject":"s","text":"t"}`)
	require.Equal(t, http.StatusOK, status, "to may be a single string")
	require.NotEmpty(t, out["id"])

	status, out = n.do(t, http.MethodPost, "/sandbox/whatsapp/api/v21.0/123/messages", "wrong", `{}`)
	require.Equal(t, http.StatusUnauthorized, status)
	require.EqualValues(t, 190, out["error"].(map[string]any)["code"])
	status, _ = n.do(t, http.MethodPost, "/sandbox/whatsapp/api/v21.0/123/messages", cfg.WhatsAppAccessToken, `{"messaging_product":"sms","to":"2348030000000","type":"text","text":{"body":"x"}}`)
	require.Equal(t, http.StatusBadRequest, status)

	status, out = n.do(t, http.MethodGet, "/sandbox/kwik/view_task_by_relationship_id?unique_order_id=x&access_token=nope", "", "")
	require.Equal(t, http.StatusOK, status)
	require.EqualValues(t, 101, out["status"])
	status, out = n.do(t, http.MethodPost, "/sandbox/kwik/vendor_login", "", `{"domain_name":"`+cfg.KwikDomainName+`","email":"`+cfg.KwikEmail+`","password":"bad","api_login":1}`)
	require.Equal(t, http.StatusOK, status)
	require.EqualValues(t, 201, out["status"])
}

func TestListsAreBounded(t *testing.T) {
	t.Parallel()
	n := newNode(t, sandbox.Config{MaxRecords: 3})
	key := n.sb.Config().ResendAPIKey
	for i := range 5 {
		status, _ := n.do(t, http.MethodPost, "/sandbox/resend/emails", key,
			fmt.Sprintf(`{"from":"a@b.c","to":["x@y.z"],"subject":"n%d","text":"t"}`, i))
		require.Equal(t, http.StatusOK, status)
	}
	box := n.sb.Mailbox("")
	require.Len(t, box, 3)
	require.Equal(t, []string{"n4", "n3", "n2"}, []string{box[0].Subject, box[1].Subject, box[2].Subject})
	require.Len(t, n.sb.Mailbox("X@Y.Z"), 3, "recipient filter ignores case")
	require.Empty(t, n.sb.Mailbox("nobody@y.z"))
}

func TestResendFaultsOverHTTP(t *testing.T) {
	t.Parallel()
	n := newNode(t, sandbox.Config{})
	key := n.sb.Config().ResendAPIKey
	status, _ := n.do(t, http.MethodPost, "/sandbox/resend/faults", "", `{"rate_limit_next":1,"retry_after_seconds":7}`)
	require.Equal(t, http.StatusOK, status)
	req, _ := http.NewRequest(http.MethodPost, n.srv.URL+"/sandbox/resend/emails", strings.NewReader(`{"from":"a@b.c","to":"x@y.z","subject":"s","text":"t"}`))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := n.srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.Equal(t, "7", resp.Header.Get("Retry-After"))
	status, _ = n.do(t, http.MethodPost, "/sandbox/resend/emails", key, `{"from":"a@b.c","to":"x@y.z","subject":"s","text":"t"}`)
	require.Equal(t, http.StatusOK, status)
}

func TestFailedWebhooksAreRedelivered(t *testing.T) {
	t.Parallel()
	n := newNode(t, sandbox.Config{})
	var hits atomic.Int64
	n.mux.HandleFunc("POST /webhooks/whatsapp", func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	require.NoError(t, n.sb.Start(context.Background()))
	status, out := n.do(t, http.MethodPost, "/sandbox/whatsapp/inbound", "", `{"from":"2348030000000","text":"hi"}`)
	require.Equal(t, http.StatusOK, status)
	require.EqualValues(t, 503, out["webhook_status"])
	require.NotEmpty(t, out["webhook_error"])
	require.Eventually(t, func() bool {
		hooks := n.webhooks(t)
		return len(hooks) == 1 && hooks[0].Delivered && hooks[0].Attempts == 3
	}, 10*time.Second, 5*time.Millisecond)
	require.EqualValues(t, 3, hits.Load())
}

func TestDeferredWebhooksWaitForStart(t *testing.T) {
	t.Parallel()
	n := newNode(t, sandbox.Config{})
	got := make(chan string, 4)
	n.mux.HandleFunc("POST /webhooks/paystack", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- string(body)
	})
	secret := n.sb.Config().PaystackSecret
	status, out := n.do(t, http.MethodPost, "/sandbox/paystack/api/transferrecipient", secret, `{"type":"nuban","name":"A","account_number":"0123456789","bank_code":"058"}`)
	require.Equal(t, http.StatusCreated, status)
	code := out["data"].(map[string]any)["recipient_code"].(string)
	status, _ = n.do(t, http.MethodPost, "/sandbox/paystack/api/transfer", secret,
		`{"source":"balance","amount":1000,"recipient":"`+code+`","reference":"payout-0000000001"}`)
	require.Equal(t, http.StatusOK, status)

	require.Empty(t, n.webhooks(t), "nothing goes out before Start")
	status, out = n.do(t, http.MethodGet, "/sandbox/paystack/api/transfer/verify/payout-0000000001", secret, "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "pending", out["data"].(map[string]any)["status"])

	require.NoError(t, n.sb.Start(context.Background()))
	select {
	case body := <-got:
		require.Contains(t, body, `"event":"transfer.success"`)
	case <-time.After(10 * time.Second):
		t.Fatal("transfer webhook never arrived")
	}
	_, out = n.do(t, http.MethodGet, "/sandbox/paystack/api/transfer/verify/payout-0000000001", secret, "")
	require.Equal(t, "success", out["data"].(map[string]any)["status"])
}

// The sandbox keeps the start/stop semantics every long-lived component
// shares.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	startstoptest.Check(t, func(*testing.T) startstoptest.Service { return sandbox.New(sandbox.Config{}) })
}

func TestStopCancelsPendingRedeliveries(t *testing.T) {
	t.Parallel()
	n := newNode(t, sandbox.Config{RetryScale: 1000}) // redeliveries would wait far longer than the test
	n.mux.HandleFunc("POST /webhooks/whatsapp", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	require.NoError(t, n.sb.Start(context.Background()))
	status, _ := n.do(t, http.MethodPost, "/sandbox/whatsapp/inbound", "", `{"from":"2348030000000","text":"hi"}`)
	require.Equal(t, http.StatusOK, status)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, n.sb.Stop(ctx), "the waiting redelivery ends with Stop")
	require.Equal(t, 1, n.webhooks(t)[0].Attempts)
}

func TestCheckoutPageEscapesAndHandlesUnknownReference(t *testing.T) {
	t.Parallel()
	n := newNode(t, sandbox.Config{})
	status, _ := n.do(t, http.MethodGet, "/sandbox/paystack/checkout/nope", "", "")
	require.Equal(t, http.StatusNotFound, status)
	status, _ = n.do(t, http.MethodPost, "/sandbox/paystack/checkout/nope/pay", "", "")
	require.Equal(t, http.StatusNotFound, status)

	secret := n.sb.Config().PaystackSecret
	status, _ = n.do(t, http.MethodPost, "/sandbox/paystack/api/transaction/initialize", secret, `{"email":"<script>@x.y","amount":100,"reference":"ref-1"}`)
	require.Equal(t, http.StatusOK, status)
	resp, err := n.srv.Client().Get(n.srv.URL + "/sandbox/paystack/checkout/ref-1")
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	status, _ = n.do(t, http.MethodPost, "/sandbox/paystack/checkout/ref-1/pay", "", `{"outcome":"maybe"}`)
	require.Equal(t, http.StatusUnprocessableEntity, status)
	status, out := n.do(t, http.MethodPost, "/sandbox/paystack/checkout/ref-1/pay", "", `{"outcome":"failed"}`)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "failed", out["status"])
	require.NotContains(t, string(page), "<script>@")
	require.Contains(t, string(page), "&lt;script&gt;@x.y")
}

func TestKwikAdvanceValidation(t *testing.T) {
	t.Parallel()
	n := newNode(t, sandbox.Config{})
	status, _ := n.do(t, http.MethodPost, "/sandbox/kwik/tasks/999/advance", "", "")
	require.Equal(t, http.StatusNotFound, status)
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	n := newNode(t, sandbox.Config{MaxRecords: 50})
	var delivered atomic.Int64
	n.mux.HandleFunc("POST /webhooks/", func(w http.ResponseWriter, r *http.Request) {
		delivered.Add(1)
	})
	require.NoError(t, n.sb.Start(context.Background()))
	cfg := n.sb.Config()
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			post := func(path, token, body string) int {
				req, _ := http.NewRequest(http.MethodPost, n.srv.URL+path, bytes.NewBufferString(body))
				if body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				resp, err := n.srv.Client().Do(req)
				if err != nil {
					return 0
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			ref := fmt.Sprintf("c-%d", i)
			_ = post("/sandbox/paystack/api/transaction/initialize", cfg.PaystackSecret, `{"email":"a@b.c","amount":1000,"reference":"`+ref+`"}`)
			_ = post("/sandbox/paystack/checkout/"+ref+"/pay", "", "")
			_ = post("/sandbox/resend/emails", cfg.ResendAPIKey, `{"from":"a@b.c","to":"x@y.z","subject":"s","text":"t"}`)
			_ = post("/sandbox/whatsapp/inbound", "", fmt.Sprintf(`{"from":"23480300%05d","text":"hi"}`, i))
			_ = post("/sandbox/whatsapp/api/v21.0/"+sandbox.DefaultWhatsAppPhoneNumberID+"/messages", cfg.WhatsAppAccessToken,
				fmt.Sprintf(`{"messaging_product":"whatsapp","to":"23480300%05d","type":"text","text":{"body":"hello"}}`, i))
		}()
	}
	wg.Wait()
	require.Len(t, n.sb.Mailbox(""), 40)
	require.Len(t, n.sb.Outbox(""), 40)
	// 40 payments, 40 inbound messages, 120 statuses (sent, delivered, read).
	require.Eventually(t, func() bool { return delivered.Load() == 200 }, 10*time.Second, 5*time.Millisecond, "delivered %d", delivered.Load())
}
