package actors

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/vayvahq/vayva"
)

// Delivery providers a rule may name.
const ProviderKwik = "kwik"

// Shipping methods of an order.
const (
	ShippingDelivery = "delivery"
	ShippingPickup   = "pickup"
)

// Delivery statuses: a booking's own lifecycle. pending is recorded when
// the booking is queued; the provider's answers move it on.
const (
	DeliveryPending   = "pending"
	DeliveryBooked    = "booked"
	DeliveryPickedUp  = "picked_up"
	DeliveryInTransit = "in_transit"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
	DeliveryCanceled  = "canceled"
)

// Event types of deliveries: delivery.updated goes to merchant webhooks;
// delivery.book and delivery.cancel are the jobs of the delivery queue.
const (
	EventDeliveryUpdated = "delivery.updated"
	EventDeliveryBook    = "delivery.book"
	EventDeliveryCancel  = "delivery.cancel"
)

// Bounds of delivery settings.
const (
	MaxDeliveryRules = 50
	MaxDeliveryFee   = 100_000_000_00 // 100 million in major units
	maxSettingsText  = 200
)

// PickupAddress is where a store's parcels are collected. Latitude and
// Longitude are optional: the provider needs coordinates, and without them
// the state capital's are used.
type PickupAddress struct {
	Address   `json:",inline"`
	Latitude  *float64 `json:"latitude,omitempty"`
	Longitude *float64 `json:"longitude,omitempty"`
}

// DeliveryRule says which provider delivers to which states, at a flat fee
// or (Fee nil) at the provider's quote.
type DeliveryRule struct {
	States   []string `json:"states"`
	Provider string   `json:"provider"`
	Fee      *int64   `json:"fee,omitempty"`
}

// DeliverySettings are a store's delivery settings.
type DeliverySettings struct {
	PickupAddress PickupAddress  `json:"pickup_address"`
	AutoBook      bool           `json:"auto_book"`
	Rules         []DeliveryRule `json:"rules"`
}

// ParseDeliverySettings decodes and validates delivery settings for a store
// whose prices are in currency. States are stored by their canonical name
// and countries as ISO 3166 codes; errors name the field.
func ParseDeliverySettings(b []byte, currency string) (DeliverySettings, error) {
	var s DeliverySettings
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return DeliverySettings{}, vayva.Errorf(vayva.EINVALID, "The delivery settings are not a valid JSON object of the documented fields.")
	}
	var v vayva.Validation
	p := &s.PickupAddress
	for _, f := range []struct {
		name string
		val  *string
	}{{"name", &p.Name}, {"line1", &p.Line1}, {"city", &p.City}, {"phone", &p.Phone}} {
		*f.val = strings.TrimSpace(*f.val)
		v.Check(*f.val != "" && len(*f.val) <= maxSettingsText && !strings.ContainsFunc(*f.val, isControl),
			"pickup_address."+f.name, "is required (at most %d characters of text)", maxSettingsText)
	}
	if st, ok := CanonicalState(p.State); ok {
		p.State = st
	} else {
		v.Add("pickup_address.state", "must be a Nigerian state (or FCT)")
	}
	if c, ok := nigeria(p.Country); ok {
		p.Country = c
	} else {
		v.Add("pickup_address.country", "must be NG: the delivery providers serve Nigeria")
	}
	if (p.Latitude == nil) != (p.Longitude == nil) {
		v.Add("pickup_address.latitude", "and longitude are given together or not at all")
	} else if p.Latitude != nil && !validCoordinates(*p.Latitude, *p.Longitude) {
		v.Add("pickup_address.latitude", "and longitude must be valid coordinates")
	}
	v.Check(len(s.Rules) <= MaxDeliveryRules, "rules", "may hold at most %d rules", MaxDeliveryRules)
	seen := map[string]int{}
	for i, r := range s.Rules {
		field := fmt.Sprintf("rules[%d]", i)
		v.Check(r.Provider == ProviderKwik, field+".provider", "must be %q", ProviderKwik)
		if r.Provider == ProviderKwik && currency != "NGN" {
			v.Add(field+".provider", "delivers in NGN; this store's currency is %s", currency)
		}
		if r.Fee != nil && (*r.Fee < 0 || *r.Fee > MaxDeliveryFee) {
			v.Add(field+".fee", "must be between 0 and %d minor units, or absent for the provider's quote", int64(MaxDeliveryFee))
		}
		v.Check(len(r.States) > 0, field+".states", "must name at least one state")
		for j, name := range r.States {
			sf := fmt.Sprintf("%s.states[%d]", field, j)
			st, ok := CanonicalState(name)
			switch prev, dup := seen[st]; {
			case !ok:
				v.Add(sf, "must be a Nigerian state (or FCT)")
			case dup:
				v.Add(sf, "is covered by rules[%d] already", prev)
			default:
				seen[st] = i
				s.Rules[i].States[j] = st
			}
		}
	}
	if err := v.Err(); err != nil {
		return DeliverySettings{}, err
	}
	if s.Rules == nil {
		s.Rules = []DeliveryRule{}
	}
	return s, nil
}

