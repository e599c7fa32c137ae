package queue

import (
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
)

// Entries that do not parse, on the stream or in the delayed set, end in
// the dead-letter stream instead of looping; replay leaves them there.
func TestMalformedEntriesAreDeadLettered(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rc := newRC(t)
	b := newBroker(t, rc, nil)
	rdb := rc.Redis()
	require.NoError(t, rdb.XAdd(ctx, &goredis.XAddArgs{Stream: rc.Key("q", vayva.QueueEmail), Values: []any{"id", "x", "attempt", "banana"}}).Err())
	require.NoError(t, rdb.ZAdd(ctx, rc.Key("q", vayva.QueueEmail, "delayed"), goredis.Z{Score: 1, Member: "7:garbage"}).Err())
	_, err := b.Enqueue(ctx, vayva.QueueEmail, Job{Type: "fine"})
	require.NoError(t, err)
	rec := &recorder{}
	startConsumer(t, b, "n1-0", vayva.QueueEmail, func(ctx context.Context, j Job) error { rec.add(j); return nil }, 2)
	require.Eventually(t, func() bool { return statsOf(t, b, vayva.QueueEmail).Dead == 2 && rec.count() == 1 }, 20*time.Second, 5*time.Millisecond)
	dl, err := b.DeadLetters(ctx, vayva.QueueEmail, 0)
	require.NoError(t, err)
	require.Len(t, dl, 2)
	for _, d := range dl {
		require.Contains(t, d.Job.LastError, "malformed")
	}
	n, err := b.ReplayDead(ctx, vayva.QueueEmail)
	require.NoError(t, err)
	require.Zero(t, n)
	require.Eventually(t, func() bool { return statsOf(t, b, vayva.QueueEmail) == QueueStats{Name: vayva.QueueEmail, Dead: 2} }, 20*time.Second, 5*time.Millisecond)
}

// Consumers silent past ConsumerExpiry are removed from the group, but
// never while they have entries pending.
func TestPruneConsumers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rc := newRC(t)
	b := newBroker(t, rc, func(c *Config) { c.ConsumerExpiry = 100 * time.Millisecond; c.ClaimMinIdle = time.Hour })
	rdb := rc.Redis()
	stream := rc.Key("q", vayva.QueueEmail)
	require.NoError(t, b.ensureGroup(ctx, stream))
	for range 2 {
		_, err := b.Enqueue(ctx, vayva.QueueEmail, Job{Type: "t"})
		require.NoError(t, err)
	}
	// "gone" read and acknowledged an entry; "holder" still has one pending.
	res, err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "vayva", Consumer: "gone", Streams: []string{stream, ">"}, Count: 1}).Result()
	require.NoError(t, err)
	require.NoError(t, rdb.XAck(ctx, stream, "vayva", res[0].Messages[0].ID).Err())
	_, err = rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "vayva", Consumer: "holder", Streams: []string{stream, ">"}, Count: 1}).Result()
	require.NoError(t, err)

	startConsumer(t, b, "n1-0", vayva.QueueEmail, func(ctx context.Context, j Job) error { return nil }, 1)
	names := func() map[string]bool {
		cs, err := rdb.XInfoConsumers(ctx, stream, "vayva").Result()
		require.NoError(t, err)
		m := map[string]bool{}
		for _, c := range cs {
			m[c.Name] = true
		}
		return m
	}
	require.Eventually(t, func() bool { return !names()["gone"] }, 20*time.Second, 20*time.Millisecond)
	require.True(t, names()["holder"])
}
