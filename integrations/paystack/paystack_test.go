package paystack_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/integrations/paystack"
	"github.com/vayvahq/vayva/integrations/sandbox"
)

// delivery is a webhook the test receiver got.
type delivery struct {
	body      []byte
	signature string
}

// env is a sandbox served by httptest next to a webhook receiver.
type env struct {
	sb       *sandbox.Sandbox
	srv      *httptest.Server
	client   *paystack.Client
	webhooks chan delivery
}

func newEnv(t *testing.T) *env {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	sb := sandbox.New(sandbox.Config{PublicURL: srv.URL, RetryScale: 0.001, PaystackSecret: "sk_test_" + vayva.NewSecret("")})
	mux.Handle("/sandbox/", sb.Handler())
	e := &env{sb: sb, srv: srv, webhooks: make(chan delivery, 16)}
	mux.HandleFunc("POST /webhooks/paystack", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		e.webhooks <- delivery{body: body, signature: r.Header.Get(paystack.SignatureHeader)}
		w.WriteHeader(http.StatusOK)
	})
	ctx := context.Background()
	require.NoError(t, sb.Start(ctx))
	t.Cleanup(func() { require.NoError(t, sb.Stop(ctx)) })
	c, err := paystack.New(paystack.Config{SecretKey: sb.Config().PaystackSecret, BaseURL: sb.BaseURLs().Paystack, RetryScale: 0.001},
		paystack.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	e.client = c
	return e
}

// next waits for the next webhook and checks its signature and shape.
func (e *env) next(t *testing.T) paystack.Event {
	t.Helper()
	select {
	case d := <-e.webhooks:
		require.NoError(t, paystack.VerifySignature(e.sb.Config().PaystackSecret, d.body, d.signature))
		require.ErrorIs(t, paystack.VerifySignature("sk_test_other", d.body, d.signature), paystack.ErrInvalidSignature)
		ev, err := paystack.ParseEvent(d.body)
		require.NoError(t, err)
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook arrived")
		return paystack.Event{}
	}
}

func (e *env) pay(t *testing.T, ref string) map[string]any {
	t.Helper()
	resp, err := e.srv.Client().Post(e.srv.URL+"/sandbox/paystack/checkout/"+ref+"/pay", "application/json", nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var out map[string]any
	require.NoError(t, decodeJSON(resp.Body, &out))
	return out
}

func newRef() string { return strings.ReplaceAll(vayva.NewID("pay"), "_", "-") }

func TestCheckoutPaysAndSendsSignedChargeSuccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	ref := newRef()

	auth, err := e.client.InitializeTransaction(ctx, paystack.InitializeRequest{
		Email: "ada@example.com", Amount: 250000, Currency: "NGN", Reference: ref,
		Metadata: map[string]any{"order_id": "ord_1"},
	})
	require.NoError(t, err)
	require.Equal(t, ref, auth.Reference)
	require.Equal(t, e.srv.URL+"/sandbox/paystack/checkout/"+ref, auth.AuthorizationURL)
	require.NotEmpty(t, auth.AccessCode)

	tx, err := e.client.VerifyTransaction(ctx, ref)
	require.NoError(t, err)
	require.Equal(t, paystack.StatusAbandoned, tx.Status)
	require.EqualValues(t, 250000, tx.Amount)

	page, err := e.srv.Client().Get(auth.AuthorizationURL)
	require.NoError(t, err)
	html, _ := io.ReadAll(page.Body)
	page.Body.Close()
	require.Equal(t, http.StatusOK, page.StatusCode)
	require.Contains(t, string(html), "NGN 2500.00")
	require.Contains(t, string(html), `action="/sandbox/paystack/checkout/`+ref+`/pay"`)

	out := e.pay(t, ref)
	require.EqualValues(t, 200, out["webhook_status"])
	require.Equal(t, "success", out["status"])

	ev := e.next(t)
	require.Equal(t, paystack.EventChargeSuccess, ev.Event)
	require.Equal(t, ref, ev.Data.Reference)
	require.EqualValues(t, 250000, ev.Data.Amount)
	require.Equal(t, "NGN", ev.Data.Currency)
	require.Equal(t, "success", ev.Data.Status)
	require.EqualValues(t, 3750+10000, ev.Data.Fees)
	require.Equal(t, "ada@example.com", ev.Data.CustomerEmail)
	require.JSONEq(t, `{"order_id":"ord_1"}`, string(ev.Data.Metadata))
	require.NotZero(t, ev.Data.ID)
	require.Equal(t, "charge.success:id:"+itoa(ev.Data.ID), paystack.EventKey(ev))

	tx, err = e.client.VerifyTransaction(ctx, ref)
	require.NoError(t, err)
	require.Equal(t, paystack.StatusSuccess, tx.Status)
	require.Equal(t, ev.Data.ID, tx.ID)
	require.False(t, tx.PaidAt.IsZero())
	require.EqualValues(t, 13750, tx.Fees)

	// Paying again changes nothing and sends nothing.
	again := e.pay(t, ref)
	require.Equal(t, true, again["already_paid"])
	require.Nil(t, again["webhook_status"])
}

