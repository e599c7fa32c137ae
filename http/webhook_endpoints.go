package http

import (
	"context"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/integrations/standardwebhooks"
)

// WebhookEndpointStore keeps merchants' webhook endpoints and their deliveries.
// Implemented by *postgres.Webhooks.
type WebhookEndpointStore interface {
	CreateEndpoint(ctx context.Context, merchantID, url string, events []string, secret string) (vayva.WebhookEndpoint, error)
	GetEndpoint(ctx context.Context, merchantID, id string) (vayva.WebhookEndpoint, error)
	ListEndpoints(ctx context.Context, merchantID string, limit int, cursor string) ([]vayva.WebhookEndpoint, string, error)
	DeleteEndpoint(ctx context.Context, merchantID, id string) error
	EnableEndpoint(ctx context.Context, merchantID, id string) (vayva.WebhookEndpoint, error)
	SendTest(ctx context.Context, merchantID, id string) (string, error)
	ListDeliveries(ctx context.Context, merchantID, endpointID string, limit int, cursor string) ([]vayva.WebhookDelivery, string, error)
	ReplayDelivery(ctx context.Context, merchantID, id string) error
}

// WebhookEndpointsArea serves the merchant's outbound webhook settings: endpoints
// (/v1/webhook-endpoints), their deliveries and replays. Every route acts
// on the caller's merchant; another merchant's ids are not found. Creating,
// deleting and re-enabling endpoints is for owners and admins.
type WebhookEndpointsArea struct {
	store WebhookEndpointStore
}

// NewWebhookEndpointsArea returns the area over store.
func NewWebhookEndpointsArea(store WebhookEndpointStore) *WebhookEndpointsArea {
	return &WebhookEndpointsArea{store: store}
}

// Register adds the area's routes.
func (a *WebhookEndpointsArea) Register(r *Routes) {
	r.Handle("POST", "/v1/webhook-endpoints", Merchant, a.create, SecretResponse())
	r.Handle("GET", "/v1/webhook-endpoints", Merchant, a.list)
	r.Handle("GET", "/v1/webhook-endpoints/{id}", Merchant, a.get)
	r.Handle("DELETE", "/v1/webhook-endpoints/{id}", Merchant, a.delete)
	r.Handle("GET", "/v1/webhook-endpoints/{id}/deliveries", Merchant, a.deliveries)
	r.Handle("POST", "/v1/webhook-endpoints/{id}/test", Merchant, a.test)
	r.Handle("POST", "/v1/webhook-endpoints/{id}/enable", Merchant, a.enable)
	r.Handle("POST", "/v1/webhook-deliveries/{id}/replay", Merchant, a.replay)
}

type createEndpointRequest struct {
	URL    *string  `json:"url"`
	Events []string `json:"events"`
}

// decodeCreateEndpoint decodes and validates a POST /v1/webhook-endpoints
// body: 400 for malformed JSON, 422 naming every bad field.
func decodeCreateEndpoint(body []byte) (url string, events []string, err error) {
	var req createEndpointRequest
	if err := decodeJSONBytes(body, &req); err != nil {
		return "", nil, err
	}
	if req.URL != nil {
		url = *req.URL
	}
	if err := vayva.ValidateWebhookEndpoint(url, req.Events); err != nil {
		return "", nil, err
	}
	return url, req.Events, nil
}

type endpointJSON struct {
	ID                  string   `json:"id"`
	URL                 string   `json:"url"`
	Events              []string `json:"events"`
	Secret              string   `json:"secret,omitempty"`
	Status              string   `json:"status"`
	DisabledReason      string   `json:"disabled_reason,omitempty"`
	ConsecutiveFailures int      `json:"consecutive_failures"`
	CreatedAt           string   `json:"created_at"`
}

type endpointAttemptJSON struct {
	Attempt    int    `json:"attempt"`
	StatusCode *int   `json:"status_code"`
	DurationMS int64  `json:"duration_ms"`
	Error      string `json:"error,omitempty"`
	At         string `json:"at"`
}

type endpointDeliveryJSON struct {
	ID             string                `json:"id"`
	EndpointID     string                `json:"endpoint_id"`
	EventID        string                `json:"event_id"`
	EventType      string                `json:"event_type"`
	Status         string                `json:"status"`
	AttemptCount   int                   `json:"attempt_count"`
	NextRetryAt    *string               `json:"next_retry_at"`
	LastStatusCode *int                  `json:"last_status_code"`
	LastError      string                `json:"last_error,omitempty"`
	CreatedAt      string                `json:"created_at"`
	CompletedAt    *string               `json:"completed_at"`
	Attempts       []endpointAttemptJSON `json:"attempts"`
}

func endpointOptionalTime(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := timeJSON(*t)
	return &s
}

func endpointView(e vayva.WebhookEndpoint) endpointJSON {
	return endpointJSON{
		ID: e.ID, URL: e.URL, Events: e.Events, Secret: e.Secret, Status: e.Status, DisabledReason: e.DisabledReason,
		ConsecutiveFailures: e.ConsecutiveFailures, CreatedAt: timeJSON(e.CreatedAt),
	}
}

