package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
)

var _ actors.Journal = (*Journal)(nil)

// applyFunc writes one domain change inside a commit's transaction.
type applyFunc func(ctx context.Context, tx pgx.Tx, change actors.Change) error

// batchApplyFunc writes every change of one type of a batch in one go.
type batchApplyFunc func(ctx context.Context, tx pgx.Tx, changes []actors.Change) error

// queuedApplyFunc writes one domain change by queueing its statements (and
// the checks of their results, as QueuedQuery callbacks) on the commit's
// pipeline, so the change travels in the same round trip as the fence.
type queuedApplyFunc func(b *pgx.Batch, change actors.Change) error

// packageAppliers and packageBatchAppliers are the change appliers every
// Journal starts with. Files of this package that own a domain's tables
// register theirs from init with registerChange or registerBatchChange.
var (
	packageAppliersMu     sync.Mutex
	packageAppliers       = map[reflect.Type]applyFunc{}
	packageBatchAppliers  = map[reflect.Type]batchApplyFunc{}
	packageQueuedAppliers = map[reflect.Type]queuedApplyFunc{}
)

// registerChange makes every Journal created afterwards apply changes of
// type T with apply. It is meant for init functions of this package.
func registerChange[T actors.Change](apply func(ctx context.Context, tx pgx.Tx, change T) error) {
	packageAppliersMu.Lock()
	defer packageAppliersMu.Unlock()
	packageAppliers[reflect.TypeFor[T]()] = wrapApply(apply)
}

// registerQueuedChange makes every Journal created afterwards apply changes
// of type T by queueing statements on the commit's pipeline (see
// HandleQueuedChange). It is meant for init functions of this package.
func registerQueuedChange[T actors.Change](queue func(b *pgx.Batch, change T) error) {
	packageAppliersMu.Lock()
	defer packageAppliersMu.Unlock()
	packageQueuedAppliers[reflect.TypeFor[T]()] = wrapQueued(queue)
}

func wrapQueued[T actors.Change](queue func(b *pgx.Batch, change T) error) queuedApplyFunc {
	return func(b *pgx.Batch, change actors.Change) error {
		return queue(b, change.(T))
	}
}

// queuedAsTx runs a queued applier inside a transaction, for commits that
// take the transaction path.
func queuedAsTx(q queuedApplyFunc) applyFunc {
	return func(ctx context.Context, tx pgx.Tx, change actors.Change) error {
		var b pgx.Batch
		if err := q(&b, change); err != nil {
			return err
		}
		if b.Len() == 0 {
			return nil
		}
		return tx.SendBatch(ctx, &b).Close()
	}
}

func wrapApply[T actors.Change](apply func(ctx context.Context, tx pgx.Tx, change T) error) applyFunc {
	return func(ctx context.Context, tx pgx.Tx, change actors.Change) error {
		return apply(ctx, tx, change.(T))
	}
}

// registerBatchChange makes every Journal created afterwards write the
// changes of type T of a whole batch with one call of apply, so that a
// group commit of many commands becomes a few multi-row statements instead
// of a statement per command. It is meant for init functions of this
// package.
func registerBatchChange[T actors.Change](apply func(ctx context.Context, tx pgx.Tx, changes []T) error) {
	packageAppliersMu.Lock()
	defer packageAppliersMu.Unlock()
	packageBatchAppliers[reflect.TypeFor[T]()] = func(ctx context.Context, tx pgx.Tx, changes []actors.Change) error {
		typed := make([]T, len(changes))
		for i, c := range changes {
			typed[i] = c.(T)
		}
		return apply(ctx, tx, typed)
	}
}

// Journal is the PostgreSQL implementation of actors.Journal: activation
// epochs, version-checked commits, the command inbox, the outbox and
// durable reminders, all in the runtime schema. See the package
// documentation for the fencing mechanism.
type Journal struct {
	db    *DB
	owner string
	// lease, when set, is asked before and at the end of every activation
	// and commit transaction; an error rolls it back (SetLease).
	lease func() error

	// pipelined and transactional count the commit batches written by
	// each path (CommitPaths).
	pipelined, transactional atomic.Uint64

	mu             sync.RWMutex
	appliers       map[reflect.Type]applyFunc
	batchAppliers  map[reflect.Type]batchApplyFunc
	queuedAppliers map[reflect.Type]queuedApplyFunc
}

