package postgres

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"github.com/vayvahq/vayva/internal/startstop"
)

// Janitor periodically deletes expired runtime rows: stored Idempotency-Key
// responses older than IdempotencyRetention. Every node may run one; the
// deletes are idempotent. It is a long-lived component with the semantics
// of package startstop; its Stop cancels a round in progress and waits for
// it.
type Janitor struct {
	startstop.BaseStartStop

	db       *DB
	log      zerolog.Logger
	interval time.Duration
}

// NewJanitor returns a janitor that runs every interval (default 10 minutes
// when zero).
func NewJanitor(db *DB, interval time.Duration, log zerolog.Logger) *Janitor {
	if interval <= 0 {
		interval = 10 * time.Minute
	}
	return &Janitor{db: db, interval: interval, log: log.With().Str("component", "janitor").Logger()}
}

// Start runs the janitor in the background until Stop; ctx bounds only the
// start.
func (j *Janitor) Start(ctx context.Context) error {
	run, started, stopped, err := j.StartInit(ctx)
	if err != nil {
		return err
	}
	go func() {
		defer stopped()
		t := time.NewTicker(j.interval)
		defer t.Stop()
		for {
			j.RunOnce(run)
			select {
			case <-run.Done():
				return
			case <-t.C:
			}
		}
	}()
	started()
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
