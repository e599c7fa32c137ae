package postgres_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/actors/actortest"
	"github.com/vayvahq/vayva/persistence/postgres"
	"github.com/vayvahq/vayva/persistence/postgres/pgtest"
)

// newCounterJournal returns a fresh database with a counter table in the
// catalog schema and a journal that applies actortest.AddToCounter changes to it.
func newCounterJournal(t *testing.T, owner string) (*postgres.DB, *postgres.Journal) {
	t.Helper()
	db, _ := pgtest.New(t)
	mustExec(t, db, `CREATE TABLE catalog.test_counters (id text PRIMARY KEY, n bigint NOT NULL DEFAULT 0)`)
	mustExec(t, db, `INSERT INTO catalog.test_counters (id) VALUES ('c')`)
	return db, counterJournal(db, owner)
}

// counterJournal returns a journal that applies actortest.AddToCounter
// changes with a queued applier, so its commits take the pipelined path.
func counterJournal(db *postgres.DB, owner string) *postgres.Journal {
	j := postgres.NewJournal(db, owner)
	postgres.HandleQueuedChange(j, func(b *pgx.Batch, c actortest.AddToCounter) error {
		b.Queue(`UPDATE catalog.test_counters SET n = n + $2 WHERE id = $1`, c.ID, c.N).Exec(func(tag pgconn.CommandTag) error {
			if tag.RowsAffected() != 1 {
				return fmt.Errorf("counter %q missing", c.ID)
			}
			return nil
		})
		return nil
	})
	return j
}

// counterJournalTx is counterJournal with an applier that runs its
// statement in the transaction: commits take the transaction path.
func counterJournalTx(db *postgres.DB, owner string) *postgres.Journal {
	j := postgres.NewJournal(db, owner)
	postgres.HandleChange(j, func(ctx context.Context, tx pgx.Tx, c actortest.AddToCounter) error {
		tag, err := tx.Exec(ctx, `UPDATE catalog.test_counters SET n = n + $2 WHERE id = $1`, c.ID, c.N)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("counter %q missing", c.ID)
		}
		return nil
	})
	return j
}

func queryInt(t *testing.T, db *postgres.DB, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	require.NoError(t, db.Pool().QueryRow(t.Context(), sql, args...).Scan(&n), sql)
	return n
}

func counter(t *testing.T, db *postgres.DB) int64 {
	return queryInt(t, db, `SELECT n FROM catalog.test_counters WHERE id = 'c'`)
}

// journalPaths are the two ways a commit is written: one pipeline and
// COMMIT (every change has a queued applier), or the transaction path.
var journalPaths = []struct {
	name    string
	journal func(db *postgres.DB, owner string) *postgres.Journal
}{
	{"pipelined", counterJournal},
	{"transaction", counterJournalTx},
}

func TestJournalStaleActivationWritesNothing(t *testing.T) {
	t.Parallel()
	for _, path := range journalPaths {
		t.Run(path.name, func(t *testing.T) {
			t.Parallel()
			staleActivationWritesNothing(t, path.journal)
		})
	}
}