func validCoordinates(lat, lon float64) bool {
	return lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180 && !(lat == 0 && lon == 0)
}

// nigeria normalises a country naming Nigeria to its ISO code.
func nigeria(country string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(country)) {
	case "ng", "nga", "nigeria":
		return "NG", true
	}
	return "", false
}

// Match returns the rule whose states cover state; ok is false when none
// does (the order is then picked up).
func (s *DeliverySettings) Match(state, country string) (DeliveryRule, bool) {
	st, ok := CanonicalState(state)
	if _, ng := nigeria(country); !ok || !ng {
		return DeliveryRule{}, false
	}
	for _, r := range s.Rules {
		for _, rs := range r.States {
			if rs == st {
				return r, true
			}
		}
	}
	return DeliveryRule{}, false
}

// Shipping is how an order reaches its customer, decided at checkout.
type Shipping struct {
	Method   string         `json:"method"`
	Provider string         `json:"provider,omitempty"`
	Fee      int64          `json:"fee"`
	Quoted   bool           `json:"quoted,omitempty"`
	AutoBook bool           `json:"auto_book,omitempty"`
	Pickup   *PickupAddress `json:"pickup,omitempty"`
}

// Delivery is one booking of an order with a delivery provider.
type Delivery struct {
	ID                string
	OrderID           string
	Seq               int
	Provider          string
	ProviderReference string
	Status            string
	ProviderStatus    string
	Fee               int64
	Currency          string
	TrackingURL       string
	FailureReason     string
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// DeliveryID is the id of an order's seq-th booking. It is what the
// provider gets as its idempotency reference, so every retry of one
// booking names the same delivery.
func DeliveryID(orderID string, seq int) string {
	return vayva.DerivedID("dlv", fmt.Sprintf("%s:%d", orderID, seq))
}

// DeliveryStop is a pickup or drop-off point of a delivery job.
type DeliveryStop struct {
	Name      string  `json:"name"`
	Address   string  `json:"address"`
	State     string  `json:"state"`
	Phone     string  `json:"phone"`
	Email     string  `json:"email,omitempty"`
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
}

// DeliveryJob is the data of a delivery.book or delivery.cancel job: all
// the worker needs to talk to the provider.
type DeliveryJob struct {
	OrderID           string       `json:"order_id"`
	DeliveryID        string       `json:"delivery_id"`
	Provider          string       `json:"provider"`
	ProviderReference string       `json:"provider_reference,omitempty"`
	Pickup            DeliveryStop `json:"pickup"`
	Dropoff           DeliveryStop `json:"dropoff"`
	Fee               int64        `json:"fee"`
	Currency          string       `json:"currency"`
}

// PickupStop is the provider's view of a pickup address.
func PickupStop(p PickupAddress) DeliveryStop {
	s := DeliveryStop{Name: p.Name, Address: joinAddress(p.Line1, p.City, p.State, p.Country), State: p.State, Phone: p.Phone}
	if p.Latitude != nil && p.Longitude != nil {
		s.Latitude, s.Longitude = *p.Latitude, *p.Longitude
	} else {
		s.Latitude, s.Longitude, _ = StateCoordinates(p.State)
	}
	return s
}

// DropoffStop is the provider's view of an order's shipping address.
func DropoffStop(a Address, c Customer) DeliveryStop {
	st, _ := CanonicalState(a.State)
	s := DeliveryStop{Name: firstOf(a.Name, c.Name), Address: joinAddress(a.Line1, a.City, a.State, a.Country), State: st,
		Phone: firstOf(a.Phone, c.Phone), Email: c.Email}
	s.Latitude, s.Longitude, _ = StateCoordinates(st)
	return s
}

func joinAddress(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ", ")
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// nigerianStates are Nigeria's 36 states and the Federal Capital
// Territory, each with its capital's coordinates: the providers price and
// route by coordinates, and without a geocoder an address is placed at its
// state's capital.
var nigerianStates = map[string][2]float64{
	"Abia": {5.5250, 7.4947}, "Adamawa": {9.2035, 12.4954}, "Akwa Ibom": {5.0377, 7.9128}, "Anambra": {6.2120, 7.0720},
	"Bauchi": {10.3158, 9.8442}, "Bayelsa": {4.9267, 6.2676}, "Benue": {7.7322, 8.5391}, "Borno": {11.8311, 13.1510},
	"Cross River": {4.9757, 8.3417}, "Delta": {6.1980, 6.7319}, "Ebonyi": {6.3249, 8.1137}, "Edo": {6.3350, 5.6037},
	"Ekiti": {7.6211, 5.2215}, "Enugu": {6.4584, 7.5464}, "FCT": {9.0765, 7.3986}, "Gombe": {10.2897, 11.1673},
	"Imo": {5.4840, 7.0351}, "Jigawa": {11.7564, 9.3389}, "Kaduna": {10.5105, 7.4165}, "Kano": {12.0022, 8.5920},
	"Katsina": {12.9908, 7.6018}, "Kebbi": {12.4539, 4.1975}, "Kogi": {7.8023, 6.7333}, "Kwara": {8.4966, 4.5421},
	"Lagos": {6.6018, 3.3515}, "Nasarawa": {8.4939, 8.5153}, "Niger": {9.5836, 6.5463}, "Ogun": {7.1475, 3.3619},
	"Ondo": {7.2571, 5.2058}, "Osun": {7.7827, 4.5418}, "Oyo": {7.3775, 3.9470}, "Plateau": {9.8965, 8.8583},
	"Rivers": {4.8156, 7.0498}, "Sokoto": {13.0059, 5.2476}, "Taraba": {8.8937, 11.3596}, "Yobe": {11.7470, 11.9608},
	"Zamfara": {12.1628, 6.6641},
}

// stateByKey finds a state by its name lowercased without spaces, hyphens
// or a trailing "state".
var stateByKey = func() map[string]string {
	m := map[string]string{"abuja": "FCT", "federalcapitalterritory": "FCT", "nassarawa": "Nasarawa"}
	for name := range nigerianStates {
		m[stateKey(name)] = name
	}
	return m
}()

func stateKey(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimSuffix(s, " state")
	return strings.NewReplacer(" ", "", "-", "", ".", "").Replace(s)
}

// CanonicalState returns the canonical name of a Nigerian state written
// loosely ("lagos", "Lagos State", "Akwa-Ibom", "Abuja").
func CanonicalState(s string) (string, bool) {
	if len(s) > maxSettingsText {
		return "", false
	}
	name, ok := stateByKey[stateKey(s)]
	return name, ok
}

// StateCoordinates returns the coordinates of a state's capital.
func StateCoordinates(state string) (lat, lon float64, ok bool) {
	c, ok := nigerianStates[state]
	return c[0], c[1], ok
}
