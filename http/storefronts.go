package http

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/messages"
)

// StoreFences reads an actor's fence, the epoch and version of its row in
// runtime.actors: the name of its newest committed state. Zero for an
// identity never activated. Implemented by *postgres.DB.
type StoreFences interface {
	ActorFence(ctx context.Context, kind, identity string) (epoch, version int64, err error)
}

// DefaultStorefrontStaleness is how old a storefront answer may be on a
// member that does not host the store (VAYVA_STOREFRONT_STALENESS).
const DefaultStorefrontStaleness = time.Second

// DefaultStorefrontMaxAge is the max-age of storefront answers' Cache-Control
// (VAYVA_STOREFRONT_MAX_AGE).
const DefaultStorefrontMaxAge = 5 * time.Second

// StorefrontsConfig configures Storefronts. Zero values take the defaults.
type StorefrontsConfig struct {
	// Staleness bounds how old a served snapshot may be: a snapshot is
	// served only while the last instant it was known to be the store's
	// newest committed state is at most Staleness ago. Defaults to
	// DefaultStorefrontStaleness; negative checks on every request.
	Staleness time.Duration
	// MaxAge is the Cache-Control max-age of storefront answers; defaults
	// to DefaultStorefrontMaxAge, negative sends "no-cache" (revalidate
	// every time).
	MaxAge time.Duration
	// Fences reads the stores' fences; nil trusts the store actor's answer
	// (tests of the edge alone).
	Fences StoreFences
	// MaxEntries bounds the stores kept; when full the cache starts over.
	// Defaults to 100000.
	MaxEntries int
	// Registerer takes the refresh counter; nil registers none.
	Registerer prometheus.Registerer
}

// Storefronts holds, on one member, the newest storefront snapshot it has
// of each store (actors.Storefront) and serves storefront reads from it.
// The store actors running on this member publish theirs after every
// commit, before the command is answered, so a member that hosts a store
// reads its own writes. Any other snapshot is served only within the
// staleness bound of the last instant it was known to be the store's
// newest committed state; past it, the first request reads the store's
// fence from runtime.actors (one indexed row) and, if the fence moved,
// fetches a new snapshot from the store actor, telling it the fence so a
// superseded activation cannot answer. Requests for the same store meanwhile
// wait for that one refresh. It implements actors.StorefrontPublisher.
type Storefronts struct {
	cfg               StorefrontsConfig
	cacheControl      string
	cacheControlBytes []byte
	refreshes         *prometheus.CounterVec

	mu      sync.RWMutex
	entries map[string]*storefrontEntry
}

type storefrontEntry struct {
	cur atomic.Pointer[verified]
	// refresh serialises the refreshes of one store.
	refresh sync.Mutex
}

// verified is a snapshot and the last instant it was known to be its
// store's newest committed state.
type verified struct {
	sf *actors.Storefront
	at time.Time
}

var _ actors.StorefrontPublisher = (*Storefronts)(nil)

// NewStorefronts returns an empty cache.
func NewStorefronts(cfg StorefrontsConfig) *Storefronts {
	if cfg.Staleness == 0 {
		cfg.Staleness = DefaultStorefrontStaleness
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = DefaultStorefrontMaxAge
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 100000
	}
	s := &Storefronts{cfg: cfg, entries: map[string]*storefrontEntry{}, cacheControl: "public, no-cache"}
	if cfg.MaxAge > 0 {
		s.cacheControl = "public, max-age=" + strconv.Itoa(int(cfg.MaxAge/time.Second))
	}
	s.cacheControlBytes = []byte(s.cacheControl)
	s.refreshes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vayva_storefront_refreshes_total",
		Help: "Storefront snapshots past their staleness bound, by outcome: current (the fence had not moved), fetched (a newer snapshot came from the store actor), error.",
	}, []string{"outcome"})
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(s.refreshes)
	}
	return s
}