func TestCheckoutFormRedirectsToCallback(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	ref := newRef()
	_, err := e.client.InitializeTransaction(ctx, paystack.InitializeRequest{
		Email: "bo@example.com", Amount: 5000, Reference: ref, CallbackURL: "https://shop.example.com/thanks?x=1",
	})
	require.NoError(t, err)

	noRedirect := *e.srv.Client()
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noRedirect.PostForm(e.srv.URL+"/sandbox/paystack/checkout/"+ref+"/pay", url.Values{"via": {"checkout"}, "outcome": {"success"}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, "shop.example.com", loc.Host)
	require.Equal(t, ref, loc.Query().Get("reference"))
	require.Equal(t, ref, loc.Query().Get("trxref"))
	require.Equal(t, "1", loc.Query().Get("x"))

	ev := e.next(t)
	require.Equal(t, ref, ev.Data.Reference)
	require.EqualValues(t, 75, ev.Data.Fees) // under NGN 2,500: no flat fee
}

func TestDeclinedCheckoutSendsNoWebhook(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	ref := newRef()
	_, err := e.client.InitializeTransaction(ctx, paystack.InitializeRequest{Email: "c@example.com", Amount: 10000, Reference: ref})
	require.NoError(t, err)
	resp, err := e.srv.Client().Post(e.srv.URL+"/sandbox/paystack/checkout/"+ref+"/pay?outcome=failed", "application/json", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	tx, err := e.client.VerifyTransaction(ctx, ref)
	require.NoError(t, err)
	require.Equal(t, paystack.StatusFailed, tx.Status)

	// A later successful payment is the first and only webhook.
	e.pay(t, ref)
	ev := e.next(t)
	require.Equal(t, ref, ev.Data.Reference)
	require.Empty(t, e.webhooks)
}

func TestAPIErrorsAreTranslated(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	ref := newRef()
	_, err := e.client.InitializeTransaction(ctx, paystack.InitializeRequest{Email: "d@example.com", Amount: 10000, Reference: ref})
	require.NoError(t, err)

	_, err = e.client.InitializeTransaction(ctx, paystack.InitializeRequest{Email: "d@example.com", Amount: 10000, Reference: ref})
	require.Error(t, err)
	require.Equal(t, vayva.ECONFLICT, vayva.ErrorCode(err))
	require.True(t, paystack.IsPermanent(err))
	var pe *paystack.Error
	require.ErrorAs(t, err, &pe)
	require.Equal(t, http.StatusBadRequest, pe.StatusCode)
	require.Equal(t, "Duplicate Transaction Reference", pe.Message)

	_, err = e.client.VerifyTransaction(ctx, "no-such-ref")
	require.Equal(t, vayva.ENOTFOUND, vayva.ErrorCode(err))

	_, err = e.client.InitializeTransaction(ctx, paystack.InitializeRequest{Email: "d@example.com", Amount: 10000, Reference: "bad ref!"})
	require.Equal(t, vayva.EINVALID, vayva.ErrorCode(err))
	require.False(t, errors.As(err, &pe), "refused locally, before any request")

	bad, err := paystack.New(paystack.Config{SecretKey: "sk_test_wrong", BaseURL: e.sb.BaseURLs().Paystack}, paystack.WithHTTPClient(e.srv.Client()))
	require.NoError(t, err)
	_, err = bad.VerifyTransaction(ctx, ref)
	require.ErrorAs(t, err, &pe)
	require.Equal(t, http.StatusUnauthorized, pe.StatusCode)
	require.Equal(t, vayva.EUNAVAILABLE, vayva.ErrorCode(err))
	require.True(t, paystack.IsPermanent(err))
}

func TestRefunds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	ref := newRef()
	_, err := e.client.InitializeTransaction(ctx, paystack.InitializeRequest{Email: "r@example.com", Amount: 100000, Reference: ref})
	require.NoError(t, err)

	_, err = e.client.Refund(ctx, paystack.RefundRequest{Transaction: ref})
	require.Equal(t, vayva.EINVALID, vayva.ErrorCode(err), "an unpaid transaction cannot be refunded")

	e.pay(t, ref)
	require.Equal(t, paystack.EventChargeSuccess, e.next(t).Event)

	rf, err := e.client.Refund(ctx, paystack.RefundRequest{Transaction: ref, Amount: 30000, MerchantNote: "rfd_1"})
	require.NoError(t, err)
	require.Equal(t, "pending", rf.Status)
	require.EqualValues(t, 30000, rf.Amount)
	require.Equal(t, ref, rf.TransactionReference)
	ev := e.next(t)
	require.Equal(t, paystack.EventRefundProcessed, ev.Event)
	require.Equal(t, ref, ev.Data.TransactionReference)
	require.EqualValues(t, 30000, ev.Data.Amount)

	_, err = e.client.Refund(ctx, paystack.RefundRequest{Transaction: ref, Amount: 70001})
	require.Equal(t, vayva.EINVALID, vayva.ErrorCode(err))

	rest, err := e.client.Refund(ctx, paystack.RefundRequest{Transaction: ref})
	require.NoError(t, err)
	require.EqualValues(t, 70000, rest.Amount)
	ev2 := e.next(t)
	require.NotEqual(t, paystack.EventKey(ev), paystack.EventKey(ev2))

	_, err = e.client.Refund(ctx, paystack.RefundRequest{Transaction: ref})
	require.True(t, paystack.IsPermanent(err))
	tx, err := e.client.VerifyTransaction(ctx, ref)
	require.NoError(t, err)
	require.Equal(t, paystack.StatusReversed, tx.Status)
}

func TestTransfers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()

	rc, err := e.client.CreateTransferRecipient(ctx, paystack.RecipientRequest{Name: "Ada Stores", AccountNumber: "0123456789", BankCode: "058"})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(rc.RecipientCode, "RCP_"))
	require.Equal(t, "0123456789", rc.AccountNumber)
	again, err := e.client.CreateTransferRecipient(ctx, paystack.RecipientRequest{Name: "Ada Stores", AccountNumber: "0123456789", BankCode: "058"})
	require.NoError(t, err)
	require.Equal(t, rc.RecipientCode, again.RecipientCode, "the same account is one recipient")

	ref := "po-" + strings.ToLower(vayva.NewID("x"))
	tr, err := e.client.InitiateTransfer(ctx, paystack.TransferRequest{Amount: 500000, Recipient: rc.RecipientCode, Reference: ref, Reason: "payout"})
	require.NoError(t, err)
	require.Equal(t, paystack.TransferPending, tr.Status)
	require.True(t, strings.HasPrefix(tr.TransferCode, "TRF_"))

	ev := e.next(t)
	require.Equal(t, paystack.EventTransferSuccess, ev.Event)
	require.Equal(t, ref, ev.Data.Reference)
	require.Equal(t, tr.TransferCode, ev.Data.TransferCode)
	require.Equal(t, rc.RecipientCode, ev.Data.RecipientCode)
	require.EqualValues(t, 500000, ev.Data.Amount)

	got, err := e.client.VerifyTransfer(ctx, ref)
	require.NoError(t, err)
	require.Equal(t, paystack.TransferSuccess, got.Status)
	require.Equal(t, rc.RecipientCode, got.RecipientCode)
	require.False(t, got.TransferredAt.IsZero())

	// The reference is the idempotency key: repeating the payout returns
	// the transfer already made; reusing it for another amount conflicts.
	replay, err := e.client.InitiateTransfer(ctx, paystack.TransferRequest{Amount: 500000, Recipient: rc.RecipientCode, Reference: ref})
	require.NoError(t, err)
	require.Equal(t, tr.TransferCode, replay.TransferCode)
	require.Equal(t, paystack.TransferSuccess, replay.Status)
	_, err = e.client.InitiateTransfer(ctx, paystack.TransferRequest{Amount: 1, Recipient: rc.RecipientCode, Reference: ref})
	require.Equal(t, vayva.ECONFLICT, vayva.ErrorCode(err))
	require.Empty(t, e.webhooks)

	_, err = e.client.InitiateTransfer(ctx, paystack.TransferRequest{Amount: 100, Recipient: rc.RecipientCode, Reference: "UPPER-case-is-not-allowed"})
	require.Equal(t, vayva.EINVALID, vayva.ErrorCode(err))

	failing, err := e.client.CreateTransferRecipient(ctx, paystack.RecipientRequest{Name: "Closed Account", AccountNumber: "0000000000", BankCode: "058"})
	require.NoError(t, err)
	ref2 := "po-" + strings.ToLower(vayva.NewID("x"))
	_, err = e.client.InitiateTransfer(ctx, paystack.TransferRequest{Amount: 100, Recipient: failing.RecipientCode, Reference: ref2})
	require.NoError(t, err)
	ev = e.next(t)
	require.Equal(t, paystack.EventTransferFailed, ev.Event)
	require.Equal(t, ref2, ev.Data.Reference)
}

