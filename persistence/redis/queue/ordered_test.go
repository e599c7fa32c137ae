package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
)

// Several producers enqueue interleaved keys with sequence numbers while
// two consumers share the partitions (and rebalance between them); some
// jobs fail their first attempt. Every key is completed in order.
func TestOrderedPerKeyConcurrentProducers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rc := newRC(t)
	b := newBroker(t, rc, func(c *Config) { c.LeaseTTL = 3 * time.Second })
	const producers, keysPer, perKey = 6, 4, 40
	keys := keysN("conv-", producers*keysPer)

	rec := &recorder{}
	var failures atomic.Int32
	var who sync.Map // consumer name → count
	handler := func(name string) Handler {
		return func(ctx context.Context, j Job) error {
			_, seq := parseSeq(t, j.Payload)
			if seq%7 == 0 && j.Attempt == 1 {
				failures.Add(1)
				return errors.New("transient")
			}
			rec.add(j)
			n, _ := who.LoadOrStore(name, new(atomic.Int32))
			n.(*atomic.Int32).Add(1)
			return nil
		}
	}
	startConsumer(t, b, "node-a-0", vayva.QueueWhatsAppInbound, handler("a"), 0)
	startConsumer(t, b, "node-b-0", vayva.QueueWhatsAppInbound, handler("b"), 0)

	// Wait until the partitions are split between both consumers.
	spec, _ := b.Spec(vayva.QueueWhatsAppInbound)
	require.Eventually(t, func() bool {
		owners := map[string]int{}
		for p := range spec.Partitions {
			v, _ := rc.Redis().Get(ctx, b.leaseKey(spec, p)).Result()
			owners[v]++
		}
		return len(owners) == 2 && owners[""] == 0
	}, 20*time.Second, 20*time.Millisecond)

	var wg sync.WaitGroup
	errs := make(chan error, producers)
	for p := range producers {
		mine := keys[p*keysPer : (p+1)*keysPer]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 1; seq <= perKey; seq++ {
				for _, k := range mine {
					if _, err := b.Enqueue(ctx, vayva.QueueWhatsAppInbound, Job{Type: "wa.message", Key: k, Payload: seqPayload(k, seq)}); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	total := producers * keysPer * perKey
	require.Eventually(t, func() bool { return rec.count() >= total }, 20*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool {
		return statsOf(t, b, vayva.QueueWhatsAppInbound) == QueueStats{Name: vayva.QueueWhatsAppInbound}
	}, 20*time.Second, 10*time.Millisecond)
	// In order, nothing lost; a job may repeat right after itself when a
	// lease lapses between its handler and its acknowledgement.
	checkPerKeyOrder(t, rec.jobs(), keys, perKey)
	require.Positive(t, failures.Load())
	for _, name := range []string{"a", "b"} {
		n, ok := who.Load(name)
		require.True(t, ok, "consumer %s did nothing", name)
		require.Positive(t, n.(*atomic.Int32).Load())
	}
}

// A consumer dies in the middle of a batch: one job hangs, the rest of its
// batch sits unacknowledged in its pending list. After its lease expires
// another consumer takes the partition over and finishes everything in
// order; the hung job's first delivery counts as an attempt.
func TestOrderedConsumerKilledMidBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rc := newRC(t)
	b := newBroker(t, rc, nil)
	keys := keysN("conv-", 8)
	const perKey = 30
	for seq := 1; seq <= perKey; seq++ {
		for _, k := range keys {
			_, err := b.Enqueue(ctx, vayva.QueueWhatsAppOutbound, Job{Type: "wa.send", Key: k, Payload: seqPayload(k, seq)})
			require.NoError(t, err)
		}
	}
	hangKey, hangSeq := keys[3], 10
	rec := &recorder{}
	hung := make(chan struct{})
	a := startConsumer(t, b, "node-a-0", vayva.QueueWhatsAppOutbound, func(ctx context.Context, j Job) error {
		if k, seq := parseSeq(t, j.Payload); k == hangKey && seq == hangSeq {
			close(hung)
			<-ctx.Done()
			return ctx.Err()
		}
		rec.add(j)
		return nil
	}, 0)
	<-hung
	spec, _ := b.Spec(vayva.QueueWhatsAppOutbound)
	stream := b.streamKey(spec, spec.Partition(hangKey))
	require.Greater(t, rc.Redis().XPending(ctx, stream, "vayva").Val().Count, int64(1), "batch not in flight")
	a.kill()

	var retried atomic.Int32
	startConsumer(t, b, "node-b-0", vayva.QueueWhatsAppOutbound, func(ctx context.Context, j Job) error {
		if k, seq := parseSeq(t, j.Payload); k == hangKey && seq == hangSeq {
			if j.Attempt != 2 {
				return fmt.Errorf("hung job came back at attempt %d", j.Attempt)
			}
			retried.Add(1)
		}
		rec.add(j)
		return nil
	}, 0)
	require.Eventually(t, func() bool {
		return statsOf(t, b, vayva.QueueWhatsAppOutbound) == QueueStats{Name: vayva.QueueWhatsAppOutbound}
	}, 30*time.Second, 10*time.Millisecond)
	require.EqualValues(t, 1, retried.Load())
	checkPerKeyOrder(t, rec.jobs(), keys, perKey)
}

// A job that always fails holds its partition while it is retried in
// place, goes to the dead-letter stream after its attempts, and only then
// do later jobs of the same key run. Replay sends it through again.
func TestOrderedPoisonBlocksKeyThenDeadLetters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rc := newRC(t)
	b := newBroker(t, rc, func(c *Config) {
		c.RetryScale = 1
		c.Queues = []QueueSpec{{Name: vayva.QueueWhatsAppInbound, Partitions: 4, MaxAttempts: 3, BaseBackoff: 20 * time.Millisecond, MaxBackoff: 40 * time.Millisecond}}
	})
	var broken atomic.Bool
	broken.Store(true)
	var mu sync.Mutex
	var events []string
	startConsumer(t, b, "n1-0", vayva.QueueWhatsAppInbound, func(ctx context.Context, j Job) error {
		mu.Lock()
		defer mu.Unlock()
		_, seq := parseSeq(t, j.Payload)
		if seq == 1 && broken.Load() {
			events = append(events, fmt.Sprintf("fail %d@%d", seq, j.Attempt))
			return errors.New("cannot parse")
		}
		events = append(events, fmt.Sprintf("ok %d@%d", seq, j.Attempt))
		return nil
	}, 0)
	for seq := 1; seq <= 3; seq++ {
		_, err := b.Enqueue(ctx, vayva.QueueWhatsAppInbound, Job{Type: "wa.message", Key: "conv-x", Payload: seqPayload("conv-x", seq)})
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(events) == 5
	}, 20*time.Second, 5*time.Millisecond)
	mu.Lock()
	require.Equal(t, []string{"fail 1@1", "fail 1@2", "fail 1@3", "ok 2@1", "ok 3@1"}, events)
	mu.Unlock()
	dl, err := b.DeadLetters(ctx, vayva.QueueWhatsAppInbound, 10)
	require.NoError(t, err)
	require.Len(t, dl, 1)
	require.Equal(t, "conv-x", dl[0].Job.Key)
	require.Equal(t, 3, dl[0].Job.Attempt)
	require.Equal(t, "cannot parse", dl[0].Job.LastError)

	broken.Store(false)
	n, err := b.ReplayDead(ctx, vayva.QueueWhatsAppInbound)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(events) == 6 && events[5] == "ok 1@1"
	}, 20*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool {
		return statsOf(t, b, vayva.QueueWhatsAppInbound) == QueueStats{Name: vayva.QueueWhatsAppInbound}
	}, 20*time.Second, 5*time.Millisecond)
}

