package postgres_test

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
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/internal/startstop"
	"github.com/vayvahq/vayva/persistence/postgres"
	"github.com/vayvahq/vayva/persistence/postgres/pgtest"
)

// setReminders commits reminders for one identity through the journal, as
// its actor would.
func setReminders(t *testing.T, j *postgres.Journal, kind, identity string, rs ...vayva.Reminder) {
	t.Helper()
	a, err := j.Activate(t.Context(), kind, identity)
	require.NoError(t, err)
	_, _, err = j.Commit(t.Context(), a, actors.Commit{Domain: vayva.DomainOrders, SetReminders: rs})
	require.NoError(t, err)
}

// owners stands in for the actors that own reminders: one activation per
// identity, used by one command at a time (as an actor's mailbox would), and
// activated again when superseded.
type owners struct {
	j  *postgres.Journal
	mu sync.Mutex
	m  map[string]*owner
}

type owner struct {
	mu sync.Mutex
	a  *actors.Activation
}

func newOwners(j *postgres.Journal) *owners { return &owners{j: j, m: map[string]*owner{}} }

// cancel is what the owning actor does when a reminder fires: it cancels the
// reminder in a commit of its own.
func (o *owners) cancel(ctx context.Context, r vayva.Reminder) error {
	o.mu.Lock()
	own := o.m[r.Kind+"/"+r.Identity]
	if own == nil {
		own = &owner{}
		o.m[r.Kind+"/"+r.Identity] = own
	}
	o.mu.Unlock()

	own.mu.Lock()
	defer own.mu.Unlock()
	for {
		if own.a == nil {
			a, err := o.j.Activate(ctx, r.Kind, r.Identity)
			if err != nil {
				return err
			}
			own.a = a
		}
		_, _, err := o.j.Commit(ctx, own.a, actors.Commit{Domain: vayva.DomainOrders, CancelReminders: []string{r.Name}})
		if !errors.Is(err, vayva.ErrStaleEpoch) {
			return err
		}
		own.a = nil
	}
}

func reminderKey(r vayva.Reminder) string { return r.Kind + "/" + r.Identity + "/" + r.Name }

func TestSchedulerFiresDueReminderOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := pgtest.New(t)
	j := postgres.NewJournal(db, "node-a")
	due := time.Now().Add(-time.Second).Truncate(time.Microsecond)
	setReminders(t, j, "order", "ord_1",
		vayva.Reminder{Name: "expire-unpaid", DueAt: due, Payload: []byte("payload")},
		vayva.Reminder{Name: "later", DueAt: time.Now().Add(time.Hour)},
	)

	fired := make(chan vayva.Reminder, 10)
	s, err := postgres.NewScheduler(db, func(_ context.Context, r vayva.Reminder) error {
		fired <- r
		return nil
	}, postgres.SchedulerConfig{})
	require.NoError(t, err)

	n, err := s.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Len(t, fired, 1)
	r := <-fired
	require.Equal(t, "order", r.Kind)
	require.Equal(t, "ord_1", r.Identity)
	require.Equal(t, "expire-unpaid", r.Name)
	require.Equal(t, []byte("payload"), r.Payload)
	require.True(t, due.Equal(r.DueAt), "due %v, got %v", due, r.DueAt)

	// Leased now: not fired again while the lease runs, though it is still
	// there (its actor has not cancelled it).
	n, err = s.RunOnce(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
	require.Empty(t, fired)
	require.Equal(t, int64(1), queryInt(t, db, `SELECT attempts FROM runtime.reminders WHERE name = 'expire-unpaid'`))
}

