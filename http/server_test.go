package http

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"

	"github.com/vayvahq/vayva"
)

// testArea has routes that exercise the edge's own behaviour.
type testArea struct{}

func (testArea) Register(r *Routes) {
	r.Handle("GET", "/test/panic", Public, func(context.Context, *fasthttp.RequestCtx) error {
		panic("boom")
	})
	r.Handle("POST", "/test/echo", Public, func(_ context.Context, rc *fasthttp.RequestCtx) error {
		var v struct {
			Name  string `json:"name"`
			Count int    `json:"count"`
		}
		if err := decodeJSON(rc, &v); err != nil {
			return err
		}
		if v.Name == "" {
			return &vayva.Error{Code: vayva.EINVALID, Message: "invalid", Fields: []vayva.FieldError{{Field: "name", Message: "is required"}}}
		}
		return writeJSON(rc, fasthttp.StatusCreated, map[string]any{"name": v.Name, "count": v.Count, "id": vayva.NewID("t")})
	})
	r.Handle("GET", "/test/merchant", Merchant, func(ctx context.Context, rc *fasthttp.RequestCtx) error {
		return writeJSON(rc, fasthttp.StatusOK, map[string]string{"merchant": tenantOf(ctx).MerchantID})
	})
	r.Handle("POST", "/test/bodiless", Public, func(_ context.Context, rc *fasthttp.RequestCtx) error {
		rc.SetStatusCode(fasthttp.StatusNoContent)
		return nil
	})
	r.Handle("GET", "/test/deadline", Public, func(context.Context, *fasthttp.RequestCtx) error {
		return fmt.Errorf("read model: %w", context.DeadlineExceeded)
	})
	r.Handle("GET", "/test/unavailable", Public, func(context.Context, *fasthttp.RequestCtx) error {
		return vayva.Errorf(vayva.EUNAVAILABLE, "down")
	})
}

type staticAuth struct{}

func (staticAuth) Authenticate(_ context.Context, token string) (vayva.Tenant, error) {
	if token == "good" {
		return vayva.Tenant{MerchantID: "mer_1", StoreID: "sto_1", Role: vayva.RoleOwner}, nil
	}
	return vayva.Tenant{}, vayva.Errorf(vayva.EUNAUTHORIZED, "bad token")
}

// memIdempotency is an in-memory IdempotencyStore for the edge's own tests;
// the PostgreSQL implementation is tested against a real database in
// persistence/postgres and end to end through nodes.
type memIdempotency struct {
	m map[string]vayva.IdempotencyRecord
}

func (s *memIdempotency) BeginIdempotent(_ context.Context, scope, key string, hash []byte) (bool, vayva.IdempotencyRecord, error) {
	if r, ok := s.m[scope+"\x00"+key]; ok {
		return false, r, nil
	}
	s.m[scope+"\x00"+key] = vayva.IdempotencyRecord{RequestHash: hash}
	return true, vayva.IdempotencyRecord{}, nil
}

func (s *memIdempotency) CompleteIdempotent(_ context.Context, scope, key string, rec vayva.IdempotencyRecord) error {
	s.m[scope+"\x00"+key] = rec
	return nil
}

func (s *memIdempotency) AbandonIdempotent(_ context.Context, scope, key string) error {
	delete(s.m, scope+"\x00"+key)
	return nil
}

func startTestServer(t *testing.T) (string, *Server) {
	t.Helper()
	s := NewServer(Config{Addr: "127.0.0.1:0", OpsToken: "ops"}, Deps{
		Log:         zerolog.Nop(),
		Registry:    prometheus.NewRegistry(),
		Auth:        staticAuth{},
		Idempotency: &memIdempotency{m: map[string]vayva.IdempotencyRecord{}},
		Readiness:   []ReadinessCheck{{Name: "always", Check: func(context.Context) error { return nil }}},
	}, testArea{})
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	return "http://" + s.Addr(), s
}

func do(t *testing.T, method, url string, body io.Reader, headers ...string) (*nethttp.Response, map[string]any) {
	t.Helper()
	req, err := nethttp.NewRequest(method, url, body)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := nethttp.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var v map[string]any
	_ = json.Unmarshal(raw, &v)
	return resp, v
}

func requireProblem(t *testing.T, resp *nethttp.Response, body map[string]any, status int, code string) {
	t.Helper()
	require.Equal(t, status, resp.StatusCode)
	require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
	require.Equal(t, code, body["code"])
	require.EqualValues(t, status, body["status"])
	require.NotEmpty(t, body["title"])
	require.NotEmpty(t, body["type"])
	require.Contains(t, body, "detail")
}

