package actors

import (
	"context"
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors/internal/seal"
)

// Product statuses.
const (
	ProductActive   = "active"
	ProductDraft    = "draft"
	ProductArchived = "archived"
)

// Reservation statuses. Only an active reservation holds stock.
const (
	ReservationActive    = "active"
	ReservationCommitted = "committed"
	ReservationReleased  = "released"
	ReservationExpired   = "expired"
	// ReservationRestocked is a committed reservation whose stock came back
	// on hand (its order was canceled after payment).
	ReservationRestocked = "restocked"
)

// FirstOrderNumber is the number of a store's first order.
const FirstOrderNumber = 1001

// Limits of catalog fields. Lengths count characters, not bytes.
const (
	MaxTitleLength = 200
	// MaxStoreNameLength bounds a store's name.
	MaxStoreNameLength   = 100
	MaxDescriptionLength = 5000
	MaxVariants          = 100
	MaxSKULength         = 64
	MaxPrice             = 1_000_000_000_000
	MaxQuantity          = 1_000_000_000
	MaxReasonLength      = 200
	// MaxCollectionProducts bounds the products of one collection.
	MaxCollectionProducts = 1000
	// MaxReservationItems bounds the lines of one reservation.
	MaxReservationItems = 100
	// MaxReservationTTL bounds how far ahead a reservation may expire.
	MaxReservationTTL = 7 * 24 * time.Hour
	// DefaultFeeBps is the platform fee of a new store: 1.5%.
	DefaultFeeBps = 150
	// MaxFeeBps is a fee of 100%.
	MaxFeeBps = 10000
	// MaxSettingsSize bounds a store's settings object, serialised.
	MaxSettingsSize = 16 << 10
)

// Currencies are the ISO 4217 codes a store may sell in: those the payment
// provider settles.
var Currencies = []string{"NGN", "GHS", "KES", "USD", "ZAR"}