// counter is an adversarial Paystack that answers from a script.
func counter(t *testing.T, answer func(n int64, w http.ResponseWriter, r *http.Request)) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answer(n.Add(1), w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func client(t *testing.T, srv *httptest.Server, cfg paystack.Config) *paystack.Client {
	t.Helper()
	cfg.SecretKey, cfg.BaseURL, cfg.RetryScale = "sk_test_x", srv.URL, 0.001
	c, err := paystack.New(cfg, paystack.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	return c
}

const verifyOK = `{"status":true,"message":"Verification successful","data":{"id":"7","reference":"r1","status":"success","amount":"1000","currency":"NGN","fees":null,"paid_at":"2026-01-02T03:04:05.000Z","metadata":"","customer":{"email":"a@b.c"}}}`

func TestRetriesServerErrorsOnReads(t *testing.T) {
	t.Parallel()
	srv, n := counter(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "Bearer sk_test_x", r.Header.Get("Authorization"))
		if n < 3 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		_, _ = io.WriteString(w, verifyOK)
	})
	tx, err := client(t, srv, paystack.Config{}).VerifyTransaction(context.Background(), "r1")
	require.NoError(t, err)
	require.EqualValues(t, 3, n.Load())
	require.EqualValues(t, 7, tx.ID)
	require.EqualValues(t, 1000, tx.Amount)
	require.Equal(t, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), tx.PaidAt)
}

