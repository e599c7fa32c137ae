package actors

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/messages"
)

// reservationReminderPrefix names the durable reminder that expires a
// reservation: the prefix followed by the reservation id.
const reservationReminderPrefix = "reservation:"

// maxReservationIDLength bounds reservation ids (they are order ids).
const maxReservationIDLength = 100

func reservationReminder(id string) string { return reservationReminderPrefix + id }

// reserveItems holds stock for an order: plan the request against the
// catalog, answer a repeated reservation with what it holds, take the stock,
// commit.
func (s *Store) reserveItems(ctx actor.Context, m *messages.ReserveItems) {
	if !s.state.open() {
		s.Refuse(ctx, m.GetCommandId(), &messages.Reservation{}, vayva.Errorf(vayva.ENOTFOUND, "No store %q.", s.state.profile.Slug))
		return
	}
	req, err := planReservation(s.state, m, s.now())
	if err != nil {
		s.Refuse(ctx, m.GetCommandId(), &messages.Reservation{}, err)
		return
	}
	// The reservation id is the order's: asking again answers with what
	// was reserved, and never reserves twice.
	existing, err := s.findReservation(req.id)
	switch {
	case err == nil:
		if !sameLines(existing.Lines, req.lines) {
			s.Refuse(ctx, m.GetCommandId(), &messages.Reservation{}, vayva.Errorf(vayva.ECONFLICT,
				"Reservation %q already exists with other items.", req.id))
			return
		}
		ctx.Respond(s.state.reservationProto(existing))
		return
	case vayva.ErrorCode(err) != vayva.ENOTFOUND:
		s.Fail(ctx, err)
		return
	}
	levels, err := holdStock(s.state, req)
	if err != nil {
		s.Refuse(ctx, m.GetCommandId(), &messages.Reservation{}, err)
		return
	}
	now := s.now()
	number := s.state.lastOrderNumber + 1
	r := &Reservation{ID: req.id, StoreID: s.id, OrderNumber: number, Status: ReservationActive, Lines: req.lines,
		ExpiresAt: req.expires, CreatedAt: now, UpdatedAt: now}
	s.Apply(ctx, Commit{
		CommandID: m.GetCommandId(),
		Domain:    vayva.DomainCatalog,
		Changes: []Change{
			ReservationChange{Reservation: *r},
			StockChange{StoreID: s.id, Levels: levels},
		},
		SetReminders: []vayva.Reminder{{Name: reservationReminder(req.id), DueAt: req.expires, Payload: []byte(req.id)}},
	}, s.state.reservationProto(r), func() {
		s.state.reservations[req.id] = r
		s.state.lastOrderNumber = number
		s.state.setStock(levels)
	})
}

// reservationRequest is a validated ReserveItems: one line per variant in
// the order of first mention, quantities of a variant named twice added up.
type reservationRequest struct {
	id      string
	expires time.Time
	lines   []ReservationLine
	// first is the index in the request's items of each variant's first
	// mention, for naming the field of a stock refusal.
	first map[string]int
}