// CommitPaths counts the commit batches a journal wrote by each path.
type CommitPaths struct {
	// Pipelined batches took the two-round-trip path (commitPipelined).
	Pipelined uint64
	// Transaction batches took the transaction path: their changes need
	// it, or the pipeline fell back (a stale activation, a replay, a
	// collision).
	Transaction uint64
}

// CommitPaths reports how many commit batches took each path so far.
func (j *Journal) CommitPaths() CommitPaths {
	return CommitPaths{Pipelined: j.pipelined.Load(), Transaction: j.transactional.Load()}
}

// Collectors returns the journal's metrics, for a registry:
// vayva_journal_commit_batches_total{path="pipelined"|"transaction"},
// the commit batches written by each path (CommitPaths). A rising share of
// the transaction path under steady load means the pipeline keeps falling
// back: stale activations, replays or collisions.
func (j *Journal) Collectors() []prometheus.Collector {
	batches := func(path string, n *atomic.Uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "vayva", Subsystem: "journal", Name: "commit_batches_total",
			Help:        "Actor commit batches written, by path: pipelined (two round trips) or transaction.",
			ConstLabels: prometheus.Labels{"path": path},
		}, func() float64 { return float64(n.Load()) })
	}
	return []prometheus.Collector{batches("pipelined", &j.pipelined), batches("transaction", &j.transactional)}
}

// NewJournal returns a journal that writes through db. owner identifies this
// node (its cluster member id) and is recorded with each activation it
// claims, for operators.
func NewJournal(db *DB, owner string) *Journal {
	j := &Journal{db: db, owner: owner, appliers: map[reflect.Type]applyFunc{}, batchAppliers: map[reflect.Type]batchApplyFunc{},
		queuedAppliers: map[reflect.Type]queuedApplyFunc{}}
	packageAppliersMu.Lock()
	for t, f := range packageAppliers {
		j.appliers[t] = f
	}
	for t, f := range packageBatchAppliers {
		j.batchAppliers[t] = f
	}
	for t, f := range packageQueuedAppliers {
		j.queuedAppliers[t] = f
		j.appliers[t] = queuedAsTx(f)
	}
	packageAppliersMu.Unlock()
	return j
}

// SetLease makes every Activate and commit ask lease whether this node may
// still write, before its transaction starts and again as the last step
// inside it, just before COMMIT: an error rolls the transaction back and
// is returned wrapping vayva.ErrStaleEpoch, so the activation stops and
// its caller retries on another member. The node passes its cluster
// member's CheckLease, so a member whose lease lapsed or that was evicted
// writes nothing more. Call it before the journal is used.
func (j *Journal) SetLease(lease func() error) { j.lease = lease }

// checkLease reports the lease's refusal as a stale activation.
func (j *Journal) checkLease() error {
	if j.lease == nil {
		return nil
	}
	if err := j.lease(); err != nil {
		return fmt.Errorf("%w: %w", err, vayva.ErrStaleEpoch)
	}
	return nil
}

// HandleChange makes j apply commit changes whose dynamic type is exactly T
// (a struct type and a pointer to it are different types) by calling apply
// inside the commit's transaction, which runs as the commit's domain role.
// Registering T again replaces the earlier applier.
func HandleChange[T actors.Change](j *Journal, apply func(ctx context.Context, tx pgx.Tx, change T) error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.appliers[reflect.TypeFor[T]()] = wrapApply(apply)
	delete(j.batchAppliers, reflect.TypeFor[T]())
	delete(j.queuedAppliers, reflect.TypeFor[T]())
}

// HandleQueuedChange makes j apply commit changes whose dynamic type is
// exactly T by calling queue, which adds the change's statements to b and
// checks their results in the statements' callbacks (QueuedQuery.Exec and
// friends; a callback's error fails the commit). queue must not read the
// database or depend on results: its statements are sent in one pipeline
// with the fence, the inbox and the outbox rows, so a commit whose changes
// all have queued appliers takes two round trips (that pipeline, COMMIT).
// Registering T again replaces the earlier applier.
func HandleQueuedChange[T actors.Change](j *Journal, queue func(b *pgx.Batch, change T) error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	f := wrapQueued(queue)
	j.queuedAppliers[reflect.TypeFor[T]()] = f
	j.appliers[reflect.TypeFor[T]()] = queuedAsTx(f)
	delete(j.batchAppliers, reflect.TypeFor[T]())
}