func TestGivesUpAfterMaxRetries(t *testing.T) {
	t.Parallel()
	srv, n := counter(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	_, err := client(t, srv, paystack.Config{MaxRetries: 2}).VerifyTransaction(context.Background(), "r1")
	require.Error(t, err)
	require.EqualValues(t, 3, n.Load())
	require.Equal(t, vayva.EUNAVAILABLE, vayva.ErrorCode(err))
	require.False(t, paystack.IsPermanent(err))
}

func TestDoesNotRepeatAmbiguousRefund(t *testing.T) {
	t.Parallel()
	srv, n := counter(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	_, err := client(t, srv, paystack.Config{}).Refund(context.Background(), paystack.RefundRequest{Transaction: "r1"})
	require.Error(t, err)
	require.EqualValues(t, 1, n.Load(), "a refund that may have happened is not repeated")
}

func TestRetriesRateLimitedRefund(t *testing.T) {
	t.Parallel()
	srv, n := counter(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, `{"status":false,"message":"Too many requests"}`)
			return
		}
		_, _ = io.WriteString(w, `{"status":true,"message":"Refund has been queued for processing","data":{"id":3,"status":"pending","amount":1000,"currency":"NGN","transaction":{"reference":"r1"}}}`)
	})
	rf, err := client(t, srv, paystack.Config{}).Refund(context.Background(), paystack.RefundRequest{Transaction: "r1"})
	require.NoError(t, err)
	require.EqualValues(t, 2, n.Load())
	require.EqualValues(t, 3, rf.ID)
}

