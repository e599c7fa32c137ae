package queue

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vayvahq/vayva"
)

// Stop leaves no goroutine behind, with work in flight on both kinds of
// queue.
func TestStopLeavesNoGoroutines(t *testing.T) {
	ctx := context.Background()
	rc := newRC(t)
	b := newBroker(t, rc, nil)
	opts := goleak.IgnoreCurrent()

	c, err := b.NewConsumer("n1-0")
	require.NoError(t, err)
	started := make(chan struct{}, 64)
	var ran atomic.Int32
	slow := func(ctx context.Context, j Job) error {
		ran.Add(1)
		started <- struct{}{}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
		return nil
	}
	require.NoError(t, c.Consume(ctx, vayva.QueueEmail, slow, ConsumeOptions{Concurrency: 4}))
	require.NoError(t, c.Consume(ctx, vayva.QueueWhatsAppOutbound, slow, ConsumeOptions{}))
	require.NoError(t, c.Start(ctx))
	for i := range 8 {
		_, err := b.Enqueue(ctx, vayva.QueueEmail, Job{Type: "t"})
		require.NoError(t, err)
		_, err = b.Enqueue(ctx, vayva.QueueWhatsAppOutbound, Job{Type: "t", Key: keysN("k", 8)[i]})
		require.NoError(t, err)
	}
	<-started
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, c.Stop(stopCtx))
	require.NoError(t, c.Stop(stopCtx))
	goleak.VerifyNone(t, opts)

	// Everything started was finished and acknowledged; the rest waits.
	s := statsOf(t, b, vayva.QueueEmail)
	if s.Pending != 0 {
		t.Logf("pending: %+v started=%d", rc.Redis().XPendingExt(ctx, &goredis.XPendingExtArgs{Stream: rc.Key("q", vayva.QueueEmail), Group: "vayva", Start: "-", End: "+", Count: 100}).Val(), len(started))
	}
	require.Zero(t, s.Pending)
	spec, _ := b.Spec(vayva.QueueWhatsAppOutbound)
	for p := range spec.Partitions {
		require.Zero(t, rc.Redis().Exists(ctx, b.leaseKey(spec, p)).Val(), "lease %d not released", p)
	}

	// The next consumer gets the rest, none charged an attempt.
	rec := &recorder{}
	startConsumer(t, b, "n2-0", vayva.QueueWhatsAppOutbound, func(ctx context.Context, j Job) error { rec.add(j); return nil }, 0)
	startConsumer(t, b, "n2-1", vayva.QueueEmail, func(ctx context.Context, j Job) error { rec.add(j); return nil }, 0)
	require.Eventually(t, func() bool {
		return statsOf(t, b, vayva.QueueEmail).Length == 0 && statsOf(t, b, vayva.QueueWhatsAppOutbound).Length == 0
	}, 20*time.Second, 5*time.Millisecond)
	require.Equal(t, 16, int(ran.Load())+rec.count())
	for _, j := range rec.jobs() {
		require.Equal(t, 1, j.Attempt, "%s job %s", j.Queue, j.ID)
	}
}
