package actors

import (
	"context"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

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
// commits every change through the Journal.
type Store struct {
	Fenced
	repo    StoreRepository
	id      string
	state   *storeState
	loadErr error
	now     func() time.Time
}

// NewStoreProducer returns a producer of store actors that commit through j
// and load their state from repo.
func NewStoreProducer(j Journal, repo StoreRepository, log zerolog.Logger) actor.Producer {
	return func() actor.Actor {
		return &Store{Fenced: Fenced{Journal: j, Log: log}, repo: repo, now: storeNow}
	}
}

// storeNow is the time recorded on changes, at the precision PostgreSQL
// keeps, so that state reloaded from the database equals state in memory.
func storeNow() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Receive handles one message.
func (s *Store) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		// Claim the epoch first, then load: from the claim on no older
		// activation can commit, so what is loaded stays current until this
		// activation commits.
		if s.Activate(ctx) {
			s.load()
		}
	case *messages.GetStore:
		if s.ready(ctx) {
			ctx.Respond(s.state.profileProto(s.state.profile))
		}
	case *messages.UpdateStore:
		if s.ready(ctx) {
			s.updateStore(ctx, msg)
		}
	case *messages.CreateProduct:
		if s.ready(ctx) {
			s.createProduct(ctx, msg)
		}
	case *messages.UpdateProduct:
		if s.ready(ctx) {
			s.updateProduct(ctx, msg)
		}
	case *messages.ArchiveProduct:
		if s.ready(ctx) {
			s.archiveProduct(ctx, msg)
		}
	case *messages.GetProduct:
		if s.ready(ctx) {
			s.getProduct(ctx, msg)
		}
	case *messages.ListProducts:
		if s.ready(ctx) {
			s.listProducts(ctx, msg)
		}
	case *messages.AdjustInventory:
		if s.ready(ctx) {
			s.adjustInventory(ctx, msg)
		}
	case *messages.CreateCollection:
		if s.ready(ctx) {
			s.createCollection(ctx, msg)
		}
	case *messages.ListCollections:
		if s.ready(ctx) {
			s.listCollections(ctx, msg)
		}
	case *messages.ReserveItems:
		if s.ready(ctx) {
			s.reserveItems(ctx, msg)
		}
	case *messages.ReleaseReservation:
		if s.ready(ctx) {
			s.releaseReservation(ctx, msg)
		}
	case *messages.CommitReservation:
		if s.ready(ctx) {
			s.commitReservation(ctx, msg)
		}
	case *messages.ReminderFired:
		if s.ready(ctx) {
			s.reminderFired(ctx, msg)
		}
	default:
		if !IsLifecycle(msg) {
			s.Log.Warn().Str("message", protoName(msg)).Msg("unhandled message")
			if ctx.Sender() != nil {
				ctx.Respond(ErrorReply(vayva.Errorf(vayva.EBADREQUEST, "The store does not handle %s.", protoName(msg))))
			}
		}
	}
}

// ready reports whether the activation may handle a command, answering
// and stopping it when it may not.
func (s *Store) ready(ctx actor.Context) bool {
	if !s.Ready(ctx) {
		return false
	}
	if s.loadErr != nil {
		if vayva.ErrorCode(s.loadErr) == vayva.ENOTFOUND {
			ctx.Respond(ErrorReply(s.loadErr))
		} else {
			ctx.Respond(&messages.Error{Code: vayva.EUNAVAILABLE, Message: "The store could not be loaded; retry.", Retry: true})
		}
		ctx.Stop(ctx.Self())
		return false
	}
	return true
}

func (s *Store) load() {
	a := s.Activation()
	s.id = a.Identity
	c, cancel := context.WithTimeout(context.Background(), storageTimeout)
	defer cancel()
	st, err := s.repo.LoadStore(c, s.id)
	if err != nil {
		if vayva.ErrorCode(err) == vayva.ENOTFOUND {
			s.loadErr = vayva.Errorf(vayva.ENOTFOUND, "No store %q.", s.id)
			return
		}
		s.Log.Error().Err(err).Msg("load store")
		s.loadErr = err
		return
	}
	s.state = newStoreState(st)
}

// commit commits c with reply as the command's answer. Only once the
// transaction has committed does it run apply, which installs the change in
// memory, and answer. A redelivered command is answered with its first
// reply and apply does not run.
func (s *Store) commit(ctx actor.Context, c Commit, reply proto.Message, apply func()) {
	b, err := proto.Marshal(reply)
	if err != nil {
		s.Refuse(ctx, err)
		return
	}
	c.Reply = b
	stored, replayed, err := s.Commit(ctx, c)
	if err != nil {
		s.Refuse(ctx, err)
		return
	}
	if replayed {
		s.respondStored(ctx, stored, reply)
		return
	}
	if apply != nil {
		apply()
	}
	ctx.Respond(reply)
}

func (s *Store) respondStored(ctx actor.Context, stored []byte, like proto.Message) {
	out := like.ProtoReflect().New().Interface()
	if err := proto.Unmarshal(stored, out); err != nil {
		s.Refuse(ctx, err)
		return
	}
	ctx.Respond(out)
}

// refuse answers a command the current state refuses. A command already
// applied under the same id gets its first reply instead: it is a
// redelivery, and the state has since moved on in a way that would refuse
// it now (its SKUs exist, its stock is reserved).
func (s *Store) refuse(ctx actor.Context, commandID string, like proto.Message, err error) {
	if commandID != "" {
		c, cancel := context.WithTimeout(context.Background(), storageTimeout)
		stored, ok, lerr := s.repo.StoredReply(c, StoreKind, s.id, commandID)
		cancel()
		switch {
		case lerr != nil:
			s.Log.Error().Err(lerr).Str("command_id", commandID).Msg("look up stored reply")
			s.Refuse(ctx, &vayva.Error{Code: vayva.EUNAVAILABLE, Message: "actor storage unavailable"})
			return
		case ok:
			s.respondStored(ctx, stored, like)
			return
		}
	}
	s.Refuse(ctx, err)
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
	if err := v.Err(); err != nil {
		s.refuse(ctx, m.GetCommandId(), &messages.StoreProfile{}, err)
		return
	}
	if p.Currency != s.state.profile.Currency && len(s.state.products) > 0 {
		s.refuse(ctx, m.GetCommandId(), &messages.StoreProfile{}, &vayva.Error{Code: vayva.ECONFLICT,
			Message: "The currency cannot change once the store has products: their prices are in the current currency.",
			Fields:  []vayva.FieldError{{Field: "currency", Message: "cannot change while the store has products"}}})
		return
	}
	p.UpdatedAt = s.now()
	s.commit(ctx, Commit{
		CommandID: m.GetCommandId(),
		Domain:    vayva.DomainMerchant,
		Changes:   []any{ProfileChange{StoreID: p.ID, Name: p.Name, Currency: p.Currency, Settings: p.Settings, UpdatedAt: p.UpdatedAt}},
	}, s.state.profileProto(p), func() {
		s.state.profile = p
		s.state.changed()
	})
}

func protoName(msg any) string {
	if m, ok := msg.(proto.Message); ok {
		return string(m.ProtoReflect().Descriptor().FullName())
	}
	return "non-proto message"
}

// errNotFound is the refusal for an unknown or foreign id: the store never
// says whether the id exists elsewhere.
func errNotFound(what, id string) error {
	return vayva.Errorf(vayva.ENOTFOUND, "No %s %q in this store.", what, id)
}
