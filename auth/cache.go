package auth

import (
	"sync"
	"time"

	"github.com/vayvahq/vayva"
)

// tokenCache keeps resolved bearer tokens in process so that most requests
// authenticate without a database round trip, without ever letting a
// revoked credential through.
//
// Revocations are counted by a cluster-wide generation (see Revocations):
// a revoking node commits to the database, then increments the generation
// and publishes the revocation with its new value in one atomic step, and
// only then answers its client. Every node applies published revocations in
// generation order and remembers the last one it applied. A request first
// reads the current generation; the cache may answer it only when this node
// has applied every revocation up to that generation. Otherwise (a message
// still in flight, a subscription lost) the request goes to the database.
// An entry is inserted only if no revocation was applied while its database
// lookup ran, so a lookup that raced with a revocation cannot plant a stale
// entry. Entries also expire after a TTL, as a bound on any flaw in the
// above, and when the credential itself expires.
//
// Lock order: c.mu only; no callback runs under it.
type tokenCache struct {
	ttl time.Duration
	max int
	// lagLimit is how long this node may trail the cluster's generation
	// before it gives up waiting for the missing messages, drops every entry
	// and catches up.
	lagLimit time.Duration
	now      func() time.Time

	mu      sync.Mutex
	entries map[TokenHash]cacheEntry
	// byCred indexes entries by credential id, for revocations of one
	// credential.
	byCred  map[string]TokenHash
	synced  bool
	applied int64
	// epoch changes whenever entries are dropped or the applied generation
	// moves; an insertion carries the epoch seen before its lookup.
	epoch    uint64
	lagSince time.Time
}

type cacheEntry struct {
	tenant    vayva.Tenant
	expiresAt time.Time // of the credential; zero if it does not expire
	cachedAt  time.Time
}

// cacheTicket is what a lookup that missed needs to insert its result.
type cacheTicket struct {
	epoch uint64
	ok    bool
}

func newTokenCache(ttl time.Duration, max int) *tokenCache {
	return &tokenCache{ttl: ttl, max: max, lagLimit: time.Second, now: time.Now,
		entries: map[TokenHash]cacheEntry{}, byCred: map[string]TokenHash{}}
}

// get answers a lookup of h at cluster generation gen. It returns the
// tenant on a hit; on a miss, a ticket that allows inserting the result of
// the database lookup that follows.
func (c *tokenCache) get(h TokenHash, gen int64) (vayva.Tenant, bool, cacheTicket) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.synced {
		return vayva.Tenant{}, false, cacheTicket{}
	}
	switch {
	case gen < c.applied:
		// The generation went back: the Redis that counts it lost its data.
		// Nothing this node applied says anything about the new count.
		c.resetLocked(gen)
	case gen > c.applied:
		if c.lagSince.IsZero() {
			c.lagSince = now
		}
		if now.Sub(c.lagSince) < c.lagLimit {
			return vayva.Tenant{}, false, cacheTicket{}
		}
		// Messages were lost without the subscription noticing. Every
		// revocation up to gen is committed, so forgetting all entries
		// makes the cache consistent with gen.
		c.resetLocked(gen)
	}
	c.lagSince = time.Time{}
	e, ok := c.entries[h]
	if ok && (now.Sub(e.cachedAt) >= c.ttl || (!e.expiresAt.IsZero() && !now.Before(e.expiresAt))) {
		c.deleteLocked(h, e)
		ok = false
	}
	if ok {
		return e.tenant, true, cacheTicket{}
	}
	return vayva.Tenant{}, false, cacheTicket{epoch: c.epoch, ok: true}
}

// put inserts the result of a lookup made with ticket t, unless a
// revocation was applied since the ticket was issued.
func (c *tokenCache) put(t cacheTicket, h TokenHash, tenant vayva.Tenant, expiresAt time.Time) {
	if !t.ok {
		return
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.synced || c.epoch != t.epoch {
		return
	}
	if len(c.entries) >= c.max {
		// Full: drop an arbitrary entry (map order is random).
		for k, e := range c.entries {
			c.deleteLocked(k, e)
			break
		}
	}
	if old, ok := c.entries[h]; ok {
		c.deleteLocked(h, old)
	}
	c.entries[h] = cacheEntry{tenant: tenant, expiresAt: expiresAt, cachedAt: now}
	c.byCred[tenant.CredentialID] = h
}

// Revoked applies revocation r, published as generation gen.
func (c *tokenCache) Revoked(gen int64, r Revocation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evictLocked(r)
	c.epoch++
	if gen > c.applied {
		c.applied = gen
	}
}

// Synced records that the subscription to revocations is (again) in place
// and that gen revocations had been published when it was. Messages sent
// while it was not may be lost, so every entry goes.
func (c *tokenCache) Synced(gen int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resetLocked(gen)
	c.synced = true
}

// Lost records that the subscription broke: until it is back, nothing is
// served from or added to the cache.
func (c *tokenCache) Lost() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.synced = false
	c.resetLocked(c.applied)
}

// forget drops what r names on this node at once, without waiting for the
// published message.
func (c *tokenCache) forget(r Revocation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evictLocked(r)
	c.epoch++
}

func (c *tokenCache) evictLocked(r Revocation) {
	if r.CredentialID != "" {
		if h, ok := c.byCred[r.CredentialID]; ok {
			c.deleteLocked(h, c.entries[h])
		}
	}
	if r.UserID != "" {
		// Rare (a member left a team): a scan is fine.
		for h, e := range c.entries {
			if e.tenant.UserID == r.UserID && e.tenant.StoreID == r.StoreID {
				c.deleteLocked(h, e)
			}
		}
	}
}

func (c *tokenCache) deleteLocked(h TokenHash, e cacheEntry) {
	delete(c.entries, h)
	if c.byCred[e.tenant.CredentialID] == h {
		delete(c.byCred, e.tenant.CredentialID)
	}
}

func (c *tokenCache) resetLocked(gen int64) {
	clear(c.entries)
	clear(c.byCred)
	c.applied = gen
	c.epoch++
	c.lagSince = time.Time{}
}

func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
