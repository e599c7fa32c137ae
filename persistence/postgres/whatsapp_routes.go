package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vayvahq/vayva"
)

// WhatsAppRoute is the store a WhatsApp business number belongs to, with
// what the conversation pipeline needs to route its messages.
type WhatsAppRoute struct {
	StoreID    string
	MerchantID string
	// Settings is the store's settings object (it holds the agent rules).
	Settings json.RawMessage
}

// WhatsAppRoutesConfig configures WhatsAppRoutes. Zero values take the
// defaults.
type WhatsAppRoutesConfig struct {
	// TTL is how long a number's store is served from memory. Defaults to
	// 30s: a number moved to another store routes there within that time,
	// at once when the old store's actor refuses a message and Forget is
	// called.
	TTL time.Duration
	// MaxEntries bounds the cache; when it is full it starts over.
	// Defaults to 100000.
	MaxEntries int
}

// WhatsAppRoutes maps a Meta phone number id to its store
// (merchant.stores.whatsapp_phone_number_id), cached briefly per node.
// Only numbers that belong to a store are cached, so a number is routed as
// soon as a store sets it and unknown numbers cannot fill the cache.
type WhatsAppRoutes struct {
	db  *DB
	cfg WhatsAppRoutesConfig
	now func() time.Time

	mu      sync.RWMutex
	entries map[string]routeEntry
}

type routeEntry struct {
	route   WhatsAppRoute
	expires time.Time
}

// NewWhatsAppRoutes returns the routes read model over db.
func NewWhatsAppRoutes(db *DB, cfg WhatsAppRoutesConfig) *WhatsAppRoutes {
	if cfg.TTL <= 0 {
		cfg.TTL = 30 * time.Second
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 100000
	}
	return &WhatsAppRoutes{db: db, cfg: cfg, now: time.Now, entries: map[string]routeEntry{}}
}

// StoreByPhoneNumberID returns the store of the number, or a
// vayva.ENOTFOUND error when no store uses it.
func (r *WhatsAppRoutes) StoreByPhoneNumberID(ctx context.Context, phoneNumberID string) (WhatsAppRoute, error) {
	if !digits(phoneNumberID, 32) {
		return WhatsAppRoute{}, vayva.Errorf(vayva.ENOTFOUND, "No store uses WhatsApp number %.40q.", phoneNumberID)
	}
	now := r.now()
	r.mu.RLock()
	e, ok := r.entries[phoneNumberID]
	r.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e.route, nil
	}
	var rt WhatsAppRoute
	var settings []byte
	err := r.db.pool.QueryRow(ctx, `SELECT id, merchant_id, settings FROM merchant.stores WHERE whatsapp_phone_number_id = $1`,
		phoneNumberID).Scan(&rt.StoreID, &rt.MerchantID, &settings)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		r.Forget(phoneNumberID)
		return WhatsAppRoute{}, vayva.Errorf(vayva.ENOTFOUND, "No store uses WhatsApp number %s.", phoneNumberID)
	case err != nil:
		return WhatsAppRoute{}, fmt.Errorf("postgres: store by whatsapp number: %w", interpretError(err))
	}
	rt.Settings = settings
	r.mu.Lock()
	if len(r.entries) >= r.cfg.MaxEntries {
		r.entries = map[string]routeEntry{}
	}
	r.entries[phoneNumberID] = routeEntry{route: rt, expires: now.Add(r.cfg.TTL)}
	r.mu.Unlock()
	return rt, nil
}

// Forget drops the cached store of a number, so the next lookup reads it.
func (r *WhatsAppRoutes) Forget(phoneNumberID string) {
	r.mu.Lock()
	delete(r.entries, phoneNumberID)
	r.mu.Unlock()
}

func digits(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
