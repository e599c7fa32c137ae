package http

import (
	"context"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/vayvahq/vayva/integrations/sandbox"
)

// sandboxRoutes are the routes integrations/sandbox serves, in the router's
// syntax. Each is registered on its own so that routing, metrics and the
// OpenAPI document see them.
var sandboxRoutes = []struct{ method, path string }{
	// Index and webhook log.
	{"GET", "/sandbox/"},
	{"GET", "/sandbox/webhooks"},
	// Paystack: checkout page, scripted payment and the fake API.
	{"GET", "/sandbox/paystack/checkout/{reference}"},
	{"POST", "/sandbox/paystack/checkout/{reference}/pay"},
	{"POST", sandbox.PaystackAPIPrefix + "/transaction/initialize"},
	{"GET", sandbox.PaystackAPIPrefix + "/transaction/verify/{reference}"},
	{"POST", sandbox.PaystackAPIPrefix + "/refund"},
	{"POST", sandbox.PaystackAPIPrefix + "/transferrecipient"},
	{"POST", sandbox.PaystackAPIPrefix + "/transfer"},
	{"GET", sandbox.PaystackAPIPrefix + "/transfer/verify/{reference}"},
	// Resend: the fake API and the mailbox.
	{"POST", sandbox.ResendAPIPrefix + "/emails"},
	{"GET", sandbox.ResendAPIPrefix + "/emails/{id}"},
	{"POST", sandbox.ResendAPIPrefix + "/faults"},
	{"GET", "/sandbox/mailbox"},
	// WhatsApp: the fake Cloud API, the outbox and the customer simulator.
	{"POST", sandbox.WhatsAppAPIPrefix + "/{version}/{phone_number_id}/messages"},
	{"GET", "/sandbox/whatsapp/outbox"},
	{"POST", "/sandbox/whatsapp/inbound"},
	{"POST", "/sandbox/whatsapp/subscribe"},
	// Kwik: the fake vendor API and the courier simulator.
	{"POST", sandbox.KwikAPIPrefix + "/vendor_login"},
	{"POST", sandbox.KwikAPIPrefix + "/send_payment_for_task"},
	{"POST", sandbox.KwikAPIPrefix + "/create_task_via_vendor"},
	{"POST", sandbox.KwikAPIPrefix + "/cancel_vendor_task"},
	{"GET", sandbox.KwikAPIPrefix + "/view_task_by_relationship_id"},
	{"POST", sandbox.KwikAPIPrefix + "/tasks/{job_id}/advance"},
	{"GET", sandbox.KwikAPIPrefix + "/tasks"},
}

// SandboxArea mounts the fake providers on the edge. The node adds it only
// when providers are in sandbox mode; in live mode none of its routes exist.
// The routes are public and bypass Idempotency-Key handling: the fakes
// implement their providers' own idempotency. A fake that calls the node
// back (a paid checkout sends charge.success to /webhooks/paystack) does so
// over HTTP while its own request is still open; the edge serves both
// concurrently.
type SandboxArea struct {
	serve fasthttp.RequestHandler
}

// NewSandboxArea returns the area serving sb.
func NewSandboxArea(sb *sandbox.Sandbox) *SandboxArea {
	return &SandboxArea{serve: fasthttpadaptor.NewFastHTTPHandler(sb.Handler())}
}

// Register adds every sandbox route.
func (a *SandboxArea) Register(r *Routes) {
	h := func(_ context.Context, rc *fasthttp.RequestCtx) error {
		a.serve(rc)
		return nil
	}
	for _, rt := range sandboxRoutes {
		r.handlePlain(rt.method, rt.path, h)
	}
}
