package whatsapp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/integrations/sandbox"
	"github.com/vayvahq/vayva/integrations/whatsapp"
)

const (
	business = "100000000000777"
	customer = "2348031234567"
)

type notification struct {
	msgs     []whatsapp.InboundMessage
	statuses []whatsapp.Status
}

type env struct {
	sb     *sandbox.Sandbox
	srv    *httptest.Server
	client *whatsapp.Client
	hooks  chan notification
}

// newEnv serves the sandbox next to a receiver that verifies and parses
// every webhook the way the node does.
func newEnv(t *testing.T, cfg sandbox.Config) *env {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	cfg.PublicURL, cfg.RetryScale = srv.URL, 0.001
	cfg.WhatsAppAppSecret = vayva.NewSecret("app_")
	cfg.WhatsAppAccessToken = vayva.NewSecret("EAAG")
	cfg.WhatsAppVerifyToken = vayva.NewSecret("vt_")
	sb := sandbox.New(cfg)
	mux.Handle("/sandbox/", sb.Handler())
	e := &env{sb: sb, srv: srv, hooks: make(chan notification, 16)}
	mux.HandleFunc("POST /webhooks/whatsapp", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := whatsapp.VerifySignature(sb.Config().WhatsAppAppSecret, body, r.Header.Get(whatsapp.SignatureHeader)); err != nil {
			t.Errorf("webhook signature: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		msgs, statuses, err := whatsapp.ParseWebhook(body)
		if err != nil {
			t.Errorf("webhook payload: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		e.hooks <- notification{msgs, statuses}
	})
	mux.HandleFunc("GET /webhooks/whatsapp", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		challenge, ok := whatsapp.VerifyChallenge(q.Get("hub.mode"), q.Get("hub.verify_token"), q.Get("hub.challenge"), sb.Config().WhatsAppVerifyToken)
		if !ok {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		_, _ = io.WriteString(w, challenge)
	})
	ctx := context.Background()
	require.NoError(t, sb.Start(ctx))
	t.Cleanup(func() { require.NoError(t, sb.Stop(ctx)) })
	c, err := whatsapp.New(whatsapp.Config{AccessToken: sb.Config().WhatsAppAccessToken, BaseURL: sb.BaseURLs().WhatsApp, RetryScale: 0.001},
		whatsapp.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	e.client = c
	return e
}

func (e *env) next(t *testing.T) notification {
	t.Helper()
	select {
	case n := <-e.hooks:
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook arrived")
		return notification{}
	}
}

func (e *env) inbound(t *testing.T, req map[string]any) map[string]any {
	t.Helper()
	body, _ := json.Marshal(req)
	resp, err := e.srv.Client().Post(e.srv.URL+"/sandbox/whatsapp/inbound", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out
}

func TestInboundSimulationIsASignedMetaWebhook(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	out := e.inbound(t, map[string]any{"phone_number_id": business, "from": "+" + customer, "name": "Ada", "text": "Hi, do you have sneakers?"})
	require.EqualValues(t, 200, out["webhook_status"])

	n := e.next(t)
	require.Empty(t, n.statuses)
	require.Len(t, n.msgs, 1)
	m := n.msgs[0]
	require.Equal(t, business, m.PhoneNumberID)
	require.Equal(t, customer, m.From)
	require.Equal(t, "Ada", m.Name)
	require.Equal(t, "text", m.Type)
	require.Equal(t, "Hi, do you have sneakers?", m.Text)
	require.Equal(t, out["wamid"], m.WAMID)
	require.WithinDuration(t, time.Now(), m.Timestamp, time.Minute)

	out = e.inbound(t, map[string]any{"phone_number_id": business, "from": customer, "button_reply_id": "confirm", "reply_title": "Confirm", "context_id": "wamid.prev"})
	m = e.next(t).msgs[0]
	require.Equal(t, "interactive", m.Type)
	require.Equal(t, "confirm", m.InteractiveReplyID)
	require.Equal(t, "Confirm", m.Text)
	require.Equal(t, "wamid.prev", m.ContextWAMID)
	require.Equal(t, out["wamid"], m.WAMID)
}

func TestSendTextInsideWindow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	ctx := context.Background()
	e.inbound(t, map[string]any{"phone_number_id": business, "from": customer, "text": "hello"})
	e.next(t)

	wamid, err := e.client.SendText(ctx, business, "+"+customer, "Yes! Size 42 is in stock.")
	require.NoError(t, err)
	require.Regexp(t, `^wamid\.`, wamid)

	out := e.sb.Outbox(customer)
	require.Len(t, out, 1)
	require.Equal(t, wamid, out[0].WAMID)
	require.Equal(t, business, out[0].PhoneNumberID)
	require.Equal(t, "Yes! Size 42 is in stock.", out[0].Text)
	require.JSONEq(t, `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+`+customer+`","type":"text","text":{"preview_url":false,"body":"Yes! Size 42 is in stock."}}`, string(out[0].Request))

	for _, want := range []string{"sent", "delivered"} {
		n := e.next(t)
		require.Len(t, n.statuses, 1)
		st := n.statuses[0]
		require.Equal(t, want, st.Status)
		require.Equal(t, wamid, st.WAMID)
		require.Equal(t, customer, st.RecipientID)
		require.Equal(t, business, st.PhoneNumberID)
		require.Empty(t, st.Errors)
	}

	resp, err := e.srv.Client().Get(e.srv.URL + "/sandbox/whatsapp/outbox?to=" + customer)
	require.NoError(t, err)
	defer resp.Body.Close()
	var listed struct {
		Data []sandbox.OutboxMessage `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&listed))
	require.Len(t, listed.Data, 1)
	require.Equal(t, wamid, listed.Data[0].WAMID)
}

func TestOutsideWindowOnlyTemplatesDeliver(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	ctx := context.Background()
	wamid, err := e.client.SendText(ctx, business, customer, "Your order shipped")
	require.NoError(t, err)
	st := e.next(t).statuses[0]
	require.Equal(t, wamid, st.WAMID)
	require.Equal(t, "failed", st.Status)
	require.Len(t, st.Errors, 1)
	require.Equal(t, whatsapp.CodeReengagement, st.Errors[0].Code)

	tw, err := e.client.SendTemplate(ctx, business, customer, whatsapp.Template{
		Name: "order_shipped", Language: "en_US",
		Components: []whatsapp.TemplateComponent{{Type: "body", Parameters: []whatsapp.TemplateParameter{{Type: "text", Text: "#1023"}}}},
	})
	require.NoError(t, err)
	n := e.next(t)
	require.Equal(t, tw, n.statuses[0].WAMID)
	require.Equal(t, "sent", n.statuses[0].Status)
	require.Equal(t, "template:order_shipped", e.sb.Outbox(customer)[0].Text)
}

func TestSendInteractive(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{DisableWhatsAppStatuses: true})
	ctx := context.Background()
	id, err := e.client.SendInteractive(ctx, business, customer, whatsapp.Interactive{
		Header: "Order #1023", Body: "Confirm your order?", Footer: "Vayva",
		Buttons: []whatsapp.Button{{ID: "confirm", Title: "Confirm"}, {ID: "cancel", Title: "Cancel"}},
	})
	require.NoError(t, err)
	msg := e.sb.Outbox(customer)[0]
	require.Equal(t, id, msg.WAMID)
	require.JSONEq(t, `{"messaging_product":"whatsapp","recipient_type":"individual","to":"`+customer+`","type":"interactive",
		"interactive":{"type":"button","header":{"type":"text","text":"Order #1023"},"body":{"text":"Confirm your order?"},
		"footer":{"text":"Vayva"},"action":{"buttons":[{"type":"reply","reply":{"id":"confirm","title":"Confirm"}},
		{"type":"reply","reply":{"id":"cancel","title":"Cancel"}}]}}}`, string(msg.Request))

	_, err = e.client.SendInteractive(ctx, business, customer, whatsapp.Interactive{
		Body: "Pick a size",
		List: &whatsapp.List{Button: "Sizes", Sections: []whatsapp.Section{
			{Title: "EU", Rows: []whatsapp.Row{{ID: "42", Title: "42", Description: "In stock"}, {ID: "43", Title: "43"}}},
		}},
	})
	require.NoError(t, err)
	require.Contains(t, string(e.sb.Outbox(customer)[0].Request), `"button":"Sizes"`)

	_, err = e.client.SendInteractive(ctx, business, customer, whatsapp.Interactive{
		Body: "too many", Buttons: []whatsapp.Button{{ID: "a", Title: "A"}, {ID: "b", Title: "B"}, {ID: "c", Title: "C"}, {ID: "d", Title: "D"}},
	})
	require.Equal(t, vayva.EINVALID, vayva.ErrorCode(err))
	require.Len(t, e.sb.Outbox(customer), 2, "refused locally, never sent")
}

func TestSandboxEnforcesTheContract(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{DisableWhatsAppStatuses: true})
	ctx := context.Background()

	bad, err := whatsapp.New(whatsapp.Config{AccessToken: "EAAG-wrong", BaseURL: e.sb.BaseURLs().WhatsApp}, whatsapp.WithHTTPClient(e.srv.Client()))
	require.NoError(t, err)
	_, err = bad.SendText(ctx, business, customer, "hi")
	var we *whatsapp.Error
	require.ErrorAs(t, err, &we)
	require.Equal(t, http.StatusUnauthorized, we.StatusCode)
	require.Equal(t, whatsapp.CodeInvalidToken, we.Code)
	require.Equal(t, vayva.EUNAVAILABLE, vayva.ErrorCode(err))
	require.True(t, whatsapp.IsPermanent(err))

	// A request the client would refuse, sent raw: the fake refuses it too.
	body := `{"messaging_product":"whatsapp","to":"` + customer + `","type":"interactive","interactive":{"type":"button","body":{"text":"x"},"action":{"buttons":[]}}}`
	req, _ := http.NewRequest(http.MethodPost, e.sb.BaseURLs().WhatsApp+"/"+business+"/messages", bytes.NewReader([]byte(body)))
	req.Header.Set("Authorization", "Bearer "+e.sb.Config().WhatsAppAccessToken)
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, string(raw), `"code":100`)

	require.NoError(t, e.client.MarkRead(ctx, business, "wamid.abc"))
}

func TestSubscriptionHandshake(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	resp, err := e.srv.Client().Post(e.srv.URL+"/sandbox/whatsapp/subscribe", "application/json", nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	require.Equal(t, true, out["ok"])
}

func TestVerifyChallenge(t *testing.T) {
	t.Parallel()
	got, ok := whatsapp.VerifyChallenge("subscribe", "tok", "1158201444", "tok")
	require.True(t, ok)
	require.Equal(t, "1158201444", got)
	for _, c := range [][4]string{
		{"unsubscribe", "tok", "1", "tok"}, {"subscribe", "bad", "1", "tok"}, {"subscribe", "", "1", ""},
		{"subscribe", "tok", "", "tok"}, {"", "tok", "1", "tok"},
	} {
		_, ok := whatsapp.VerifyChallenge(c[0], c[1], c[2], c[3])
		require.False(t, ok, c)
	}
}

func adversary(t *testing.T, answer func(n int64, w http.ResponseWriter, r *http.Request)) (*whatsapp.Client, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		answer(n.Add(1), w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := whatsapp.New(whatsapp.Config{AccessToken: "tok", BaseURL: srv.URL + "/v21.0", RetryScale: 0.001, Timeout: 200 * time.Millisecond},
		whatsapp.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	return c, &n
}

const sent = `{"messaging_product":"whatsapp","contacts":[{"input":"2348031234567","wa_id":"2348031234567"}],"messages":[{"id":"wamid.ok"}]}`

func TestThrottledSendsAreRetried(t *testing.T) {
	t.Parallel()
	c, n := adversary(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "/v21.0/"+business+"/messages", r.URL.Path)
		switch n {
		case 1:
			w.WriteHeader(http.StatusTooManyRequests)
		case 2:
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429,"fbtrace_id":"x"}}`)
		default:
			_, _ = io.WriteString(w, sent)
		}
	})
	id, err := c.SendText(context.Background(), business, customer, "hi")
	require.NoError(t, err)
	require.Equal(t, "wamid.ok", id)
	require.EqualValues(t, 3, n.Load())
}

func TestAmbiguousSendIsNotRepeated(t *testing.T) {
	t.Parallel()
	c, n := adversary(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"error":{"message":"An unknown error has occurred.","type":"OAuthException","code":1}}`)
	})
	_, err := c.SendText(context.Background(), business, customer, "hi")
	require.Error(t, err)
	require.EqualValues(t, 1, n.Load(), "Meta may have sent it; the outbound queue decides")
	require.Equal(t, vayva.EUNAVAILABLE, vayva.ErrorCode(err))
	require.False(t, whatsapp.IsPermanent(err))

	n.Store(0)
	require.Error(t, c.MarkRead(context.Background(), business, "wamid.x"))
	require.EqualValues(t, 4, n.Load(), "marking read is harmless to repeat")
}

func TestSendTimesOut(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	c, n := adversary(t, func(_ int64, _ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) })
	_, err := c.SendText(context.Background(), business, customer, "hi")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.EqualValues(t, 1, n.Load())
}

func TestAnswerWithoutMessageID(t *testing.T) {
	t.Parallel()
	c, _ := adversary(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"messaging_product":"whatsapp","messages":[]}`)
	})
	_, err := c.SendText(context.Background(), business, customer, "hi")
	require.Error(t, err)
}
