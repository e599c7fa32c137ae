package redis_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva/auth"
	"github.com/vayvahq/vayva/internal/startstop/startstoptest"
	"github.com/vayvahq/vayva/persistence/redis"
	"github.com/vayvahq/vayva/persistence/redis/redistest"
)

// recorder is a RevocationListener that keeps what it heard.
type recorder struct {
	mu      sync.Mutex
	synced  []int64
	revoked []int64
	revs    []auth.Revocation
	lost    int
}

func (r *recorder) Revoked(gen int64, rev auth.Revocation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.revoked = append(r.revoked, gen)
	r.revs = append(r.revs, rev)
}

func (r *recorder) Synced(gen int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.synced = append(r.synced, gen)
}

func (r *recorder) Lost() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lost++
}

func (r *recorder) snapshot() (synced, revoked []int64, revs []auth.Revocation, lost int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int64(nil), r.synced...), append([]int64(nil), r.revoked...), append([]auth.Revocation(nil), r.revs...), r.lost
}

func TestRevocationsReachEverySubscriberInOrder(t *testing.T) {
	ctx := context.Background()
	c := redistest.New(t)
	// Two "nodes": separate clients on the same prefix.
	a := redis.NewRevocations(c, zerolog.Nop())
	b := redis.NewRevocations(redistest.Open(t, redistest.URL(), c.Prefix()), zerolog.Nop())

	require.NoError(t, a.Publish(ctx, auth.Revocation{CredentialID: "ses_before"}))

	var ra, rb recorder
	subA, err := a.Subscribe(ctx, &ra)
	require.NoError(t, err)
	defer subA.Close()
	subB, err := b.Subscribe(ctx, &rb)
	require.NoError(t, err)
	defer subB.Close()
	for _, r := range []*recorder{&ra, &rb} {
		require.Eventually(t, func() bool { s, _, _, _ := r.snapshot(); return len(s) == 1 }, 5*time.Second, 5*time.Millisecond)
		s, _, _, _ := r.snapshot()
		require.Equal(t, []int64{1}, s, "synced at the generation published before subscribing")
	}

	for _, rev := range []auth.Revocation{{CredentialID: "ses_1"}, {CredentialID: "key_2"}, {UserID: "usr_3", StoreID: "sto_3"}} {
		require.NoError(t, b.Publish(ctx, rev))
	}
	gen, err := a.Generation(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(4), gen)
	for _, r := range []*recorder{&ra, &rb} {
		require.Eventually(t, func() bool { _, g, _, _ := r.snapshot(); return len(g) == 3 }, 5*time.Second, 5*time.Millisecond)
		_, g, revs, lost := r.snapshot()
		require.Equal(t, []int64{2, 3, 4}, g)
		require.Equal(t, "ses_1", revs[0].CredentialID)
		require.Equal(t, "key_2", revs[1].CredentialID)
		require.Equal(t, auth.Revocation{UserID: "usr_3", StoreID: "sto_3"}, revs[2])
		require.Zero(t, lost)
	}

	require.NoError(t, subA.Close())
	require.NoError(t, subA.Close(), "closing twice is fine")
}

func TestRevocationsResyncAfterConnectionLoss(t *testing.T) {
	ctx := context.Background()
	// A client of its own name, so that the test kills its own
	// subscription and nobody else's.
	name := "revtest" + strconv.FormatInt(time.Now().UnixNano(), 36)
	c := redistest.Open(t, redistest.URL()+"?client_name="+name, redistest.New(t).Prefix())
	rv := redis.NewRevocations(c, zerolog.Nop())
	rv.RetryDelay = 10 * time.Millisecond
	var r recorder
	sub, err := rv.Subscribe(ctx, &r)
	require.NoError(t, err)
	defer sub.Close()
	require.Eventually(t, func() bool { s, _, _, _ := r.snapshot(); return len(s) == 1 }, 5*time.Second, 5*time.Millisecond)

	// Kill the subscription's connection; a revocation published while
	// the subscriber is away is lost as a message but counted in the
	// generation it resynchronises at.
	admin := redistest.New(t).Redis()
	list, err := admin.ClientList(ctx).Result()
	require.NoError(t, err)
	var id string
	for _, line := range strings.Split(list, "\n") {
		if strings.Contains(line, " name="+name+" ") && strings.Contains(line, "cmd=subscribe") {
			id = strings.TrimPrefix(strings.Fields(line)[0], "id=")
		}
	}
	require.NotEmpty(t, id, "the subscription's connection")
	require.NoError(t, admin.Do(ctx, "CLIENT", "KILL", "ID", id).Err())
	require.NoError(t, rv.Publish(ctx, auth.Revocation{CredentialID: "ses_while_away"}))

	// Depending on whether the resubscription beat the publication, the
	// subscriber resynchronised at generation 1 or at 0 and then heard
	// generation 1; either way it has accounted for it.
	require.Eventually(t, func() bool {
		s, g, _, lost := r.snapshot()
		return lost >= 1 && len(s) >= 2 && (s[len(s)-1] == 1 || (len(g) > 0 && g[len(g)-1] == 1))
	}, 10*time.Second, 10*time.Millisecond)

	require.NoError(t, rv.Publish(ctx, auth.Revocation{CredentialID: "ses_after"}))
	require.Eventually(t, func() bool {
		_, g, _, _ := r.snapshot()
		return len(g) > 0 && g[len(g)-1] == 2
	}, 5*time.Second, 5*time.Millisecond)
}

// A revocation subscription keeps the start/stop semantics every
// long-lived component shares.
func TestSubscriptionLifecycle(t *testing.T) {
	revs := redis.NewRevocations(redistest.New(t), zerolog.Nop())
	startstoptest.Check(t, func(t *testing.T) startstoptest.Service {
		s := redis.NewSubscription(revs, &recorder{})
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
