package providerhttp_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vayvahq/vayva/integrations/internal/providerhttp"
)

// TestMain checks that no goroutine outlives the tests. Idle keep-alive
// connections of test HTTP clients are the transport's, not ours.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

// serve starts a server for h and a Client pointed at it.
func serve(t *testing.T, h http.HandlerFunc, s providerhttp.Settings) *providerhttp.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	s.BaseURL = srv.URL + "/"
	c, err := providerhttp.New(s)
	require.NoError(t, err)
	c.HTTP = srv.Client()
	return c
}

func TestNewFillsDefaults(t *testing.T) {
	t.Parallel()
	c, err := providerhttp.New(providerhttp.Settings{
		DefaultBaseURL: "https://api.example.test//", DefaultTimeout: 7 * time.Second, MaxRetryAfter: time.Minute,
	})
	require.NoError(t, err)
	require.NotNil(t, c.HTTP)
	require.Equal(t, "https://api.example.test", c.BaseURL)
	require.Equal(t, 7*time.Second, c.Timeout)
	require.Equal(t, providerhttp.DefaultMaxRetries, c.MaxRetries)
	require.Equal(t, 1.0, c.RetryScale)
	require.Equal(t, time.Minute, c.MaxRetryAfter)

	c, err = providerhttp.New(providerhttp.Settings{
		BaseURL: "http://127.0.0.1:9/v1/", DefaultBaseURL: "https://api.example.test",
		Timeout: time.Second, DefaultTimeout: 7 * time.Second, MaxRetries: -1, RetryScale: -2,
	})
	require.NoError(t, err)
	require.Equal(t, "http://127.0.0.1:9/v1", c.BaseURL)
	require.Equal(t, time.Second, c.Timeout)
	require.Equal(t, -1, c.MaxRetries)
	require.Equal(t, 1.0, c.RetryScale)
}

func TestNewRefusesNonHTTPBaseURL(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"ftp://x", "api.example.test", "/"} {
		_, err := providerhttp.New(providerhttp.Settings{BaseURL: u, DefaultBaseURL: "https://api.example.test"})
		require.Error(t, err, u)
		require.Contains(t, err.Error(), "Config.BaseURL", u)
	}
	_, err := providerhttp.New(providerhttp.Settings{})
	require.EqualError(t, err, `Config.BaseURL "" is not an http(s) URL`)
}

func TestSendCarriesJSONAndProviderHeaders(t *testing.T) {
	t.Parallel()
	type seen struct {
		method, uri, accept, contentType, auth string
		body                                   string
	}
	got := make(chan seen, 1)
	c := serve(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.RequestURI(), r.Header.Get("Accept"), r.Header.Get("Content-Type"), r.Header.Get("Authorization"), string(b)}
		w.Header().Set("Retry-After", "3")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"ok":true}`))
	}, providerhttp.Settings{DefaultTimeout: 5 * time.Second})

	body, err := providerhttp.EncodeJSON(map[string]int{"amount": 5000})
	require.NoError(t, err)
	resp, f := c.Send(context.Background(), providerhttp.Request{
		Method: http.MethodPost, Path: "/charges?x=1", Body: body,
		Header: http.Header{"Authorization": {"Bearer sk_1"}},
	})
	require.Nil(t, f)
	require.True(t, resp.OK())
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	require.Equal(t, `{"ok":true}`, string(resp.Body))
	require.Equal(t, 3*time.Second, providerhttp.RetryAfter(resp.Header))
	require.Equal(t, seen{http.MethodPost, "/charges?x=1", "application/json", "application/json", "Bearer sk_1", `{"amount":5000}`}, <-got)

	// Without a body there is no Content-Type, and a provider header
	// replaces the default one.
	resp, f = c.Send(context.Background(), providerhttp.Request{
		Method: http.MethodGet, Path: "/charges/1", Header: http.Header{"Accept": {"text/plain"}},
	})
	require.Nil(t, f)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	require.Equal(t, seen{method: http.MethodGet, uri: "/charges/1", accept: "text/plain"}, <-got)
}

func TestSendReturnsErrorStatusesAsResponses(t *testing.T) {
	t.Parallel()
	c := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"message":"slow down"}`))
	}, providerhttp.Settings{DefaultTimeout: 5 * time.Second})
	resp, f := c.Send(context.Background(), providerhttp.Request{Method: http.MethodGet, Path: "/"})
	require.Nil(t, f)
	require.False(t, resp.OK())
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.Equal(t, `{"message":"slow down"}`, string(resp.Body))
}

