package http

import (
	"net/url"
	"testing"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"

	"github.com/vayvahq/vayva/integrations/paystack"
	"github.com/vayvahq/vayva/integrations/whatsapp"
	"github.com/vayvahq/vayva/persistence/redis/queue"
	"github.com/vayvahq/vayva/persistence/redis/redistest"
)

const (
	fuzzPaystackSecret = "sk_test_fuzz"
	fuzzAppSecret      = "app_secret_fuzz"
	fuzzVerifyToken    = "verify_fuzz"
)

// fuzzEdge is an edge with only the webhook receivers, over a real broker
// on the test Redis. It is called in memory, without a listener.
func fuzzEdge(tb testing.TB) fasthttp.RequestHandler {
	b, err := queue.New(redistest.New(tb), queue.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	srv := NewServer(Config{}, Deps{Log: zerolog.Nop()}, NewWebhookArea(WebhookConfig{
		PaystackSecretKey: fuzzPaystackSecret, WhatsAppAppSecret: fuzzAppSecret, WhatsAppVerifyToken: fuzzVerifyToken,
	}, b))
	return srv.Handler()
}

func fuzzPost(h fasthttp.RequestHandler, path, header, signature string, body []byte) *fasthttp.RequestCtx {
	var rc fasthttp.RequestCtx
	rc.Request.Header.SetMethod("POST")
	rc.Request.SetRequestURI(path)
	rc.Request.Header.SetContentType("application/json")
	if signature != "" {
		rc.Request.Header.Set(header, signature)
	}
	rc.Request.SetBody(body)
	h(&rc)
	return &rc
}

// checkWebhookAnswer fails unless the receiver answered 200 (signed and
// readable), 400 (signed, unreadable) or 401 (not signed with the key).
func checkWebhookAnswer(t *testing.T, rc *fasthttp.RequestCtx, signed bool) {
	t.Helper()
	status := rc.Response.StatusCode()
	switch {
	case !signed && status != fasthttp.StatusUnauthorized:
		t.Fatalf("unsigned body answered %d: %s", status, rc.Response.Body())
	case signed && status != fasthttp.StatusOK && status != fasthttp.StatusBadRequest:
		t.Fatalf("signed body answered %d: %s", status, rc.Response.Body())
	}
}

// FuzzPaystackWebhook feeds arbitrary bodies and signature headers through
// the Paystack receiver. sign replaces the header by the body's real
// signature, so that the parse path is reached too.
func FuzzPaystackWebhook(f *testing.F) {
	h := fuzzEdge(f)
	good := []byte(`{"event":"charge.success","data":{"id":302961,"reference":"qTPrJoy9Bx","amount":10000,"currency":"NGN","status":"success","customer":{"email":"a@b.c"}}}`)
	f.Add(good, "", true)
	f.Add(good, paystack.Sign("other", good), false)
	f.Add(good, "", false)
	f.Add([]byte(`{"event":"transfer.success","data":{"reference":"t-1","transfer_code":"TRF_1","amount":"5000"}}`), "", true)
	f.Add([]byte(`{"event":"refund.processed","data":{"transaction_reference":"r","refund_reference":"x","amount":1}}`), "", true)
	f.Add([]byte(`{"event":"x","data":{}}`), "", true)
	f.Add([]byte(`{"event":"","data":{}}`), "", true)
	f.Add([]byte(`{"event":"charge.success","data":null}`), "", true)
	f.Add([]byte(`{"event":"charge.success","data":{"id":-1,"paid_at":"nope","metadata":[1]}}`), "", true)
	f.Add([]byte(`not json`), "", true)
	f.Add([]byte{}, "", true)
	f.Add([]byte(`{}`), "zz", false)
	f.Add(good, "  "+paystack.Sign(fuzzPaystackSecret, good)+"0", false)
	f.Fuzz(func(t *testing.T, body []byte, header string, sign bool) {
		if sign {
			header = paystack.Sign(fuzzPaystackSecret, body)
		}
		signed := paystack.VerifySignature(fuzzPaystackSecret, body, header) == nil
		rc := fuzzPost(h, "/webhooks/paystack", paystack.SignatureHeader, header, body)
		checkWebhookAnswer(t, rc, signed)
		if _, err := paystack.ParseEvent(body); signed && err == nil && rc.Response.StatusCode() != fasthttp.StatusOK {
			t.Fatalf("signed event answered %d: %s", rc.Response.StatusCode(), rc.Response.Body())
		}
	})
}

// FuzzWhatsAppWebhook does the same for Meta notifications.
func FuzzWhatsAppWebhook(f *testing.F) {
	h := fuzzEdge(f)
	good := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"234","phone_number_id":"100"},"contacts":[{"profile":{"name":"Ada"},"wa_id":"2348011111111"}],"messages":[{"from":"2348011111111","id":"wamid.A","timestamp":"1767348000","type":"text","text":{"body":"hi"}},{"from":"2348011111111","id":"wamid.B","timestamp":"x","type":"interactive","interactive":{"type":"button_reply","button_reply":{"id":"b1","title":"Yes"}}}],"statuses":[{"id":"wamid.C","status":"read","timestamp":"1767348001","recipient_id":"2348011111111"}]}}]}]}`)
	f.Add(good, "", true)
	f.Add(good, whatsapp.Sign("other", good), false)
	f.Add(good, "sha1=abc", false)
	f.Add(good, "sha256=", false)
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"id":""}]}}]}]}`), "", true)
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"statuses","value":{}}]}]}`), "", true)
	f.Add([]byte(`{"object":"page"}`), "", true)
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":null}`), "", true)
	f.Add([]byte(`[`), "", true)
	f.Fuzz(func(t *testing.T, body []byte, header string, sign bool) {
		if sign {
			header = whatsapp.Sign(fuzzAppSecret, body)
		}
		signed := whatsapp.VerifySignature(fuzzAppSecret, body, header) == nil
		rc := fuzzPost(h, "/webhooks/whatsapp", whatsapp.SignatureHeader, header, body)
		checkWebhookAnswer(t, rc, signed)
	})
}