// CheckChanges reports every change type in changes that j has no applier
// for. A node calls it with the change types of the kinds it hosts before
// it starts, so a kind whose writes cannot be persisted never runs.
func (j *Journal) CheckChanges(changes []actors.Change) error {
	j.mu.RLock()
	defer j.mu.RUnlock()
	var missing []string
	for _, c := range changes {
		_, one := j.appliers[reflect.TypeOf(c)]
		_, batch := j.batchAppliers[reflect.TypeOf(c)]
		if !one && !batch {
			missing = append(missing, fmt.Sprintf("%T", c))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("postgres: journal has no applier for change types %s", strings.Join(missing, ", "))
	}
	return nil
}

// StoredReply returns the reply the journal recorded for a command already
// applied to a's identity, and whether there is one, reading the
// identity's epoch in the same query: vayva.ErrStaleEpoch when a has been
// superseded.
func (j *Journal) StoredReply(ctx context.Context, a *actors.Activation, commandID string) ([]byte, bool, error) {
	var (
		epoch int64
		reply []byte
		found bool
	)
	err := j.db.Pool().QueryRow(ctx, `
		SELECT a.epoch, i.reply, i.command_id IS NOT NULL
		FROM runtime.actors a
		LEFT JOIN runtime.inbox i ON i.kind = a.kind AND i.identity = a.identity AND i.command_id = $3
		WHERE a.kind = $1 AND a.identity = $2`,
		a.Kind, a.Identity, commandID).Scan(&epoch, &reply, &found)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, false, fmt.Errorf("postgres: stored reply: %s/%s was never activated: %w", a.Kind, a.Identity, vayva.ErrStaleEpoch)
	case err != nil:
		return nil, false, fmt.Errorf("postgres: stored reply: %w", interpretError(err))
	case epoch != a.Epoch:
		return nil, false, fmt.Errorf("postgres: stored reply: %w", vayva.ErrStaleEpoch)
	case !found:
		return nil, false, nil
	}
	return reply, true, nil
}