// planReservation validates m against the catalog in st at time now.
func planReservation(st *storeState, m *messages.ReserveItems, now time.Time) (*reservationRequest, error) {
	var v vayva.Validation
	req := &reservationRequest{id: m.GetReservationId(), first: map[string]int{}}
	switch id := req.id; {
	case id == "":
		v.Add("reservation_id", "is required")
	case len(id) > maxReservationIDLength || !utf8.ValidString(id) || strings.ContainsFunc(id, isControl):
		v.Add("reservation_id", "must be at most %d printable characters", maxReservationIDLength)
	}
	req.expires = time.UnixMilli(m.GetExpiresAtUnixMs()).UTC()
	switch {
	case m.GetExpiresAtUnixMs() == 0:
		v.Add("expires_at", "is required")
	case !req.expires.After(now):
		v.Add("expires_at", "must be in the future")
	case req.expires.Sub(now) > MaxReservationTTL:
		v.Add("expires_at", "must be at most %s ahead", MaxReservationTTL)
	}
	items := m.GetItems()
	switch n := len(items); {
	case n == 0:
		v.Add("items", "must have at least one item")
	case n > MaxReservationItems:
		// One error for the list, none per entry.
		v.Add("items", "must have at most %d items", MaxReservationItems)
		items = nil
	}
	index := map[string]int{}
	for i, it := range items {
		f := func(name string) string { return fmt.Sprintf("items[%d].%s", i, name) }
		if it == nil {
			v.Add(fmt.Sprintf("items[%d]", i), "must be an object")
			continue
		}
		q := it.GetQuantity()
		if q <= 0 || q > MaxQuantity {
			v.Add(f("quantity"), "must be between 1 and %d", int64(MaxQuantity))
		}
		vid := it.GetVariantId()
		vr, ok := st.variants[vid]
		switch {
		case vid == "":
			v.Add(f("variant_id"), "is required")
			continue
		case !ok:
			v.Add(f("variant_id"), "is not a variant of this store")
			continue
		case st.variantProduct[vid].Status != ProductActive:
			v.Add(f("variant_id"), "is not for sale")
			continue
		}
		if j, ok := index[vid]; ok {
			req.lines[j].Quantity += q
			if req.lines[j].Quantity > MaxQuantity {
				v.Add(f("quantity"), "adds up to more than %d for this variant", int64(MaxQuantity))
			}
			continue
		}
		index[vid], req.first[vid] = len(req.lines), i
		req.lines = append(req.lines, ReservationLine{VariantID: vid, Quantity: q, UnitPrice: vr.Price})
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return req, nil
}

// holdStock returns the stock levels after req's lines are reserved, or an
// EINSUFFICIENTSTOCK error naming the first variant short of stock and
// listing every line that is.
func holdStock(st *storeState, req *reservationRequest) ([]StockLevel, error) {
	var short []vayva.FieldError
	shortVariant := ""
	levels := make([]StockLevel, 0, len(req.lines))
	for _, l := range req.lines {
		vr := st.variants[l.VariantID]
		if vr.Available() < l.Quantity {
			short = append(short, vayva.FieldError{
				Field:   fmt.Sprintf("items[%d].quantity", req.first[l.VariantID]),
				Message: fmt.Sprintf("only %d of variant %s available", max(vr.Available(), 0), vr.ID),
			})
			if shortVariant == "" {
				shortVariant = vr.ID
			}
			continue
		}
		levels = append(levels, StockLevel{VariantID: vr.ID, OnHand: vr.OnHand, Reserved: vr.Reserved + l.Quantity})
	}
	if len(short) > 0 {
		return nil, &vayva.Error{Code: vayva.EINSUFFICIENTSTOCK,
			Message: fmt.Sprintf("Not enough stock of variant %s.", shortVariant), Fields: short}
	}
	return levels, nil
}

// findReservation returns the reservation with id: an active one from
// memory, a finished one from the database.
func (s *Store) findReservation(id string) (*Reservation, error) {
	if r, ok := s.state.reservations[id]; ok {
		return r, nil
	}
	c, cancel := context.WithTimeout(context.Background(), storageTimeout)
	defer cancel()
	r, err := s.repo.LoadReservation(c, s.id, id)
	if err != nil {
		if vayva.ErrorCode(err) == vayva.ENOTFOUND {
			return nil, errNotFound("reservation", id)
		}
		s.Log().Error().Err(err).Str("reservation", id).Msg("load reservation")
		return nil, &vayva.Error{Code: vayva.EUNAVAILABLE, Message: "actor storage unavailable"}
	}
	return r, nil
}

func sameLines(a, b []ReservationLine) bool {
	if len(a) != len(b) {
		return false
	}
	key := func(ls []ReservationLine) []string {
		out := make([]string, len(ls))
		for i, l := range ls {
			out[i] = l.VariantID + "\x00" + strconv.FormatInt(l.Quantity, 10)
		}
		sort.Strings(out)
		return out
	}
	ka, kb := key(a), key(b)
	for i := range ka {
		if ka[i] != kb[i] {
			return false
		}
	}
	return true
}

func (s *Store) releaseReservation(ctx actor.Context, m *messages.ReleaseReservation) {
	r, err := s.findReservation(m.GetReservationId())
	if err != nil {
		s.Refuse(ctx, m.GetCommandId(), &messages.Reservation{}, err)
		return
	}
	switch r.Status {
	case ReservationReleased, ReservationExpired:
		ctx.Respond(s.state.reservationProto(r))
	case ReservationCommitted, ReservationRestocked:
		s.Refuse(ctx, m.GetCommandId(), &messages.Reservation{}, vayva.Errorf(vayva.ECONFLICT,
			"Reservation %q was committed; its stock has left the store.", r.ID))
	default:
		s.finishReservation(ctx, m.GetCommandId(), r, ReservationReleased, &messages.Reservation{})
	}
}

// restockReservation puts a committed reservation's stock back on hand.
func (s *Store) restockReservation(ctx actor.Context, m *messages.RestockReservation) {
	r, err := s.findReservation(m.GetReservationId())
	if err != nil {
		s.Refuse(ctx, m.GetCommandId(), &messages.Reservation{}, err)
		return
	}
	switch r.Status {
	case ReservationRestocked:
		ctx.Respond(s.state.reservationProto(r))
		return
	case ReservationCommitted:
	default:
		s.Refuse(ctx, m.GetCommandId(), &messages.Reservation{}, vayva.Errorf(vayva.ECONFLICT,
			"Reservation %q is %s; only committed stock can be restocked.", r.ID, r.Status))
		return
	}
	done := *r
	done.Status, done.UpdatedAt = ReservationRestocked, s.now()
	levels := make([]StockLevel, 0, len(r.Lines))
	for _, l := range r.Lines {
		// A variant deleted since keeps its stock history but not the
		// units: nothing to put back.
		if vr, ok := s.state.variants[l.VariantID]; ok {
			levels = append(levels, StockLevel{VariantID: vr.ID, OnHand: vr.OnHand + l.Quantity, Reserved: vr.Reserved})
		}
	}
	s.Apply(ctx, Commit{
		CommandID: m.GetCommandId(),
		Domain:    vayva.DomainCatalog,
		Changes: []Change{
			ReservationChange{Reservation: done},
			StockChange{StoreID: s.id, Levels: levels},
		},
	}, s.state.reservationProto(&done), func() { s.state.setStock(levels) })
}

func (s *Store) commitReservation(ctx actor.Context, m *messages.CommitReservation) {
	r, err := s.findReservation(m.GetReservationId())
	if err != nil {
		s.Refuse(ctx, m.GetCommandId(), &messages.Reservation{}, err)
		return
	}
	switch r.Status {
	case ReservationCommitted:
		ctx.Respond(s.state.reservationProto(r))
	case ReservationReleased, ReservationExpired, ReservationRestocked:
		s.Refuse(ctx, m.GetCommandId(), &messages.Reservation{}, vayva.Errorf(vayva.ECONFLICT,
			"Reservation %q was %s; its stock is no longer held.", r.ID, r.Status))
	default:
		s.finishReservation(ctx, m.GetCommandId(), r, ReservationCommitted, &messages.Reservation{})
	}
}

// finishReservation moves the active reservation r to status and gives its
// stock back (released, expired) or takes it out of the store (committed),
// cancelling its expiry reminder in the same commit. reply is the kind of
// answer: the reservation, or an Ack for a reminder.
func (s *Store) finishReservation(ctx actor.Context, commandID string, r *Reservation, status string, reply proto.Message) {
	now := s.now()
	done := *r
	done.Status, done.UpdatedAt = status, now
	levels := make([]StockLevel, 0, len(r.Lines))
	for _, l := range r.Lines {
		vr, ok := s.state.variants[l.VariantID]
		if !ok {
			s.Fail(ctx, fmt.Errorf("store: reservation %s holds unknown variant %s", r.ID, l.VariantID))
			return
		}
		level := StockLevel{VariantID: vr.ID, OnHand: vr.OnHand, Reserved: vr.Reserved - l.Quantity}
		if status == ReservationCommitted {
			level.OnHand -= l.Quantity
		}
		levels = append(levels, level)
	}
	out := reply
	if _, ok := reply.(*messages.Reservation); ok {
		out = s.state.reservationProto(&done)
	}
	s.Apply(ctx, Commit{
		CommandID: commandID,
		Domain:    vayva.DomainCatalog,
		Changes: []Change{
			ReservationChange{Reservation: done},
			StockChange{StoreID: s.id, Levels: levels},
		},
		CancelReminders: []string{reservationReminder(r.ID)},
	}, out, func() {
		delete(s.state.reservations, r.ID)
		s.state.setStock(levels)
	})
}

// reminderFired handles a due durable reminder. A reservation's reminder
// expires it if it is still active; any other reminder (left over, or of
// a reservation already finished) is cancelled so it stops firing.
func (s *Store) reminderFired(ctx actor.Context, m *messages.ReminderFired) {
	commandID := "reminder:" + m.GetName() + ":" + strconv.FormatInt(m.GetDueAtUnixMs(), 10)
	if id, ok := strings.CutPrefix(m.GetName(), reservationReminderPrefix); ok {
		if r, active := s.state.reservations[id]; active {
			s.finishReservation(ctx, commandID, r, ReservationExpired, &messages.Ack{})
			return
		}
	}
	s.Apply(ctx, Commit{
		CommandID:       commandID,
		Domain:          vayva.DomainCatalog,
		CancelReminders: []string{m.GetName()},
	}, &messages.Ack{}, nil)
}
