package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
)

func TestRetryWithBackoff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rc := newRC(t)
	const base = time.Second
	reg := prometheus.NewRegistry()
	b := newBroker(t, rc, func(c *Config) {
		c.RetryScale = 1
		c.Registerer = reg
		c.Queues = []QueueSpec{{Name: vayva.QueueEmail, MaxAttempts: 5, BaseBackoff: base, MaxBackoff: base}}
	})
	var mu sync.Mutex
	var attempts []Job
	var times []time.Time
	failed := make(chan struct{}, 4)
	startConsumer(t, b, "n1-0", vayva.QueueEmail, func(ctx context.Context, j Job) error {
		mu.Lock()
		attempts = append(attempts, j)
		times = append(times, time.Now())
		mu.Unlock()
		if j.Attempt < 3 {
			failed <- struct{}{}
			return fmt.Errorf("boom %d", j.Attempt)
		}
		return nil
	}, 4)
	id, err := b.Enqueue(ctx, vayva.QueueEmail, Job{Type: "email.send"})
	require.NoError(t, err)

	// While the first retry waits it sits in the delayed set.
	<-failed
	require.Eventually(t, func() bool { return statsOf(t, b, vayva.QueueEmail).Delayed == 1 }, base, 5*time.Millisecond)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(attempts) == 3
	}, 20*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return statsOf(t, b, vayva.QueueEmail) == QueueStats{Name: vayva.QueueEmail} }, 20*time.Second, 5*time.Millisecond)

	mu.Lock()
	defer mu.Unlock()
	for i, j := range attempts {
		require.Equal(t, id, j.ID)
		require.Equal(t, i+1, j.Attempt)
	}
	require.Empty(t, attempts[0].LastError)
	require.Equal(t, "boom 1", attempts[1].LastError)
	require.Equal(t, "boom 2", attempts[2].LastError)
	// Each retry waited at least the base backoff.
	require.GreaterOrEqual(t, times[1].Sub(times[0]), base)
	require.GreaterOrEqual(t, times[2].Sub(times[1]), base)
	m := gather(t, reg)
	require.Equal(t, 2.0, m["vayva_queue_jobs_retried_total"][vayva.QueueEmail])
	require.Equal(t, 2.0, m["vayva_queue_jobs_failed_total"][vayva.QueueEmail])
	require.Equal(t, 1.0, m["vayva_queue_jobs_processed_total"][vayva.QueueEmail])
	require.Equal(t, 3.0, m["vayva_queue_handler_duration_seconds"][vayva.QueueEmail])
}

func TestRetryScale(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rc := newRC(t)
	// One-hour backoffs scaled down a million times.
	b := newBroker(t, rc, func(c *Config) {
		c.RetryScale = 1e-6
		c.Queues = []QueueSpec{{Name: vayva.QueueOrdersSync, MaxAttempts: 4, BaseBackoff: time.Hour, MaxBackoff: 4 * time.Hour}}
	})
	var n atomic.Int32
	done := make(chan Job, 1)
	startConsumer(t, b, "n1-0", vayva.QueueOrdersSync, func(ctx context.Context, j Job) error {
		if n.Add(1) < 4 {
			return errors.New("not yet")
		}
		done <- j
		return nil
	}, 1)
	_, err := b.Enqueue(ctx, vayva.QueueOrdersSync, Job{Type: "orders.sync"})
	require.NoError(t, err)
	select {
	case j := <-done:
		require.Equal(t, 4, j.Attempt)
	case <-time.After(10 * time.Second):
		t.Fatal("retries did not run")
	}
}

