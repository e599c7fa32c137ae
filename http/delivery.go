package http

import (
	"context"
	"encoding/json"

	"github.com/valyala/fasthttp"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/cluster"
	"github.com/vayvahq/vayva/messages"
	"google.golang.org/protobuf/proto"
)

// DeliveryArea serves the store's delivery settings; the store actor
// validates and keeps them.
type DeliveryArea struct {
	member *cluster.Member
}

// NewDeliveryArea returns the delivery settings area.
func NewDeliveryArea(member *cluster.Member) *DeliveryArea { return &DeliveryArea{member: member} }

// Register adds the area's routes.
func (a *DeliveryArea) Register(r *Routes) {
	r.Handle("GET", "/v1/store/delivery-settings", Merchant, a.getSettings)
	r.Handle("PUT", "/v1/store/delivery-settings", Merchant, a.putSettings)
}

// deliverySettingsJSON is the settings as the API shows them.
type deliverySettingsJSON struct {
	PickupAddress *actors.PickupAddress `json:"pickup_address"`
	AutoBook      bool                  `json:"auto_book"`
	Rules         []actors.DeliveryRule `json:"rules"`
	UpdatedAt     *string               `json:"updated_at"`
}

func deliverySettingsView(m *messages.DeliverySettings) (deliverySettingsJSON, error) {
	out := deliverySettingsJSON{Rules: []actors.DeliveryRule{}}
	if len(m.GetSettingsJson()) == 0 {
		return out, nil
	}
	var s actors.DeliverySettings
	if err := json.Unmarshal(m.GetSettingsJson(), &s); err != nil {
		return out, err
	}
	at := rfc3339(m.GetUpdatedAtUnixMs())
	out.PickupAddress, out.AutoBook, out.UpdatedAt = &s.PickupAddress, s.AutoBook, &at
	if s.Rules != nil {
		out.Rules = s.Rules
	}
	return out, nil
}

func settingsRole(ctx context.Context) (vayva.Tenant, error) {
	t := tenantOf(ctx)
	if t.Role != vayva.RoleOwner && t.Role != vayva.RoleAdmin {
		return t, vayva.Errorf(vayva.EFORBIDDEN, "Only the owner and admins may see and change the delivery settings.")
	}
	if t.StoreID == "" {
		return t, vayva.Errorf(vayva.ENOTFOUND, "No store.")
	}
	return t, nil
}

// answerSettings sends m to the caller's store actor and answers with the
// settings it replies, or its error.
func answerSettings(ctx context.Context, rc *fasthttp.RequestCtx, a *DeliveryArea, storeID string, m proto.Message) error {
	if a.member == nil {
		return vayva.Errorf(vayva.EUNAVAILABLE, "This node runs no cluster member.")
	}
	s, err := cluster.Request[*messages.DeliverySettings](ctx, a.member, actors.StoreKind, storeID, m)
	if err != nil {
		return err
	}
	out, err := deliverySettingsView(s)
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusOK, out)
}

func (a *DeliveryArea) getSettings(ctx context.Context, rc *fasthttp.RequestCtx) error {
	t, err := settingsRole(ctx)
	if err != nil {
		return err
	}
	return answerSettings(ctx, rc, a, t.StoreID, &messages.GetDeliverySettings{})
}

// putSettings serves PUT /v1/store/delivery-settings: the whole settings
// are replaced. The body is decoded strictly here and validated by the
// store actor, whose refusals name the field.
func (a *DeliveryArea) putSettings(ctx context.Context, rc *fasthttp.RequestCtx) error {
	t, err := settingsRole(ctx)
	if err != nil {
		return err
	}
	var req actors.DeliverySettings
	if err := decodeJSONBytes(rc.PostBody(), &req); err != nil {
		return err
	}
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	return answerSettings(ctx, rc, a, t.StoreID,
		&messages.SetDeliverySettings{CommandId: commandID(rc, "store.delivery-settings"), SettingsJson: b})
}

// shippingJSON is how an order reaches its customer.
type shippingJSON struct {
	Method   string `json:"method"`
	Provider string `json:"provider,omitempty"`
	Fee      int64  `json:"fee"`
	Quoted   bool   `json:"quoted"`
	AutoBook bool   `json:"auto_book"`
}

// orderDeliveryJSON is one booking of an order.
type orderDeliveryJSON struct {
	ID                string `json:"id"`
	Provider          string `json:"provider"`
	ProviderReference string `json:"provider_reference"`
	Status            string `json:"status"`
	Fee               int64  `json:"fee"`
	Currency          string `json:"currency"`
	TrackingURL       string `json:"tracking_url,omitempty"`
	FailureReason     string `json:"failure_reason,omitempty"`
	CreatedAt         string `json:"created_at"`
	UpdatedAt         string `json:"updated_at"`
}

func shippingView(s *actors.Shipping) *shippingJSON {
	if s == nil {
		return nil
	}
	return &shippingJSON{Method: s.Method, Provider: s.Provider, Fee: s.Fee, Quoted: s.Quoted, AutoBook: s.AutoBook}
}

func orderDeliveryView(d *actors.Delivery) orderDeliveryJSON {
	return orderDeliveryJSON{ID: d.ID, Provider: d.Provider, ProviderReference: d.ProviderReference, Status: d.Status, Fee: d.Fee,
		Currency: d.Currency, TrackingURL: d.TrackingURL, FailureReason: d.FailureReason,
		CreatedAt: timeJSON(d.CreatedAt), UpdatedAt: timeJSON(d.UpdatedAt)}
}

// currentDeliveryView is the order's latest booking, nil when none.
func currentDeliveryView(o *actors.Order) *orderDeliveryJSON {
	if len(o.Deliveries) == 0 {
		return nil
	}
	d := orderDeliveryView(o.Deliveries[len(o.Deliveries)-1])
	return &d
}

// listDeliveries serves GET /v1/orders/{id}/deliveries: the order's
// bookings, oldest first (an order has a handful at most: one page).
func (a *OrdersArea) listDeliveries(ctx context.Context, rc *fasthttp.RequestCtx) error {
	o, err := a.merchantOrder(ctx, rc)
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusOK, mapList(o.Deliveries, "", orderDeliveryView))
}

// requestDelivery serves POST /v1/orders/{id}/deliveries: the order
// records a pending delivery and queues its booking; 202 with it.
func (a *OrdersArea) requestDelivery(ctx context.Context, rc *fasthttp.RequestCtx) error {
	if err := decodeOptionalJSON(rc.PostBody(), &struct{}{}); err != nil {
		return err
	}
	o, err := a.merchantOrder(ctx, rc)
	if err != nil {
		return err
	}
	if a.member == nil {
		return vayva.Errorf(vayva.EUNAVAILABLE, "This node runs no cluster member.")
	}
	reply, err := cluster.Request[*messages.Order](ctx, a.member, actors.OrderKind, o.ID,
		&messages.RequestDelivery{CommandId: commandID(rc, "order.deliveries")})
	if err != nil {
		return err
	}
	o, err = a.orders.StoreOrder(ctx, tenantOf(ctx).StoreID, reply.GetId())
	if err != nil {
		return err
	}
	d := currentDeliveryView(o)
	if d == nil {
		return vayva.Errorf(vayva.EUNAVAILABLE, "The delivery was requested but cannot be read yet; retry.")
	}
	return writeJSON(rc, fasthttp.StatusAccepted, d)
}