func TestProblemsForEveryFailure(t *testing.T) {
	t.Parallel()
	base, _ := startTestServer(t)

	resp, body := do(t, "GET", base+"/nope", nil)
	requireProblem(t, resp, body, 404, "not_found")

	resp, body = do(t, "DELETE", base+"/healthz", nil)
	requireProblem(t, resp, body, 405, "method_not_allowed")

	resp, body = do(t, "POST", base+"/test/echo", strings.NewReader(`{"name":`))
	requireProblem(t, resp, body, 400, "bad_request")

	resp, body = do(t, "POST", base+"/test/echo", strings.NewReader(`{"name":"a","count":"x"}`))
	requireProblem(t, resp, body, 422, "validation_failed")
	require.Equal(t, "count", body["errors"].([]any)[0].(map[string]any)["field"])

	resp, body = do(t, "POST", base+"/test/echo", strings.NewReader(`{"name":"a","extra":1}`))
	requireProblem(t, resp, body, 422, "validation_failed")

	resp, body = oversized(t, base)
	requireProblem(t, resp, body, 413, "payload_too_large")

	resp, body = do(t, "GET", base+"/test/unavailable", nil)
	requireProblem(t, resp, body, 503, "unavailable")
	require.NotEmpty(t, resp.Header.Get("Retry-After"))

	// A deadline no adapter translated is still unavailable, not internal.
	resp, body = do(t, "GET", base+"/test/deadline", nil)
	requireProblem(t, resp, body, 503, "unavailable")
	require.NotEmpty(t, resp.Header.Get("Retry-After"))

	resp, body = do(t, "GET", base+"/test/merchant", nil)
	requireProblem(t, resp, body, 401, "unauthorized")
	resp, body = do(t, "GET", base+"/test/merchant", nil, "Authorization", "Bearer bad")
	requireProblem(t, resp, body, 401, "unauthorized")
	resp, body = do(t, "GET", base+"/test/merchant", nil, "Authorization", "Bearer good")
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "mer_1", body["merchant"])

	resp, body = do(t, "GET", base+"/ops/cluster", nil)
	requireProblem(t, resp, body, 401, "unauthorized")
	resp, body = do(t, "GET", base+"/ops/cluster", nil, "Authorization", "Bearer wrong")
	requireProblem(t, resp, body, 401, "unauthorized")
	resp, body = do(t, "GET", base+"/ops/cluster", nil, "Authorization", "Bearer ops")
	requireProblem(t, resp, body, 503, "unavailable") // no cluster in this server
}

func TestJSONBodiesAreStrict(t *testing.T) {
	t.Parallel()
	base, _ := startTestServer(t)
	field := func(body map[string]any) (string, string) {
		errs, _ := body["errors"].([]any)
		require.Len(t, errs, 1, "%v", body)
		e := errs[0].(map[string]any)
		return e["field"].(string), e["message"].(string)
	}

	// Names match exactly: a differently cased name is an unknown field.
	resp, body := do(t, "POST", base+"/test/echo", strings.NewReader(`{"NAME":"a"}`))
	requireProblem(t, resp, body, 422, "validation_failed")
	f, m := field(body)
	require.Equal(t, "NAME", f)
	require.Equal(t, "is not a known field", m)
	resp, body = do(t, "POST", base+"/test/echo", strings.NewReader(`{"name":"a","Count":2}`))
	requireProblem(t, resp, body, 422, "validation_failed")
	f, _ = field(body)
	require.Equal(t, "Count", f)

	// A name given twice is refused, however it is escaped.
	for _, dup := range []string{`{"name":"a","name":"b"}`, `{"name":"a","n\u0061me":"b"}`} {
		resp, body = do(t, "POST", base+"/test/echo", strings.NewReader(dup))
		requireProblem(t, resp, body, 422, "validation_failed")
		f, m = field(body)
		require.Equal(t, "name", f, dup)
		require.Equal(t, "appears more than once", m)
	}

	resp, body = do(t, "POST", base+"/test/echo", strings.NewReader(`{"name":"a","extra":{"x":1}}`))
	requireProblem(t, resp, body, 422, "validation_failed")
	f, _ = field(body)
	require.Equal(t, "extra", f)
	resp, body = do(t, "POST", base+"/test/echo", strings.NewReader(`{"name":"a","count":1.5}`))
	requireProblem(t, resp, body, 422, "validation_failed")
	f, m = field(body)
	require.Equal(t, "count", f)
	require.Equal(t, "must be an integer", m)
	for _, bad := range []string{"{\"name\":\"\xff\"}", `{"name":"a"} {}`, `{"name":"a"}x`, `[]`, `"name"`, `   `} {
		resp, body = do(t, "POST", base+"/test/echo", strings.NewReader(bad))
		requireProblem(t, resp, body, 400, "bad_request")
	}
	resp, body = do(t, "POST", base+"/test/echo", strings.NewReader(`{"name":"a","count":2}`))
	require.Equal(t, 201, resp.StatusCode, "%v", body)
	require.Equal(t, "a", body["name"])
	require.EqualValues(t, 2, body["count"])
}