func TestPoisonDeadLetterAndReplay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rc := newRC(t)
	reg := prometheus.NewRegistry()
	b := newBroker(t, rc, func(c *Config) {
		c.Registerer = reg
		c.Queues = []QueueSpec{{Name: vayva.QueueWebhookDelivery, MaxAttempts: 3, BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}}
	})
	var broken atomic.Bool
	broken.Store(true)
	rec := &recorder{}
	var poisonAttempts sync.Map
	startConsumer(t, b, "n1-0", vayva.QueueWebhookDelivery, func(ctx context.Context, j Job) error {
		if j.Type == "poison" && broken.Load() {
			poisonAttempts.Store(j.Attempt, j.LastError)
			return fmt.Errorf("endpoint said 500 (attempt %d)", j.Attempt)
		}
		rec.add(j)
		return nil
	}, 4)
	poisonID, err := b.Enqueue(ctx, vayva.QueueWebhookDelivery, Job{Type: "poison", Payload: []byte("p")})
	require.NoError(t, err)
	_, err = b.Enqueue(ctx, vayva.QueueWebhookDelivery, Job{Type: "fine"})
	require.NoError(t, err)

	require.Eventually(t, func() bool { return statsOf(t, b, vayva.QueueWebhookDelivery).Dead == 1 }, 20*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return rec.count() == 1 }, 20*time.Second, 5*time.Millisecond)
	for a := 1; a <= 3; a++ {
		_, ok := poisonAttempts.Load(a)
		require.True(t, ok, "attempt %d missing", a)
	}
	_, ok := poisonAttempts.Load(4)
	require.False(t, ok)

	dl, err := b.DeadLetters(ctx, vayva.QueueWebhookDelivery, 10)
	require.NoError(t, err)
	require.Len(t, dl, 1)
	require.Equal(t, poisonID, dl[0].Job.ID)
	require.Equal(t, 3, dl[0].Job.Attempt)
	require.Equal(t, "endpoint said 500 (attempt 3)", dl[0].Job.LastError)
	require.Equal(t, []byte("p"), dl[0].Job.Payload)
	require.WithinDuration(t, time.Now(), dl[0].DeadAt, 10*time.Second)
	require.Eventually(t, func() bool {
		return statsOf(t, b, vayva.QueueWebhookDelivery) == QueueStats{Name: vayva.QueueWebhookDelivery, Dead: 1}
	}, 20*time.Second, 5*time.Millisecond)
	require.Equal(t, 1.0, gather(t, reg)["vayva_queue_jobs_dead_total"][vayva.QueueWebhookDelivery])

	// Fixed endpoint: replay delivers it again, from attempt 1.
	broken.Store(false)
	n, err := b.ReplayDead(ctx, vayva.QueueWebhookDelivery)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Eventually(t, func() bool { return rec.count() == 2 }, 20*time.Second, 5*time.Millisecond)
	replayed := rec.jobs()[1]
	require.Equal(t, poisonID, replayed.ID)
	require.Equal(t, 1, replayed.Attempt)
	require.Empty(t, replayed.LastError)
	require.Eventually(t, func() bool {
		return statsOf(t, b, vayva.QueueWebhookDelivery) == QueueStats{Name: vayva.QueueWebhookDelivery}
	}, 20*time.Second, 5*time.Millisecond)
	n, err = b.ReplayDead(ctx, vayva.QueueWebhookDelivery)
	require.NoError(t, err)
	require.Zero(t, n)
}

// A consumer dies with jobs in hand (4 running, the rest read ahead and
// waiting for a handler); another consumer's janitor claims them once they
// have been idle for ClaimMinIdle and finishes them. Every entry delivered
// to the dead consumer, running or waiting, has that delivery counted.
func TestReclaimFromKilledConsumer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rc := newRC(t)
	b := newBroker(t, rc, nil)

	var inA atomic.Int32
	var aIDs sync.Map
	a := startConsumer(t, b, "node-a-0", vayva.QueueEmail, func(ctx context.Context, j Job) error {
		inA.Add(1)
		aIDs.Store(j.ID, j.Attempt)
		<-ctx.Done() // hangs until the process "dies"
		return ctx.Err()
	}, 4)
	const total = 10
	ids := map[string]bool{}
	for range total {
		id, err := b.Enqueue(ctx, vayva.QueueEmail, Job{Type: "email.send"})
		require.NoError(t, err)
		ids[id] = true
	}
	require.Eventually(t, func() bool { return inA.Load() == 4 }, 20*time.Second, 5*time.Millisecond)
	a.kill()
	require.EqualValues(t, 4, inA.Load(), "never more handlers than Concurrency")
	delivered := statsOf(t, b, vayva.QueueEmail).Pending
	require.GreaterOrEqual(t, delivered, int64(4))

	var mu sync.Mutex
	got := map[string]int{}
	startConsumer(t, b, "node-b-0", vayva.QueueEmail, func(ctx context.Context, j Job) error {
		mu.Lock()
		defer mu.Unlock()
		got[j.ID] = j.Attempt
		return nil
	}, 4)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == total
	}, 20*time.Second, 10*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	second := 0
	for id, attempt := range got {
		require.True(t, ids[id])
		if attempt == 2 {
			second++ // delivered to A first: that delivery counts
		} else {
			require.Equal(t, 1, attempt)
		}
	}
	if int64(second) != delivered {
		aIDs.Range(func(k, v any) bool { t.Logf("A had %v at %v; B saw attempt %d", k, v, got[k.(string)]); return true })
		t.Logf("inA=%d", inA.Load())
	}
	require.EqualValues(t, delivered, second)
	require.Eventually(t, func() bool { return statsOf(t, b, vayva.QueueEmail) == QueueStats{Name: vayva.QueueEmail} }, 20*time.Second, 10*time.Millisecond)
}

