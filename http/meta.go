package http

import (
	"context"
	_ "embed"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/vayvahq/vayva"
)

//go:embed openapi.yaml
var openapiDoc []byte

// OpenAPI returns the OpenAPI document the edge serves.
func OpenAPI() []byte { return openapiDoc }

// metaArea serves health, readiness, metrics and the OpenAPI document.
type metaArea struct{}

func (metaArea) Register(r *Routes) {
	s := r.s
	r.Handle("GET", "/healthz", Public, func(_ context.Context, rc *fasthttp.RequestCtx) error {
		return writeJSON(rc, fasthttp.StatusOK, map[string]string{"status": "ok"})
	})
	r.Handle("GET", "/readyz", Public, s.readyz)
	metrics := fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(s.deps.Registry, promhttp.HandlerOpts{}))
	r.Handle("GET", "/metrics", Public, func(_ context.Context, rc *fasthttp.RequestCtx) error {
		metrics(rc)
		return nil
	})
	r.Handle("GET", "/openapi.yaml", Public, func(_ context.Context, rc *fasthttp.RequestCtx) error {
		rc.Response.Header.SetContentType("application/yaml")
		rc.Response.SetBodyRaw(openapiDoc)
		return nil
	})
}

type checkResult struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// readyz runs every readiness check concurrently with a short deadline.
func (s *Server) readyz(ctx context.Context, rc *fasthttp.RequestCtx) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	results := make([]checkResult, len(s.deps.Readiness))
	var wg sync.WaitGroup
	for i, c := range s.deps.Readiness {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.Check(ctx)
			results[i] = checkResult{Name: c.Name, OK: err == nil}
			if err != nil {
				results[i].Error = err.Error()
			}
		}()
	}
	wg.Wait()
	ready := true
	for _, r := range results {
		ready = ready && r.OK
	}
	if !ready {
		rc.Response.Header.Set("Retry-After", "1")
		return writeJSON(rc, fasthttp.StatusServiceUnavailable, map[string]any{"status": "unavailable", "checks": results})
	}
	return writeJSON(rc, fasthttp.StatusOK, map[string]any{"status": "ready", "checks": results})
}

// ErrNotReady is what a readiness check returns for a condition that is not
// met yet.
var ErrNotReady = errors.New("not ready")

// tenantOf returns the tenant of a merchant route's context.
func tenantOf(ctx context.Context) vayva.Tenant {
	t, _ := vayva.TenantFromContext(ctx)
	return t
}
