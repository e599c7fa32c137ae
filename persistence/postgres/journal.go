package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
)

var _ actors.Journal = (*Journal)(nil)

// applyFunc writes one domain change inside a commit's transaction.
type applyFunc func(ctx context.Context, tx pgx.Tx, change any) error

// packageAppliers are the change appliers every Journal starts with. Files
// of this package that own a domain's tables register theirs from init with
// registerChange.
var (
	packageAppliersMu sync.Mutex
	packageAppliers   = map[reflect.Type]applyFunc{}
)

// registerChange makes every Journal created afterwards apply changes of
// type T with apply. It is meant for init functions of this package.
func registerChange[T any](apply func(ctx context.Context, tx pgx.Tx, change T) error) {
	packageAppliersMu.Lock()
	defer packageAppliersMu.Unlock()
	packageAppliers[reflect.TypeFor[T]()] = wrapApply(apply)
}

func wrapApply[T any](apply func(ctx context.Context, tx pgx.Tx, change T) error) applyFunc {
	return func(ctx context.Context, tx pgx.Tx, change any) error {
		return apply(ctx, tx, change.(T))
	}
}

// Journal is the PostgreSQL implementation of actors.Journal: activation
// epochs, version-checked commits, the command inbox, the outbox and
// durable reminders, all in the runtime schema. See the package
// documentation for the fencing mechanism.
type Journal struct {
	db    *DB
	owner string

	mu       sync.RWMutex
	appliers map[reflect.Type]applyFunc
}

// NewJournal returns a journal that writes through db. owner identifies this
// node (its cluster member id) and is recorded with each activation it
// claims, for operators.
func NewJournal(db *DB, owner string) *Journal {
	j := &Journal{db: db, owner: owner, appliers: map[reflect.Type]applyFunc{}}
	packageAppliersMu.Lock()
	for t, f := range packageAppliers {
		j.appliers[t] = f
	}
	packageAppliersMu.Unlock()
	return j
}

// HandleChange makes j apply commit changes whose dynamic type is exactly T
// (a struct type and a pointer to it are different types) by calling apply
// inside the commit's transaction, which runs as the commit's domain role.
// Registering T again replaces the earlier applier.
func HandleChange[T any](j *Journal, apply func(ctx context.Context, tx pgx.Tx, change T) error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.appliers[reflect.TypeFor[T]()] = wrapApply(apply)
}

// Activate claims a new epoch for the identity, superseding every earlier
// activation of it wherever it runs, and returns the identity's current
// version and snapshot. It is a single upsert, so two concurrent activations
// get different epochs and the later one wins.
func (j *Journal) Activate(ctx context.Context, kind, identity string) (*actors.Activation, error) {
	if kind == "" || identity == "" {
		return nil, fmt.Errorf("postgres: activate: kind and identity are required")
	}
	a := &actors.Activation{Kind: kind, Identity: identity}
	err := j.db.InDomain(ctx, vayva.DomainRuntime, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `
			INSERT INTO runtime.actors (kind, identity, epoch, owner) VALUES ($1, $2, 1, $3)
			ON CONFLICT (kind, identity) DO UPDATE
				SET epoch = runtime.actors.epoch + 1, owner = excluded.owner, activated_at = now()
			RETURNING epoch, version, snapshot`,
			kind, identity, j.owner,
		).Scan(&a.Epoch, &a.Version, &a.Snapshot)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: activate %s/%s: %w", kind, identity, err)
	}
	return a, nil
}

