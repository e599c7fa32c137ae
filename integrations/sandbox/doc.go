// Package sandbox serves fake Paystack, Resend, Meta WhatsApp Cloud API and
// Kwik providers that speak the same wire contracts as the real ones:
// paths, bodies, bearer authentication, idempotency and webhook signatures.
//
// With no provider keys configured the node mounts Handler under /sandbox/
// and points its real clients at BaseURLs (below Config.NodeURL, the node's
// own listener; links for people use Config.PublicURL), so checkout, payment webhooks,
// email, WhatsApp conversations and deliveries all run offline on one
// machine; tests serve the same handler with httptest. The fakes enforce
// authentication and validate requests the way the providers do, so a client
// that works against them is exercising the real contract.
//
// Besides the provider APIs the sandbox offers the controls a person or a
// script needs to drive a flow: a Paystack checkout page whose Pay button
// settles the transaction and sends a signed charge.success to
// /webhooks/paystack, a mailbox of sent emails, an outbox of WhatsApp
// messages and a way to simulate a customer writing in (a signed Meta
// webhook to /webhooks/whatsapp), a way to advance a Kwik delivery by hand
// (a started sandbox also advances every booked task by itself to
// delivered, each status lasting at least Config.KwikStepDelay and until a
// client read it), and a log of every webhook the sandbox sent. These control routes answer every
// failure as the node's own routes do, with an RFC 9457 problem document
// (application/problem+json and the node's error codes), and take JSON
// bodies labelled application/json (the pay route also takes the checkout
// page's form); the provider APIs answer in their provider's error format.
//
// State lives in memory, bounded per list (Config.MaxRecords), and is safe
// for concurrent use. Webhooks that cannot be sent at once (transfer and
// refund outcomes, WhatsApp statuses, redeliveries after a failure) are sent,
// and Kwik tasks advanced, by goroutines the Sandbox owns between Start and
// Stop; until Start they wait.
package sandbox
