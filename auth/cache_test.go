package auth

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func newTestCache(max int) (*tokenCache, *fakeClock) {
	clk := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	c := newTokenCache(time.Minute, max)
	c.now = clk.now
	return c, clk
}

func tenant(cred, user, store string) vayva.Tenant {
	return vayva.Tenant{CredentialID: cred, UserID: user, StoreID: store, MerchantID: "mer_1", Role: vayva.RoleOwner}
}

// fill resolves h at gen through the cache as Authenticate does, inserting
// t on a miss. It reports whether the cache answered.
func fill(c *tokenCache, h TokenHash, gen int64, t vayva.Tenant, expires time.Time) bool {
	_, hit, ticket := c.get(h, gen)
	if !hit {
		c.put(ticket, h, t, expires)
	}
	return hit
}

func TestCacheServesOnlyWhenSynced(t *testing.T) {
	c, _ := newTestCache(10)
	h := HashToken("a")
	_, hit, ticket := c.get(h, 0)
	require.False(t, hit)
	require.False(t, ticket.ok, "no insertion before the subscription is in place")
	c.put(ticket, h, tenant("ses_a", "usr_1", "sto_1"), time.Time{})
	require.Equal(t, 0, c.len())

	c.Synced(0)
	require.False(t, fill(c, h, 0, tenant("ses_a", "usr_1", "sto_1"), time.Time{}))
	got, hit, _ := c.get(h, 0)
	require.True(t, hit)
	require.Equal(t, "ses_a", got.CredentialID)

	c.Lost()
	_, hit, _ = c.get(h, 0)
	require.False(t, hit)
	require.Equal(t, 0, c.len())
}

func TestCacheRevocationEvicts(t *testing.T) {
	c, _ := newTestCache(10)
	c.Synced(5)
	a, b, m := HashToken("a"), HashToken("b"), HashToken("m")
	fill(c, a, 5, tenant("ses_a", "usr_1", "sto_1"), time.Time{})
	fill(c, b, 5, tenant("key_b", "usr_1", "sto_2"), time.Time{})
	fill(c, m, 5, tenant("ses_m", "usr_2", "sto_1"), time.Time{})
	require.Equal(t, 3, c.len())

	c.Revoked(6, Revocation{CredentialID: "ses_a"})
	_, hit, _ := c.get(a, 6)
	require.False(t, hit)
	_, hit, _ = c.get(b, 6)
	require.True(t, hit)

	// Leaving store 2's team revokes the user's credentials there only.
	c.Revoked(7, Revocation{UserID: "usr_1", StoreID: "sto_2"})
	_, hit, _ = c.get(b, 7)
	require.False(t, hit)
	_, hit, _ = c.get(m, 7)
	require.True(t, hit)
}

func TestCacheDoesNotServeWhileBehindTheGeneration(t *testing.T) {
	c, clk := newTestCache(10)
	c.Synced(1)
	h := HashToken("a")
	fill(c, h, 1, tenant("ses_a", "usr_1", "sto_1"), time.Time{})

	// Another node revoked something (generation 2); its message has not
	// arrived here yet. The cache must not answer, nor take insertions.
	_, hit, ticket := c.get(h, 2)
	require.False(t, hit)
	require.False(t, ticket.ok)

	// The message arrives: the cache is current again.
	c.Revoked(2, Revocation{CredentialID: "ses_other"})
	_, hit, _ = c.get(h, 2)
	require.True(t, hit)

	// A message that never arrives: after the lag limit the cache gives up
	// on it, forgets everything and catches up.
	_, hit, _ = c.get(h, 3)
	require.False(t, hit)
	clk.t = clk.t.Add(c.lagLimit)
	_, hit, ticket = c.get(h, 3)
	require.False(t, hit)
	require.True(t, ticket.ok)
	require.Equal(t, 0, c.len())
	require.Equal(t, int64(3), c.applied)
}

func TestCacheRefusesInsertAfterConcurrentRevocation(t *testing.T) {
	c, _ := newTestCache(10)
	c.Synced(0)
	h := HashToken("a")
	_, _, ticket := c.get(h, 0)
	// The database said the token is live, but before the result is
	// cached a revocation is applied: the result may be stale.
	c.Revoked(1, Revocation{CredentialID: "ses_a"})
	c.put(ticket, h, tenant("ses_a", "usr_1", "sto_1"), time.Time{})
	require.Equal(t, 0, c.len())

	// The local fast path (forget) invalidates tickets too.
	_, _, ticket = c.get(h, 1)
	c.forget(Revocation{CredentialID: "ses_x"})
	c.put(ticket, h, tenant("ses_a", "usr_1", "sto_1"), time.Time{})
	require.Equal(t, 0, c.len())
}

func TestCacheExpiry(t *testing.T) {
	c, clk := newTestCache(10)
	c.Synced(0)
	a, b := HashToken("a"), HashToken("b")
	fill(c, a, 0, tenant("ses_a", "usr_1", "sto_1"), time.Time{})
	fill(c, b, 0, tenant("ses_b", "usr_1", "sto_1"), clk.t.Add(10*time.Second))

	clk.t = clk.t.Add(10 * time.Second)
	_, hit, _ := c.get(b, 0)
	require.False(t, hit, "the session itself expired")
	_, hit, _ = c.get(a, 0)
	require.True(t, hit)

	clk.t = clk.t.Add(time.Minute)
	_, hit, _ = c.get(a, 0)
	require.False(t, hit, "the entry's TTL ended")
}

func TestCacheGenerationReset(t *testing.T) {
	c, _ := newTestCache(10)
	c.Synced(10)
	h := HashToken("a")
	fill(c, h, 10, tenant("ses_a", "usr_1", "sto_1"), time.Time{})
	// Redis lost its data: the generation starts again from zero.
	_, hit, _ := c.get(h, 0)
	require.False(t, hit)
	require.Equal(t, 0, c.len())
	require.Equal(t, int64(0), c.applied)
}

func TestCacheIsBounded(t *testing.T) {
	c, _ := newTestCache(3)
	c.Synced(0)
	for i, s := range []string{"a", "b", "c", "d", "e"} {
		fill(c, HashToken(s), 0, tenant("ses_"+s, "usr_1", "sto_1"), time.Time{})
		require.LessOrEqual(t, c.len(), 3, i)
	}
	require.Len(t, c.byCred, c.len())
}