var skuPattern = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// StoreProfile is a store's identity and settings, as kept in
// merchant.stores.
type StoreProfile struct {
	ID         string
	MerchantID string
	Slug       string
	Name       string
	Currency   string
	Status     string
	// Settings is a JSON object.
	Settings json.RawMessage
	// FeeBps is the platform fee in basis points of each captured payment.
	FeeBps int32
	// WhatsAppPhoneNumberID routes that Meta phone number's messages to the
	// store; empty when none is set.
	WhatsAppPhoneNumberID string
	// Delivery is the store's delivery settings (a DeliverySettings as
	// JSON); empty when none were set.
	Delivery  json.RawMessage
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Product is a product of a store's catalog. Seq orders a store's products
// by creation.
type Product struct {
	ID          string
	StoreID     string
	Seq         int64
	Title       string
	Description string
	Status      string
	Variants    []*Variant
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Variant is a purchasable variant of a product with its stock: OnHand
// units are in the store, Reserved of them are held for orders, so
// OnHand-Reserved can still be sold. Always 0 <= Reserved <= OnHand.
type Variant struct {
	ID        string
	ProductID string
	Position  int
	SKU       string
	Title     string
	Price     int64
	OnHand    int64
	Reserved  int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Available is what can still be sold.
func (v *Variant) Available() int64 { return v.OnHand - v.Reserved }

// Collection is a named list of a store's products.
type Collection struct {
	ID         string
	StoreID    string
	Seq        int64
	Title      string
	ProductIDs []string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Reservation is stock held for an order until ExpiresAt. Its ID is the
// order's id.
type Reservation struct {
	ID      string
	StoreID string
	// OrderNumber is the store's number of the order, allocated with the
	// reservation.
	OrderNumber int64
	Status      string
	Lines       []ReservationLine
	ExpiresAt   time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// ReservationLine is the quantity of one variant a reservation holds, with
// the unit price when it was made.
type ReservationLine struct {
	VariantID string
	Quantity  int64
	UnitPrice int64
}

// StoreState is everything a store activation loads: the profile, the whole
// catalog and the active reservations.
type StoreState struct {
	Profile      StoreProfile
	Products     []*Product
	Collections  []*Collection
	Reservations []*Reservation
	// LastOrderNumber is the highest order number allocated so far.
	LastOrderNumber int64
}

// StoreRepository reads what the store actor keeps in its domain tables.
// Writes go through the Journal as Commit.Changes. Implemented by
// persistence/postgres.
type StoreRepository interface {
	// LoadStore returns the store's state, or a vayva.ENOTFOUND error when
	// there is no such store.
	LoadStore(ctx context.Context, storeID string) (*StoreState, error)
	// LoadReservation returns one reservation in any status, or a
	// vayva.ENOTFOUND error.
	LoadReservation(ctx context.Context, storeID, reservationID string) (*Reservation, error)
}

// The domain changes the store actor commits (StoreChanges).
// persistence/postgres writes each in the commit's transaction.

// IsChange marks ProfileChange as a Change.
func (ProfileChange) IsChange(seal.Token) {}

// IsChange marks ProductChange as a Change.
func (ProductChange) IsChange(seal.Token) {}

// IsChange marks StockChange as a Change.
func (StockChange) IsChange(seal.Token) {}

// IsChange marks AdjustmentRecord as a Change.
func (AdjustmentRecord) IsChange(seal.Token) {}

// IsChange marks CollectionChange as a Change.
func (CollectionChange) IsChange(seal.Token) {}

// IsChange marks ReservationChange as a Change.
func (ReservationChange) IsChange(seal.Token) {}

// ProfileChange sets a store's name, currency and settings
// (merchant.stores); it is committed in the merchant domain.
type ProfileChange struct {
	StoreID               string
	Name                  string
	Currency              string
	Settings              json.RawMessage
	FeeBps                int32
	WhatsAppPhoneNumberID string
	UpdatedAt             time.Time
}

// ProductChange inserts or updates a product and its variants. Stock of
// existing variants is not touched; new variants start with their OnHand.
type ProductChange struct {
	Product Product
}

// StockLevel is a variant's stock after a change.
type StockLevel struct {
	VariantID string
	OnHand    int64
	Reserved  int64
}

// StockChange sets the stock of variants.
type StockChange struct {
	StoreID string
	Levels  []StockLevel
}

// AdjustmentRecord logs one inventory adjustment.
type AdjustmentRecord struct {
	ID        string
	StoreID   string
	VariantID string
	Delta     int64
	Reason    string
	OnHand    int64
	Reserved  int64
	CreatedAt time.Time
}

// CollectionChange inserts a collection.
type CollectionChange struct {
	Collection Collection
}

// ReservationChange inserts a reservation with its lines, or updates the
// status of an existing one (lines never change).
type ReservationChange struct {
	Reservation Reservation
}

// validText checks a required single-line text of at most max characters
// and returns it trimmed.
func validText(v *vayva.Validation, field string, s *string, max int) string {
	if s == nil {
		v.Add(field, "is required")
		return ""
	}
	t := strings.TrimSpace(*s)
	switch {
	case t == "":
		v.Add(field, "must not be blank")
	case !utf8.ValidString(t):
		v.Add(field, "must be valid UTF-8")
	case utf8.RuneCountInString(t) > max:
		v.Add(field, "must be at most %d characters", max)
	case strings.ContainsFunc(t, isControl):
		v.Add(field, "must not contain control characters")
	}
	return t
}

// validDescription checks an optional multi-line text.
func validDescription(v *vayva.Validation, field, s string) string {
	t := strings.TrimSpace(s)
	switch {
	case !utf8.ValidString(t):
		v.Add(field, "must be valid UTF-8")
	case utf8.RuneCountInString(t) > MaxDescriptionLength:
		v.Add(field, "must be at most %d characters", MaxDescriptionLength)
	case strings.ContainsFunc(t, func(r rune) bool { return isControl(r) && r != '\n' && r != '\r' && r != '\t' }):
		v.Add(field, "must not contain control characters")
	}
	return t
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func validSKU(v *vayva.Validation, field string, s *string) string {
	if s == nil {
		v.Add(field, "is required")
		return ""
	}
	switch {
	case *s == "":
		v.Add(field, "must not be blank")
	case len(*s) > MaxSKULength:
		v.Add(field, "must be at most %d characters", MaxSKULength)
	case !skuPattern.MatchString(*s):
		v.Add(field, "may contain only letters, digits, '.', '_' and '-'")
	}
	return *s
}

func validPrice(v *vayva.Validation, field string, p *int64) int64 {
	switch {
	case p == nil:
		v.Add(field, "is required")
		return 0
	case *p < 0:
		v.Add(field, "must not be negative")
	case *p > MaxPrice:
		v.Add(field, "must be at most %d", int64(MaxPrice))
	}
	return *p
}

func validStatus(v *vayva.Validation, field string, s string) {
	if s != ProductActive && s != ProductDraft {
		v.Add(field, "must be one of active, draft")
	}
}

// ValidCurrency reports whether code is a currency a store may sell in.
func ValidCurrency(code string) bool {
	for _, c := range Currencies {
		if c == code {
			return true
		}
	}
	return false
}

// mergeSettings applies a JSON merge patch of one level to a settings
// object: each key of patch replaces the stored value, a null removes it.
func mergeSettings(v *vayva.Validation, current, patch json.RawMessage) json.RawMessage {
	var p map[string]json.RawMessage
	if err := json.Unmarshal(patch, &p); err != nil || p == nil {
		v.Add("settings", "must be a JSON object")
		return nil
	}
	m := map[string]json.RawMessage{}
	if len(current) > 0 {
		if err := json.Unmarshal(current, &m); err != nil || m == nil {
			m = map[string]json.RawMessage{}
		}
	}
	for k, val := range p {
		field := "settings." + k
		switch {
		case k == "" || utf8.RuneCountInString(k) > 64:
			v.Add("settings", "keys must be 1 to 64 characters")
			continue
		case strings.ContainsFunc(k, isControl):
			v.Add("settings", "keys must not contain control characters")
			continue
		case containsNUL(val):
			v.Add(field, "must not contain NUL characters")
			continue
		}
		if string(val) == "null" {
			delete(m, k)
			continue
		}
		m[k] = val
	}
	out, err := json.Marshal(m)
	if err != nil {
		v.Add("settings", "must be a JSON object")
		return nil
	}
	if len(out) > MaxSettingsSize {
		v.Add("settings", "must be at most %d bytes", MaxSettingsSize)
	}
	return out
}

// containsNUL reports whether a JSON value holds a NUL character anywhere,
// which PostgreSQL text and jsonb cannot store.
func containsNUL(raw json.RawMessage) bool {
	var x any
	if err := json.Unmarshal(raw, &x); err != nil {
		return true
	}
	var walk func(any) bool
	walk = func(x any) bool {
		switch t := x.(type) {
		case string:
			return strings.ContainsRune(t, 0)
		case []any:
			for _, e := range t {
				if walk(e) {
					return true
				}
			}
		case map[string]any:
			for k, e := range t {
				if strings.ContainsRune(k, 0) || walk(e) {
					return true
				}
			}
		}
		return false
	}
	return walk(x)
}

// pageLimit checks a page size, 0 meaning the default; the bounds are the
// API's (vayva.DefaultPageLimit, vayva.MaxPageLimit).
func pageLimit(v *vayva.Validation, limit int32) int {
	switch {
	case limit == 0:
		return vayva.DefaultPageLimit
	case limit < 0 || limit > vayva.MaxPageLimit:
		v.Add("limit", "must be between 1 and %d", vayva.MaxPageLimit)
		return vayva.DefaultPageLimit
	}
	return int(limit)
}

// Lists of the store's catalog are ordered by Seq. Their cursors are the
// API's one format (vayva.EncodeCursor) over the Seq and id of the last
// item of the previous page; the id's prefix ("prod", "col") tells the
// lists apart, so a cursor of one list is refused by another.

func encodeCursor(seq int64, id string) string {
	return vayva.EncodeCursor(seq, id)
}

// decodeCursor returns the Seq a cursor of the list whose ids carry
// idPrefix points after, 0 for the first page. A cursor of another form
// or list is recorded in v as the API's refusal.
func decodeCursor(v *vayva.Validation, idPrefix string, cursor string) int64 {
	seq, id, err := vayva.DecodeCursor(cursor)
	switch {
	case cursor == "":
		return 0
	case err != nil || seq <= 0 || !strings.HasPrefix(id, idPrefix+"_"):
		v.Add("cursor", vayva.BadCursorMessage)
		return 0
	}
	return seq
}

// sortProducts orders products by Seq, the order the catalog keeps them in.
func sortProducts(ps []*Product) {
	sort.Slice(ps, func(i, j int) bool { return ps[i].Seq < ps[j].Seq })
}

func sortCollections(cs []*Collection) {
	sort.Slice(cs, func(i, j int) bool { return cs[i].Seq < cs[j].Seq })
}