func deliveryView(d vayva.WebhookDelivery) endpointDeliveryJSON {
	out := endpointDeliveryJSON{
		ID: d.ID, EndpointID: d.EndpointID, EventID: d.EventID, EventType: d.EventType, Status: d.Status,
		AttemptCount: d.Attempts, LastStatusCode: d.LastStatusCode, LastError: d.LastError,
		CreatedAt: timeJSON(d.CreatedAt), CompletedAt: endpointOptionalTime(d.CompletedAt),
		Attempts: make([]endpointAttemptJSON, 0, len(d.Log)),
	}
	if d.Status == vayva.WebhookDeliveryPending {
		out.NextRetryAt = endpointOptionalTime(d.NextAttemptAt)
	}
	for _, a := range d.Log {
		out.Attempts = append(out.Attempts, endpointAttemptJSON{
			Attempt: a.Attempt, StatusCode: a.StatusCode, DurationMS: a.Duration.Milliseconds(), Error: a.Error, At: timeJSON(a.At),
		})
	}
	return out
}

// pathID returns the {id} path parameter when it looks like an id made
// with prefix; anything else cannot exist and is not found.
func endpointPathID(rc *fasthttp.RequestCtx, prefix, what string) (string, error) {
	id, _ := rc.UserValue("id").(string)
	if !vayva.HasIDPrefix(id, prefix) {
		return "", vayva.Errorf(vayva.ENOTFOUND, "No such %s.", what)
	}
	return id, nil
}

func endpointRequireManager(t vayva.Tenant) error {
	if !t.Role.CanManageTeam() {
		return vayva.Errorf(vayva.EFORBIDDEN, "Only the store's owner and admins may manage webhook endpoints.")
	}
	return nil
}

func (a *WebhookEndpointsArea) create(ctx context.Context, rc *fasthttp.RequestCtx) error {
	t := tenantOf(ctx)
	if err := endpointRequireManager(t); err != nil {
		return err
	}
	url, events, err := decodeCreateEndpoint(rc.PostBody())
	if err != nil {
		return err
	}
	ep, err := a.store.CreateEndpoint(ctx, t.MerchantID, url, events, standardwebhooks.NewSecret())
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusCreated, endpointView(ep))
}

func (a *WebhookEndpointsArea) list(ctx context.Context, rc *fasthttp.RequestCtx) error {
	limit, cursor, err := pageParams(rc)
	if err != nil {
		return err
	}
	eps, next, err := a.store.ListEndpoints(ctx, tenantOf(ctx).MerchantID, limit, cursor)
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusOK, mapList(eps, next, endpointView))
}

func (a *WebhookEndpointsArea) get(ctx context.Context, rc *fasthttp.RequestCtx) error {
	id, err := endpointPathID(rc, "we", "webhook endpoint")
	if err != nil {
		return err
	}
	ep, err := a.store.GetEndpoint(ctx, tenantOf(ctx).MerchantID, id)
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusOK, endpointView(ep))
}

func (a *WebhookEndpointsArea) delete(ctx context.Context, rc *fasthttp.RequestCtx) error {
	t := tenantOf(ctx)
	id, err := endpointPathID(rc, "we", "webhook endpoint")
	if err != nil {
		return err
	}
	if err := endpointRequireManager(t); err != nil {
		return err
	}
	if err := a.store.DeleteEndpoint(ctx, t.MerchantID, id); err != nil {
		return err
	}
	rc.Response.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

func (a *WebhookEndpointsArea) enable(ctx context.Context, rc *fasthttp.RequestCtx) error {
	t := tenantOf(ctx)
	id, err := endpointPathID(rc, "we", "webhook endpoint")
	if err != nil {
		return err
	}
	if err := endpointRequireManager(t); err != nil {
		return err
	}
	ep, err := a.store.EnableEndpoint(ctx, t.MerchantID, id)
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusOK, endpointView(ep))
}

func (a *WebhookEndpointsArea) deliveries(ctx context.Context, rc *fasthttp.RequestCtx) error {
	id, err := endpointPathID(rc, "we", "webhook endpoint")
	if err != nil {
		return err
	}
	limit, cursor, err := pageParams(rc)
	if err != nil {
		return err
	}
	ds, next, err := a.store.ListDeliveries(ctx, tenantOf(ctx).MerchantID, id, limit, cursor)
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusOK, mapList(ds, next, deliveryView))
}

func (a *WebhookEndpointsArea) test(ctx context.Context, rc *fasthttp.RequestCtx) error {
	id, err := endpointPathID(rc, "we", "webhook endpoint")
	if err != nil {
		return err
	}
	eventID, err := a.store.SendTest(ctx, tenantOf(ctx).MerchantID, id)
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusAccepted, map[string]string{"event_id": eventID, "type": vayva.EventWebhookTest})
}

func (a *WebhookEndpointsArea) replay(ctx context.Context, rc *fasthttp.RequestCtx) error {
	id, err := endpointPathID(rc, "msg", "webhook delivery")
	if err != nil {
		return err
	}
	if err := a.store.ReplayDelivery(ctx, tenantOf(ctx).MerchantID, id); err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusAccepted, map[string]string{"id": id, "status": vayva.WebhookDeliveryPending})
}
