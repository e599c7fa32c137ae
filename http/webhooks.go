package http

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/integrations/paystack"
	"github.com/vayvahq/vayva/integrations/whatsapp"
	"github.com/vayvahq/vayva/persistence/redis/queue"
)

// Types of the jobs the webhook receivers enqueue. A paystack.event job
// carries the raw, verified webhook body (decode it with
// paystack.ParseEvent); the WhatsApp jobs carry the JSON encoding of one
// whatsapp.InboundMessage or whatsapp.Status.
const (
	JobPaystackEvent   = "paystack.event"
	JobWhatsAppMessage = vayva.JobWhatsAppMessage
	JobWhatsAppStatus  = vayva.JobWhatsAppStatus
)

// Default dedupe windows: longer than each provider's retry horizon, so a
// redelivery is still recognised. Paystack retries for 72 hours, Meta for
// up to 7 days.
const (
	DefaultPaystackDedupeTTL = 4 * 24 * time.Hour
	DefaultWhatsAppDedupeTTL = 8 * 24 * time.Hour
)

// Ingester appends a provider event to a queue at most once per dedupe key,
// in one atomic step. Implemented by *queue.Broker.
type Ingester interface {
	IngestOnce(ctx context.Context, dedupeKey string, ttl time.Duration, queue string, job queue.Job) (duplicate bool, err error)
}

var _ Ingester = (*queue.Broker)(nil)

// WebhookConfig holds what the inbound webhook receivers verify with.
type WebhookConfig struct {
	// PaystackSecretKey verifies x-paystack-signature; empty refuses every
	// Paystack webhook with 401 (VAYVA_PAYSTACK_SECRET_KEY, or the
	// sandbox's secret in sandbox mode).
	PaystackSecretKey string
	// WhatsAppAppSecret verifies X-Hub-Signature-256; empty refuses every
	// WhatsApp webhook with 401 (VAYVA_WHATSAPP_APP_SECRET, or the
	// sandbox's).
	WhatsAppAppSecret string
	// WhatsAppVerifyToken answers Meta's subscription handshake; empty
	// refuses it with 403 (VAYVA_WHATSAPP_VERIFY_TOKEN, or the sandbox's).
	WhatsAppVerifyToken string
	// PaystackDedupeTTL is how long a Paystack event key is remembered.
	// Defaults to DefaultPaystackDedupeTTL.
	PaystackDedupeTTL time.Duration
	// WhatsAppDedupeTTL is how long a WhatsApp message or status key is
	// remembered. Defaults to DefaultWhatsAppDedupeTTL.
	WhatsAppDedupeTTL time.Duration
}

// WebhookArea receives provider webhooks: it verifies the signature over
// the raw body before parsing anything, then ingests each event into its
// queue deduplicated by the provider's event key, and answers 200 (also for
// a duplicate). The work happens downstream, from the queues.
//
// Statuses: a missing or bad signature is 401; a correctly signed body that
// does not parse is 400 (a retry cannot fix it, and nothing is enqueued); a
// job store that cannot be reached is 503 with Retry-After, so the provider
// retries and the dedupe key makes the retry safe.
type WebhookArea struct {
	cfg      WebhookConfig
	in       Ingester
	paystack *paystack.Verifier
	whatsapp *whatsapp.Verifier
}

// NewWebhookArea returns the webhook receivers; in is where events go. A
// nil in makes the receivers answer 503 after verifying.
func NewWebhookArea(cfg WebhookConfig, in Ingester) *WebhookArea {
	if cfg.PaystackDedupeTTL <= 0 {
		cfg.PaystackDedupeTTL = DefaultPaystackDedupeTTL
	}
	if cfg.WhatsAppDedupeTTL <= 0 {
		cfg.WhatsAppDedupeTTL = DefaultWhatsAppDedupeTTL
	}
	return &WebhookArea{cfg: cfg, in: in, paystack: paystack.NewVerifier(cfg.PaystackSecretKey),
		whatsapp: whatsapp.NewVerifier(cfg.WhatsAppAppSecret)}
}

