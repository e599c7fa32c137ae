package http

import (
	"context"
	"strings"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/vayvahq/vayva/integrations/sandbox"
)

// SandboxArea mounts the fake providers on the edge. The node adds it only
// when providers are in sandbox mode; in live mode none of its routes exist.
// The routes are public and bypass Idempotency-Key handling: the fakes
// implement their providers' own idempotency. A fake that calls the node
// back (a paid checkout sends charge.success to /webhooks/paystack) does so
// over HTTP while its own request is still open; the edge serves both
// concurrently.
type SandboxArea struct {
	routes []sandbox.Route
	serve  fasthttp.RequestHandler
}

// NewSandboxArea returns the area serving sb.
func NewSandboxArea(sb *sandbox.Sandbox) *SandboxArea {
	return &SandboxArea{routes: sb.Routes(), serve: fasthttpadaptor.NewFastHTTPHandler(sb.Handler())}
}

// Register adds every sandbox route.
func (a *SandboxArea) Register(r *Routes) {
	h := func(_ context.Context, rc *fasthttp.RequestCtx) error {
		a.serve(rc)
		return nil
	}
	// Each route is registered on its own so that routing, metrics and the
	// OpenAPI document see it; net/http's "{$}" (exact match) is the
	// router's plain trailing slash.
	for _, rt := range a.routes {
		r.handlePlain(rt.Method, strings.TrimSuffix(rt.Path, "{$}"), h)
	}
}