// Commit applies c in one transaction run as c.Domain's role, if a still
// holds the identity's epoch and version. In order, it:
//
//  1. returns the stored reply, writing nothing, when c.CommandID was
//     already applied to this identity;
//  2. advances the identity's version, checking epoch and version in the
//     same UPDATE (no row means a is stale: vayva.ErrStaleEpoch); the row
//     lock it takes also orders the commit against a concurrent Activate;
//  3. applies c.Changes through the registered appliers;
//  4. records c.CommandID and c.Reply in the inbox;
//  5. appends c.Events to the outbox, filling in missing IDs and times;
//  6. deletes c.CancelReminders, then creates or moves c.SetReminders.
//
// After the transaction has committed it increments a.Version and, when
// c.Snapshot is non-nil, sets a.Snapshot. One Activation must not be used by
// concurrent commits.
func (j *Journal) Commit(ctx context.Context, a *actors.Activation, c actors.Commit) (reply []byte, replayed bool, err error) {
	if a == nil {
		return nil, false, errors.New("postgres: commit: nil activation")
	}
	events, err := outboxRows(c.Events)
	if err != nil {
		return nil, false, fmt.Errorf("postgres: commit %s/%s: %w", a.Kind, a.Identity, err)
	}
	if err := checkReminders(a, c.SetReminders, c.CancelReminders); err != nil {
		return nil, false, fmt.Errorf("postgres: commit %s/%s: %w", a.Kind, a.Identity, err)
	}
	appliers, err := j.appliersFor(c.Changes)
	if err != nil {
		return nil, false, fmt.Errorf("postgres: commit %s/%s: %w", a.Kind, a.Identity, err)
	}

	err = j.db.InDomain(ctx, c.Domain, func(ctx context.Context, tx pgx.Tx) error {
		reply, replayed = nil, false
		if c.CommandID != "" {
			var stored []byte
			err := tx.QueryRow(ctx,
				`SELECT reply FROM runtime.inbox WHERE kind = $1 AND identity = $2 AND command_id = $3`,
				a.Kind, a.Identity, c.CommandID,
			).Scan(&stored)
			switch {
			case err == nil:
				reply, replayed = stored, true
				return nil
			case !errors.Is(err, pgx.ErrNoRows):
				return fmt.Errorf("inbox: %w", err)
			}
		}

		tag, err := tx.Exec(ctx, `
			UPDATE runtime.actors
			SET version = version + 1, snapshot = COALESCE($5, snapshot), updated_at = now()
			WHERE kind = $1 AND identity = $2 AND epoch = $3 AND version = $4`,
			a.Kind, a.Identity, a.Epoch, a.Version, c.Snapshot,
		)
		if err != nil {
			return fmt.Errorf("fence: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("epoch %d version %d: %w", a.Epoch, a.Version, vayva.ErrStaleEpoch)
		}

		for i, change := range c.Changes {
			if err := appliers[i](ctx, tx, change); err != nil {
				return fmt.Errorf("apply %T: %w", change, err)
			}
		}

		return writeRest(ctx, tx, a, c, events)
	})
	if err != nil {
		return nil, false, fmt.Errorf("postgres: commit %s/%s: %w", a.Kind, a.Identity, err)
	}
	if replayed {
		return reply, true, nil
	}
	a.Version++
	if c.Snapshot != nil {
		a.Snapshot = c.Snapshot
	}
	return c.Reply, false, nil
}

// writeRest writes the inbox row, the outbox rows and the reminder changes
// of a commit in one round trip.
func writeRest(ctx context.Context, tx pgx.Tx, a *actors.Activation, c actors.Commit, events []outboxRow) error {
	var b pgx.Batch
	if c.CommandID != "" {
		b.Queue(`
			INSERT INTO runtime.inbox (kind, identity, command_id, reply) VALUES ($1, $2, $3, $4)
			ON CONFLICT DO NOTHING`,
			a.Kind, a.Identity, c.CommandID, c.Reply,
		).Exec(func(tag pgconn.CommandTag) error {
			// The version check passed, so no other activation can have
			// recorded this command since; finding it anyway means the
			// fence was bypassed, and the commit must not proceed.
			if tag.RowsAffected() == 0 {
				return fmt.Errorf("inbox: command %q already recorded: %w", c.CommandID, vayva.ErrStaleEpoch)
			}
			return nil
		})
	}
	for _, e := range events {
		b.Queue(`
			INSERT INTO runtime.outbox (event_id, aggregate_kind, aggregate_id, queue, key, type, merchant_id, payload)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			e.id, a.Kind, a.Identity, e.queue, e.key, e.typ, e.merchantID, e.payload,
		)
	}
	if len(c.CancelReminders) > 0 {
		b.Queue(`DELETE FROM runtime.reminders WHERE kind = $1 AND identity = $2 AND name = ANY($3)`,
			a.Kind, a.Identity, c.CancelReminders)
	}
	for _, r := range c.SetReminders {
		b.Queue(`
			INSERT INTO runtime.reminders (kind, identity, name, due_at, payload) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (kind, identity, name) DO UPDATE
				SET due_at = excluded.due_at, payload = excluded.payload, lease_until = NULL, attempts = 0`,
			a.Kind, a.Identity, r.Name, r.DueAt, r.Payload,
		)
	}
	if b.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// appliersFor looks up the applier of every change before the transaction
// starts, so an unregistered type fails without touching the database.
func (j *Journal) appliersFor(changes []any) ([]applyFunc, error) {
	if len(changes) == 0 {
		return nil, nil
	}
	j.mu.RLock()
	defer j.mu.RUnlock()
	out := make([]applyFunc, len(changes))
	for i, change := range changes {
		f, ok := j.appliers[reflect.TypeOf(change)]
		if !ok {
			return nil, fmt.Errorf("no applier registered for change type %T", change)
		}
		out[i] = f
	}
	return out, nil
}

// outboxRow is one event ready for the outbox.
type outboxRow struct {
	id, queue, key, typ, merchantID string
	payload                         []byte
}

// outboxRows validates events and serialises them, giving each an ID and an
// occurrence time when it has none. The caller's slice is not modified.
func outboxRows(events []vayva.Event) ([]outboxRow, error) {
	if len(events) == 0 {
		return nil, nil
	}
	now := time.Now().UTC()
	rows := make([]outboxRow, len(events))
	for i, e := range events {
		if e.Type == "" || e.Queue == "" {
			return nil, fmt.Errorf("event %d: type and queue are required", i)
		}
		if e.ID == "" {
			e.ID = vayva.NewID("evt")
		}
		if e.OccurredAt.IsZero() {
			e.OccurredAt = now
		}
		payload, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("event %s: %w", e.ID, err)
		}
		rows[i] = outboxRow{id: e.ID, queue: e.Queue, key: e.Key, typ: e.Type, merchantID: e.MerchantID, payload: payload}
	}
	return rows, nil
}

// checkReminders refuses reminders that do not belong to the committing
// identity or lack a name or due time.
func checkReminders(a *actors.Activation, set []vayva.Reminder, cancel []string) error {
	for _, r := range set {
		if (r.Kind != "" && r.Kind != a.Kind) || (r.Identity != "" && r.Identity != a.Identity) {
			return fmt.Errorf("reminder %q belongs to %s/%s, not to the committing identity", r.Name, r.Kind, r.Identity)
		}
		if r.Name == "" || r.DueAt.IsZero() {
			return fmt.Errorf("reminder %q: name and due time are required", r.Name)
		}
	}
	for _, name := range cancel {
		if name == "" {
			return errors.New("cancelled reminder without a name")
		}
	}
	return nil
}