// Register adds POST /webhooks/paystack and GET and POST /webhooks/whatsapp.
// They skip Idempotency-Key handling: deduplication is by provider event.
func (a *WebhookArea) Register(r *Routes) {
	r.handlePlain("POST", "/webhooks/paystack", func(ctx context.Context, rc *fasthttp.RequestCtx) error {
		dup, err := a.ingestPaystack(ctx, string(rc.Request.Header.Peek(paystack.SignatureHeader)), rc.PostBody())
		if err != nil {
			return err
		}
		rc.Response.Header.SetContentType("application/json")
		if dup {
			rc.Response.SetBodyRaw(ackDuplicate)
		} else {
			rc.Response.SetBodyRaw(ackOK)
		}
		return nil
	})
	r.handlePlain("GET", "/webhooks/whatsapp", func(_ context.Context, rc *fasthttp.RequestCtx) error {
		q := rc.QueryArgs()
		challenge, ok := whatsapp.VerifyChallenge(string(q.Peek("hub.mode")), string(q.Peek("hub.verify_token")),
			string(q.Peek("hub.challenge")), a.cfg.WhatsAppVerifyToken)
		if !ok {
			return vayva.Errorf(vayva.EFORBIDDEN, "The subscription request was not recognised.")
		}
		rc.Response.SetStatusCode(fasthttp.StatusOK)
		rc.Response.Header.SetContentType("text/plain; charset=utf-8")
		rc.Response.SetBodyString(challenge)
		return nil
	})
	r.handlePlain("POST", "/webhooks/whatsapp", func(ctx context.Context, rc *fasthttp.RequestCtx) error {
		n, err := a.ingestWhatsApp(ctx, string(rc.Request.Header.Peek(whatsapp.SignatureHeader)), rc.PostBody())
		if err != nil {
			return err
		}
		return writeJSON(rc, fasthttp.StatusOK, webhookAck{Status: "ok", Queued: &n})
	})
}

// The two answers to a Paystack delivery, encoded once.
var (
	ackOK        = mustJSON(webhookAck{Status: "ok"})
	ackDuplicate = mustJSON(webhookAck{Status: "ok", Duplicate: true})
)

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// webhookAck is the body of a 200 answer to a provider.
type webhookAck struct {
	Status    string `json:"status"`
	Duplicate bool   `json:"duplicate,omitempty"`
	// Queued is how many events of a batch were new.
	Queued *int `json:"queued,omitempty"`
}

// ingestPaystack verifies and ingests one Paystack webhook. duplicate is
// true when the event was already ingested.
func (a *WebhookArea) ingestPaystack(ctx context.Context, signature string, body []byte) (duplicate bool, err error) {
	if err := a.paystack.Verify(body, signature); err != nil {
		return false, vayva.Errorf(vayva.EUNAUTHORIZED, "A valid %s header is required.", paystack.SignatureHeader)
	}
	ev, err := paystack.ParseEvent(body)
	if err != nil {
		return false, vayva.Errorf(vayva.EBADREQUEST, "The event could not be read.")
	}
	key := "paystack:" + paystack.EventKey(ev)
	return a.ingest(ctx, key, a.cfg.PaystackDedupeTTL, vayva.QueuePaymentsInbound, queue.Job{
		ID: webhookJobID(key), Type: JobPaystackEvent, Key: ev.Data.Reference, Payload: body,
	})
}

