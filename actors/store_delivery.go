package actors

import (
	"encoding/json"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors/internal/seal"
	"github.com/vayvahq/vayva/messages"
)

// DeliverySettingsChange writes a store's delivery settings.
type DeliverySettingsChange struct {
	StoreID   string
	Settings  json.RawMessage
	UpdatedAt time.Time
}

// IsChange marks DeliverySettingsChange as a Change.
func (DeliverySettingsChange) IsChange(seal.Token) {}

// setDeliverySettings validates and replaces the store's delivery
// settings. Checkouts that reserve stock afterwards plan their shipping
// from them.
func (s *Store) setDeliverySettings(ctx actor.Context, m *messages.SetDeliverySettings) {
	settings, err := ParseDeliverySettings(m.GetSettingsJson(), s.state.profile.Currency)
	if err != nil {
		s.Refuse(ctx, m.GetCommandId(), &messages.DeliverySettings{}, err)
		return
	}
	b, err := json.Marshal(settings)
	if err != nil {
		s.Fail(ctx, err)
		return
	}
	p := s.state.profile
	p.Delivery, p.UpdatedAt = b, s.now()
	s.Apply(ctx, Commit{
		CommandID: m.GetCommandId(),
		Domain:    vayva.DomainMerchant,
		Changes:   []Change{DeliverySettingsChange{StoreID: p.ID, Settings: b, UpdatedAt: p.UpdatedAt}},
	}, s.deliverySettingsProto(p), func() { s.state.profile = p })
}

func (s *Store) deliverySettingsProto(p StoreProfile) *messages.DeliverySettings {
	out := &messages.DeliverySettings{SettingsJson: p.Delivery}
	if len(p.Delivery) > 0 {
		out.UpdatedAtUnixMs = p.UpdatedAt.UnixMilli()
	}
	return out
}
