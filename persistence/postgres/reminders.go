package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/internal/startstop"
)

// SchedulerConfig configures a Scheduler. Zero values take the defaults.
type SchedulerConfig struct {
	// Interval is how often the scheduler looks for due reminders, and so
	// roughly how late a reminder may fire. Defaults to 1s.
	Interval time.Duration
	// Lease is how long a claimed reminder is withheld from every scheduler.
	// The owning actor normally cancels or moves the reminder well within
	// it; if it does not (the fire failed, the node died), the reminder fires
	// again once the lease has run out. Defaults to 30s.
	Lease time.Duration
	// Batch is the largest number of reminders claimed in one round.
	// Defaults to 100.
	Batch int
	// Concurrency is the largest number of Fire calls in flight at once.
	// Defaults to 16.
	Concurrency int
	// Logger receives failures of claims and fires. Defaults to a disabled
	// logger.
	Logger zerolog.Logger
}

func (c *SchedulerConfig) setDefaults() {
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	if c.Lease == 0 {
		c.Lease = 30 * time.Second
	}
	if c.Batch == 0 {
		c.Batch = 100
	}
	if c.Concurrency == 0 {
		c.Concurrency = 16
	}
}

func (c *SchedulerConfig) validate() error {
	switch {
	case c.Interval < 0:
		return errors.New("postgres: scheduler: Interval must not be negative")
	case c.Lease < time.Millisecond:
		return errors.New("postgres: scheduler: Lease must be at least 1ms")
	case c.Batch < 0:
		return errors.New("postgres: scheduler: Batch must not be negative")
	case c.Concurrency < 0:
		return errors.New("postgres: scheduler: Concurrency must not be negative")
	}
	return nil
}

// Scheduler fires durable reminders when they fall due. Every node may run
// one: a reminder is claimed atomically (FOR UPDATE SKIP LOCKED plus a
// lease), so no two schedulers fire it at the same time. Firing delivers the
// reminder to its identity's current activation, which cancels or moves it
// in its own commit. It is a long-lived component with the semantics of
// package startstop.
type Scheduler struct {
	startstop.BaseStartStop

	db   *DB
	fire func(ctx context.Context, r vayva.Reminder) error
	cfg  SchedulerConfig

	abort context.CancelFunc // cancels the round in progress, on a hard stop
}

// NewScheduler returns a scheduler that claims due reminders from db and
// hands each to fire. fire returning an error leaves the reminder to fire
// again after the lease.
func NewScheduler(db *DB, fire func(ctx context.Context, r vayva.Reminder) error, cfg SchedulerConfig) (*Scheduler, error) {
	if db == nil || fire == nil {
		return nil, errors.New("postgres: scheduler: a database and a fire function are required")
	}
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Scheduler{db: db, fire: fire, cfg: cfg}, nil
}

// Start starts the scheduler's loop. It runs until Stop; ctx bounds only
// the start.
func (s *Scheduler) Start(ctx context.Context) error {
	run, started, stopped, err := s.StartInit(ctx)
	if err != nil {
		return err
	}
	// A round's fires get a context that Stop cancels only when its own
	// deadline passes, so a graceful stop lets them finish.
	round, abort := context.WithCancel(context.WithoutCancel(run))
	s.abort = abort
	go func() {
		defer stopped()
		defer abort()
		s.loop(round, run.Done())
	}()
	started()
	return nil
}

// Stop stops the loop and waits for the round in progress, including its
// Fire calls, to finish. If ctx ends first, the round's context is
// cancelled, Stop waits for the round to return and reports ctx's error.
func (s *Scheduler) Stop(ctx context.Context) error {
	if err := s.StopWithAbort(ctx, func() { s.abort() }); err != nil {
		return fmt.Errorf("postgres: scheduler: %w", err)
	}
	return nil
}

func (s *Scheduler) loop(ctx context.Context, stop <-chan struct{}) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		// A full batch suggests more are due: go again at once.
		for {
			n, err := s.RunOnce(ctx)
			if err != nil && ctx.Err() == nil {
				s.cfg.Logger.Error().Err(err).Msg("claim due reminders")
			}
			if err != nil || n < s.cfg.Batch {
				break
			}
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			default:
			}
		}
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce claims up to Batch due reminders, fires them with at most
// Concurrency calls in flight, and returns once every Fire call has
// returned. It reports how many reminders it claimed. It is what the loop
// runs on each tick, exposed so that tests and tools can fire due reminders
// synchronously.
func (s *Scheduler) RunOnce(ctx context.Context) (int, error) {
	due, err := s.db.claimReminders(ctx, s.cfg.Lease, s.cfg.Batch)
	if err != nil {
		return 0, err
	}
	sem := make(chan struct{}, s.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, r := range due {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := s.fire(ctx, r); err != nil {
				s.cfg.Logger.Warn().Err(err).
					Str("kind", r.Kind).Str("identity", r.Identity).Str("reminder", r.Name).
					Dur("retry_in", s.cfg.Lease).
					Msg("fire reminder")
			}
		}()
	}
	wg.Wait()
	return len(due), nil
}

// claimReminders leases up to limit due reminders to the caller and returns
// them. A reminder is due when its time has come and no other scheduler holds
// an unexpired lease on it; rows another transaction is claiming right now
// are skipped, not waited for.
func (db *DB) claimReminders(ctx context.Context, lease time.Duration, limit int) ([]vayva.Reminder, error) {
	var out []vayva.Reminder
	err := db.InDomain(ctx, vayva.DomainRuntime, func(ctx context.Context, tx pgx.Tx) error {
		out = out[:0]
		rows, err := tx.Query(ctx, `
			UPDATE runtime.reminders r
			SET lease_until = now() + $1 * interval '1 microsecond', attempts = r.attempts + 1
			FROM (
				SELECT kind, identity, name FROM runtime.reminders
				WHERE due_at <= now() AND (lease_until IS NULL OR lease_until < now())
				ORDER BY due_at
				LIMIT $2
				FOR UPDATE SKIP LOCKED
			) due
			WHERE r.kind = due.kind AND r.identity = due.identity AND r.name = due.name
			RETURNING r.kind, r.identity, r.name, r.due_at, r.payload`,
			lease.Microseconds(), limit,
		)
		if err != nil {
			return err
		}
		for rows.Next() {
			var r vayva.Reminder
			if err := rows.Scan(&r.Kind, &r.Identity, &r.Name, &r.DueAt, &r.Payload); err != nil {
				rows.Close()
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: claim reminders: %w", err)
	}
	return out, nil
}
