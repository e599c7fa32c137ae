package worker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/internal/startstop"
	"github.com/vayvahq/vayva/persistence/redis/queue"
)

// OutboxStore hands out the relay's leadership and, with it, its SQL.
// *postgres.Outbox is one through LeadWith. When another process leads,
// Lead returns vayva.ErrNotLeader.
type OutboxStore interface {
	Lead(ctx context.Context) (OutboxLeader, error)
}

// OutboxLeader is the relay's session while it holds the leadership: it
// reads unpublished events in outbox order, marks them published and prunes
// old ones, and loses the leadership when closed or when its session
// breaks. Implemented by *postgres.OutboxLeader.
type OutboxLeader interface {
	Unpublished(ctx context.Context, limit int) ([]vayva.OutboxEvent, error)
	MarkPublished(ctx context.Context, seqs []int64) error
	Prune(ctx context.Context, before time.Time, limit int) (int64, error)
	Close(ctx context.Context) error
}

// LeadWith makes an OutboxStore of a function that takes the leadership
// and returns a leader of a concrete type, such as the method value
// (*postgres.Outbox).Lead, so that this package names no storage type.
func LeadWith[L OutboxLeader](lead func(ctx context.Context) (L, error)) OutboxStore {
	return leadFunc[L](lead)
}

type leadFunc[L OutboxLeader] func(ctx context.Context) (L, error)

func (f leadFunc[L]) Lead(ctx context.Context) (OutboxLeader, error) {
	l, err := f(ctx)
	if err != nil {
		// A nil *T must not become a non-nil interface.
		return nil, err
	}
	return l, nil
}

// Publisher enqueues jobs. Implemented by *queue.Broker.
type Publisher interface {
	Enqueue(ctx context.Context, queueName string, job queue.Job) (string, error)
}

var _ Publisher = (*queue.Broker)(nil)

// RelayConfig configures a Relay. The zero value is valid.
type RelayConfig struct {
	// PollInterval is how long the leader waits before reading the outbox
	// again after a read that did not fill a batch. Defaults to 100ms.
	PollInterval time.Duration
	// BatchSize is the most rows read, published and marked per round.
	// Defaults to 500.
	BatchSize int
	// LeaderRetry is how often a follower tries to take the relay lock.
	// Defaults to 1s.
	LeaderRetry time.Duration
	// Retention is how long published rows stay before they are pruned.
	// Defaults to 7 days.
	Retention time.Duration
	// PruneInterval is how often the leader prunes. Defaults to 1m.
	PruneInterval time.Duration
	// PruneBatch is the most rows deleted per statement. Defaults to 1000.
	PruneBatch int
	// Registerer receives the relay metrics. Nil keeps them unregistered.
	Registerer prometheus.Registerer
	// Logger receives operational logs. The zero value discards them.
	Logger zerolog.Logger
}

func (c *RelayConfig) setDefaults() error {
	if c.PollInterval == 0 {
		c.PollInterval = 100 * time.Millisecond
	}
	if c.BatchSize == 0 {
		c.BatchSize = 500
	}
	if c.LeaderRetry == 0 {
		c.LeaderRetry = time.Second
	}
	if c.Retention == 0 {
		c.Retention = 7 * 24 * time.Hour
	}
	if c.PruneInterval == 0 {
		c.PruneInterval = time.Minute
	}
	if c.PruneBatch == 0 {
		c.PruneBatch = 1000
	}
	switch {
	case c.PollInterval < 0, c.LeaderRetry < 0, c.Retention < 0, c.PruneInterval < 0:
		return errors.New("worker: relay: PollInterval, LeaderRetry, Retention and PruneInterval must be positive")
	case c.BatchSize < 1 || c.BatchSize > 10000:
		return errors.New("worker: relay: BatchSize must be between 1 and 10000")
	case c.PruneBatch < 1:
		return errors.New("worker: relay: PruneBatch must be positive")
	}
	return nil
}

// Relay publishes the transactional outbox to the queues (see the package
// documentation). It is a long-lived component with the semantics of
// package startstop.
type Relay struct {
	startstop.BaseStartStop

	cfg     RelayConfig
	store   OutboxStore
	pub     Publisher
	log     zerolog.Logger
	metrics relayMetrics
	leading atomic.Bool

	// beforeMark, when set, runs after a batch was enqueued and before it is
	// marked; an error abandons the round as a crash would.
	beforeMark func(published []vayva.OutboxEvent) error
}

type relayMetrics struct {
	lag       prometheus.Gauge
	leader    prometheus.Gauge
	published *prometheus.CounterVec
	dropped   prometheus.Counter
	pruned    prometheus.Counter
}

// NewRelay returns a relay publishing store's outbox through pub.
func NewRelay(cfg RelayConfig, store OutboxStore, pub Publisher) (*Relay, error) {
	if store == nil || pub == nil {
		return nil, errors.New("worker: relay: a store and a publisher are required")
	}
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	r := &Relay{cfg: cfg, store: store, pub: pub, log: cfg.Logger.With().Str("component", "outbox-relay").Logger()}
	r.metrics = relayMetrics{
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vayva_outbox_lag_seconds",
			Help: "Age of the oldest unpublished outbox row, as seen by the relay leader (0 on followers).",
		}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vayva_outbox_relay_leader",
			Help: "1 while this node's relay holds the outbox lock.",
		}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vayva_outbox_published_total",
			Help: "Outbox events published to their queue, by queue.",
		}, []string{"queue"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vayva_outbox_dropped_total",
			Help: "Outbox events that no queue accepts (unknown queue, invalid job) and were skipped.",
		}),
		pruned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vayva_outbox_pruned_total",
			Help: "Published outbox rows deleted after the retention period.",
		}),
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{r.metrics.lag, r.metrics.leader, r.metrics.published, r.metrics.dropped, r.metrics.pruned} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("worker: relay: register metrics: %w", err)
			}
		}
	}
	return r, nil
}