func TestLongRetryAfterIsHandedBack(t *testing.T) {
	t.Parallel()
	srv, n := counter(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	_, err := client(t, srv, paystack.Config{}).VerifyTransaction(context.Background(), "r1")
	require.Equal(t, vayva.ERATELIMITED, vayva.ErrorCode(err))
	require.EqualValues(t, 1, n.Load())
}

func TestTimeoutPerAttempt(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv, n := counter(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // lets the server notice the client leaving
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before the server closes
	c := client(t, srv, paystack.Config{Timeout: 50 * time.Millisecond, MaxRetries: 2})
	_, err := c.VerifyTransaction(context.Background(), "r1")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, vayva.EUNAVAILABLE, vayva.ErrorCode(err))
	require.EqualValues(t, 3, n.Load(), "a read is retried after a timeout")

	n.Store(0)
	_, err = c.Refund(context.Background(), paystack.RefundRequest{Transaction: "r1"})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.EqualValues(t, 1, n.Load(), "a refund is not retried after a timeout")
}

func TestStatusFalseWithOKIsAnError(t *testing.T) {
	t.Parallel()
	srv, _ := counter(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"status":false,"message":"Transaction reference not found"}`)
	})
	_, err := client(t, srv, paystack.Config{}).VerifyTransaction(context.Background(), "r1")
	require.Equal(t, vayva.ENOTFOUND, vayva.ErrorCode(err))
}

func TestRetriesWhenConnectionRefused(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	c, err := paystack.New(paystack.Config{SecretKey: "sk", BaseURL: srv.URL, RetryScale: 0.001, MaxRetries: 2})
	require.NoError(t, err)
	_, err = c.Refund(context.Background(), paystack.RefundRequest{Transaction: "r1"})
	require.Error(t, err)
	require.Equal(t, vayva.EUNAVAILABLE, vayva.ErrorCode(err))
}

func TestCanceledContextStopsRetrying(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	srv, n := counter(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		cancel()
		w.WriteHeader(http.StatusBadGateway)
	})
	_, err := client(t, srv, paystack.Config{}).VerifyTransaction(ctx, "r1")
	require.ErrorIs(t, err, context.Canceled)
	require.EqualValues(t, 1, n.Load())
}

func decodeJSON(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