func staleActivationWritesNothing(t *testing.T, journal func(db *postgres.DB, owner string) *postgres.Journal) {
	ctx := t.Context()
	db, _ := newCounterJournal(t, "node-a")
	nodeA := journal(db, "node-a")
	nodeB := journal(db, "node-b")

	old, err := nodeA.Activate(ctx, "store", "sto_1")
	require.NoError(t, err)
	require.Equal(t, int64(1), old.Epoch)
	require.Zero(t, old.Version)
	require.Nil(t, old.Snapshot)

	current, err := nodeB.Activate(ctx, "store", "sto_1")
	require.NoError(t, err)
	require.Equal(t, int64(2), current.Epoch)
	require.Equal(t, "node-b", queryString(t, db, `SELECT owner FROM runtime.actors WHERE kind = 'store' AND identity = 'sto_1'`))

	commit := actors.Commit{
		CommandID: "cmd_1",
		Domain:    vayva.DomainCatalog,
		Reply:     []byte("ok"),
		Snapshot:  []byte("state-1"),
		Changes:   []actors.Change{actortest.AddToCounter{ID: "c", N: 1}},
		Events: []vayva.Event{{
			Type: "product.created", Queue: "webhook-delivery", Key: "sto_1", MerchantID: "mer_1",
			Data: json.RawMessage(`{"product_id":"prd_1"}`),
		}},
		SetReminders: []vayva.Reminder{{Name: "expire", DueAt: time.Now().Add(time.Hour), Payload: []byte("p")}},
	}

	_, _, err = nodeA.Commit(ctx, old, commit)
	require.ErrorIs(t, err, vayva.ErrStaleEpoch)
	require.Zero(t, old.Version, "a refused commit leaves the activation as it was")
	require.Zero(t, counter(t, db))
	for _, table := range []string{"runtime.outbox", "runtime.reminders", "runtime.inbox"} {
		require.Zero(t, queryInt(t, db, `SELECT count(*) FROM `+table), table)
	}
	require.Zero(t, queryInt(t, db, `SELECT version FROM runtime.actors WHERE kind = 'store' AND identity = 'sto_1'`))

	reply, replayed, err := nodeB.Commit(ctx, current, commit)
	require.NoError(t, err)
	require.False(t, replayed)
	require.Equal(t, []byte("ok"), reply)
	require.Equal(t, int64(1), current.Version)
	require.Equal(t, []byte("state-1"), current.Snapshot)
	require.Equal(t, int64(1), counter(t, db))
	require.Equal(t, int64(1), queryInt(t, db, `SELECT count(*) FROM runtime.inbox WHERE command_id = 'cmd_1'`))
	require.Equal(t, int64(1), queryInt(t, db, `SELECT count(*) FROM runtime.reminders WHERE kind = 'store' AND identity = 'sto_1' AND name = 'expire'`))

	var (
		eventID, kind, id, queue, key, typ, merchant string
		payload                                      []byte
	)
	require.NoError(t, db.Pool().QueryRow(ctx, `
		SELECT event_id, aggregate_kind, aggregate_id, queue, key, type, merchant_id, payload
		FROM runtime.outbox WHERE published_at IS NULL`).Scan(&eventID, &kind, &id, &queue, &key, &typ, &merchant, &payload))
	require.True(t, vayva.HasIDPrefix(eventID, "evt"), eventID)
	require.Equal(t, []string{"store", "sto_1", "webhook-delivery", "sto_1", "product.created", "mer_1"},
		[]string{kind, id, queue, key, typ, merchant})
	var ev vayva.Event
	require.NoError(t, json.Unmarshal(payload, &ev))
	require.Equal(t, eventID, ev.ID)
	require.Equal(t, "product.created", ev.Type)
	require.False(t, ev.OccurredAt.IsZero())
	require.JSONEq(t, `{"product_id":"prd_1"}`, string(ev.Data))
	require.Empty(t, commit.Events[0].ID, "the caller's events are not modified")

	// The old activation stays stale; a new one sees the committed state.
	_, _, err = nodeA.Commit(ctx, old, actors.Commit{Domain: vayva.DomainCatalog, Changes: []actors.Change{actortest.AddToCounter{ID: "c", N: 1}}})
	require.ErrorIs(t, err, vayva.ErrStaleEpoch)
	again, err := nodeA.Activate(ctx, "store", "sto_1")
	require.NoError(t, err)
	require.Equal(t, int64(3), again.Epoch)
	require.Equal(t, int64(1), again.Version)
	require.Equal(t, []byte("state-1"), again.Snapshot)
	_, _, err = nodeB.Commit(ctx, current, actors.Commit{Domain: vayva.DomainCatalog})
	require.ErrorIs(t, err, vayva.ErrStaleEpoch, "activating again supersedes node-b")
	require.Equal(t, int64(1), counter(t, db))
}

