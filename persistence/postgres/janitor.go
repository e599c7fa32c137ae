package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Janitor periodically deletes expired runtime rows: stored Idempotency-Key
// responses older than IdempotencyRetention. Every node may run one; the
// deletes are idempotent.
type Janitor struct {
	db       *DB
	log      zerolog.Logger
	interval time.Duration

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// NewJanitor returns a janitor that runs every interval (default 10 minutes
// when zero).
func NewJanitor(db *DB, interval time.Duration, log zerolog.Logger) *Janitor {
	if interval <= 0 {
		interval = 10 * time.Minute
	}
	return &Janitor{db: db, interval: interval, log: log.With().Str("component", "janitor").Logger()}
}

// Start runs the janitor in the background until Stop.
func (j *Janitor) Start(context.Context) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.done != nil {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	j.cancel, j.done = cancel, make(chan struct{})
	go func() {
		defer close(j.done)
		t := time.NewTicker(j.interval)
		defer t.Stop()
		for {
			j.RunOnce(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return nil
}

// RunOnce deletes what has expired now.
func (j *Janitor) RunOnce(ctx context.Context) {
	n, err := j.db.PruneIdempotencyKeys(ctx, IdempotencyRetention)
	if err != nil {
		if ctx.Err() == nil {
			j.log.Warn().Err(err).Msg("pruning idempotency keys")
		}
		return
	}
	if n > 0 {
		j.log.Debug().Int64("deleted", n).Msg("pruned idempotency keys")
	}
}

// Stop stops the janitor and waits for it. Safe to call twice.
func (j *Janitor) Stop(ctx context.Context) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.done == nil {
		return nil
	}
	j.cancel()
	select {
	case <-j.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
