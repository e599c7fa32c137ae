package http

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"

	"github.com/vayvahq/vayva"
)

// Secrets every request of these tests carries; none may reach a log line.
const (
	logTestToken    = "vst_LOGTESTtokenThatMustNeverBeLogged"
	logTestPassword = "hunter2-password-never-logged"
)

// logBuffer collects a server's log output; zerolog writes from the
// connection goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the JSON log lines written so far.
func (b *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), "log line %q", l)
		out = append(out, m)
	}
	return out
}

// requireNoSecrets fails when the log holds the token, the password or
// any sign of the request's bytes.
func (b *logBuffer) requireNoSecrets(t *testing.T) {
	t.Helper()
	logs := b.String()
	for _, secret := range []string{logTestToken, "LOGTEST", logTestPassword, "hunter2", "Bearer", "password"} {
		require.NotContains(t, logs, secret, "the log holds request bytes")
	}
}

// failingIdempotency is an IdempotencyStore that claims every key and then
// fails to store or release it, so the edge logs those failures.
type failingIdempotency struct{}

func (failingIdempotency) BeginIdempotent(context.Context, string, string, []byte) (bool, vayva.IdempotencyRecord, error) {
	return true, vayva.IdempotencyRecord{}, nil
}

func (failingIdempotency) CompleteIdempotent(context.Context, string, string, vayva.IdempotencyRecord) error {
	return errors.New("store: unavailable")
}

func (failingIdempotency) AbandonIdempotent(context.Context, string, string) error {
	return errors.New("store: unavailable")
}

func startLoggedServer(t *testing.T) (string, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	s := NewServer(Config{Addr: "127.0.0.1:0", OpsToken: "ops"}, Deps{
		Log:         zerolog.New(logs).Level(zerolog.DebugLevel),
		Registry:    prometheus.NewRegistry(),
		Auth:        staticAuth{},
		Idempotency: failingIdempotency{},
	}, testArea{}, areaFunc(func(r *Routes) {
		r.Handle("POST", "/test/panic-body", Public, func(_ context.Context, rc *fasthttp.RequestCtx) error {
			panic("cannot handle " + string(rc.PostBody()) + " for " + string(rc.Request.Header.Peek("Authorization")))
		})
		r.Handle("POST", "/test/panic-error", Public, func(_ context.Context, rc *fasthttp.RequestCtx) error {
			panic(fmt.Errorf("decoding %s", rc.PostBody()))
		})
		r.Handle("POST", "/test/index", Public, func(_ context.Context, rc *fasthttp.RequestCtx) error {
			var list []byte
			_ = list[len(rc.PostBody())] // a runtime error, whose message is the runtime's
			return nil
		})
	}))
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	return s.Addr(), logs
}

// rawExchange writes req on a fresh connection and returns what the server
// answered before closing it (possibly nothing).
func rawExchange(t *testing.T, addr, req string) []byte {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = io.WriteString(conn, req)
	require.NoError(t, err)
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	out, _ := io.ReadAll(conn)
	return out
}

