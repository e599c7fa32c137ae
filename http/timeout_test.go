package http

import (
	"context"
	nethttp "net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"

	"github.com/vayvahq/vayva/persistence/postgres"
	"github.com/vayvahq/vayva/persistence/postgres/pgtest"
)

// pgEdge serves testArea with Idempotency-Keys kept in a real database and
// a short request timeout; gated is a route that waits for a signal.
func pgEdge(t *testing.T, db *postgres.DB, logs *logBuffer, entered chan<- struct{}, release <-chan struct{}) string {
	t.Helper()
	s := NewServer(Config{Addr: "127.0.0.1:0", RequestTimeout: 300 * time.Millisecond}, Deps{
		Log:         zerolog.New(logs),
		Registry:    prometheus.NewRegistry(),
		Idempotency: db,
	}, testArea{}, areaFunc(func(r *Routes) {
		r.Handle("POST", "/test/gated", Public, func(_ context.Context, rc *fasthttp.RequestCtx) error {
			entered <- struct{}{}
			<-release
			return writeJSON(rc, fasthttp.StatusCreated, map[string]string{"done": "yes"})
		})
	}))
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	return "http://" + s.Addr()
}

// lockKey holds the row lock of an Idempotency-Key from a second
// connection; the returned function releases it.
func lockKey(t *testing.T, db *postgres.DB, scope, key string) func() {
	t.Helper()
	ctx := context.Background()
	tx, err := db.Pool().Begin(ctx)
	require.NoError(t, err)
	var got string
	require.NoError(t, tx.QueryRow(ctx, `SELECT key FROM runtime.idempotency_keys WHERE scope = $1 AND key = $2 FOR UPDATE`, scope, key).Scan(&got))
	released := false
	release := func() {
		if !released {
			released = true
			require.NoError(t, tx.Rollback(ctx))
		}
	}
	t.Cleanup(release)
	return release
}

// An Idempotency-Key lookup that times out behind a row lock is 503 with
// Retry-After, never 500, and the key works again once the lock is gone.
func TestIdempotencyLookupTimeoutIsUnavailable(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	logs := &logBuffer{}
	base := pgEdge(t, db, logs, nil, nil)

	body := `{"name":"ada"}`
	first, b1 := do(t, "POST", base+"/test/echo", strings.NewReader(body), "Idempotency-Key", "k-lock")
	require.Equal(t, 201, first.StatusCode)
	release := lockKey(t, db, "public:/test/echo", "k-lock")

	resp, b := do(t, "POST", base+"/test/echo", strings.NewReader(body), "Idempotency-Key", "k-lock")
	requireProblem(t, resp, b, 503, "unavailable")
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
	require.Contains(t, b["detail"], "database", "the storage adapter translated its own timeout")
	require.NotContains(t, logs.String(), `"level":"error"`, "a timeout is not an internal error")

	release()
	resp, b2 := do(t, "POST", base+"/test/echo", strings.NewReader(body), "Idempotency-Key", "k-lock")
	require.Equal(t, 201, resp.StatusCode)
	require.Equal(t, "true", resp.Header.Get("Idempotency-Replayed"))
	require.Equal(t, b1["id"], b2["id"])
}

// Storing the answer of a request behind a row lock gives up at its own
// deadline: the client gets the answer of the work that was done, and the
// failure is logged.
func TestIdempotencyStoreTimeoutDoesNotHang(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	logs := &logBuffer{}
	entered, release := make(chan struct{}), make(chan struct{})
	base := pgEdge(t, db, logs, entered, release)

	done := make(chan int, 1)
	go func() {
		req, _ := nethttp.NewRequest("POST", base+"/test/gated", strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "k-store")
		resp, err := nethttp.DefaultClient.Do(req)
		if err != nil {
			done <- -1
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-entered
	unlock := lockKey(t, db, "public:/test/gated", "k-store")
	close(release)
	require.Equal(t, 201, <-done)
	require.Contains(t, logs.String(), "storing idempotent response")
	unlock()

	// The client's deadline cancels the stalled UPDATE, but the cancel may
	// reach the server only after the lock is gone and the UPDATE ran: the
	// record is then the whole answer. Either way, nothing half-stored.
	var (
		status   int
		response []byte
		ctype    *string
	)
	require.NoError(t, db.Pool().QueryRow(context.Background(),
		`SELECT status, response, content_type FROM runtime.idempotency_keys WHERE scope = 'public:/test/gated' AND key = 'k-store'`).Scan(&status, &response, &ctype))
	if status == 0 {
		require.Empty(t, response, "the claim stays until it expires")
	} else {
		require.Equal(t, 201, status)
		require.NotEmpty(t, response)
		require.NotNil(t, ctype)
	}
}
