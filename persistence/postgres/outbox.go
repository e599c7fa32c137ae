package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vayvahq/vayva"
)

// OutboxLockKey is the advisory lock whose holder is the one outbox relay
// allowed to publish. Advisory locks are scoped to a database, so
// deployments (and test databases) sharing a server do not contend.
const OutboxLockKey int64 = 0x7661797661_0b0c // "vayva" + "ob"

// Outbox gives the outbox relay its SQL: leadership through a session-level
// advisory lock, reading unpublished rows in order, marking them published
// and pruning old ones.
type Outbox struct {
	db      *DB
	lockKey int64
}

// NewOutbox returns the relay's view of db's outbox, led through
// OutboxLockKey.
func NewOutbox(db *DB) *Outbox { return &Outbox{db: db, lockKey: OutboxLockKey} }

// Lead opens a dedicated connection (outside the pool) and tries to take the
// relay lock on it. On success the returned OutboxLeader holds the lock
// until it is closed or its connection breaks; every statement of the
// leader runs on that connection, so a leader whose connection died can
// neither read nor mark anything. When another session holds the lock, Lead
// returns vayva.ErrNotLeader.
func (o *Outbox) Lead(ctx context.Context) (*OutboxLeader, error) {
	cfg := o.db.pool.Config().ConnConfig.Copy()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: outbox: connect: %w", interpretError(err))
	}
	var locked bool
	// The relay's statements run as the runtime role, which owns the outbox
	// like every domain role does; the lock itself needs no privilege.
	err = conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, o.lockKey).Scan(&locked)
	if err == nil && locked {
		_, err = conn.Exec(ctx, "SET ROLE "+pgx.Identifier{vayva.DomainRuntime.Role()}.Sanitize())
	}
	if err != nil || !locked {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
		if err != nil {
			return nil, fmt.Errorf("postgres: outbox: lock: %w", interpretError(err))
		}
		return nil, vayva.ErrNotLeader
	}
	return &OutboxLeader{conn: conn}, nil
}

// OutboxLeader is the relay's session while it holds the lock. It is used
// by one goroutine at a time.
type OutboxLeader struct {
	conn *pgx.Conn
}

// Unpublished returns up to limit unpublished rows, oldest (lowest Seq)
// first. A row committed after a higher Seq was already published appears
// in a later call; rows of one aggregate are committed in Seq order, so
// per-aggregate order holds.
func (l *OutboxLeader) Unpublished(ctx context.Context, limit int) ([]vayva.OutboxEvent, error) {
	rows, err := l.conn.Query(ctx, `
		SELECT id, event_id, aggregate_kind, aggregate_id, queue, key, type, merchant_id, payload, created_at
		FROM runtime.outbox WHERE published_at IS NULL ORDER BY id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: outbox: read: %w", interpretError(err))
	}
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (vayva.OutboxEvent, error) {
		var e vayva.OutboxEvent
		err := r.Scan(&e.Seq, &e.EventID, &e.AggregateKind, &e.AggregateID, &e.Queue, &e.Key, &e.Type,
			&e.MerchantID, &e.Payload, &e.CreatedAt)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: outbox: read: %w", interpretError(err))
	}
	return events, nil
}

// MarkPublished stamps published_at on the rows with the given Seqs.
func (l *OutboxLeader) MarkPublished(ctx context.Context, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	if _, err := l.conn.Exec(ctx, `UPDATE runtime.outbox SET published_at = now() WHERE id = ANY($1) AND published_at IS NULL`, seqs); err != nil {
		return fmt.Errorf("postgres: outbox: mark published: %w", interpretError(err))
	}
	return nil
}

// Prune deletes up to limit rows published before the given time, oldest
// first, and returns how many it deleted.
func (l *OutboxLeader) Prune(ctx context.Context, before time.Time, limit int) (int64, error) {
	tag, err := l.conn.Exec(ctx, `
		DELETE FROM runtime.outbox WHERE id IN (
			SELECT id FROM runtime.outbox
			WHERE published_at IS NOT NULL AND published_at < $1
			ORDER BY id LIMIT $2)`, before, limit)
	if err != nil {
		return 0, fmt.Errorf("postgres: outbox: prune: %w", interpretError(err))
	}
	return tag.RowsAffected(), nil
}

// Ping checks that the leader's connection, and with it the lock, is alive.
func (l *OutboxLeader) Ping(ctx context.Context) error {
	if err := l.conn.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: outbox: ping: %w", interpretError(err))
	}
	return nil
}

// Close releases the lock by closing the connection. Safe to call twice.
func (l *OutboxLeader) Close(ctx context.Context) error {
	if l.conn.IsClosed() {
		return nil
	}
	if err := l.conn.Close(ctx); err != nil {
		return fmt.Errorf("postgres: outbox: close: %w", err)
	}
	return nil
}

// AppendOutbox appends events to runtime.outbox in tx, as caused by the
// aggregate (kind, id), filling in missing ids and occurrence times. It is
// the outbox write of repositories that are not actors (actors append
// through their commit).
func AppendOutbox(ctx context.Context, tx pgx.Tx, kind, id string, events ...vayva.Event) error {
	rows, err := outboxRows(events)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	if len(rows) == 0 {
		return nil
	}
	var b pgx.Batch
	queueEvents(&b, kind, id, rows)
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return fmt.Errorf("outbox: append: %w", err)
	}
	return nil
}

// queueEvents queues the outbox rows of events caused by the aggregate
// (kind, id) on b. It holds the one INSERT into runtime.outbox: actor
// commits (writeRest), repositories (AppendOutbox) and sign-up and team
// changes all write their events through it, in whatever round trip they
// already make.
func queueEvents(b *pgx.Batch, kind, id string, rows []outboxRow) {
	for _, e := range rows {
		b.Queue(`
			INSERT INTO runtime.outbox (event_id, aggregate_kind, aggregate_id, queue, key, type, merchant_id, payload)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			e.id, kind, id, e.queue, e.key, e.typ, e.merchantID, e.payload)
	}
}
