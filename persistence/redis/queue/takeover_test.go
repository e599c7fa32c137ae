package queue

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
)

// slowRecovery makes crash recovery wait an hour: only TakeOver can hand
// a killed consumer's entries and leases on within the test.
func slowRecovery(cfg *Config) {
	cfg.LeaseTTL = time.Hour
	cfg.ClaimMinIdle = time.Hour
}

// A consumer is killed with entries in flight on an unordered queue; the
// survivor takes them over at once (no ClaimMinIdle wait), each counted as
// a second delivery, and the dead consumer leaves the group.
func TestTakeOverClaimsDeadConsumersPending(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rc := newRC(t)
	b := newBroker(t, rc, slowRecovery)

	var inA atomic.Int32
	a := startConsumer(t, b, "inc-a-email", vayva.QueueEmail, func(ctx context.Context, j Job) error {
		inA.Add(1)
		<-ctx.Done()
		return ctx.Err()
	}, 4)
	const total = 10
	for range total {
		_, err := b.Enqueue(ctx, vayva.QueueEmail, Job{Type: "email.send"})
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return inA.Load() == 4 }, 20*time.Second, 5*time.Millisecond)
	a.kill()

	// The dead consumer holds the four it ran and what it had read ahead.
	xp, err := rc.Redis().XPending(ctx, b.streamKey(mustSpec(t, b, vayva.QueueEmail), 0), b.cfg.Group).Result()
	require.NoError(t, err)
	held := int(xp.Consumers["inc-a-email"])
	require.GreaterOrEqual(t, held, 4)

	var mu sync.Mutex
	got := map[string]int{}
	startConsumer(t, b, "inc-b-email", vayva.QueueEmail, func(ctx context.Context, j Job) error {
		mu.Lock()
		defer mu.Unlock()
		got[j.ID] = j.Attempt
		return nil
	}, 4)
	// The ones never read run; those pending on the dead consumer wait (an
	// hour's ClaimMinIdle) until taken over.
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == total-held }, 20*time.Second, 10*time.Millisecond)
	require.EqualValues(t, held, statsOf(t, b, vayva.QueueEmail).Pending)

	n, err := b.TakeOver(ctx, "inc-a-")
	require.NoError(t, err)
	require.Equal(t, held, n)
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == total }, 20*time.Second, 10*time.Millisecond)
	second := 0
	mu.Lock()
	for _, attempt := range got {
		if attempt == 2 {
			second++
		}
	}
	mu.Unlock()
	require.Equal(t, held, second, "the taken-over deliveries count")
	require.Eventually(t, func() bool { return statsOf(t, b, vayva.QueueEmail) == QueueStats{Name: vayva.QueueEmail} }, 20*time.Second, 10*time.Millisecond)
	cs, err := rc.Redis().XInfoConsumers(ctx, b.streamKey(mustSpec(t, b, vayva.QueueEmail), 0), b.cfg.Group).Result()
	require.NoError(t, err)
	for _, x := range cs {
		require.NotEqual(t, "inc-a-email", x.Name, "the dead consumer left the group")
	}
	n, err = b.TakeOver(ctx, "inc-a-")
	require.NoError(t, err)
	require.Zero(t, n, "nothing left to take over")
	_, err = b.TakeOver(ctx, "")
	require.Error(t, err)
}

// A consumer of an ordered queue is killed holding partition leases with
// entries pending; the survivor takes the leases over at once (no lease
// expiry wait) and handles every entry in per-key order.
func TestTakeOverReleasesDeadConsumersPartitions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rc := newRC(t)
	b := newBroker(t, rc, slowRecovery)
	keys := keysN("conv-", 8)
	const perKey = 10
	for seq := 1; seq <= perKey; seq++ {
		for _, k := range keys {
			_, err := b.Enqueue(ctx, vayva.QueueWhatsAppOutbound, Job{Type: "wa.send", Key: k, Payload: seqPayload(k, seq)})
			require.NoError(t, err)
		}
	}
	hangKey := keys[3]
	rec := &recorder{}
	hung := make(chan struct{})
	a := startConsumer(t, b, "inc-a-wa", vayva.QueueWhatsAppOutbound, func(ctx context.Context, j Job) error {
		if k, seq := parseSeq(t, j.Payload); k == hangKey && seq == 5 {
			close(hung)
			<-ctx.Done()
			return ctx.Err()
		}
		rec.add(j)
		return nil
	}, 0)
	<-hung
	a.kill()

	startConsumer(t, b, "inc-b-wa", vayva.QueueWhatsAppOutbound, func(ctx context.Context, j Job) error {
		rec.add(j)
		return nil
	}, 0)
	n, err := b.TakeOver(ctx, "inc-a-")
	require.NoError(t, err)
	require.Positive(t, n, "the dead consumer's leases were released")
	require.Eventually(t, func() bool {
		return statsOf(t, b, vayva.QueueWhatsAppOutbound) == QueueStats{Name: vayva.QueueWhatsAppOutbound}
	}, 30*time.Second, 10*time.Millisecond)
	checkPerKeyOrder(t, rec.jobs(), keys, perKey)
}

func mustSpec(t *testing.T, b *Broker, name string) QueueSpec {
	t.Helper()
	s, ok := b.Spec(name)
	require.True(t, ok)
	return s
}

// A claimed entry's count comes from what pending listed for the dead
// consumer, plus the delivery XCLAIM made, when the read-back missed it.
func TestClaimedCount(t *testing.T) {
	pending := []goredis.XPendingExt{{ID: "1-0", RetryCount: 1}, {ID: "2-0", RetryCount: 4}}
	require.EqualValues(t, 2, claimedCount(pending, "1-0", 0))
	require.EqualValues(t, 5, claimedCount(pending, "2-0", 0), "found by search when XCLAIM dropped an entry before it")
	require.EqualValues(t, 1, claimedCount(pending, "3-0", 2))
}
