package http

import (
	"context"
	nethttp "net/http"
	"net/url"
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
	return &SandboxArea{routes: sb.Routes(), serve: fasthttpadaptor.NewFastHTTPHandler(detached(sb.Handler()))}
}

// detached hands h a copy of r whose strings are its own. fasthttpadaptor's
// request points into fasthttp's buffers (method, URI, host, header
// values), which the next request on the connection overwrites, while the
// fakes keep some of those values after answering (Resend's idempotency
// keys, Paystack references taken from paths); a kept key that changed
// under the fake made a later, unrelated email look like a reuse of it
// (409 invalid_idempotent_request). The body is read into fresh memory by
// the fakes themselves.
func detached(h nethttp.Handler) nethttp.Handler {
	return nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		c := r.WithContext(r.Context()) // a shallow copy; what aliases is replaced below
		c.Method = strings.Clone(r.Method)
		c.Proto = strings.Clone(r.Proto)
		c.Host = strings.Clone(r.Host)
		c.RequestURI = strings.Clone(r.RequestURI)
		if u, err := url.ParseRequestURI(c.RequestURI); err == nil {
			c.URL = u
		} else {
			c.URL = &url.URL{Path: strings.Clone(r.URL.Path), RawQuery: strings.Clone(r.URL.RawQuery)}
		}
		c.Header = make(nethttp.Header, len(r.Header))
		for k, vs := range r.Header {
			cv := make([]string, len(vs))
			for i, v := range vs {
				cv[i] = strings.Clone(v)
			}
			c.Header[strings.Clone(k)] = cv
		}
		c.TransferEncoding = nil
		for _, te := range r.TransferEncoding {
			c.TransferEncoding = append(c.TransferEncoding, strings.Clone(te))
		}
		h.ServeHTTP(w, c)
	})
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