// A change refused inside the commit (here the applier's check of its
// statement's result) rolls the whole commit back on either path: no
// version step, no inbox, no outbox, and the activation stays usable.
func TestJournalRefusedChangeRollsBack(t *testing.T) {
	t.Parallel()
	for _, path := range journalPaths {
		t.Run(path.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db, _ := newCounterJournal(t, "node-a")
			j := path.journal(db, "node-a")
			a, err := j.Activate(ctx, "store", "sto_1")
			require.NoError(t, err)
			bad := actors.Commit{CommandID: "cmd_bad", Domain: vayva.DomainCatalog, Reply: []byte("no"),
				Changes: []actors.Change{actortest.AddToCounter{ID: "c", N: 1}, actortest.AddToCounter{ID: "missing", N: 1}},
				Events:  []vayva.Event{{Type: "counter.added", Queue: vayva.QueueOrdersSync, Data: json.RawMessage(`{}`)}}}
			_, _, err = j.Commit(ctx, a, bad)
			require.ErrorContains(t, err, `counter "missing" missing`)
			require.NotErrorIs(t, err, vayva.ErrCommitUncertain)
			require.NotErrorIs(t, err, vayva.ErrStaleEpoch)
			require.Zero(t, a.Version)
			require.Zero(t, counter(t, db))
			for _, table := range []string{"runtime.outbox", "runtime.inbox"} {
				require.Zero(t, queryInt(t, db, `SELECT count(*) FROM `+table), table)
			}
			require.Zero(t, queryInt(t, db, `SELECT version FROM runtime.actors WHERE kind = 'store' AND identity = 'sto_1'`))

			reply, replayed, err := j.Commit(ctx, a, actors.Commit{CommandID: "cmd_ok", Domain: vayva.DomainCatalog, Reply: []byte("ok"),
				Changes: []actors.Change{actortest.AddToCounter{ID: "c", N: 2}}})
			require.NoError(t, err)
			require.False(t, replayed)
			require.Equal(t, []byte("ok"), reply)
			require.Equal(t, int64(1), a.Version)
			require.Equal(t, int64(2), counter(t, db))
		})
	}
}

func queryString(t *testing.T, db *postgres.DB, sql string, args ...any) string {
	t.Helper()
	var s string
	require.NoError(t, db.Pool().QueryRow(t.Context(), sql, args...).Scan(&s), sql)
	return s
}

func TestJournalDuplicateCommandAppliedOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, j := newCounterJournal(t, "node-a")

	a, err := j.Activate(ctx, "store", "sto_1")
	require.NoError(t, err)
	first := actors.Commit{
		CommandID: "req_1", Domain: vayva.DomainCatalog, Reply: []byte("first"),
		Changes: []actors.Change{actortest.AddToCounter{ID: "c", N: 1}},
		Events:  []vayva.Event{{Type: "product.updated", Queue: "webhook-delivery"}},
	}
	reply, replayed, err := j.Commit(ctx, a, first)
	require.NoError(t, err)
	require.False(t, replayed)
	require.Equal(t, []byte("first"), reply)
	require.Equal(t, postgres.CommitPaths{Pipelined: 1}, j.CommitPaths(), "a queued applier's commit is pipelined")

	second := first
	second.Reply = []byte("second")
	second.Snapshot = []byte("ignored")
	second.SetReminders = []vayva.Reminder{{Name: "r", DueAt: time.Now()}}
	reply, replayed, err = j.Commit(ctx, a, second)
	require.NoError(t, err)
	require.True(t, replayed)
	require.Equal(t, []byte("first"), reply)
	require.Equal(t, int64(1), a.Version, "a replay does not advance the version")
	require.Nil(t, a.Snapshot)
	require.Equal(t, postgres.CommitPaths{Pipelined: 1, Transaction: 1}, j.CommitPaths(),
		"the replay failed the pipeline on the inbox's key and was answered by the transaction path")
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(j.Collectors()...)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP vayva_journal_commit_batches_total Actor commit batches written, by path: pipelined (two round trips) or transaction.
# TYPE vayva_journal_commit_batches_total counter
vayva_journal_commit_batches_total{path="pipelined"} 1
vayva_journal_commit_batches_total{path="transaction"} 1
`)), "the paths are exported as metrics")

	// Also after the identity moved to another activation.
	b, err := j.Activate(ctx, "store", "sto_1")
	require.NoError(t, err)
	reply, replayed, err = j.Commit(ctx, b, second)
	require.NoError(t, err)
	require.True(t, replayed)
	require.Equal(t, []byte("first"), reply)

	require.Equal(t, int64(1), counter(t, db))
	require.Equal(t, int64(1), queryInt(t, db, `SELECT count(*) FROM runtime.outbox`))
	require.Zero(t, queryInt(t, db, `SELECT count(*) FROM runtime.reminders`))
	require.Equal(t, int64(1), queryInt(t, db, `SELECT version FROM runtime.actors`))

	// Commands without an id are not deduplicated.
	for range 2 {
		_, replayed, err := j.Commit(ctx, b, actors.Commit{Domain: vayva.DomainCatalog, Changes: []actors.Change{actortest.AddToCounter{ID: "c", N: 1}}})
		require.NoError(t, err)
		require.False(t, replayed)
	}
	require.Equal(t, int64(3), counter(t, db))
	require.Equal(t, int64(3), b.Version)
}

// A replay is answered with its first run's reply even when its changes
// would now be refused (here: the counter they add to is gone), on the
// pipelined path as on the transaction path.
func TestJournalReplayIsAnsweredBeforeItsChangesCanBeRefused(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, j := newCounterJournal(t, "node-a")
	a, err := j.Activate(ctx, "store", "sto_1")
	require.NoError(t, err)
	first := actors.Commit{CommandID: "req_1", Domain: vayva.DomainCatalog, Reply: []byte("first"),
		Changes: []actors.Change{actortest.AddToCounter{ID: "c", N: 1}}}
	_, _, err = j.Commit(ctx, a, first)
	require.NoError(t, err)
	_, err = db.Pool().Exec(ctx, `DELETE FROM catalog.test_counters WHERE id = 'c'`)
	require.NoError(t, err)

	again := first
	again.Reply = []byte("second")
	reply, replayed, err := j.Commit(ctx, a, again)
	require.NoError(t, err)
	require.True(t, replayed)
	require.Equal(t, []byte("first"), reply)
	require.Equal(t, postgres.CommitPaths{Pipelined: 1, Transaction: 1}, j.CommitPaths())

	// A new command with the same change is refused.
	_, _, err = j.Commit(ctx, a, actors.Commit{CommandID: "req_2", Domain: vayva.DomainCatalog,
		Changes: []actors.Change{actortest.AddToCounter{ID: "c", N: 1}}})
	require.ErrorContains(t, err, `counter "c" missing`)
}

func TestJournalRefusesUnknownChangesAndForeignReminders(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, j := newCounterJournal(t, "node-a")
	a, err := j.Activate(ctx, "store", "sto_1")
	require.NoError(t, err)

	bad := []actors.Commit{
		// Registered for the value type only.
		{Domain: vayva.DomainCatalog, Changes: []actors.Change{actortest.AddToCounter{ID: "c", N: 1}, &actortest.AddToCounter{ID: "c", N: 1}}},
		{Domain: vayva.DomainCatalog, Changes: []actors.Change{nil}},
		{Domain: vayva.DomainCatalog, SetReminders: []vayva.Reminder{{Kind: "order", Identity: "ord_1", Name: "x", DueAt: time.Now()}}},
		{Domain: vayva.DomainCatalog, SetReminders: []vayva.Reminder{{Name: "no-due-time"}}},
		{Domain: vayva.DomainCatalog, Events: []vayva.Event{{Type: "no.queue"}}},
		{Domain: "", Changes: []actors.Change{actortest.AddToCounter{ID: "c", N: 1}}},
		// The applier fails inside the transaction.
		{Domain: vayva.DomainCatalog, Changes: []actors.Change{actortest.AddToCounter{ID: "c", N: 1}, actortest.AddToCounter{ID: "missing", N: 1}}},
		// The domain role may not write the table the applier writes.
		{Domain: vayva.DomainOrders, Changes: []actors.Change{actortest.AddToCounter{ID: "c", N: 1}}},
	}
	for i, c := range bad {
		_, _, err := j.Commit(ctx, a, c)
		require.Error(t, err, "commit %d", i)
		require.NotErrorIs(t, err, vayva.ErrStaleEpoch, "commit %d", i)
	}
	_, _, err = j.Commit(ctx, a, bad[len(bad)-1])
	require.ErrorIs(t, err, postgres.ErrPermissionDenied)

	require.Zero(t, a.Version)
	require.Zero(t, counter(t, db))
	require.Zero(t, queryInt(t, db, `SELECT version FROM runtime.actors`))

	// The activation still works.
	_, _, err = j.Commit(ctx, a, actors.Commit{Domain: vayva.DomainCatalog, Changes: []actors.Change{actortest.AddToCounter{ID: "c", N: 1}}})
	require.NoError(t, err)
	require.Equal(t, int64(1), counter(t, db))
}

func TestJournalNoLostUpdateUnderContention(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, j := newCounterJournal(t, "node-a")

	const workers, commitsEach = 6, 15
	var (
		acked, stale atomic.Int64
		start        = make(chan struct{})
		activated    sync.WaitGroup
		wg           sync.WaitGroup
		errs         = make(chan error, workers)
	)
	activated.Add(workers)
	for w := range workers {
		wg.Go(func() {
			// Every worker activates before any commits, so all but the
			// last activation are stale from the start.
			a, err := j.Activate(ctx, "store", "sto_hot")
			activated.Done()
			if err != nil {
				errs <- err
				return
			}
			<-start
			for done := 0; done < commitsEach; {
				// Read-modify-write of the snapshot through the activation:
				// only correct if no other commit slipped in between.
				next := decodeCount(a.Snapshot) + 1
				_, _, err := j.Commit(ctx, a, actors.Commit{
					Domain:       vayva.DomainCatalog,
					Snapshot:     encodeCount(next),
					Changes:      []actors.Change{actortest.AddToCounter{ID: "c", N: 1}},
					Events:       []vayva.Event{{Type: "counter.incremented", Queue: "orders-sync"}},
					SetReminders: []vayva.Reminder{{Name: fmt.Sprintf("w%d-%d", w, done), DueAt: time.Now().Add(time.Hour)}},
				})
				switch {
				case errors.Is(err, vayva.ErrStaleEpoch):
					stale.Add(1)
					if a, err = j.Activate(ctx, "store", "sto_hot"); err != nil {
						errs <- err
						return
					}
				case err != nil:
					errs <- err
					return
				default:
					acked.Add(1)
					done++
				}
			}
		})
	}
	activated.Wait()
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	n := acked.Load()
	require.Equal(t, int64(workers*commitsEach), n)
	require.GreaterOrEqual(t, stale.Load(), int64(workers-1), "every superseded activation was refused")
	require.Equal(t, n, counter(t, db))
	require.Equal(t, n, queryInt(t, db, `SELECT version FROM runtime.actors WHERE identity = 'sto_hot'`))
	var snapshot []byte
	require.NoError(t, db.Pool().QueryRow(ctx, `SELECT snapshot FROM runtime.actors WHERE identity = 'sto_hot'`).Scan(&snapshot))
	require.Equal(t, n, decodeCount(snapshot))
	require.Equal(t, n, queryInt(t, db, `SELECT count(*) FROM runtime.outbox`))
	require.Equal(t, n, queryInt(t, db, `SELECT count(*) FROM runtime.reminders`))
	t.Logf("%d commits acknowledged, %d refused as stale", n, stale.Load())
}

func encodeCount(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

func decodeCount(b []byte) int64 {
	if len(b) == 0 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b))
}

func TestJournalBatchCommitsOnceWithReplays(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, j := newCounterJournal(t, "node-a")
	a, err := j.Activate(ctx, "ledger", "mer_1")
	require.NoError(t, err)

	add := func(id string, n int64) actors.Commit {
		return actors.Commit{
			CommandID: id, Domain: vayva.DomainCatalog, Reply: []byte("reply-" + id),
			Changes: []actors.Change{actortest.AddToCounter{ID: "c", N: n}},
			Events:  []vayva.Event{{Type: "counter.added", Queue: vayva.QueueOrdersSync}},
		}
	}
	_, _, err = j.Commit(ctx, a, add("cmd_0", 1))
	require.NoError(t, err)
	require.Equal(t, int64(1), a.Version)

	// cmd_0 was applied before; cmd_2 appears twice; an id-less commit is
	// never a replay.
	second := add("cmd_2", 100)
	second.Reply = []byte("ignored")
	batch := []actors.Commit{add("cmd_0", 1000), add("cmd_1", 10), add("cmd_2", 100), second, {Domain: vayva.DomainCatalog, Changes: []actors.Change{actortest.AddToCounter{ID: "c", N: 5}}}}
	out, err := j.CommitBatch(ctx, a, batch)
	require.NoError(t, err)
	require.Equal(t, []actors.Outcome{
		{Reply: []byte("reply-cmd_0"), Replayed: true},
		{Reply: []byte("reply-cmd_1")},
		{Reply: []byte("reply-cmd_2")},
		{Reply: []byte("reply-cmd_2"), Replayed: true},
		{},
	}, out)
	require.Equal(t, int64(1+10+100+5), counter(t, db))
	require.Equal(t, int64(2), a.Version, "one batch is one version step")
	require.Equal(t, int64(2), queryInt(t, db, `SELECT version FROM runtime.actors WHERE identity = 'mer_1'`))
	require.Equal(t, int64(3), queryInt(t, db, `SELECT count(*) FROM runtime.inbox`))
	require.Equal(t, int64(3), queryInt(t, db, `SELECT count(*) FROM runtime.outbox`))

	// A batch of replays only writes nothing, not even the version step.
	out, err = j.CommitBatch(ctx, a, []actors.Commit{add("cmd_1", 1), add("cmd_2", 1)})
	require.NoError(t, err)
	require.True(t, out[0].Replayed && out[1].Replayed)
	require.Equal(t, int64(2), a.Version)
	require.Equal(t, int64(2), queryInt(t, db, `SELECT version FROM runtime.actors WHERE identity = 'mer_1'`))

	// A refusal inside the transaction rolls the whole batch back; it is
	// neither stale nor uncertain, and the activation goes on.
	_, err = j.CommitBatch(ctx, a, []actors.Commit{add("cmd_3", 1), {
		CommandID: "cmd_4", Domain: vayva.DomainCatalog, Changes: []actors.Change{actortest.AddToCounter{ID: "missing", N: 1}},
	}})
	require.Error(t, err)
	require.NotErrorIs(t, err, vayva.ErrStaleEpoch)
	require.NotErrorIs(t, err, vayva.ErrCommitUncertain)
	require.Equal(t, int64(116), counter(t, db))
	_, err = j.CommitBatch(ctx, a, []actors.Commit{add("cmd_3", 1)})
	require.NoError(t, err)
	require.Equal(t, int64(117), counter(t, db))

	// Mixed domains are refused before the transaction starts.
	_, err = j.CommitBatch(ctx, a, []actors.Commit{add("cmd_5", 1), {Domain: vayva.DomainOrders}})
	require.ErrorContains(t, err, "domain")

	// A stale activation writes nothing of its batch.
	b, err := j.Activate(ctx, "ledger", "mer_1")
	require.NoError(t, err)
	_, err = j.CommitBatch(ctx, a, []actors.Commit{add("cmd_6", 1), add("cmd_7", 1)})
	require.ErrorIs(t, err, vayva.ErrStaleEpoch)
	require.Equal(t, int64(117), counter(t, db))
	// ... but a replay is answered from the inbox, whoever asks.
	out, err = j.CommitBatch(ctx, a, []actors.Commit{add("cmd_1", 1)})
	require.NoError(t, err)
	require.True(t, out[0].Replayed)
	_, err = j.CommitBatch(ctx, b, []actors.Commit{add("cmd_6", 1), add("cmd_7", 1)})
	require.NoError(t, err)
	require.Equal(t, int64(119), counter(t, db))
}

func TestJournalBatchSnapshotIsTheLastFreshOne(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, j := newCounterJournal(t, "node-a")
	a, err := j.Activate(ctx, "probe", "p")
	require.NoError(t, err)
	_, _, err = j.Commit(ctx, a, actors.Commit{CommandID: "s1", Domain: vayva.DomainRuntime, Snapshot: []byte("one")})
	require.NoError(t, err)
	// The batch's last commit is a replay of s1: its snapshot must not win.
	_, err = j.CommitBatch(ctx, a, []actors.Commit{
		{CommandID: "s2", Domain: vayva.DomainRuntime, Snapshot: []byte("two")},
		{CommandID: "s1", Domain: vayva.DomainRuntime, Snapshot: []byte("stale")},
	})
	require.NoError(t, err)
	require.Equal(t, []byte("two"), a.Snapshot)
	require.Equal(t, "two", queryString(t, db, `SELECT convert_from(snapshot, 'UTF8') FROM runtime.actors WHERE identity = 'p'`))
	// And when no fresh commit carries one, the snapshot stays.
	_, err = j.CommitBatch(ctx, a, []actors.Commit{
		{CommandID: "s3", Domain: vayva.DomainRuntime},
		{CommandID: "s2", Domain: vayva.DomainRuntime, Snapshot: []byte("stale")},
	})
	require.NoError(t, err)
	require.Equal(t, []byte("two"), a.Snapshot)
	require.Equal(t, "two", queryString(t, db, `SELECT convert_from(snapshot, 'UTF8') FROM runtime.actors WHERE identity = 'p'`))
}

// TestJournalConnectionLostAtCommitIsUncertain breaks the connection exactly
// at COMMIT, once before the server sees it (rolled back) and once after it
// committed: both are vayva.ErrCommitUncertain to the caller, and a retry
// on a fresh activation applies the command exactly once either way.
func TestJournalConnectionLostAtCommitIsUncertain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		mode      pgtest.CutMode
		committed bool
	}{
		{"before the server saw it", pgtest.CutBeforeCommit, false},
		{"after the server committed", pgtest.CutAfterCommit, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			direct, dbURL := pgtest.New(t)
			mustExec(t, direct, `CREATE TABLE catalog.test_counters (id text PRIMARY KEY, n bigint NOT NULL DEFAULT 0)`)
			mustExec(t, direct, `INSERT INTO catalog.test_counters (id) VALUES ('c')`)
			proxy, proxied := pgtest.NewProxy(t, dbURL)
			db, err := postgres.Open(ctx, proxied)
			require.NoError(t, err)
			t.Cleanup(db.Close)
			j := counterJournal(db, "node-a")

			a, err := j.Activate(ctx, "store", "sto_1")
			require.NoError(t, err)
			c := actors.Commit{CommandID: "cmd_1", Domain: vayva.DomainCatalog, Reply: []byte("first"),
				Changes: []actors.Change{actortest.AddToCounter{ID: "c", N: 1}}}
			proxy.CutNextCommit(tc.mode)
			_, _, err = j.Commit(ctx, a, c)
			require.ErrorIs(t, err, vayva.ErrCommitUncertain)
			require.Equal(t, vayva.EUNAVAILABLE, vayva.ErrorCode(err))
			require.Equal(t, 1, proxy.Cuts())
			require.Zero(t, a.Version, "an uncertain commit does not advance the activation")
			want := int64(0)
			if tc.committed {
				want = 1
			}
			require.Equal(t, want, counter(t, direct))

			// The caller's retry lands on a fresh activation.
			b, err := j.Activate(ctx, "store", "sto_1")
			require.NoError(t, err)
			reply, replayed, err := j.Commit(ctx, b, c)
			require.NoError(t, err)
			require.Equal(t, tc.committed, replayed)
			require.Equal(t, []byte("first"), reply)
			require.Equal(t, int64(1), counter(t, direct))
		})
	}
}
