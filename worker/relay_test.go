package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/persistence/postgres"
	"github.com/vayvahq/vayva/worker"
)

type seqData struct {
	Aggregate string `json:"aggregate"`
	N         int    `json:"n"`
}

// Events of one aggregate reach the queue in the order they were
// committed, while several writers commit concurrently and the relay
// publishes at the same time.
func TestRelayPublishesInOrderPerAggregate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	e.startRelay(t, worker.RelayConfig{BatchSize: 7, Registerer: reg}, nil)

	const aggregates, perAggregate = 4, 60
	var wg sync.WaitGroup
	for a := range aggregates {
		wg.Add(1)
		go func() {
			defer wg.Done()
			agg := "conv_" + string(rune('a'+a))
			for n := range perAggregate {
				data, _ := json.Marshal(seqData{Aggregate: agg, N: n})
				e.appendEvent(t, "conversation", agg, vayva.Event{
					Type: "test.seq", Queue: vayva.QueueOrdersSync, Key: agg, MerchantID: "mer_x", Data: data,
				})
			}
		}()
	}
	wg.Wait()
	total := aggregates * perAggregate
	require.Eventually(t, func() bool {
		return e.count(t, `SELECT count(*) FROM runtime.outbox WHERE published_at IS NOT NULL`) == total
	}, 20*time.Second, 20*time.Millisecond)

	entries := e.stream(t, vayva.QueueOrdersSync)
	require.Len(t, entries, total, "each event is published exactly once without failures")
	next := map[string]int{}
	seen := map[string]bool{}
	for _, s := range entries {
		require.False(t, seen[s.ID], "job %s published twice", s.ID)
		seen[s.ID] = true
		var ev vayva.Event
		require.NoError(t, json.Unmarshal(s.Payload, &ev))
		require.Equal(t, s.ID, ev.ID, "the job id is the event id")
		require.Equal(t, "test.seq", s.Type)
		var d seqData
		require.NoError(t, json.Unmarshal(ev.Data, &d))
		require.Equal(t, d.Aggregate, s.Key, "the job key is the event key")
		require.Equal(t, next[d.Aggregate], d.N, "aggregate %s out of order", d.Aggregate)
		next[d.Aggregate]++
	}
	for a := range aggregates {
		require.Equal(t, perAggregate, next["conv_"+string(rune('a'+a))])
	}
	v, ok := gaugeValue(t, reg, "vayva_outbox_published_total")
	require.True(t, ok)
	require.Equal(t, float64(total), v)
}