func TestSchedulerLoopDeliversToOwner(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := pgtest.New(t)
	j := postgres.NewJournal(db, "node-a")
	owned := newOwners(j)
	setReminders(t, j, "order", "ord_1", vayva.Reminder{Name: "expire-unpaid", DueAt: time.Now()})

	var fires atomic.Int64
	s, err := postgres.NewScheduler(db, func(ctx context.Context, r vayva.Reminder) error {
		fires.Add(1)
		return owned.cancel(ctx, r)
	}, postgres.SchedulerConfig{Interval: 10 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, s.Stop(ctx), "stopping before starting is harmless")
	require.NoError(t, s.Start(ctx))
	require.ErrorIs(t, s.Start(ctx), startstop.ErrStarted, "a scheduler starts once")

	require.Eventually(t, func() bool {
		return queryInt(t, db, `SELECT count(*) FROM runtime.reminders`) == 0
	}, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, s.Stop(ctx))
	require.NoError(t, s.Stop(ctx), "Stop is idempotent")
	require.Equal(t, int64(1), fires.Load())
}

func TestSchedulersNeverShareAReminder(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := pgtest.New(t)
	j := postgres.NewJournal(db, "node-a")
	const identities, perIdentity = 20, 10
	for i := range identities {
		var rs []vayva.Reminder
		for k := range perIdentity {
			rs = append(rs, vayva.Reminder{Name: fmt.Sprintf("r%d", k), DueAt: time.Now().Add(-time.Minute)})
		}
		setReminders(t, j, "order", fmt.Sprintf("ord_%d", i), rs...)
	}
	const total = identities * perIdentity

	// Scheduler A claims a batch and holds it: its fires block until
	// released. Meanwhile scheduler B drains everything else.
	const batch = 7
	inFlightA := make(chan string, batch)
	release := make(chan struct{})
	a, err := postgres.NewScheduler(db, func(_ context.Context, r vayva.Reminder) error {
		inFlightA <- reminderKey(r)
		<-release
		return nil
	}, postgres.SchedulerConfig{Batch: batch, Concurrency: batch, Lease: time.Hour})
	require.NoError(t, err)
	var (
		mu      sync.Mutex
		firedB  = map[string]int{}
		doneA   = make(chan error, 1)
		claimsA int
	)
	b, err := postgres.NewScheduler(db, func(_ context.Context, r vayva.Reminder) error {
		mu.Lock()
		firedB[reminderKey(r)]++
		mu.Unlock()
		return nil
	}, postgres.SchedulerConfig{Batch: batch, Concurrency: 3, Lease: time.Hour})
	require.NoError(t, err)

	go func() {
		n, err := a.RunOnce(ctx)
		claimsA = n
		doneA <- err
	}()
	heldByA := map[string]bool{}
	for range batch {
		heldByA[<-inFlightA] = true
	}
	for {
		n, err := b.RunOnce(ctx)
		require.NoError(t, err)
		if n == 0 {
			break
		}
	}
	close(release)
	require.NoError(t, <-doneA)
	require.Equal(t, batch, claimsA)

	require.Len(t, heldByA, batch)
	require.Len(t, firedB, total-batch)
	for key, n := range firedB {
		require.False(t, heldByA[key], "%s fired by both schedulers", key)
		require.Equal(t, 1, n, key)
	}
	n, err := a.RunOnce(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "everything is leased")
}

func TestSchedulersRacingFireEachReminderOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := pgtest.New(t)
	j := postgres.NewJournal(db, "node-a")
	owned := newOwners(j)
	const identities, perIdentity = 10, 15
	for i := range identities {
		var rs []vayva.Reminder
		for k := range perIdentity {
			rs = append(rs, vayva.Reminder{Name: fmt.Sprintf("r%d", k), DueAt: time.Now().Add(-time.Minute)})
		}
		setReminders(t, j, "order", fmt.Sprintf("ord_%d", i), rs...)
	}
	const total = identities * perIdentity

	var (
		mu       sync.Mutex
		inFlight = map[string]bool{}
		fired    = map[string]int{}
		overlaps int
	)
	fire := func(ctx context.Context, r vayva.Reminder) error {
		key := reminderKey(r)
		mu.Lock()
		if inFlight[key] {
			overlaps++
		}
		inFlight[key] = true
		fired[key]++
		mu.Unlock()
		err := owned.cancel(ctx, r)
		mu.Lock()
		delete(inFlight, key)
		mu.Unlock()
		return err
	}
	cfg := postgres.SchedulerConfig{Interval: time.Millisecond, Batch: 5, Concurrency: 4, Lease: time.Hour}
	var schedulers []*postgres.Scheduler
	for range 3 {
		s, err := postgres.NewScheduler(db, fire, cfg)
		require.NoError(t, err)
		require.NoError(t, s.Start(ctx))
		schedulers = append(schedulers, s)
	}
	require.Eventually(t, func() bool {
		return queryInt(t, db, `SELECT count(*) FROM runtime.reminders`) == 0
	}, 30*time.Second, 10*time.Millisecond)
	for _, s := range schedulers {
		require.NoError(t, s.Stop(ctx))
	}

	mu.Lock()
	defer mu.Unlock()
	require.Zero(t, overlaps)
	require.Len(t, fired, total)
	for key, n := range fired {
		require.Equal(t, 1, n, key)
	}
}

func TestSchedulerRefiresAfterFailedFire(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := pgtest.New(t)
	j := postgres.NewJournal(db, "node-a")
	owned := newOwners(j)
	setReminders(t, j, "order", "ord_1", vayva.Reminder{Name: "retry-delivery", DueAt: time.Now()})

	var attempts atomic.Int64
	s, err := postgres.NewScheduler(db, func(ctx context.Context, r vayva.Reminder) error {
		if attempts.Add(1) == 1 {
			return errors.New("owner unreachable")
		}
		return owned.cancel(ctx, r)
	}, postgres.SchedulerConfig{Lease: 500 * time.Millisecond})
	require.NoError(t, err)

	n, err := s.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, int64(1), attempts.Load())
	n, err = s.RunOnce(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "held by the lease")

	require.Eventually(t, func() bool {
		n, err := s.RunOnce(ctx)
		require.NoError(t, err)
		return n == 1
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, int64(2), attempts.Load())
	require.Zero(t, queryInt(t, db, `SELECT count(*) FROM runtime.reminders`), "the owner cancelled it")
}

func TestSchedulerConfig(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	fire := func(context.Context, vayva.Reminder) error { return nil }
	_, err := postgres.NewScheduler(db, nil, postgres.SchedulerConfig{})
	require.Error(t, err)
	_, err = postgres.NewScheduler(db, fire, postgres.SchedulerConfig{Lease: -time.Second})
	require.Error(t, err)
	_, err = postgres.NewScheduler(db, fire, postgres.SchedulerConfig{Batch: -1})
	require.Error(t, err)
}
