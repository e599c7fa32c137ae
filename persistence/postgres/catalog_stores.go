package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vayvahq/vayva"
)

// StoreDirectoryConfig configures a StoreDirectory. Zero values take the
// defaults.
type StoreDirectoryConfig struct {
	// TTL is how long a slug's store id is served from memory before it is
	// read again. Defaults to 1 minute.
	TTL time.Duration
	// MaxEntries bounds the cache; when it is full the cache starts over.
	// Defaults to 100000.
	MaxEntries int
}

// StoreDirectory is the read model that maps a store's public slug to its
// id (merchant.stores), cached in memory. Only slugs that exist are cached,
// so a store is found as soon as it has been created, and unknown slugs
// cannot fill the cache.
type StoreDirectory struct {
	db  *DB
	cfg StoreDirectoryConfig
	now func() time.Time

	mu      sync.RWMutex
	entries map[string]directoryEntry
}

type directoryEntry struct {
	storeID string
	expires time.Time
}

// NewStoreDirectory returns a directory reading db.
func NewStoreDirectory(db *DB, cfg StoreDirectoryConfig) *StoreDirectory {
	if cfg.TTL <= 0 {
		cfg.TTL = time.Minute
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 100000
	}
	return &StoreDirectory{db: db, cfg: cfg, now: time.Now, entries: map[string]directoryEntry{}}
}

// maxSlugLength bounds the slugs worth looking up.
const maxSlugLength = 100

// plausibleSlug reports whether s could be a store slug (lower-case
// letters, digits and '-'), so that anything else is not found without a
// query.
func plausibleSlug(s string) bool {
	if s == "" || len(s) > maxSlugLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// StoreIDBySlug returns the id of the store with the slug, or a
// vayva.ENOTFOUND error.
func (d *StoreDirectory) StoreIDBySlug(ctx context.Context, slug string) (string, error) {
	if !plausibleSlug(slug) {
		return "", vayva.Errorf(vayva.ENOTFOUND, "No store %q.", slug)
	}
	now := d.now()
	d.mu.RLock()
	e, ok := d.entries[slug]
	d.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e.storeID, nil
	}
	var id string
	err := d.db.pool.QueryRow(ctx, `SELECT id FROM merchant.stores WHERE slug = $1`, slug).Scan(&id)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		d.mu.Lock()
		delete(d.entries, slug)
		d.mu.Unlock()
		return "", vayva.Errorf(vayva.ENOTFOUND, "No store %q.", slug)
	case err != nil:
		return "", fmt.Errorf("postgres: store by slug: %w", interpretError(err))
	}
	d.mu.Lock()
	if len(d.entries) >= d.cfg.MaxEntries {
		d.entries = map[string]directoryEntry{}
	}
	d.entries[slug] = directoryEntry{storeID: id, expires: now.Add(d.cfg.TTL)}
	d.mu.Unlock()
	return id, nil
}
