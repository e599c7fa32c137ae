package http

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"
)

// lease is a cluster member's lease as the edge sees it.
type lease struct{ valid atomic.Bool }

func (l *lease) LeaseValid() bool { return l.valid.Load() }

// While the node's member has no lease (it lapsed, or the member was
// evicted), every route answers 503 problem+json with Retry-After and runs
// nothing; liveness and metrics still answer, readiness too (with its own
// checks). With the lease back, routes serve again.
func TestNoLeaseAnswers503ExceptHealth(t *testing.T) {
	t.Parallel()
	l := &lease{}
	l.valid.Store(true)
	var ran atomic.Int64
	s := NewServer(Config{Addr: "127.0.0.1:0"}, Deps{
		Log: zerolog.Nop(), Registry: prometheus.NewRegistry(), Lease: l,
		Readiness: []ReadinessCheck{{Name: "always", Check: func(context.Context) error { return nil }}},
	}, areaFunc(func(r *Routes) {
		r.Handle("GET", "/test/run", Public, func(_ context.Context, rc *fasthttp.RequestCtx) error {
			ran.Add(1)
			return writeJSON(rc, 200, map[string]string{"ok": "yes"})
		})
	}))
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	base := "http://" + s.Addr()

	resp, _ := do(t, "GET", base+"/test/run", nil)
	require.Equal(t, 200, resp.StatusCode)
	l.valid.Store(false)
	for _, path := range []string{"/test/run", "/v1/store", "/no/such/route"} {
		resp, body := do(t, "GET", base+path, nil)
		requireProblem(t, resp, body, 503, "unavailable")
		require.NotEmpty(t, resp.Header.Get("Retry-After"))
	}
	require.EqualValues(t, 1, ran.Load(), "nothing ran without the lease")
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, _ := do(t, "GET", base+path, nil)
		require.Equal(t, 200, resp.StatusCode, path)
	}
	l.valid.Store(true)
	resp, _ = do(t, "GET", base+"/test/run", nil)
	require.Equal(t, 200, resp.StatusCode)
}