func TestSendBoundsTheAnswer(t *testing.T) {
	t.Parallel()
	c := serve(t, func(w http.ResponseWriter, r *http.Request) {
		n := providerhttp.MaxResponseBody
		if r.URL.Path == "/over" {
			n++
		}
		_, _ = w.Write([]byte(strings.Repeat("x", n)))
	}, providerhttp.Settings{DefaultTimeout: 5 * time.Second})

	resp, f := c.Send(context.Background(), providerhttp.Request{Method: http.MethodGet, Path: "/exact"})
	require.Nil(t, f)
	require.Len(t, resp.Body, providerhttp.MaxResponseBody)

	_, f = c.Send(context.Background(), providerhttp.Request{Method: http.MethodGet, Path: "/over"})
	require.NotNil(t, f)
	require.Equal(t, providerhttp.Failure{StatusCode: http.StatusOK, Message: "response too large"}, *f)
}

func TestSendReportsAnUnreadableAnswer(t *testing.T) {
	t.Parallel()
	c := serve(t, func(w http.ResponseWriter, r *http.Request) {
		// Promise more than is sent; the server then drops the connection.
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("short"))
	}, providerhttp.Settings{DefaultTimeout: 5 * time.Second})
	_, f := c.Send(context.Background(), providerhttp.Request{Method: http.MethodGet, Path: "/"})
	require.NotNil(t, f)
	require.Equal(t, http.StatusBadGateway, f.StatusCode)
	require.Equal(t, "read response", f.Message)
	require.ErrorIs(t, f.Err, io.ErrUnexpectedEOF)
}

func TestSendReportsUnbuildableRequests(t *testing.T) {
	t.Parallel()
	c, err := providerhttp.New(providerhttp.Settings{DefaultBaseURL: "https://api.example.test", DefaultTimeout: time.Second})
	require.NoError(t, err)
	_, f := c.Send(context.Background(), providerhttp.Request{Method: "NOT A METHOD", Path: "/"})
	require.NotNil(t, f)
	require.Equal(t, 0, f.StatusCode)
	require.Equal(t, "build request", f.Message)
	require.Error(t, f.Err)
}

func TestSendTimesOutEachAttempt(t *testing.T) {
	t.Parallel()
	c := serve(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // answer only when the client gives up
	}, providerhttp.Settings{Timeout: 50 * time.Millisecond})
	_, f := c.Send(context.Background(), providerhttp.Request{Method: http.MethodGet, Path: "/"})
	require.NotNil(t, f)
	require.Equal(t, "request failed", f.Message)
	require.ErrorIs(t, f.Err, context.DeadlineExceeded)
	// The provider may have acted on it: only an idempotent call repeats.
	require.False(t, providerhttp.MayRetry(f.StatusCode, f.Err, false))
	require.True(t, providerhttp.MayRetry(f.StatusCode, f.Err, true))
}

func TestRefusedConnectionMayAlwaysBeRetried(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	c, err := providerhttp.New(providerhttp.Settings{BaseURL: "http://" + addr, DefaultTimeout: 5 * time.Second})
	require.NoError(t, err)
	_, f := c.Send(context.Background(), providerhttp.Request{Method: http.MethodPost, Path: "/", Body: []byte(`{}`)})
	require.NotNil(t, f)
	require.Equal(t, "request failed", f.Message)
	require.True(t, providerhttp.MayRetry(f.StatusCode, f.Err, false))
}

func TestEncodeJSON(t *testing.T) {
	t.Parallel()
	b, err := providerhttp.EncodeJSON(nil)
	require.NoError(t, err)
	require.Nil(t, b)
	b, err = providerhttp.EncodeJSON(struct {
		A string `json:"a"`
	}{"x"})
	require.NoError(t, err)
	require.Equal(t, `{"a":"x"}`, string(b))
	_, err = providerhttp.EncodeJSON(make(chan int))
	require.Error(t, err)
}

func TestMayRetry(t *testing.T) {
	t.Parallel()
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	read := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset")}
	canceled := &net.OpError{Op: "dial", Net: "tcp", Err: context.Canceled}
	for _, tc := range []struct {
		name       string
		status     int
		cause      error
		idempotent bool
		want       bool
	}{
		{"refused, not idempotent", 0, dial, false, true},
		{"refused, idempotent", 0, dial, true, true},
		{"lost answer, not idempotent", 0, read, false, false},
		{"lost answer, idempotent", 0, read, true, true},
		{"canceled", 0, canceled, true, false},
		{"no status, no cause", 0, nil, true, false},
		{"server error, not idempotent", 502, nil, false, false},
		{"server error, idempotent", 500, nil, true, true},
		{"throttled is the client's call", 429, nil, true, false},
		{"refused request", 400, nil, true, false},
		{"answer unreadable after 2xx", 200, read, true, false},
	} {
		require.Equal(t, tc.want, providerhttp.MayRetry(tc.status, tc.cause, tc.idempotent), tc.name)
	}
}