func TestBodiesMustBeLabelledJSON(t *testing.T) {
	t.Parallel()
	base, _ := startTestServer(t)
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON; Charset=\"UTF-8\""} {
		resp, body := do(t, "POST", base+"/test/echo", strings.NewReader(`{"name":"a"}`), "Content-Type", ct)
		require.Equal(t, 201, resp.StatusCode, "%s: %v", ct, body)
	}
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "application/json; charset=iso-8859-1",
		"application/json; profile=x", "application/jsonp", "application/problem+json", "application/json;;", "multipart/form-data; boundary=x"} {
		req, err := nethttp.NewRequest("POST", base+"/test/echo", strings.NewReader(`{"name":"a"}`))
		require.NoError(t, err)
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := nethttp.DefaultClient.Do(req)
		require.NoError(t, err)
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var body map[string]any
		require.NoError(t, json.Unmarshal(raw, &body))
		requireProblem(t, resp, body, 415, "unsupported_media_type")
	}
	// A request without a body needs no Content-Type, whatever it says.
	resp, _ := do(t, "POST", base+"/test/bodiless", nil)
	require.Equal(t, 204, resp.StatusCode)
	resp, _ = do(t, "POST", base+"/test/bodiless", nil, "Content-Type", "text/plain")
	require.Equal(t, 204, resp.StatusCode)
	// The media type is checked after the credentials.
	resp, body := do(t, "POST", base+"/test/echo", strings.NewReader(`{}`), "Content-Type", "text/plain", "Authorization", "Bearer good")
	requireProblem(t, resp, body, 415, "unsupported_media_type")
}

// Every 503 carries Retry-After, also the ones that are not problems.
func TestEvery503HasRetryAfter(t *testing.T) {
	t.Parallel()
	s := NewServer(Config{Addr: "127.0.0.1:0"}, Deps{Log: zerolog.Nop(), Readiness: []ReadinessCheck{
		{Name: "never", Check: func(context.Context) error { return errors.New("down") }},
	}})
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	resp, body := do(t, "GET", "http://"+s.Addr()+"/readyz", nil)
	require.Equal(t, 503, resp.StatusCode, "%v", body)
	require.Equal(t, "1", resp.Header.Get("Retry-After"))
}

// oversized announces a body over the limit on a raw connection (a client
// writing the whole body would see the server close the connection early).
func oversized(t *testing.T, base string) (*nethttp.Response, map[string]any) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", MaxBodySize+10)
	require.NoError(t, err)
	resp, err := nethttp.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var v map[string]any
	require.NoError(t, json.Unmarshal(raw, &v))
	return resp, v
}

func TestPanicIsRecovered(t *testing.T) {
	t.Parallel()
	base, _ := startTestServer(t)
	resp, body := do(t, "GET", base+"/test/panic", nil)
	requireProblem(t, resp, body, 500, "internal")
	resp, body = do(t, "GET", base+"/healthz", nil)
	require.Equal(t, 200, resp.StatusCode, "the node keeps serving after a panic")
	require.Equal(t, "ok", body["status"])
}

func TestRequestIDs(t *testing.T) {
	t.Parallel()
	base, _ := startTestServer(t)
	resp, _ := do(t, "GET", base+"/healthz", nil, "X-Request-Id", "abc-123")
	require.Equal(t, "abc-123", resp.Header.Get("X-Request-Id"))
	resp, body := do(t, "GET", base+"/nope", nil, "X-Request-Id", "bad id with spaces")
	require.True(t, strings.HasPrefix(resp.Header.Get("X-Request-Id"), "req_"))
	require.Equal(t, resp.Header.Get("X-Request-Id"), body["request_id"])
}