// Start starts the relay's loop: it competes for leadership and, while it
// leads, publishes. ctx bounds only the start.
func (r *Relay) Start(ctx context.Context) error {
	run, started, stopped, err := r.StartInit(ctx)
	if err != nil {
		return err
	}
	go func() {
		defer stopped()
		r.run(run)
	}()
	started()
	return nil
}

// Stop stops publishing, releases the lock and waits for the loop to end
// (or for ctx). A batch enqueued but not yet marked is published again by
// the next leader.
func (r *Relay) Stop(ctx context.Context) error {
	if err := r.BaseStartStop.Stop(ctx); err != nil {
		return fmt.Errorf("worker: relay: %w", err)
	}
	return nil
}

// Leading reports whether the relay currently holds the outbox lock.
func (r *Relay) Leading() bool { return r.leading.Load() }

func (r *Relay) run(ctx context.Context) {
	var failing bool
	for ctx.Err() == nil {
		leader, err := r.store.Lead(ctx)
		switch {
		case errors.Is(err, vayva.ErrNotLeader):
			failing = false
			sleepCtx(ctx, jitter(r.cfg.LeaderRetry))
			continue
		case err != nil:
			if !failing && ctx.Err() == nil {
				r.log.Warn().Err(err).Msg("outbox relay cannot reach the database; retrying")
			}
			failing = true
			sleepCtx(ctx, jitter(r.cfg.LeaderRetry))
			continue
		}
		failing = false
		r.leading.Store(true)
		r.metrics.leader.Set(1)
		r.log.Info().Msg("outbox relay is the leader")
		err = r.lead(ctx, leader)
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = leader.Close(cctx)
		cancel()
		r.leading.Store(false)
		r.metrics.leader.Set(0)
		r.metrics.lag.Set(0)
		if ctx.Err() != nil {
			return
		}
		r.log.Warn().Err(err).Msg("outbox relay lost its database session; competing for leadership again")
		sleepCtx(ctx, jitter(r.cfg.PollInterval))
	}
}

// lead publishes while the session holds the lock. It returns when the
// session fails (the lock is then gone) or ctx ends.
func (r *Relay) lead(ctx context.Context, l OutboxLeader) error {
	var lastPrune time.Time
	var pubFailing bool
	for ctx.Err() == nil {
		n, pubErr, err := r.publishOnce(ctx, l)
		if err != nil {
			return err
		}
		if time.Since(lastPrune) >= r.cfg.PruneInterval {
			if err := r.prune(ctx, l); err != nil {
				return err
			}
			lastPrune = time.Now()
		}
		switch {
		case pubErr != nil:
			if !pubFailing && ctx.Err() == nil {
				r.log.Warn().Err(pubErr).Msg("outbox relay cannot enqueue; retrying")
			}
			pubFailing = true
			sleepCtx(ctx, jitter(max(r.cfg.PollInterval, 250*time.Millisecond)))
		case n < r.cfg.BatchSize:
			if pubFailing {
				r.log.Info().Msg("outbox relay enqueues again")
				pubFailing = false
			}
			sleepCtx(ctx, r.cfg.PollInterval)
		}
	}
	return ctx.Err()
}

// publishOnce publishes one batch in outbox order and marks what it
// published. pubErr is a failure to enqueue (the batch stopped there and
// will resume from that row); err is a failure of the database session.
func (r *Relay) publishOnce(ctx context.Context, l OutboxLeader) (n int, pubErr, err error) {
	events, err := l.Unpublished(ctx, r.cfg.BatchSize)
	if err != nil {
		return 0, nil, err
	}
	if len(events) == 0 {
		r.metrics.lag.Set(0)
		return 0, nil, nil
	}
	r.metrics.lag.Set(max(time.Since(events[0].CreatedAt).Seconds(), 0))
	done := make([]int64, 0, len(events))
	for _, e := range events {
		_, err := r.pub.Enqueue(ctx, e.Queue, queue.Job{ID: e.EventID, Key: e.Key, Type: e.Type, Payload: e.Payload})
		if err != nil {
			if vayva.ErrorCode(err) == vayva.EINVALID {
				// No retry can make the queue accept it; holding it would
				// stop the whole outbox.
				r.log.Error().Err(err).Str("event_id", e.EventID).Str("queue", e.Queue).Str("type", e.Type).
					Msg("outbox event cannot be published to its queue; skipped")
				r.metrics.dropped.Inc()
				done = append(done, e.Seq)
				continue
			}
			pubErr = err
			break
		}
		r.metrics.published.WithLabelValues(e.Queue).Inc()
		done = append(done, e.Seq)
	}
	if r.beforeMark != nil && len(done) > 0 {
		if err := r.beforeMark(events[:len(done)]); err != nil {
			return 0, nil, err
		}
	}
	if err := l.MarkPublished(ctx, done); err != nil {
		return 0, nil, err
	}
	return len(events), pubErr, nil
}

func (r *Relay) prune(ctx context.Context, l OutboxLeader) error {
	before := time.Now().Add(-r.cfg.Retention)
	for ctx.Err() == nil {
		n, err := l.Prune(ctx, before, r.cfg.PruneBatch)
		if err != nil {
			return err
		}
		r.metrics.pruned.Add(float64(n))
		if n < int64(r.cfg.PruneBatch) {
			return nil
		}
	}
	return ctx.Err()
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// jitter returns d plus or minus up to 10%.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	spread := int64(d) / 5
	if spread <= 0 {
		return d
	}
	return d - time.Duration(spread/2) + time.Duration(rand.Int64N(spread+1))
}
