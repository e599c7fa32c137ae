package http

import (
	"context"
	"encoding/json"

	"github.com/valyala/fasthttp"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/messages"
)

type updateStoreRequest struct {
	Name                  *string         `json:"name"`
	Currency              *string         `json:"currency"`
	Settings              json.RawMessage `json:"settings"`
	WhatsAppPhoneNumberID *string         `json:"whatsapp_phone_number_id"`
}

func decodeUpdateStore(body []byte) (*messages.UpdateStore, error) {
	var req updateStoreRequest
	if err := decodeJSONBytes(body, &req); err != nil {
		return nil, err
	}
	m := &messages.UpdateStore{Name: req.Name, Currency: req.Currency, WhatsappPhoneNumberId: req.WhatsAppPhoneNumberID}
	if req.Settings != nil {
		m.SettingsPatchJson = req.Settings
	}
	return m, nil
}

type storeJSON struct {
	ID         string          `json:"id"`
	MerchantID string          `json:"merchant_id"`
	Slug       string          `json:"slug"`
	Name       string          `json:"name"`
	Currency   string          `json:"currency"`
	Status     string          `json:"status"`
	Settings   json.RawMessage `json:"settings"`
	// FeeBps is the platform fee in basis points (150 = 1.5%).
	FeeBps                int32   `json:"fee_bps"`
	WhatsAppPhoneNumberID *string `json:"whatsapp_phone_number_id"`
	CreatedAt             string  `json:"created_at"`
	UpdatedAt             string  `json:"updated_at"`
}

func storeView(p *messages.StoreProfile) storeJSON {
	settings := json.RawMessage(p.GetSettingsJson())
	if len(settings) == 0 {
		settings = json.RawMessage("{}")
	}
	var whatsapp *string
	if id := p.GetWhatsappPhoneNumberId(); id != "" {
		whatsapp = &id
	}
	return storeJSON{
		WhatsAppPhoneNumberID: whatsapp,
		ID:                    p.GetId(), MerchantID: p.GetMerchantId(), Slug: p.GetSlug(), Name: p.GetName(), Currency: p.GetCurrency(),
		Status: p.GetStatus(), Settings: settings, FeeBps: p.GetFeeBps(),
		CreatedAt: rfc3339(p.GetCreatedAtUnixMs()), UpdatedAt: rfc3339(p.GetUpdatedAtUnixMs()),
	}
}

// getStore serves GET /v1/store to every member of the team.
func (a *CatalogArea) getStore(ctx context.Context, rc *fasthttp.RequestCtx) error {
	p, err := storeCall[*messages.StoreProfile](ctx, a, tenantOf(ctx).StoreID, &messages.GetStore{})
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusOK, storeView(p))
}

// updateStore serves PATCH /v1/store: owners and admins change the
// profile and settings; staff may only read them.
func (a *CatalogArea) updateStore(ctx context.Context, rc *fasthttp.RequestCtx) error {
	t := tenantOf(ctx)
	if t.Role != vayva.RoleOwner && t.Role != vayva.RoleAdmin {
		return vayva.Errorf(vayva.EFORBIDDEN, "Only the owner and admins may change the store.")
	}
	m, err := decodeUpdateStore(rc.PostBody())
	if err != nil {
		return err
	}
	m.CommandId = commandID(rc, "store.update")
	p, err := storeCall[*messages.StoreProfile](ctx, a, t.StoreID, m)
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusOK, storeView(p))
}