func TestMalformedRequestsNeverLogTheirBytes(t *testing.T) {
	t.Parallel()
	addr, logs := startLoggedServer(t)
	body := `{"email":"ada@example.com","password":"` + logTestPassword + `"}`
	auth := "Authorization: Bearer " + logTestToken + "\r\n"
	cl := fmt.Sprintf("Content-Length: %d\r\n", len(body))
	ct := "Content-Type: application/json\r\n"
	cases := []struct {
		name, req string
		status    int
	}{
		{"control byte in a header value", "POST /test/echo HTTP/1.1\r\nHost: x\r\n" + auth + "X-Note: a\x01b\r\n" + ct + cl + "\r\n" + body, 400},
		{"control byte in a header name", "POST /test/echo HTTP/1.1\r\nHost: x\r\n" + auth + "X-N\x7fte: ab\r\n" + ct + cl + "\r\n" + body, 400},
		{"bad request line", "POST  /test/echo  HTTP/1.1 extra\r\nHost: x\r\n" + auth + ct + cl + "\r\n" + body, 400},
		{"control byte in the target", "POST /test/\x00echo?token=" + logTestToken + " HTTP/1.1\r\nHost: x\r\n" + auth + ct + cl + "\r\n" + body, 400},
		{"no method", " /test/echo HTTP/1.1\r\nHost: x\r\n" + auth + ct + cl + "\r\n" + body, 400},
		{"bad chunk size", "POST /test/echo HTTP/1.1\r\nHost: x\r\n" + auth + ct + "Transfer-Encoding: chunked\r\n\r\nzz\r\n" + body + "\r\n0\r\n\r\n", 400},
		{"chunk without its end", "POST /test/echo HTTP/1.1\r\nHost: x\r\n" + auth + ct + "Transfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf("%x", len(body)) + "\r\n" + body + "XX0\r\n\r\n", 400},
		{"unknown transfer encoding", "POST /test/echo HTTP/1.1\r\nHost: x\r\n" + auth + ct + "Transfer-Encoding: gzip, rot13\r\n" + cl + "\r\n" + body, 400},
		{"two content lengths", "POST /test/echo HTTP/1.1\r\nHost: x\r\n" + auth + ct + cl + "Content-Length: 3\r\n\r\n" + body, 400},
		{"non-numeric content length", "POST /test/echo HTTP/1.1\r\nHost: x\r\n" + auth + ct + "Content-Length: 12x\r\n\r\n" + body, 400},
		{"oversized headers", "POST /test/echo HTTP/1.1\r\nHost: x\r\n" + auth + "X-Padding: " + strings.Repeat("p", 9000) + "\r\n" + ct + cl + "\r\n" + body, 431},
		{"oversized headers after the token", "POST /test/echo HTTP/1.1\r\nHost: x\r\n" + auth + strings.Repeat("X-Many: "+logTestPassword+"\r\n", 400) + "\r\n", 431},
		{"oversized body", "POST /test/echo HTTP/1.1\r\nHost: x\r\n" + auth + ct + fmt.Sprintf("Content-Length: %d\r\n\r\n", MaxBodySize+1) + body, 413},
		{"oversized chunked body", "POST /test/echo HTTP/1.1\r\nHost: x\r\n" + auth + ct + "Transfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf("%x", MaxBodySize+1) + "\r\n" + body, 413},
		{"body cut short", "POST /test/echo HTTP/1.1\r\nHost: x\r\n" + auth + ct + "Content-Length: 4096\r\n\r\n" + body, 400},
		{"headers cut short", "POST /test/echo HTTP/1.1\r\nHost: x\r\n" + auth + "X-Note: " + logTestPassword, 400},
	}
	for _, c := range cases {
		out := rawExchange(t, addr, c.req)
		if c.status == 0 {
			continue
		}
		resp, err := nethttp.ReadResponse(bufio.NewReader(bytes.NewReader(out)), nil)
		require.NoError(t, err, "%s: answer %q", c.name, out)
		raw, _ := io.ReadAll(resp.Body)
		require.Equal(t, c.status, resp.StatusCode, "%s: %s", c.name, raw)
		require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"), c.name)
		var p map[string]any
		require.NoError(t, json.Unmarshal(raw, &p), c.name)
		for _, k := range []string{"type", "title", "status", "detail", "code"} {
			require.Contains(t, p, k, c.name)
		}
		require.NotContains(t, string(out), logTestToken, "%s: the answer repeats the token", c.name)
		require.NotContains(t, string(out), logTestPassword, "%s: the answer repeats the password", c.name)
	}
	// fasthttp logs connection errors after the answer went out.
	require.Eventually(t, func() bool { return strings.Count(logs.String(), "could not serve a connection") >= 10 }, 5*time.Second, 10*time.Millisecond,
		"the connection errors are logged: %s", logs.String())
	logs.requireNoSecrets(t)
	classes := map[string]bool{}
	for _, l := range logs.lines(t) {
		if c, ok := l["error_class"].(string); ok {
			classes[c] = true
		}
	}
	for _, c := range []string{"bad_headers", "bad_request_line", "bad_framing", "broken_chunk", "body_too_large"} {
		require.True(t, classes[c], "class %s logged; classes %v", c, classes)
	}
}

func TestHandlerLogsNeverHoldRequestBytes(t *testing.T) {
	t.Parallel()
	addr, logs := startLoggedServer(t)
	base := "http://" + addr
	body := `{"name":"ada","password":"` + logTestPassword + `"}`
	hdr := []string{"Authorization", "Bearer " + logTestToken, "Content-Type", "application/json"}

	resp, b := do(t, "POST", base+"/test/panic-body", strings.NewReader(body), hdr...)
	requireProblem(t, resp, b, 500, "internal")
	resp, b = do(t, "POST", base+"/test/panic-error", strings.NewReader(body), hdr...)
	requireProblem(t, resp, b, 500, "internal")
	resp, b = do(t, "POST", base+"/test/index", strings.NewReader(body), hdr...)
	requireProblem(t, resp, b, 500, "internal")
	// Stored and released idempotent answers fail in this server's store,
	// and both failures are logged.
	resp, _ = do(t, "POST", base+"/test/echo", strings.NewReader(`{"name":"`+logTestPassword+`"}`), append(hdr, "Idempotency-Key", "k-"+logTestPassword)...)
	require.Equal(t, 201, resp.StatusCode)
	resp, b = do(t, "POST", base+"/test/echo", strings.NewReader(body), append(hdr, "Idempotency-Key", "k2")...)
	requireProblem(t, resp, b, 422, "validation_failed")
	resp, b = do(t, "GET", base+"/test/merchant?token="+logTestToken, nil, "Authorization", "Bearer "+logTestToken)
	requireProblem(t, resp, b, 401, "unauthorized")
	resp, b = do(t, "GET", base+"/nope/"+logTestToken, nil, hdr...)
	requireProblem(t, resp, b, 404, "not_found")

	lines := logs.lines(t)
	panics := 0
	for _, l := range lines {
		if l["message"] == "handler panicked" {
			panics++
			require.NotEmpty(t, l["stack"])
			require.NotEmpty(t, l["panic_type"])
		}
	}
	require.Equal(t, 3, panics)
	require.Contains(t, logs.String(), "index out of range", "a runtime error's own message is kept")
	require.Contains(t, logs.String(), "storing idempotent response")
	logs.requireNoSecrets(t)
}

func TestConnErrorClassUsesNoText(t *testing.T) {
	t.Parallel()
	require.Equal(t, "body_too_large", connErrorClass(fmt.Errorf("x: %w", fasthttp.ErrBodyTooLarge)))
	require.Equal(t, "headers_too_large", connErrorClass(&fasthttp.ErrSmallBuffer{}))
	require.Equal(t, "broken_chunk", connErrorClass(fasthttp.ErrBrokenChunk{}))
	require.Equal(t, "unreadable_request", connErrorClass(errors.New(logTestPassword)))
	var p zerologPrinter
	logs := &logBuffer{}
	p.log = zerolog.New(logs)
	p.Printf("error when serving connection %q<->%q: %v", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2},
		fmt.Errorf("error when reading request headers: invalid header value %q", "Bearer "+logTestToken))
	p.Printf("%.3f %s - %s", 1.5, "#1 - GET /?token="+logTestToken, logTestPassword)
	logs.requireNoSecrets(t)
	lines := logs.lines(t)
	require.Len(t, lines, 2)
	require.Equal(t, "bad_headers", lines[0]["error_class"])
	require.Equal(t, "127.0.0.1:2", lines[0]["remote_addr"])
}