// A graceful stop in the middle of an in-place retry leaves the job
// pending with its attempt count; the next owner continues from there.
func TestOrderedStopDuringRetryKeepsCount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rc := newRC(t)
	b := newBroker(t, rc, func(c *Config) {
		c.RetryScale = 1
		c.Queues = []QueueSpec{{Name: vayva.QueueWhatsAppInbound, Partitions: 2, MaxAttempts: 5, BaseBackoff: time.Hour, MaxBackoff: time.Hour}}
	})
	failed := make(chan struct{})
	a := startConsumer(t, b, "node-a-0", vayva.QueueWhatsAppInbound, func(ctx context.Context, j Job) error {
		close(failed)
		return errors.New("first attempt fails")
	}, 0)
	_, err := b.Enqueue(ctx, vayva.QueueWhatsAppInbound, Job{Type: "wa.message", Key: "k", Payload: seqPayload("k", 1)})
	require.NoError(t, err)
	<-failed
	stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	require.NoError(t, a.Stop(stopCtx)) // interrupts the hour-long backoff
	got := make(chan Job, 1)
	startConsumer(t, b, "node-b-0", vayva.QueueWhatsAppInbound, func(ctx context.Context, j Job) error { got <- j; return nil }, 0)
	select {
	case j := <-got:
		require.Equal(t, 2, j.Attempt)
	case <-time.After(10 * time.Second):
		t.Fatal("job not resumed")
	}
}