func TestIdempotencyKeyReplaysAndRefusesReuse(t *testing.T) {
	t.Parallel()
	base, _ := startTestServer(t)
	r1, b1 := do(t, "POST", base+"/test/echo", strings.NewReader(`{"name":"a"}`), "Idempotency-Key", "k1")
	require.Equal(t, 201, r1.StatusCode)
	r2, b2 := do(t, "POST", base+"/test/echo", strings.NewReader(`{"name":"a"}`), "Idempotency-Key", "k1")
	require.Equal(t, 201, r2.StatusCode)
	require.Equal(t, "true", r2.Header.Get("Idempotency-Replayed"))
	require.Equal(t, b1["id"], b2["id"], "the first response is replayed")
	r3, b3 := do(t, "POST", base+"/test/echo", strings.NewReader(`{"name":"b"}`), "Idempotency-Key", "k1")
	requireProblem(t, r3, b3, 422, "idempotency_key_reused")
	r5, b5 := do(t, "POST", base+"/test/echo", strings.NewReader(`{"name":"a"}`), "Idempotency-Key", "bad\xffkey")
	requireProblem(t, r5, b5, 400, "bad_request")
	r4, b4 := do(t, "POST", base+"/test/echo", strings.NewReader(`{"name":"a"}`), "Idempotency-Key", "k2")
	require.Equal(t, 201, r4.StatusCode)
	require.NotEqual(t, b1["id"], b4["id"])
}

func TestMetricsRecordLatency(t *testing.T) {
	t.Parallel()
	base, _ := startTestServer(t)
	do(t, "GET", base+"/healthz", nil)
	resp, err := nethttp.Get(base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	require.Contains(t, string(raw), `vayva_http_request_duration_seconds_bucket{method="GET",route="/healthz",status="200"`)
}

func TestStopFinishesInFlightRequests(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	started := make(chan struct{})
	s := NewServer(Config{Addr: "127.0.0.1:0"}, Deps{Log: zerolog.Nop()}, areaFunc(func(r *Routes) {
		r.Handle("GET", "/slow", Public, func(_ context.Context, rc *fasthttp.RequestCtx) error {
			close(started)
			<-release
			return writeJSON(rc, 200, map[string]string{"done": "yes"})
		})
	}))
	require.NoError(t, s.Start(context.Background()))
	addr := s.Addr()
	result := make(chan int, 1)
	go func() {
		resp, err := nethttp.Get("http://" + addr + "/slow")
		if err != nil {
			result <- -1
			return
		}
		resp.Body.Close()
		result <- resp.StatusCode
	}()
	<-started
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stopped <- s.Stop(ctx)
	}()
	// New connections are refused once Stop began.
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return true
		}
		c.Close()
		return false
	}, 5*time.Second, 10*time.Millisecond)
	close(release)
	require.Equal(t, 200, <-result, "the in-flight request finished")
	require.NoError(t, <-stopped)
	require.NoError(t, s.Stop(context.Background()), "Stop is safe to call twice")
}

type areaFunc func(r *Routes)

func (f areaFunc) Register(r *Routes) { f(r) }

func TestSecretResponsesAreNeverStored(t *testing.T) {
	t.Parallel()
	store := &memIdempotency{m: map[string]vayva.IdempotencyRecord{}}
	s := NewServer(Config{Addr: "127.0.0.1:0"}, Deps{Log: zerolog.Nop(), Idempotency: store}, areaFunc(func(r *Routes) {
		r.Handle("POST", "/secret", Public, func(_ context.Context, rc *fasthttp.RequestCtx) error {
			return writeJSON(rc, 201, map[string]string{"token": vayva.NewSecret("vst_")})
		}, SecretResponse())
	}))
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	r1, b1 := do(t, "POST", "http://"+s.Addr()+"/secret", strings.NewReader(`{}`), "Idempotency-Key", "k")
	r2, b2 := do(t, "POST", "http://"+s.Addr()+"/secret", strings.NewReader(`{}`), "Idempotency-Key", "k")
	require.Equal(t, 201, r1.StatusCode)
	require.Equal(t, 201, r2.StatusCode)
	require.Empty(t, r2.Header.Get("Idempotency-Replayed"))
	require.NotEqual(t, b1["token"], b2["token"])
	require.Empty(t, store.m, "nothing was stored")
}