// ingestWhatsApp verifies a Meta notification, splits its batch and
// ingests each message (keyed by conversation, deduplicated by wamid) and
// each status (deduplicated by wamid and status). It returns how many were
// new.
func (a *WebhookArea) ingestWhatsApp(ctx context.Context, signature string, body []byte) (int, error) {
	if err := a.whatsapp.Verify(body, signature); err != nil {
		return 0, vayva.Errorf(vayva.EUNAUTHORIZED, "A valid %s header is required.", whatsapp.SignatureHeader)
	}
	msgs, statuses, err := whatsapp.ParseWebhook(body)
	if err != nil {
		return 0, vayva.Errorf(vayva.EBADREQUEST, "The notification could not be read.")
	}
	queued := 0
	for _, m := range msgs {
		payload, err := json.Marshal(m)
		if err != nil {
			return queued, fmt.Errorf("http: whatsapp webhook: encode message: %w", err)
		}
		key := "whatsapp:msg:" + m.WAMID
		dup, err := a.ingest(ctx, key, a.cfg.WhatsAppDedupeTTL, vayva.QueueWhatsAppInbound, queue.Job{
			ID: webhookJobID(key), Type: JobWhatsAppMessage, Key: ConversationKey(m.PhoneNumberID, m.From), Payload: payload,
		})
		if err != nil {
			return queued, err
		}
		if !dup {
			queued++
		}
	}
	for _, s := range statuses {
		payload, err := json.Marshal(s)
		if err != nil {
			return queued, fmt.Errorf("http: whatsapp webhook: encode status: %w", err)
		}
		key := "whatsapp:status:" + s.WAMID + ":" + s.Status
		dup, err := a.ingest(ctx, key, a.cfg.WhatsAppDedupeTTL, vayva.QueueWhatsAppInbound, queue.Job{
			ID: webhookJobID(key), Type: JobWhatsAppStatus, Key: ConversationKey(s.PhoneNumberID, s.RecipientID), Payload: payload,
		})
		if err != nil {
			return queued, err
		}
		if !dup {
			queued++
		}
	}
	return queued, nil
}

// ConversationKey is the key that orders a WhatsApp conversation's jobs
// (vayva.ConversationKey): the business number's id and the customer's
// WhatsApp id, so a customer's messages and the statuses of the replies
// they get share one partition.
func ConversationKey(phoneNumberID, waID string) string {
	return vayva.ConversationKey(phoneNumberID, waID)
}

// maxWebhookKey bounds the dedupe and job keys taken from a signed body.
const maxWebhookKey = 512

// ingest hands one event to the ingester and maps its failures: an
// unreachable job store is 503 (the provider retries), and ids too long
// to key on are 400.
func (a *WebhookArea) ingest(ctx context.Context, dedupeKey string, ttl time.Duration, q string, job queue.Job) (bool, error) {
	if len(dedupeKey) > maxWebhookKey || len(job.Key) > maxWebhookKey {
		return false, vayva.Errorf(vayva.EBADREQUEST, "The event's identifiers are too long.")
	}
	if a.in == nil {
		return false, vayva.Errorf(vayva.EUNAVAILABLE, "Webhooks cannot be received on this node.")
	}
	dup, err := a.in.IngestOnce(ctx, dedupeKey, ttl, q, job)
	switch code := vayva.ErrorCode(err); {
	case err == nil:
		return dup, nil
	case code == vayva.EUNAVAILABLE || ctx.Err() != nil:
		return false, &vayva.Error{Code: vayva.EUNAVAILABLE, Message: "The event could not be stored; retry later."}
	case code == vayva.EINVALID:
		return false, vayva.Errorf(vayva.EBADREQUEST, "The event could not be queued: %s", vayva.ErrorMessage(err))
	default:
		return false, fmt.Errorf("http: ingest webhook: %w", err)
	}
}

// webhookJobID derives a job id from the dedupe key, so every delivery of
// one provider event carries the same id and handlers can dedupe on it
// after the edge's dedupe window has passed.
func webhookJobID(dedupeKey string) string {
	sum := sha256.Sum256([]byte(dedupeKey))
	return "whk_" + hex.EncodeToString(sum[:16])
}

// handlePlain registers a public route without Idempotency-Key handling:
// provider callbacks, which dedupe by provider event, and the sandbox's fake
// provider APIs, which answer the provider's own idempotency semantics.
func (r *Routes) handlePlain(method, path string, h Handler) {
	s := r.s
	s.routes = append(s.routes, RouteInfo{Method: method, Path: path, Access: Public})
	s.router.Handle(method, path, func(rc *fasthttp.RequestCtx) {
		start := time.Now()
		ctx, cancel := withLazyDeadline(context.Background(), start.Add(s.cfg.RequestTimeout))
		defer cancel()
		ctx = vayva.WithRequestID(ctx, requestID(rc))
		s.finishMethod(rc, method, path, start, h(ctx, rc))
	})
}
