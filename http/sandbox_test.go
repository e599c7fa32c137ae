package http_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	vhttp "github.com/vayvahq/vayva/http"
	"github.com/vayvahq/vayva/integrations/paystack"
	"github.com/vayvahq/vayva/integrations/whatsapp"
)

// Paying in the sandbox's checkout sends a signed charge.success back to
// the same node while the pay request is still open; it lands on
// payments-inbound exactly once, however often the customer pays.
func TestSandboxCheckoutPaymentReachesTheQueueOnce(t *testing.T) {
	t.Parallel()
	n := hookNode(t, nil)
	ps, err := paystack.New(paystack.Config{SecretKey: n.Sandbox.Config().PaystackSecret, BaseURL: n.Sandbox.BaseURLs().Paystack})
	require.NoError(t, err)
	ctx := context.Background()
	auth, err := ps.InitializeTransaction(ctx, paystack.InitializeRequest{
		Email: "ada@example.com", Amount: 1250000, Currency: "NGN", Reference: "ord-sbx-1",
	})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(auth.AuthorizationURL, n.BaseURL+"/sandbox/paystack/checkout/"), auth.AuthorizationURL)

	page := hookDo(t, "GET", auth.AuthorizationURL, nil)
	require.Equal(t, 200, page.status)
	require.Contains(t, page.header.Get("Content-Type"), "text/html")

	pay := hookDo(t, "POST", n.BaseURL+"/sandbox/paystack/checkout/ord-sbx-1/pay", []byte(`{"outcome":"success"}`))
	require.Equal(t, 200, pay.status, "body %s", pay.body)
	res := pay.json(t)
	require.Equal(t, "success", res["status"])
	require.Equal(t, float64(200), res["webhook_status"], "the node accepted the webhook: %s", pay.body)

	got := entries(t, n, vayva.QueuePaymentsInbound)
	require.Len(t, got, 1)
	ev, err := paystack.ParseEvent([]byte(got[0].Values["data"].(string)))
	require.NoError(t, err)
	require.Equal(t, paystack.EventChargeSuccess, ev.Event)
	require.Equal(t, "ord-sbx-1", ev.Data.Reference)
	require.Equal(t, int64(1250000), ev.Data.Amount)

	pay = hookDo(t, "POST", n.BaseURL+"/sandbox/paystack/checkout/ord-sbx-1/pay", []byte(`{}`))
	require.Equal(t, 200, pay.status)
	require.Equal(t, true, pay.json(t)["already_paid"])

	// Paystack redelivering the very same webhook is deduplicated too.
	var log struct {
		Data []struct {
			Delivered bool `json:"delivered"`
			Attempts  int  `json:"attempts"`
		} `json:"data"`
	}
	r := hookDo(t, "GET", n.BaseURL+"/sandbox/webhooks?provider=paystack", nil)
	require.Equal(t, 200, r.status)
	require.NoError(t, json.Unmarshal(r.body, &log))
	require.Len(t, log.Data, 1)
	require.True(t, log.Data[0].Delivered)
	require.Equal(t, 1, log.Data[0].Attempts)
	body := []byte(got[0].Values["data"].(string))
	r = hookDo(t, "POST", n.BaseURL+"/webhooks/paystack", body, paystack.SignatureHeader, paystack.Sign(n.Sandbox.Config().PaystackSecret, body))
	require.Equal(t, true, r.json(t)["duplicate"])
	require.Len(t, entries(t, n, vayva.QueuePaymentsInbound), 1)

	tx, err := ps.VerifyTransaction(ctx, "ord-sbx-1")
	require.NoError(t, err)
	require.Equal(t, "success", tx.Status)
}

// A simulated customer message goes through the signed webhook into the
// conversation's partition.
func TestSandboxInboundMessageReachesItsPartition(t *testing.T) {
	t.Parallel()
	n := hookNode(t, nil)
	r := hookDo(t, "POST", n.BaseURL+"/sandbox/whatsapp/inbound", []byte(`{"from":"+2348033333333","name":"Chidi","text":"Hello, is this in stock?"}`))
	require.Equal(t, 200, r.status, "body %s", r.body)

	key := vhttp.ConversationKey(n.Sandbox.Config().WhatsAppPhoneNumberID, "2348033333333")
	got := partitionEntries(t, n, vayva.QueueWhatsAppInbound, key)
	require.Len(t, got, 1, "sandbox answered %s", r.body)
	require.Equal(t, key, got[0].Values["key"])
	var msg whatsapp.InboundMessage
	require.NoError(t, json.Unmarshal([]byte(got[0].Values["data"].(string)), &msg))
	require.Equal(t, "Hello, is this in stock?", msg.Text)
	require.Equal(t, "Chidi", msg.Name)
}

var routeParam = regexp.MustCompile(`\{[^}]+\}`)