// CacheControl is the Cache-Control of storefront answers.
func (s *Storefronts) CacheControl() string { return s.cacheControl }

func (s *Storefronts) entry(storeID string) *storefrontEntry {
	s.mu.RLock()
	e := s.entries[storeID]
	s.mu.RUnlock()
	if e != nil {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e = s.entries[storeID]; e == nil {
		if len(s.entries) >= s.cfg.MaxEntries {
			s.entries = map[string]*storefrontEntry{}
		}
		e = &storefrontEntry{}
		s.entries[storeID] = e
	}
	return e
}

// PublishStorefront installs a snapshot a store actor of this member
// published, unless a newer one is installed already.
func (s *Storefronts) PublishStorefront(sf *actors.Storefront, verifiedAt time.Time) {
	s.entry(sf.StoreID).install(sf, verifiedAt)
}

// install makes sf current when it is newer than the installed snapshot;
// the same state only moves the verification forward (and keeps the
// installed snapshot, with what was derived from it). It returns what is
// installed afterwards.
func (e *storefrontEntry) install(sf *actors.Storefront, at time.Time) *verified {
	for {
		cur := e.cur.Load()
		next := &verified{sf: sf, at: at}
		if cur != nil {
			switch {
			case cur.sf.After(sf.Epoch, sf.Version):
				return cur
			case !sf.After(cur.sf.Epoch, cur.sf.Version):
				if !at.After(cur.at) {
					return cur
				}
				next.sf = cur.sf
			}
		}
		if e.cur.CompareAndSwap(cur, next) {
			return next
		}
	}
}

// fetchStorefront asks the store actor for its snapshot, at least as new as
// the fence epoch/version.
type fetchStorefront func(ctx context.Context, storeID string, epoch, version int64) (*messages.StorefrontSnapshot, error)

// Get returns a snapshot of the store that was its newest committed state
// at most the staleness bound ago, refreshing it through fetch when needed.
func (s *Storefronts) Get(ctx context.Context, storeID string, fetch fetchStorefront) (*actors.Storefront, error) {
	e := s.entry(storeID)
	asked := time.Now()
	if v := e.cur.Load(); v != nil && s.fresh(v, asked) {
		return v.sf, nil
	}
	e.refresh.Lock()
	defer e.refresh.Unlock()
	// Another request may have refreshed it while this one waited.
	if v := e.cur.Load(); v != nil && s.fresh(v, asked) {
		return v.sf, nil
	}
	return s.refresh(ctx, e, storeID, fetch)
}

// fresh reports whether v may answer a request made at asked.
func (s *Storefronts) fresh(v *verified, asked time.Time) bool {
	if s.cfg.Staleness < 0 {
		return !v.at.Before(asked)
	}
	return asked.Sub(v.at) <= s.cfg.Staleness
}

func (s *Storefronts) refresh(ctx context.Context, e *storefrontEntry, storeID string, fetch fetchStorefront) (*actors.Storefront, error) {
	start := time.Now()
	cur := e.cur.Load()
	var epoch, version int64
	if s.cfg.Fences != nil {
		var err error
		epoch, version, err = s.cfg.Fences.ActorFence(ctx, actors.StoreKind, storeID)
		if err != nil {
			// Without the fence the store actor's memory is the best
			// answer: while the database cannot be read, no commit can
			// change the store either.
			epoch, version = 0, 0
		} else if cur != nil && cur.sf.Epoch == epoch && cur.sf.Version == version {
			s.refreshes.WithLabelValues("current").Inc()
			return e.install(cur.sf, start).sf, nil
		}
	}
	m, err := fetch(ctx, storeID, epoch, version)
	if err != nil {
		s.refreshes.WithLabelValues("error").Inc()
		return nil, err
	}
	s.refreshes.WithLabelValues("fetched").Inc()
	return e.install(actors.StorefrontFromProto(m), start).sf, nil
}
