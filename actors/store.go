package actors

import (
	"context"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/messages"
)

// StoreKind is the kind of the store actor; its identity is the store id.
const StoreKind = "store"

// StoreIdleTimeout is how long a store activation stays without messages
// before it passivates.
const StoreIdleTimeout = 15 * time.Minute

// Store is the store actor: the single writer of one store's profile,
// catalog, inventory and stock reservations. Its state lives in the
// merchant.stores row and the catalog tables; it loads all of it on
// activation, serves reads (merchant and storefront) from memory and
// commits every change through the kit.
type Store struct {
	*Processor
	repo  StoreRepository
	id    string
	state *storeState
	now   func() time.Time
	// publisher receives the storefront snapshots (nil: none); storefront
	// is the newest one, turn when the current turn began.
	publisher  StorefrontPublisher
	storefront *Storefront
	turn       time.Time
}

// StoreChanges are the change types the store kind commits.
var StoreChanges = []Change{
	ProfileChange{}, ProductChange{}, StockChange{}, AdjustmentRecord{}, CollectionChange{}, ReservationChange{},
	AuditRecord{}, DeliverySettingsChange{},
}

// NewStoreProducer returns a producer of store actors that commit through j
// and load their state from repo.
func NewStoreProducer(j Journal, repo StoreRepository, log zerolog.Logger) actor.Producer {
	return NewPublishingStoreProducer(j, repo, nil, log)
}

// NewPublishingStoreProducer is NewStoreProducer whose actors publish their
// storefront snapshots to pub after loading and after every change.
func NewPublishingStoreProducer(j Journal, repo StoreRepository, pub StorefrontPublisher, log zerolog.Logger) actor.Producer {
	return Producer(j, log, func(p *Processor) Behavior {
		return &Store{Processor: p, repo: repo, now: storeNow, publisher: pub}
	})
}

// storeNow is the time recorded on changes, at the precision PostgreSQL
// keeps, so that state reloaded from the database equals state in memory.
func storeNow() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Load reads the store's profile, catalog and active reservations.
func (s *Store) Load(ctx context.Context, a *Activation) error {
	s.turn = time.Now()
	s.id = a.Identity
	st, err := s.repo.LoadStore(ctx, s.id)
	if err != nil {
		if vayva.ErrorCode(err) == vayva.ENOTFOUND {
			return vayva.Errorf(vayva.ENOTFOUND, "No store %q.", s.id)
		}
		return err
	}
	s.state = newStoreState(st)
	s.publishStorefront(s.turn)
	return nil
}

// Receive handles one command.
func (s *Store) Receive(ctx actor.Context, msg any) {
	s.turn = time.Now()
	switch msg := msg.(type) {
	case *messages.GetStorefront:
		s.getStorefront(ctx, msg)
	case *messages.GetStore:
		ctx.Respond(s.state.profileProto(s.state.profile))
	case *messages.UpdateStore:
		s.updateStore(ctx, msg)
	case *messages.CreateProduct:
		s.createProduct(ctx, msg)
	case *messages.UpdateProduct:
		s.updateProduct(ctx, msg)
	case *messages.ArchiveProduct:
		s.archiveProduct(ctx, msg)
	case *messages.GetProduct:
		s.getProduct(ctx, msg)
	case *messages.ListProducts:
		s.listProducts(ctx, msg)
	case *messages.AdjustInventory:
		s.adjustInventory(ctx, msg)
	case *messages.CreateCollection:
		s.createCollection(ctx, msg)
	case *messages.ListCollections:
		s.listCollections(ctx, msg)
	case *messages.ReserveItems:
		s.reserveItems(ctx, msg)
	case *messages.ReleaseReservation:
		s.releaseReservation(ctx, msg)
	case *messages.CommitReservation:
		s.commitReservation(ctx, msg)
	case *messages.RestockReservation:
		s.restockReservation(ctx, msg)
	case *messages.ReminderFired:
		s.reminderFired(ctx, msg)
	case *messages.SetDeliverySettings:
		s.setDeliverySettings(ctx, msg)
	case *messages.GetDeliverySettings:
		ctx.Respond(s.deliverySettingsProto(s.state.profile))
	default:
		s.Unhandled(ctx, msg)
	}
}

func (s *Store) updateStore(ctx actor.Context, m *messages.UpdateStore) {
	var v vayva.Validation
	p := s.state.profile
	if m.Name != nil {
		p.Name = validText(&v, "name", m.Name, MaxStoreNameLength)
	}
	if m.Currency != nil {
		p.Currency = strings.ToUpper(strings.TrimSpace(m.GetCurrency()))
		if !ValidCurrency(p.Currency) {
			v.Add("currency", "must be one of %s", strings.Join(Currencies, ", "))
		}
	}
	if len(m.GetSettingsPatchJson()) > 0 {
		p.Settings = mergeSettings(&v, p.Settings, m.GetSettingsPatchJson())
	}
	if m.WhatsappPhoneNumberId != nil {
		p.WhatsAppPhoneNumberID = strings.TrimSpace(m.GetWhatsappPhoneNumberId())
		if p.WhatsAppPhoneNumberID != "" && !validPhoneNumberID(p.WhatsAppPhoneNumberID) {
			v.Add("whatsapp_phone_number_id", "must be the digits of a WhatsApp Cloud API phone number id, or empty to remove it")
		}
	}
	if m.FeeBps != nil {
		p.FeeBps = m.GetFeeBps()
		if p.FeeBps < 0 || p.FeeBps > MaxFeeBps {
			v.Add("fee_bps", "must be between 0 and %d", MaxFeeBps)
		}
	}
	if err := v.Err(); err != nil {
		s.Refuse(ctx, m.GetCommandId(), &messages.StoreProfile{}, err)
		return
	}
	if p.Currency != s.state.profile.Currency && len(s.state.products) > 0 {
		s.Refuse(ctx, m.GetCommandId(), &messages.StoreProfile{}, &vayva.Error{Code: vayva.ECONFLICT,
			Message: "The currency cannot change once the store has products: their prices are in the current currency.",
			Fields:  []vayva.FieldError{{Field: "currency", Message: "cannot change while the store has products"}}})
		return
	}
	p.UpdatedAt = s.now()
	changes := []Change{ProfileChange{StoreID: p.ID, Name: p.Name, Currency: p.Currency, Settings: p.Settings,
		FeeBps: p.FeeBps, WhatsAppPhoneNumberID: p.WhatsAppPhoneNumberID, UpdatedAt: p.UpdatedAt}}
	if p.FeeBps != s.state.profile.FeeBps {
		// The fee decides what merchants are paid: who changed it is
		// recorded with the change.
		changes = append(changes, AuditFor(p.MerchantID, "store.fee_bps.update", "store", p.ID, m.GetAudit(),
			map[string]any{"from": s.state.profile.FeeBps, "to": p.FeeBps}, p.UpdatedAt))
	}
	s.Apply(ctx, Commit{
		CommandID: m.GetCommandId(),
		Domain:    vayva.DomainMerchant,
		Changes:   changes,
	}, s.state.profileProto(p), func() {
		s.state.profile = p
		s.state.changed()
	})
}

// errNotFound is the refusal for an unknown or foreign id: the store never
// says whether the id exists elsewhere.
func errNotFound(what, id string) error {
	return vayva.Errorf(vayva.ENOTFOUND, "No %s %q in this store.", what, id)
}

// validPhoneNumberID reports whether id looks like a Meta phone number id:
// 1 to 32 digits.
func validPhoneNumberID(id string) bool {
	if len(id) == 0 || len(id) > 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return false
		}
	}
	return true
}
