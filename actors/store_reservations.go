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

func (s *Store) reserveItems(ctx actor.Context, m *messages.ReserveItems) {
	var v vayva.Validation
	id := m.GetReservationId()
	switch {
	case id == "":
		v.Add("reservation_id", "is required")
	case len(id) > maxReservationIDLength || !utf8.ValidString(id) || strings.ContainsFunc(id, isControl):
		v.Add("reservation_id", "must be at most %d printable characters", maxReservationIDLength)
	}
	now := s.now()
	expires := time.UnixMilli(m.GetExpiresAtUnixMs()).UTC()
	switch {
	case m.GetExpiresAtUnixMs() == 0:
		v.Add("expires_at", "is required")
	case !expires.After(now):
		v.Add("expires_at", "must be in the future")
	case expires.Sub(now) > MaxReservationTTL:
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
	// Lines in the order of first mention; a variant named twice is
	// reserved once with the quantities added up.
	var lines []ReservationLine
	index := map[string]int{}
	first := map[string]int{}
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
		vr, ok := s.state.variants[vid]
		switch {
		case vid == "":
			v.Add(f("variant_id"), "is required")
			continue
		case !ok:
			v.Add(f("variant_id"), "is not a variant of this store")
			continue
		case s.state.variantProduct[vid].Status != ProductActive:
			v.Add(f("variant_id"), "is not for sale")
			continue
		}
		if j, ok := index[vid]; ok {
			lines[j].Quantity += q
			if lines[j].Quantity > MaxQuantity {
				v.Add(f("quantity"), "adds up to more than %d for this variant", int64(MaxQuantity))
			}
			continue
		}
		index[vid], first[vid] = len(lines), i
		lines = append(lines, ReservationLine{VariantID: vid, Quantity: q, UnitPrice: vr.Price})
	}
	if err := v.Err(); err != nil {
		s.refuse(ctx, m.GetCommandId(), &messages.Reservation{}, err)
		return
	}

	// The reservation id is the order's: asking again answers with what
	// was reserved, and never reserves twice.
	existing, err := s.findReservation(id)
	switch {
	case err == nil:
		if !sameLines(existing.Lines, lines) {
			s.refuse(ctx, m.GetCommandId(), &messages.Reservation{}, vayva.Errorf(vayva.ECONFLICT,
				"Reservation %q already exists with other items.", id))
			return
		}
		ctx.Respond(s.state.reservationProto(existing))
		return
	case vayva.ErrorCode(err) != vayva.ENOTFOUND:
		s.Refuse(ctx, err)
		return
	}

	var short []vayva.FieldError
	levels := make([]StockLevel, 0, len(lines))
	for _, l := range lines {
		vr := s.state.variants[l.VariantID]
		if vr.Available() < l.Quantity {
			short = append(short, vayva.FieldError{
				Field:   fmt.Sprintf("items[%d].quantity", first[l.VariantID]),
				Message: fmt.Sprintf("only %d of variant %s available", max(vr.Available(), 0), vr.ID),
			})
			continue
		}
		levels = append(levels, StockLevel{VariantID: vr.ID, OnHand: vr.OnHand, Reserved: vr.Reserved + l.Quantity})
	}
	if len(short) > 0 {
		vid := lines[0].VariantID
		for _, l := range lines {
			if s.state.variants[l.VariantID].Available() < l.Quantity {
				vid = l.VariantID
				break
			}
		}
		s.refuse(ctx, m.GetCommandId(), &messages.Reservation{}, &vayva.Error{Code: vayva.EINSUFFICIENTSTOCK,
			Message: fmt.Sprintf("Not enough stock of variant %s.", vid), Fields: short})
		return
	}
	r := &Reservation{ID: id, StoreID: s.id, Status: ReservationActive, Lines: lines,
		ExpiresAt: expires, CreatedAt: now, UpdatedAt: now}
	s.commit(ctx, Commit{
		CommandID: m.GetCommandId(),
		Domain:    vayva.DomainCatalog,
		Changes: []any{
			ReservationChange{Reservation: *r},
			StockChange{StoreID: s.id, Levels: levels},
		},
		SetReminders: []vayva.Reminder{{Name: reservationReminder(id), DueAt: expires, Payload: []byte(id)}},
	}, s.state.reservationProto(r), func() {
		s.state.reservations[id] = r
		s.state.setStock(levels)
	})
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
		s.Log.Error().Err(err).Str("reservation", id).Msg("load reservation")
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
		s.refuse(ctx, m.GetCommandId(), &messages.Reservation{}, err)
		return
	}
	switch r.Status {
	case ReservationReleased, ReservationExpired:
		ctx.Respond(s.state.reservationProto(r))
	case ReservationCommitted:
		s.refuse(ctx, m.GetCommandId(), &messages.Reservation{}, vayva.Errorf(vayva.ECONFLICT,
			"Reservation %q was committed; its stock has left the store.", r.ID))
	default:
		s.finishReservation(ctx, m.GetCommandId(), r, ReservationReleased, &messages.Reservation{})
	}
}

func (s *Store) commitReservation(ctx actor.Context, m *messages.CommitReservation) {
	r, err := s.findReservation(m.GetReservationId())
	if err != nil {
		s.refuse(ctx, m.GetCommandId(), &messages.Reservation{}, err)
		return
	}
	switch r.Status {
	case ReservationCommitted:
		ctx.Respond(s.state.reservationProto(r))
	case ReservationReleased, ReservationExpired:
		s.refuse(ctx, m.GetCommandId(), &messages.Reservation{}, vayva.Errorf(vayva.ECONFLICT,
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
			s.Refuse(ctx, fmt.Errorf("store: reservation %s holds unknown variant %s", r.ID, l.VariantID))
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
	s.commit(ctx, Commit{
		CommandID: commandID,
		Domain:    vayva.DomainCatalog,
		Changes: []any{
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
	s.commit(ctx, Commit{
		CommandID:       commandID,
		Domain:          vayva.DomainCatalog,
		CancelReminders: []string{m.GetName()},
	}, &messages.Ack{}, nil)
}