// FuzzWhatsAppChallenge feeds arbitrary handshake parameters, repeated
// and raw ones included, to GET /webhooks/whatsapp: only the right mode and
// token echo the challenge, as the body; everything else is 403.
func FuzzWhatsAppChallenge(f *testing.F) {
	h := fuzzEdge(f)
	f.Add("subscribe", fuzzVerifyToken, "1158201444", "")
	f.Add("subscribe", "wrong", "1", "")
	f.Add("subscribe", fuzzVerifyToken, "", "")
	f.Add("subscribe", fuzzVerifyToken, "\x00\xff", "hub.mode=x")
	f.Add("", "", "", "%zz&&==")
	f.Fuzz(func(t *testing.T, mode, token, challenge, raw string) {
		q := url.Values{"hub.mode": {mode}, "hub.verify_token": {token}, "hub.challenge": {challenge}}.Encode()
		if raw != "" {
			q += "&" + url.PathEscape(raw)
		}
		var rc fasthttp.RequestCtx
		rc.Request.Header.SetMethod("GET")
		rc.Request.SetRequestURI("/webhooks/whatsapp?" + q)
		h(&rc)
		args := rc.QueryArgs()
		want, ok := whatsapp.VerifyChallenge(string(args.Peek("hub.mode")), string(args.Peek("hub.verify_token")),
			string(args.Peek("hub.challenge")), fuzzVerifyToken)
		switch status := rc.Response.StatusCode(); {
		case ok && (status != fasthttp.StatusOK || string(rc.Response.Body()) != want):
			t.Fatalf("query %q: answered %d %q, want the challenge", q, status, rc.Response.Body())
		case !ok && status != fasthttp.StatusForbidden:
			t.Fatalf("query %q: answered %d, want 403", q, status)
		}
	})
}
