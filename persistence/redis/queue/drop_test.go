package queue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/persistence/redis/redistest"
)

// killNamed kills every connection named name (Redis 7.0's CLIENT KILL has
// no name filter, so it goes by id) and returns how many it killed.
func killNamed(t testing.TB, rdb *goredis.Client, name string) int {
	ctx := context.Background()
	list, err := rdb.ClientList(ctx).Result()
	require.NoError(t, err)
	n := 0
	for _, line := range strings.Split(list, "\n") {
		if !strings.Contains(line, " name="+name+" ") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "id="); ok {
				id, err := strconv.ParseInt(v, 10, 64)
				require.NoError(t, err)
				if rdb.Do(ctx, "CLIENT", "KILL", "ID", id).Err() == nil {
					n++
				}
			}
		}
	}
	return n
}

// Consumers of an unordered and an ordered queue lose all their Redis
// connections three times while jobs flow. Nothing is lost: whatever was
// delivered but not acknowledged is taken back from the pending list, and
// per-key order holds.
func TestConnectionDropLosesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	admin := newRC(t) // producer and killer, unaffected by the kills
	var rb [6]byte
	_, _ = rand.Read(rb[:])
	name := "vayva-drop-" + hex.EncodeToString(rb[:])
	url := redistest.URL()
	if strings.Contains(url, "?") {
		url += "&client_name=" + name
	} else {
		url += "?client_name=" + name
	}
	victim := redistest.Open(t, url, admin.Prefix())
	cfg := func(c *Config) { c.ClaimMinIdle = time.Hour; c.LeaseTTL = 3 * time.Second }
	consumerSide := newBroker(t, victim, cfg)
	producer := newBroker(t, admin, cfg)

	var mu sync.Mutex
	seen := map[string]bool{}
	var ordered []Job
	c, err := consumerSide.NewConsumer("node-a-0")
	require.NoError(t, err)
	require.NoError(t, c.Consume(ctx, vayva.QueueEmail, func(ctx context.Context, j Job) error {
		mu.Lock()
		defer mu.Unlock()
		seen[j.ID] = true
		return nil
	}, ConsumeOptions{Concurrency: 8}))
	require.NoError(t, c.Consume(ctx, vayva.QueueWhatsAppInbound, func(ctx context.Context, j Job) error {
		mu.Lock()
		defer mu.Unlock()
		seen[j.ID] = true
		ordered = append(ordered, j)
		return nil
	}, ConsumeOptions{}))
	require.NoError(t, c.Start(ctx))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Stop(ctx)
	})
	processed := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(seen)
	}

	keys := keysN("conv-", 10)
	const rounds, perRound = 4, 50
	want := map[string]bool{}
	rdb := admin.Redis()
	kills := 0
	for r := range rounds {
		for i := range perRound {
			id, err := producer.Enqueue(ctx, vayva.QueueEmail, Job{Type: "email.send"})
			require.NoError(t, err)
			want[id] = true
			k := keys[i%len(keys)]
			id, err = producer.Enqueue(ctx, vayva.QueueWhatsAppInbound, Job{Type: "wa.message", Key: k, Payload: seqPayload(k, r*perRound/len(keys)+i/len(keys)+1)})
			require.NoError(t, err)
			want[id] = true
		}
		if r == rounds-1 {
			break
		}
		// Wait for progress (or for the round to be done), then cut every
		// connection of the consumer.
		floor := processed()
		if !assert.Eventually(t, func() bool { n := processed(); return n > floor || n == len(want) }, 20*time.Second, 2*time.Millisecond) {
			all, _ := producer.Stats(ctx)
			t.Logf("round %d floor %d stats %+v", r, floor, all)
			spec, _ := producer.Spec(vayva.QueueWhatsAppInbound)
			for p := range spec.Partitions {
				t.Logf("lease %d: %s", p, rdb.Get(ctx, producer.leaseKey(spec, p)).Val())
			}
			t.Logf("clients: %s", rdb.ClientList(ctx).Val())
			t.Logf("readers pool: %+v", c.readers.PoolStats())
			t.Logf("main pool: %+v", victim.Redis().PoolStats())
			t.FailNow()
		}
		var n int
		require.Eventually(t, func() bool {
			n = killNamed(t, rdb, name)
			return n > 0
		}, 10*time.Second, 5*time.Millisecond, "no consumer connection found to kill")
		kills += n
	}
	require.Eventually(t, func() bool { return processed() == len(want) }, 20*time.Second, 10*time.Millisecond,
		"processed %d of %d", processed(), len(want))
	mu.Lock()
	for id := range want {
		require.True(t, seen[id], "job %s lost", id)
	}
	checkPerKeyOrder(t, ordered, keys, rounds*perRound/len(keys))
	mu.Unlock()
	require.Eventually(t, func() bool {
		return statsOf(t, producer, vayva.QueueEmail).Length == 0 && statsOf(t, producer, vayva.QueueWhatsAppInbound).Length == 0
	}, 20*time.Second, 10*time.Millisecond)
	t.Logf("killed %d connections", kills)
}