// Activate claims a new epoch for the identity, superseding every earlier
// activation of it wherever it runs, and returns the identity's current
// version and snapshot. It is a single upsert, so two concurrent activations
// get different epochs and the later one wins.
func (j *Journal) Activate(ctx context.Context, kind, identity string) (*actors.Activation, error) {
	if kind == "" || identity == "" {
		return nil, fmt.Errorf("postgres: activate: kind and identity are required")
	}
	if err := j.checkLease(); err != nil {
		return nil, fmt.Errorf("postgres: activate %s/%s: %w", kind, identity, err)
	}
	a := &actors.Activation{Kind: kind, Identity: identity}
	err := j.db.InDomain(ctx, vayva.DomainRuntime, func(ctx context.Context, tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			INSERT INTO runtime.actors (kind, identity, epoch, owner) VALUES ($1, $2, 1, $3)
			ON CONFLICT (kind, identity) DO UPDATE
				SET epoch = runtime.actors.epoch + 1, owner = excluded.owner, activated_at = now()
			RETURNING epoch, version, snapshot`,
			kind, identity, j.owner,
		).Scan(&a.Epoch, &a.Version, &a.Snapshot)
		if err != nil {
			return err
		}
		return j.checkLease()
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: activate %s/%s: %w", kind, identity, err)
	}
	return a, nil
}

// Commit applies c in one transaction; see CommitBatch.
func (j *Journal) Commit(ctx context.Context, a *actors.Activation, c actors.Commit) (reply []byte, replayed bool, err error) {
	out, err := j.CommitBatch(ctx, a, []actors.Commit{c})
	if err != nil {
		return nil, false, err
	}
	return out[0].Reply, out[0].Replayed, nil
}

// errOnlyReplays aborts a batch transaction all of whose commands were
// already applied: nothing is written, not even the version step.
var errOnlyReplays = errors.New("postgres: every command of the batch is a replay")

// CommitBatch applies cs in one transaction run as their domain's role, if a
// still holds the identity's epoch and version. In order, it:
//
//  1. looks up the batch's command ids in the inbox and advances the
//     identity's version, checking epoch and version in the same UPDATE,
//     both in one round trip. Commands already applied (or repeated within
//     the batch) are replays: nothing of them is written and their outcome
//     carries the first reply. When every command is a replay the
//     transaction is rolled back. Otherwise no row updated means a is stale
//     (vayva.ErrStaleEpoch); the row lock the UPDATE takes also orders the
//     commit against a concurrent Activate;
//  2. applies each remaining commit's Changes through the registered
//     appliers, in order; changes of a type registered with a batch
//     applier are collected over all remaining commits instead (in commit
//     order) and written by one call per type afterwards, types in the
//     order they first appear;
//  3. records their command ids and replies in the inbox, appends their
//     events to the outbox (filling in missing IDs and times), deletes their
//     CancelReminders and creates or moves their SetReminders, in one round
//     trip.
//
// After the transaction has committed it increments a.Version once and sets
// a.Snapshot to the last non-nil Snapshot written. An error from inside the
// transaction means it rolled back; an error at COMMIT whose outcome is
// unknown is vayva.ErrCommitUncertain. One Activation must not be used by
// concurrent commits.
func (j *Journal) CommitBatch(ctx context.Context, a *actors.Activation, cs []actors.Commit) ([]actors.Outcome, error) {
	if a == nil {
		return nil, errors.New("postgres: commit: nil activation")
	}
	if len(cs) == 0 {
		return nil, nil
	}
	if err := j.checkLease(); err != nil {
		return nil, fmt.Errorf("postgres: commit %s/%s: %w", a.Kind, a.Identity, err)
	}
	plan, err := j.planBatch(a, cs)
	if err != nil {
		return nil, fmt.Errorf("postgres: commit %s/%s: %w", a.Kind, a.Identity, err)
	}
	if plan.pipelined {
		outcomes, done, err := j.commitPipelined(ctx, a, cs, plan)
		if done || err != nil {
			if err != nil {
				return nil, fmt.Errorf("postgres: commit %s/%s: %w", a.Kind, a.Identity, err)
			}
			j.pipelined.Add(1)
			return outcomes, nil
		}
	}
	j.transactional.Add(1)

	outcomes := make([]actors.Outcome, len(cs))
	var snapshot []byte
	err = j.db.InDomain(ctx, cs[0].Domain, func(ctx context.Context, tx pgx.Tx) error {
		fresh, err := fence(ctx, tx, a, cs, plan, outcomes, &snapshot)
		if err != nil {
			return err
		}
		var groups []changeGroup
		for _, i := range fresh {
			for k, change := range cs[i].Changes {
				if f := plan.appliers[i][k]; f != nil {
					if err := f(ctx, tx, change); err != nil {
						return fmt.Errorf("apply %T: %w", change, err)
					}
					continue
				}
				groups = addToGroup(groups, plan.batchAppliers[i][k], change)
			}
		}
		for _, g := range groups {
			if err := g.apply(ctx, tx, g.changes); err != nil {
				return fmt.Errorf("apply %d changes %T: %w", len(g.changes), g.changes[0], err)
			}
		}
		if err := writeRest(ctx, tx, a, cs, fresh, plan.events); err != nil {
			return err
		}
		return j.checkLease()
	})
	switch {
	case errors.Is(err, errOnlyReplays):
		return outcomes, nil
	case err != nil:
		return nil, fmt.Errorf("postgres: commit %s/%s: %w", a.Kind, a.Identity, err)
	}
	a.Version++
	if snapshot != nil {
		a.Snapshot = snapshot
	}
	return outcomes, nil
}

// batchPlan is what CommitBatch prepares before its transaction starts.
// For each change either its applier or its batch applier is set.
type batchPlan struct {
	appliers      [][]applyFunc
	batchAppliers [][]batchApplyFunc
	queued        [][]queuedApplyFunc
	events        [][]outboxRow
	ids           []string
	// pipelined is true when every change has a queued applier and no
	// command id repeats within the batch: the commit may take the
	// pipelined path.
	pipelined bool
}

// changeGroup is the changes of one batch-applied type in a batch.
type changeGroup struct {
	typ     reflect.Type
	apply   batchApplyFunc
	changes []actors.Change
}

func addToGroup(groups []changeGroup, apply batchApplyFunc, change actors.Change) []changeGroup {
	t := reflect.TypeOf(change)
	for i := range groups {
		if groups[i].typ == t {
			groups[i].changes = append(groups[i].changes, change)
			return groups
		}
	}
	return append(groups, changeGroup{typ: t, apply: apply, changes: []actors.Change{change}})
}

// planBatch checks every commit and looks up its appliers and outbox rows
// before the transaction starts, so a malformed commit fails without
// touching the database.
func (j *Journal) planBatch(a *actors.Activation, cs []actors.Commit) (*batchPlan, error) {
	p := &batchPlan{appliers: make([][]applyFunc, len(cs)), batchAppliers: make([][]batchApplyFunc, len(cs)),
		queued: make([][]queuedApplyFunc, len(cs)), events: make([][]outboxRow, len(cs)), pipelined: true}
	seen := make(map[string]struct{}, len(cs))
	for i, c := range cs {
		if c.Domain != cs[0].Domain {
			return nil, fmt.Errorf("commit %d runs in domain %q, the batch in %q", i, c.Domain, cs[0].Domain)
		}
		var err error
		if p.events[i], err = outboxRows(c.Events); err != nil {
			return nil, err
		}
		if err := checkReminders(a, c.SetReminders, c.CancelReminders); err != nil {
			return nil, err
		}
		if p.appliers[i], p.batchAppliers[i], p.queued[i], err = j.appliersFor(c.Changes); err != nil {
			return nil, err
		}
		for _, q := range p.queued[i] {
			p.pipelined = p.pipelined && q != nil
		}
		if c.CommandID != "" {
			if _, dup := seen[c.CommandID]; dup {
				p.pipelined = false
			}
			seen[c.CommandID] = struct{}{}
			p.ids = append(p.ids, c.CommandID)
		}
	}
	return p, nil
}

// fence runs step 1 of CommitBatch: it fills in the outcomes, returns the
// indexes of the commits to write and sets *snapshot to the snapshot the
// version step wrote.
func fence(ctx context.Context, tx pgx.Tx, a *actors.Activation, cs []actors.Commit, plan *batchPlan, outcomes []actors.Outcome, snapshot *[]byte) ([]int, error) {
	for i := len(cs) - 1; i >= 0 && *snapshot == nil; i-- {
		*snapshot = cs[i].Snapshot
	}
	var b pgx.Batch
	stored := map[string][]byte{}
	if len(plan.ids) > 0 {
		b.Queue(`SELECT command_id, reply FROM runtime.inbox WHERE kind = $1 AND identity = $2 AND command_id = ANY($3)`,
			a.Kind, a.Identity, plan.ids,
		).Query(func(rows pgx.Rows) error {
			var id string
			var reply []byte
			_, err := pgx.ForEachRow(rows, []any{&id, &reply}, func() error {
				stored[id] = reply
				return nil
			})
			if err != nil {
				return fmt.Errorf("inbox: %w", err)
			}
			return nil
		})
	}
	var fenced int64
	b.Queue(`
		UPDATE runtime.actors
		SET version = version + 1, snapshot = COALESCE($5, snapshot), updated_at = now()
		WHERE kind = $1 AND identity = $2 AND epoch = $3 AND version = $4`,
		a.Kind, a.Identity, a.Epoch, a.Version, *snapshot,
	).Exec(func(tag pgconn.CommandTag) error {
		fenced = tag.RowsAffected()
		return nil
	})
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return nil, fmt.Errorf("fence: %w", err)
	}

	fresh := make([]int, 0, len(cs))
	for i, c := range cs {
		if c.CommandID != "" {
			if reply, ok := stored[c.CommandID]; ok {
				outcomes[i] = actors.Outcome{Reply: reply, Replayed: true}
				continue
			}
			// Applied earlier in this batch: a replay of that one.
			stored[c.CommandID] = c.Reply
		}
		outcomes[i] = actors.Outcome{Reply: c.Reply}
		fresh = append(fresh, i)
	}
	if len(fresh) == 0 {
		return nil, errOnlyReplays
	}
	if fenced == 0 {
		return nil, fmt.Errorf("epoch %d version %d: %w", a.Epoch, a.Version, vayva.ErrStaleEpoch)
	}
	if len(fresh) < len(cs) && *snapshot != nil {
		// The version step wrote the batch's last snapshot, which may be a
		// replay's: the identity's snapshot must be the last one written
		// by a fresh commit, or stay as it was.
		want := a.Snapshot
		for _, i := range fresh {
			if cs[i].Snapshot != nil {
				want = cs[i].Snapshot
			}
		}
		if !bytes.Equal(want, *snapshot) {
			if _, err := tx.Exec(ctx, `UPDATE runtime.actors SET snapshot = $3 WHERE kind = $1 AND identity = $2`,
				a.Kind, a.Identity, want); err != nil {
				return nil, fmt.Errorf("fence: %w", err)
			}
		}
		*snapshot = want
	}
	return fresh, nil
}

// writeRest writes the inbox rows, the outbox rows and the reminder
// changes of the fresh commits of a batch in one round trip.
func writeRest(ctx context.Context, tx pgx.Tx, a *actors.Activation, cs []actors.Commit, fresh []int, events [][]outboxRow) error {
	var b pgx.Batch
	queueRest(&b, a, cs, fresh, events)
	if b.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		if inboxConflict(err) {
			// The replay check under the row lock passed, so no other
			// activation can have recorded the command since; finding it
			// anyway means the fence was bypassed, and nothing commits.
			return fmt.Errorf("inbox: a command already recorded: %w: %w", vayva.ErrStaleEpoch, err)
		}
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// queueRest queues the inbox rows, the outbox rows and the reminder
// changes of the fresh commits of a batch on b.
func queueRest(b *pgx.Batch, a *actors.Activation, cs []actors.Commit, fresh []int, events [][]outboxRow) {
	queueInbox(b, a, cs, fresh)
	queueEventsAndReminders(b, a, cs, fresh, events)
}

// queueInbox queues the inbox rows of the fresh commits of a batch: plain
// INSERTs, so a command already recorded fails the batch on the inbox's
// key.
func queueInbox(b *pgx.Batch, a *actors.Activation, cs []actors.Commit, fresh []int) {
	for _, i := range fresh {
		if c := cs[i]; c.CommandID != "" {
			b.Queue(`
				INSERT INTO runtime.inbox (kind, identity, command_id, reply) VALUES ($1, $2, $3, $4)`,
				a.Kind, a.Identity, c.CommandID, c.Reply)
		}
	}
}

// queueEventsAndReminders queues the outbox rows and the reminder changes
// of the fresh commits of a batch.
func queueEventsAndReminders(b *pgx.Batch, a *actors.Activation, cs []actors.Commit, fresh []int, events [][]outboxRow) {
	for _, i := range fresh {
		c := cs[i]
		queueEvents(b, a.Kind, a.Identity, events[i])
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
	}
}

// appliersFor looks up the applier (or the batch applier) of every change
// before the transaction starts, so an unregistered type fails without
// touching the database. A type with both is written by its batch applier.
// A type with a queued applier also has its transaction form in one.
func (j *Journal) appliersFor(changes []actors.Change) ([]applyFunc, []batchApplyFunc, []queuedApplyFunc, error) {
	if len(changes) == 0 {
		return nil, nil, nil, nil
	}
	j.mu.RLock()
	defer j.mu.RUnlock()
	one := make([]applyFunc, len(changes))
	batch := make([]batchApplyFunc, len(changes))
	queued := make([]queuedApplyFunc, len(changes))
	for i, change := range changes {
		t := reflect.TypeOf(change)
		if f, ok := j.batchAppliers[t]; ok {
			batch[i] = f
			continue
		}
		f, ok := j.appliers[t]
		if !ok {
			return nil, nil, nil, fmt.Errorf("no applier registered for change type %T", change)
		}
		one[i] = f
		queued[i] = j.queuedAppliers[t]
	}
	return one, batch, queued, nil
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