// Every sandbox route the edge registers reaches a handler of the sandbox
// (the sandbox's own mux would answer "404 page not found" or 405
// otherwise), so the registered list and the sandbox agree.
func TestSandboxRoutesReachTheFakes(t *testing.T) {
	t.Parallel()
	n := hookNode(t, nil)
	count := 0
	for _, rt := range n.HTTP.Routes() {
		if !strings.HasPrefix(rt.Path, "/sandbox/") {
			continue
		}
		count++
		require.Equal(t, vhttp.Public, rt.Access, rt.Path)
		path := routeParam.ReplaceAllString(rt.Path, "x1")
		var body []byte
		if rt.Method == "POST" {
			body = []byte(`{}`)
		}
		r := hookDo(t, rt.Method, n.BaseURL+path, body)
		require.NotEqual(t, 405, r.status, "%s %s", rt.Method, rt.Path)
		require.NotEqual(t, "404 page not found\n", string(r.body), "%s %s is not served by the sandbox", rt.Method, rt.Path)
		require.Less(t, r.status, 500, "%s %s: %s", rt.Method, rt.Path, r.body)
	}
	require.GreaterOrEqual(t, count, 20)
}

// In live mode the sandbox is not mounted, and the receivers verify with
// the configured secrets.
func TestLiveModeHasNoSandbox(t *testing.T) {
	t.Parallel()
	n := hookNode(t, map[string]string{
		"VAYVA_PROVIDERS":             "live",
		"VAYVA_PAYSTACK_SECRET_KEY":   "sk_live_configured",
		"VAYVA_RESEND_API_KEY":        "re_live",
		"VAYVA_WHATSAPP_ACCESS_TOKEN": "wa_token",
		"VAYVA_WHATSAPP_APP_SECRET":   "wa_app_secret",
		"VAYVA_WHATSAPP_VERIFY_TOKEN": "wa_verify",
	})
	require.Nil(t, n.Sandbox)
	for _, rt := range n.HTTP.Routes() {
		require.False(t, strings.HasPrefix(rt.Path, "/sandbox"), "%s %s", rt.Method, rt.Path)
	}
	hookDo(t, "GET", n.BaseURL+"/sandbox/mailbox", nil).problem(t, 404, "not_found")

	body := chargeSuccess(4099260100, "ord_live_1")
	hookDo(t, "POST", n.BaseURL+"/webhooks/paystack", body, paystack.SignatureHeader, paystack.Sign("sk_test_vayva_sandbox_paystack", body)).problem(t, 401, "unauthorized")
	r := hookDo(t, "POST", n.BaseURL+"/webhooks/paystack", body, paystack.SignatureHeader, paystack.Sign("sk_live_configured", body))
	require.Equal(t, 200, r.status, "body %s", r.body)
	wa := waNotification("200000000000002", []map[string]any{
		{"from": "2348044444444", "id": "wamid.LIVE1", "timestamp": "1767348000", "type": "text", "text": map[string]any{"body": "hi"}},
	}, nil)
	r = hookDo(t, "POST", n.BaseURL+"/webhooks/whatsapp", wa, whatsapp.SignatureHeader, whatsapp.Sign("wa_app_secret", wa))
	require.Equal(t, 200, r.status, "body %s", r.body)
	r = hookDo(t, "GET", n.BaseURL+"/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=wa_verify&hub.challenge=42", nil)
	require.Equal(t, 200, r.status)
	require.Equal(t, "42", string(r.body))
}