// A relay that dies after enqueueing a batch and before marking it loses
// nothing: the next relay publishes the events again under the same job
// ids, and the consumer's dedupe on the event id sends the email once.
func TestRelayCrashBetweenPublishAndMark(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ev := e.appendEvent(t, "user", "usr_1", emailEvent(t, "ada@example.com", "mer_1"))

	_, err := e.db.Pool().Exec(context.Background(), `UPDATE runtime.outbox SET created_at = now() - interval '1 hour'`)
	require.NoError(t, err)

	reg := prometheus.NewRegistry()
	crashed := make(chan []vayva.OutboxEvent, 1)
	release := make(chan struct{})
	var lagInHook float64
	first := e.startRelay(t, worker.RelayConfig{Registerer: reg}, func(r *worker.Relay) {
		worker.SetBeforeMark(r, func(published []vayva.OutboxEvent) error {
			lagInHook, _ = gaugeValue(t, reg, "vayva_outbox_lag_seconds")
			crashed <- published
			<-release // the process is dead from here on
			return errors.New("simulated crash")
		})
	})
	var published []vayva.OutboxEvent
	select {
	case published = <-crashed:
	case <-time.After(10 * time.Second):
		t.Fatal("the relay never published")
	}
	require.Len(t, published, 1)
	require.Equal(t, ev.ID, published[0].EventID)
	require.GreaterOrEqual(t, lagInHook, 3600.0, "lag is the age of the oldest unpublished row")
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM runtime.outbox WHERE published_at IS NULL`))
	require.Len(t, e.stream(t, vayva.QueueEmail), 1)

	// Kill it: the loop ends without marking, and its session (with the
	// lock) closes.
	dead, cancel := context.WithCancel(context.Background())
	cancel()
	_ = first.Stop(dead)
	close(release)
	stopCtx, cancelStop := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelStop()
	require.NoError(t, first.Stop(stopCtx))
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM runtime.outbox WHERE published_at IS NULL`))

	// The crashed relay's session is gone (Stop closed it), so a new relay
	// becomes the leader and publishes the row again.
	e.startRelay(t, worker.RelayConfig{}, nil)
	require.Eventually(t, func() bool {
		return e.count(t, `SELECT count(*) FROM runtime.outbox WHERE published_at IS NULL`) == 0
	}, 10*time.Second, 20*time.Millisecond)
	entries := e.stream(t, vayva.QueueEmail)
	require.Len(t, entries, 2, "published twice: at least once, never lost")
	require.Equal(t, ev.ID, entries[0].ID)
	require.Equal(t, ev.ID, entries[1].ID, "the same job id both times")

	// The email worker handles both jobs and sends one email.
	e.startEmail(t, worker.EmailConfig{})
	require.Eventually(t, func() bool {
		st, err := e.broker.Stats(context.Background())
		require.NoError(t, err)
		for _, s := range st {
			if s.Name == vayva.QueueEmail {
				return s.Length == 0 && s.Pending == 0 && s.Delayed == 0
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond)
	require.Len(t, e.sb.Mailbox("ada@example.com"), 1)
	log, err := postgres.NewEmailLogs(e.db).Get(context.Background(), ev.ID)
	require.NoError(t, err)
	require.Equal(t, vayva.EmailSent, log.Status)
	require.Equal(t, 1, log.Attempts, "the duplicate job did not attempt a send")
}

// Only one relay publishes at a time; when it stops, another takes over.
func TestRelayLeadershipAndTakeover(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.startRelay(t, worker.RelayConfig{}, nil)
	b := e.startRelay(t, worker.RelayConfig{}, nil)
	require.Eventually(t, func() bool { return a.Leading() || b.Leading() }, 10*time.Second, 10*time.Millisecond)
	leader, follower := a, b
	if b.Leading() {
		leader, follower = b, a
	}
	require.False(t, follower.Leading())

	var ids []string
	for range 50 {
		ids = append(ids, e.appendEvent(t, "order", "ord_1", vayva.Event{Type: "test.a", Queue: vayva.QueueOrdersSync, Data: json.RawMessage(`{}`)}).ID)
	}
	require.Eventually(t, func() bool { return len(e.stream(t, vayva.QueueOrdersSync)) == 50 }, 10*time.Second, 20*time.Millisecond)
	require.False(t, follower.Leading(), "the follower stayed a follower")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, leader.Stop(ctx))
	require.Eventually(t, follower.Leading, 10*time.Second, 10*time.Millisecond)
	for range 50 {
		ids = append(ids, e.appendEvent(t, "order", "ord_1", vayva.Event{Type: "test.a", Queue: vayva.QueueOrdersSync, Data: json.RawMessage(`{}`)}).ID)
	}
	require.Eventually(t, func() bool { return len(e.stream(t, vayva.QueueOrdersSync)) >= 100 }, 10*time.Second, 20*time.Millisecond)
	var got []string
	for _, s := range e.stream(t, vayva.QueueOrdersSync) {
		got = append(got, s.ID)
	}
	require.Equal(t, ids, got, "every event once, in order, across the takeover")
}

// Published rows older than the retention are pruned; newer ones and
// unpublished ones stay.
func TestRelayPrunesOldPublishedRows(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	old := e.appendEvent(t, "order", "ord_1", vayva.Event{Type: "test.a", Queue: vayva.QueueOrdersSync, Data: json.RawMessage(`{}`)})
	recent := e.appendEvent(t, "order", "ord_1", vayva.Event{Type: "test.a", Queue: vayva.QueueOrdersSync, Data: json.RawMessage(`{}`)})
	_, err := e.db.Pool().Exec(context.Background(), `UPDATE runtime.outbox SET published_at = now() - interval '8 days' WHERE event_id = $1`, old.ID)
	require.NoError(t, err)
	_, err = e.db.Pool().Exec(context.Background(), `UPDATE runtime.outbox SET published_at = now() - interval '6 days' WHERE event_id = $1`, recent.ID)
	require.NoError(t, err)
	pending := e.appendEvent(t, "order", "ord_2", vayva.Event{Type: "test.a", Queue: vayva.QueueOrdersSync, Data: json.RawMessage(`{}`)})

	e.startRelay(t, worker.RelayConfig{PruneInterval: 20 * time.Millisecond, PruneBatch: 1}, nil)
	require.Eventually(t, func() bool {
		return e.count(t, `SELECT count(*) FROM runtime.outbox WHERE event_id = $1`, old.ID) == 0
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM runtime.outbox WHERE event_id = $1`, recent.ID))
	require.Eventually(t, func() bool {
		return e.count(t, `SELECT count(*) FROM runtime.outbox WHERE event_id = $1 AND published_at IS NOT NULL`, pending.ID) == 1
	}, 10*time.Second, 20*time.Millisecond)
	entries := e.stream(t, vayva.QueueOrdersSync)
	require.Len(t, entries, 1, "already published rows are not published again")
	require.Equal(t, pending.ID, entries[0].ID)
}

// An event no queue accepts is skipped instead of blocking the outbox.
func TestRelaySkipsEventsForUnknownQueues(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.appendEvent(t, "order", "ord_1", vayva.Event{Type: "test.a", Queue: "no-such-queue", Data: json.RawMessage(`{}`)})
	after := e.appendEvent(t, "order", "ord_1", vayva.Event{Type: "test.a", Queue: vayva.QueueOrdersSync, Data: json.RawMessage(`{}`)})
	reg := prometheus.NewRegistry()
	e.startRelay(t, worker.RelayConfig{Registerer: reg}, nil)
	require.Eventually(t, func() bool { return len(e.stream(t, vayva.QueueOrdersSync)) == 1 }, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, after.ID, e.stream(t, vayva.QueueOrdersSync)[0].ID)
	require.Eventually(t, func() bool {
		v, _ := gaugeValue(t, reg, "vayva_outbox_dropped_total")
		return v == 1
	}, 10*time.Second, 20*time.Millisecond)
}

// LeadWith passes a refused leadership on as a nil OutboxLeader, never as
// an interface holding a nil pointer the relay would call.
func TestLeadWithRefusalIsNil(t *testing.T) {
	t.Parallel()
	store := worker.LeadWith(func(context.Context) (*postgres.OutboxLeader, error) { return nil, vayva.ErrNotLeader })
	l, err := store.Lead(context.Background())
	require.ErrorIs(t, err, vayva.ErrNotLeader)
	require.True(t, l == nil, "the leader is a nil interface")
}
