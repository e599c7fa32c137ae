package sandbox_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva/integrations/sandbox"
)

// fuzzRoutes are the request-body parsers of the sandbox, with the token
// each one needs.
var fuzzRoutes = []struct {
	path  string
	token func(sandbox.Config) string
}{
	{"/sandbox/paystack/api/transaction/initialize", func(c sandbox.Config) string { return c.PaystackSecret }},
	{"/sandbox/paystack/api/refund", func(c sandbox.Config) string { return c.PaystackSecret }},
	{"/sandbox/paystack/api/transferrecipient", func(c sandbox.Config) string { return c.PaystackSecret }},
	{"/sandbox/paystack/api/transfer", func(c sandbox.Config) string { return c.PaystackSecret }},
	{"/sandbox/resend/emails", func(c sandbox.Config) string { return c.ResendAPIKey }},
	{"/sandbox/resend/faults", func(sandbox.Config) string { return "" }},
	{"/sandbox/whatsapp/api/v21.0/100000000000001/messages", func(c sandbox.Config) string { return c.WhatsAppAccessToken }},
	{"/sandbox/whatsapp/inbound", func(sandbox.Config) string { return "" }},
	{"/sandbox/kwik/vendor_login", func(sandbox.Config) string { return "" }},
	{"/sandbox/kwik/send_payment_for_task", func(sandbox.Config) string { return "" }},
	{"/sandbox/kwik/create_task_via_vendor", func(sandbox.Config) string { return "" }},
	{"/sandbox/kwik/cancel_vendor_task", func(sandbox.Config) string { return "" }},
	{"/sandbox/kwik/tasks/41002/advance", func(sandbox.Config) string { return "" }},
	{"/sandbox/paystack/checkout/ref/pay", func(sandbox.Config) string { return "" }},
}

// FuzzRequestBodies throws arbitrary bodies at every sandbox endpoint that
// parses one: none may panic or answer 5xx.
func FuzzRequestBodies(f *testing.F) {
	seeds := []string{
		`{"email":"a@b.c","amount":1000,"reference":"ref"}`,
		`{"transaction":"ref","amount":"5"}`,
		`{"type":"nuban","name":"A","account_number":"0123456789","bank_code":"058"}`,
		`{"source":"balance","amount":1,"recipient":"RCP_x","reference":"aaaaaaaaaaaaaaaa"}`,
		`{"from":"a@b.c","to":["x@y.z"],"subject":"s","text":"t","tags":[{"name":"a","value":"b"}]}`,
		`{"rate_limit_next":1}`,
		`{"messaging_product":"whatsapp","to":"2348030000000","type":"interactive","interactive":{"type":"list","body":{"text":"x"},"action":{"button":"b","sections":[{"rows":[{"id":"1","title":"t"}]}]}}}`,
		`{"from":"2348030000000","text":"hi","button_reply_id":"x"}`,
		`{"domain_name":"sandbox.kwik.delivery","email":"vendor@sandbox.kwik.delivery","password":"x"}`,
		`{"access_token":"x","pickups":[{"latitude":1e308}],"deliveries":null,"amount":"NaN"}`,
		`{"status":"failed"}`, `null`, `[]`, `"x"`, ``,
	}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	sb := sandbox.New(sandbox.Config{PublicURL: "http://127.0.0.1:1", MaxRecords: 20})
	h := sb.Handler()
	cfg := sb.Config()
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		req := httptest.NewRequest(http.MethodPost, r.path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if tok := r.token(cfg); tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Less(t, rec.Code, 500, "%s %q → %d %s", r.path, body, rec.Code, rec.Body.String())
	})
}