// Every failure of a sandbox control route is a problem document, as on
// every other route; only the fake provider APIs keep their provider's
// error format, which the real clients parse.
func TestSandboxFailuresAreProblems(t *testing.T) {
	t.Parallel()
	n := hookNode(t, nil)
	secret := n.Sandbox.Config().PaystackSecret
	init := hookDo(t, "POST", n.BaseURL+"/sandbox/paystack/api/transaction/initialize",
		[]byte(`{"email":"ada@example.com","amount":5000,"reference":"ord-problems"}`), "Authorization", "Bearer "+secret)
	require.Equal(t, 200, init.status, "body %s", init.body)

	pay := n.BaseURL + "/sandbox/paystack/checkout/ord-problems/pay"
	for _, c := range []struct {
		name, method, url string
		body              []byte
		headers           []string
		status            int
		code              string
	}{
		{"unknown checkout page", "GET", n.BaseURL + "/sandbox/paystack/checkout/nope", nil, nil, 404, "not_found"},
		{"pay an unknown reference", "POST", n.BaseURL + "/sandbox/paystack/checkout/nope/pay", nil, nil, 404, "not_found"},
		{"pay with a bad outcome", "POST", pay, []byte(`{"outcome":"maybe"}`), nil, 422, "validation_failed"},
		{"pay with a mistyped outcome", "POST", pay, []byte(`{"outcome":5}`), nil, 422, "validation_failed"},
		{"pay with broken JSON", "POST", pay, []byte(`{"outcome":`), nil, 400, "bad_request"},
		{"pay with a text body", "POST", pay, []byte(`outcome=failed`), []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type"},
		{"inbound without a sender", "POST", n.BaseURL + "/sandbox/whatsapp/inbound", []byte(`{"text":"hi"}`), nil, 422, "validation_failed"},
		{"inbound without a label", "POST", n.BaseURL + "/sandbox/whatsapp/inbound", []byte(`{"from":"2348030000000","text":"hi"}`), []string{"Content-Type", ""}, 415, "unsupported_media_type"},
		{"inbound form post", "POST", n.BaseURL + "/sandbox/whatsapp/inbound", []byte(`from=2348030000000`), []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"},
		{"inbound without a body", "POST", n.BaseURL + "/sandbox/whatsapp/inbound", nil, nil, 400, "bad_request"},
		{"inbound not an object", "POST", n.BaseURL + "/sandbox/whatsapp/inbound", []byte(`[1,2]`), nil, 400, "bad_request"},
		{"resend fault with a 2xx", "POST", n.BaseURL + "/sandbox/resend/faults", []byte(`{"fail_next":1,"fail_status":200}`), nil, 422, "validation_failed"},
		{"advance an unknown task", "POST", n.BaseURL + "/sandbox/kwik/tasks/999/advance", nil, nil, 404, "not_found"},
		{"advance with a mistyped status", "POST", n.BaseURL + "/sandbox/kwik/tasks/999/advance", []byte(`{"status":5}`), nil, 422, "validation_failed"},
		{"unknown sandbox path", "GET", n.BaseURL + "/sandbox/nope", nil, nil, 404, "not_found"},
		{"wrong method", "DELETE", n.BaseURL + "/sandbox/mailbox", nil, nil, 405, "method_not_allowed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := hookDo(t, c.method, c.url, c.body, c.headers...)
			r.problem(t, c.status, c.code)
			p := r.json(t)
			for _, k := range []string{"type", "title", "status", "detail", "code"} {
				require.Contains(t, p, k)
			}
			require.EqualValues(t, c.status, p["status"])
		})
	}

	// A body over the limit is refused from its declared length, before
	// it is read (sent raw: a client still writing the body would race the
	// server closing the connection).
	conn, err := net.Dial("tcp", strings.TrimPrefix(n.BaseURL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(30*time.Second)))
	_, err = fmt.Fprintf(conn, "POST /sandbox/whatsapp/inbound HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", vhttp.MaxBodySize+10)
	require.NoError(t, err)
	res, err := nethttp.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	big, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	hookResp{status: res.StatusCode, header: res.Header, body: big}.problem(t, 413, "payload_too_large")

	// The page itself, and paying from it, still work.
	page := hookDo(t, "GET", n.BaseURL+"/sandbox/paystack/checkout/ord-problems", nil)
	require.Equal(t, 200, page.status)
	require.Contains(t, page.header.Get("Content-Type"), "text/html")
	r := hookDo(t, "POST", pay, []byte("via=checkout&outcome=failed"), "Content-Type", "application/x-www-form-urlencoded")
	require.Equal(t, 200, r.status, "the form post is redirected back to the page")
	require.Contains(t, string(r.body), `<strong id="status">failed</strong>`)
	r = hookDo(t, "POST", pay, nil)
	require.Equal(t, 200, r.status, "a bodiless pay succeeds: %s", r.body)

	// A fake provider API answers in its provider's format.
	r = hookDo(t, "POST", n.BaseURL+"/sandbox/paystack/api/transaction/initialize", []byte(`{}`))
	require.Equal(t, 401, r.status)
	require.Equal(t, false, r.json(t)["status"])
	require.Contains(t, r.header.Get("Content-Type"), "application/json")
}

// The fake providers keep what requests carried (Resend's idempotency
// keys, references) after answering; the edge's requests must not share
// memory with the next request on the connection.
func TestSandboxKeepsRequestValuesPastTheRequest(t *testing.T) {
	t.Parallel()
	n := hookNode(t, nil)
	send := func(key, to string) {
		t.Helper()
		r := hookDo(t, "POST", n.BaseURL+"/sandbox/resend/emails",
			[]byte(`{"from":"shop@example.com","to":"`+to+`","subject":"hi","text":"hello"}`),
			"Authorization", "Bearer "+n.Sandbox.Config().ResendAPIKey, "User-Agent", "vayva-test", "Idempotency-Key", key)
		require.Equal(t, 200, r.status, "%s", r.body)
	}
	// Same connection, same header sizes: the second request's bytes land
	// where the first one's were.
	send("key-one-aaaaaaaaaaaa", "first@example.com")
	send("key-two-bbbbbbbbbbbb", "second@example.com")
	for range 20 {
		hookDo(t, "GET", n.BaseURL+"/sandbox/mailbox?to=nobody@example.com", nil)
	}
	r := hookDo(t, "GET", n.BaseURL+"/sandbox/mailbox?to=first@example.com", nil)
	require.Equal(t, 200, r.status)
	var box struct {
		Data []struct {
			IdempotencyKey string `json:"idempotency_key"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(r.body, &box))
	require.Len(t, box.Data, 1)
	require.Equal(t, "key-one-aaaaaaaaaaaa", box.Data[0].IdempotencyKey)
	// And the key still replays its email rather than meeting another's.
	send("key-one-aaaaaaaaaaaa", "first@example.com")
	require.Len(t, n.Sandbox.Mailbox("first@example.com"), 1)
}
