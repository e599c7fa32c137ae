package resend_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/integrations/resend"
	"github.com/vayvahq/vayva/integrations/sandbox"
)

type env struct {
	sb     *sandbox.Sandbox
	srv    *httptest.Server
	client *resend.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	sb := sandbox.New(sandbox.Config{PublicURL: srv.URL, ResendAPIKey: vayva.NewSecret("re_")})
	mux.Handle("/sandbox/", sb.Handler())
	c, err := resend.New(resend.Config{APIKey: sb.Config().ResendAPIKey, BaseURL: sb.BaseURLs().Resend, RetryScale: 0.001, UserAgent: "vayva-test"},
		resend.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	return &env{sb: sb, srv: srv, client: c}
}

func (e *env) mailbox(t *testing.T, to string) []sandbox.Email {
	t.Helper()
	resp, err := e.srv.Client().Get(e.srv.URL + "/sandbox/mailbox?to=" + to)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var out struct {
		Data []sandbox.Email `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out.Data
}

func welcome(to string) resend.Email {
	return resend.Email{
		From: "Vayva <hello@vayva.ng>", To: []string{to}, Subject: "Verify your email",
		HTML: "<p>Click <a href=\"https://x\">here</a></p>", Text: "Click here: https://x",
		ReplyTo: []string{"support@vayva.ng"}, Tags: []resend.Tag{{Name: "kind", Value: "verify_email"}},
	}
}

func TestSendLandsInMailbox(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	id, err := e.client.Send(ctx, welcome("ada@example.com"), "job_1")
	require.NoError(t, err)
	require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, id)
	_, err = e.client.Send(ctx, welcome("bo@example.com"), "job_2")
	require.NoError(t, err)

	box := e.mailbox(t, "ada@example.com")
	require.Len(t, box, 1)
	m := box[0]
	require.Equal(t, id, m.ID)
	require.Equal(t, "Vayva <hello@vayva.ng>", m.From)
	require.Equal(t, []string{"ada@example.com"}, m.To)
	require.Equal(t, "Verify your email", m.Subject)
	require.Contains(t, m.HTML, "here</a>")
	require.Equal(t, "Click here: https://x", m.Text)
	require.Equal(t, []string{"support@vayva.ng"}, m.ReplyTo)
	require.Equal(t, []sandbox.EmailTag{{Name: "kind", Value: "verify_email"}}, m.Tags)
	require.Equal(t, "job_1", m.IdempotencyKey)

	all := e.mailbox(t, "")
	require.Len(t, all, 2)
	require.Equal(t, []string{"bo@example.com"}, all[0].To, "newest first")
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	first, err := e.client.Send(ctx, welcome("ada@example.com"), "evt_1:verify")
	require.NoError(t, err)
	again, err := e.client.Send(ctx, welcome("ada@example.com"), "evt_1:verify")
	require.NoError(t, err)
	require.Equal(t, first, again)
	require.Len(t, e.mailbox(t, "ada@example.com"), 1)

	changed := welcome("ada@example.com")
	changed.Subject = "Something else"
	_, err = e.client.Send(ctx, changed, "evt_1:verify")
	var re *resend.Error
	require.ErrorAs(t, err, &re)
	require.Equal(t, http.StatusConflict, re.StatusCode)
	require.Equal(t, "invalid_idempotent_request", re.Name)
	require.True(t, resend.IsPermanent(err))
	require.Equal(t, vayva.EIDEMPOTENCYREUSED, vayva.ErrorCode(err))
	require.Len(t, e.mailbox(t, "ada@example.com"), 1)
}

func TestAuthAndValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	bad, err := resend.New(resend.Config{APIKey: "re_wrong", BaseURL: e.sb.BaseURLs().Resend}, resend.WithHTTPClient(e.srv.Client()))
	require.NoError(t, err)
	_, err = bad.Send(ctx, welcome("ada@example.com"), "k")
	var re *resend.Error
	require.ErrorAs(t, err, &re)
	require.Equal(t, http.StatusForbidden, re.StatusCode)
	require.Equal(t, "invalid_api_key", re.Name)
	require.True(t, resend.IsPermanent(err))
	require.Equal(t, vayva.EUNAVAILABLE, vayva.ErrorCode(err))

	noBody := welcome("ada@example.com")
	noBody.HTML, noBody.Text = "", ""
	_, err = e.client.Send(ctx, noBody, "k")
	require.Equal(t, vayva.EINVALID, vayva.ErrorCode(err))
	require.False(t, errors.As(err, &re), "refused locally")

	badTag := welcome("ada@example.com")
	badTag.Tags = []resend.Tag{{Name: "kind", Value: "has space"}}
	_, err = e.client.Send(ctx, badTag, "k")
	require.Equal(t, vayva.EINVALID, vayva.ErrorCode(err))
	require.Empty(t, e.mailbox(t, ""))
}

func TestRateLimitIsHandedBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.sb.ResendRateLimitNext(1, 2*time.Second)
	_, err := e.client.Send(ctx, welcome("ada@example.com"), "job_9")
	var rl *resend.RateLimitedError
	require.ErrorAs(t, err, &rl)
	require.Equal(t, 2*time.Second, rl.RetryAfter)
	require.Equal(t, "rate_limit_exceeded", rl.Name)
	require.Equal(t, vayva.ERATELIMITED, vayva.ErrorCode(err))
	require.False(t, resend.IsPermanent(err))
	d, ok := resend.RetryAfter(err)
	require.True(t, ok)
	require.Equal(t, 2*time.Second, d)
	require.Empty(t, e.mailbox(t, ""))

	_, err = e.client.Send(ctx, welcome("ada@example.com"), "job_9")
	require.NoError(t, err)
	require.Len(t, e.mailbox(t, ""), 1)
}

func TestServerErrorsAreRetriedWithAKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.sb.ResendFailNext(2, http.StatusInternalServerError)
	_, err := e.client.Send(ctx, welcome("ada@example.com"), "job_3")
	require.NoError(t, err)
	require.Len(t, e.mailbox(t, ""), 1)

	e.sb.ResendFailNext(1, http.StatusServiceUnavailable)
	_, err = e.client.Send(ctx, welcome("bo@example.com"), "")
	require.Error(t, err, "without a key a possibly-sent email is not resent")
	require.False(t, resend.IsPermanent(err))
	require.Equal(t, vayva.EUNAVAILABLE, vayva.ErrorCode(err))
	require.Empty(t, e.mailbox(t, "bo@example.com"))
}

func adversary(t *testing.T, answer func(n int64, w http.ResponseWriter, r *http.Request)) (*resend.Client, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		answer(n.Add(1), w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := resend.New(resend.Config{APIKey: "re_x", BaseURL: srv.URL, RetryScale: 0.001, Timeout: 100 * time.Millisecond, MaxRetries: 2},
		resend.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	return c, &n
}

func TestHeadersAndErrorBodies(t *testing.T) {
	t.Parallel()
	c, _ := adversary(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "Bearer re_x", r.Header.Get("Authorization"))
		require.Equal(t, "vayva", r.Header.Get("User-Agent"))
		require.Equal(t, "key-1", r.Header.Get("Idempotency-Key"))
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = io.WriteString(w, `{"statusCode":422,"name":"validation_error","message":"The from domain is not verified."}`)
	})
	_, err := c.Send(context.Background(), welcome("ada@example.com"), "key-1")
	var re *resend.Error
	require.ErrorAs(t, err, &re)
	require.Equal(t, "validation_error", re.Name)
	require.Equal(t, "The from domain is not verified.", re.Message)
	require.True(t, resend.IsPermanent(err))
}

func TestRateLimitHeaders(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		header map[string]string
		want   time.Duration
	}{
		{"retry-after", map[string]string{"Retry-After": "3", "Ratelimit-Reset": "9"}, 3 * time.Second},
		{"ratelimit-reset", map[string]string{"Ratelimit-Reset": "4"}, 4 * time.Second},
		{"none", nil, time.Second},
		{"garbage", map[string]string{"Retry-After": "soon"}, time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, n := adversary(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(http.StatusTooManyRequests)
			})
			_, err := c.Send(context.Background(), welcome("ada@example.com"), "k")
			d, ok := resend.RetryAfter(err)
			require.True(t, ok)
			require.Equal(t, tc.want, d)
			require.EqualValues(t, 1, n.Load(), "a 429 goes back to the worker at once")
		})
	}
}

func TestTimeoutsAreRetriedWithAKey(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	c, n := adversary(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		if n <= 2 {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		_, _ = io.WriteString(w, `{"id":"49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"}`)
	})
	t.Cleanup(func() { close(release) })
	id, err := c.Send(context.Background(), welcome("ada@example.com"), "k")
	require.NoError(t, err)
	require.Equal(t, "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794", id)
	require.EqualValues(t, 3, n.Load())
}

func TestConcurrentIdempotentRequestIsRetried(t *testing.T) {
	t.Parallel()
	c, n := adversary(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.WriteHeader(http.StatusConflict)
			_, _ = io.WriteString(w, `{"statusCode":409,"name":"concurrent_idempotent_requests","message":"Same idempotency key used while original request is still in progress."}`)
			return
		}
		_, _ = io.WriteString(w, `{"id":"e1"}`)
	})
	id, err := c.Send(context.Background(), welcome("ada@example.com"), "k")
	require.NoError(t, err)
	require.Equal(t, "e1", id)
	require.EqualValues(t, 2, n.Load())
}

func TestExhaustedRetries(t *testing.T) {
	t.Parallel()
	c, n := adversary(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	})
	_, err := c.Send(context.Background(), welcome("ada@example.com"), "k")
	require.Error(t, err)
	require.EqualValues(t, 3, n.Load())
	require.False(t, resend.IsPermanent(err))
}