// A job that keeps killing its consumers is dead-lettered on claim once
// its deliveries reach the attempt limit, without running again.
func TestDeliveriesCountTowardAttempts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rc := newRC(t)
	b := newBroker(t, rc, func(c *Config) {
		c.Queues = []QueueSpec{{Name: vayva.QueueEmail, MaxAttempts: 3, BaseBackoff: time.Millisecond, MaxBackoff: time.Millisecond}}
	})
	rdb := rc.Redis()
	stream := rc.Key("q", vayva.QueueEmail)
	require.NoError(t, b.ensureGroup(ctx, stream))
	id, err := b.Enqueue(ctx, vayva.QueueEmail, Job{Type: "crasher"})
	require.NoError(t, err)
	// Three consumers took it and died.
	res, err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "vayva", Consumer: "ghost", Streams: []string{stream, ">"}}).Result()
	require.NoError(t, err)
	entry := res[0].Messages[0].ID
	require.NoError(t, rdb.Do(ctx, "XCLAIM", stream, "vayva", "ghost", 0, entry, "RETRYCOUNT", 3, "JUSTID").Err())

	var ran atomic.Int32
	startConsumer(t, b, "n1-0", vayva.QueueEmail, func(ctx context.Context, j Job) error { ran.Add(1); return nil }, 2)
	require.Eventually(t, func() bool { return statsOf(t, b, vayva.QueueEmail).Dead == 1 }, 20*time.Second, 10*time.Millisecond)
	require.Zero(t, ran.Load())
	dl, err := b.DeadLetters(ctx, vayva.QueueEmail, 0)
	require.NoError(t, err)
	require.Len(t, dl, 1)
	require.Equal(t, id, dl[0].Job.ID)
	require.Equal(t, 3, dl[0].Job.Attempt)
	require.Contains(t, dl[0].Job.LastError, "no result after 3 deliveries")
	require.Eventually(t, func() bool { return statsOf(t, b, vayva.QueueEmail) == QueueStats{Name: vayva.QueueEmail, Dead: 1} }, 20*time.Second, 5*time.Millisecond)
}

// A consumer restarted under the same name picks up its own pending
// entries at once, without waiting for ClaimMinIdle.
func TestRestartResumesOwnPending(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rc := newRC(t)
	b := newBroker(t, rc, func(c *Config) { c.ClaimMinIdle = time.Hour; c.LeaseTTL = 300 * time.Millisecond })
	var inA atomic.Int32
	a := startConsumer(t, b, "node-a-0", vayva.QueueEmail, func(ctx context.Context, j Job) error {
		inA.Add(1)
		<-ctx.Done()
		return ctx.Err()
	}, 2)
	for range 2 {
		_, err := b.Enqueue(ctx, vayva.QueueEmail, Job{Type: "t"})
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return inA.Load() == 2 }, 20*time.Second, 5*time.Millisecond)
	a.kill()
	rec := &recorder{}
	startConsumer(t, b, "node-a-0", vayva.QueueEmail, func(ctx context.Context, j Job) error { rec.add(j); return nil }, 2)
	require.Eventually(t, func() bool { return rec.count() == 2 }, 20*time.Second, 5*time.Millisecond)
	for _, j := range rec.jobs() {
		require.Equal(t, 2, j.Attempt)
	}
}

func TestConsumerNameTaken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rc := newRC(t)
	b := newBroker(t, rc, func(c *Config) { c.LeaseTTL = time.Second })
	nop := func(context.Context, Job) error { return nil }
	first := startConsumer(t, b, "n1-0", vayva.QueueEmail, nop, 1)
	second, err := b.NewConsumer("n1-0")
	require.NoError(t, err)
	require.NoError(t, second.Consume(ctx, vayva.QueueEmail, nop, ConsumeOptions{}))
	require.ErrorIs(t, second.Start(ctx), ErrConsumerNameTaken)
	require.NoError(t, first.Stop(ctx))
	require.NoError(t, first.Stop(ctx)) // idempotent

	third, err := b.NewConsumer("n1-0")
	require.NoError(t, err)
	require.NoError(t, third.Consume(ctx, vayva.QueueEmail, nop, ConsumeOptions{}))
	require.NoError(t, third.Start(ctx)) // released by Stop
	require.NoError(t, third.Stop(ctx))
	_, err = b.NewConsumer("bad name")
	require.Error(t, err)
}
