package postgres_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/actors/actortest"
	"github.com/vayvahq/vayva/persistence/postgres/pgtest"
)

// BenchmarkJournalCommit measures fenced commits (epoch and version check,
// one domain row update, inbox row, one outbox event; the applier is a
// queued one, so a commit is one pipeline and COMMIT) from 16 identities in
// parallel, against two baselines measured in the same run:
//
//   - raw-tx/s, the limit the commit is held to: a bare transaction writing
//     the same rows as hand-written code does, one statement at a time
//     (BEGIN with SET LOCAL ROLE, the domain UPDATE, the inbox INSERT, the
//     outbox INSERT, the actor row's version UPDATE, COMMIT) with no fence
//     predicate, no replay lookup and no journal around it. It is the right
//     limit because a fenced commit must write those rows; what the ratio
//     shows is what the fence and the journal cost (or save, by pipelining)
//     over writing them by hand.
//   - raw-update-tx/s: the domain UPDATE alone in its own transaction
//     (BEGIN with SET LOCAL ROLE, UPDATE, COMMIT), the cost of the state
//     change without any of the rows that make it exactly-once.
//
// The three run in eight rounds of alternating order (ours, raw, update,
// then update, raw, ours, ...) so all see the same machine load.
func BenchmarkJournalCommit(b *testing.B) {
	db, _ := pgtest.New(b)
	ctx := context.Background()
	const identities = 16
	if _, err := db.Pool().Exec(ctx, `CREATE TABLE catalog.test_counters (id text PRIMARY KEY, n bigint NOT NULL DEFAULT 0)`); err != nil {
		b.Fatal(err)
	}
	for i := range identities {
		if _, err := db.Pool().Exec(ctx, `INSERT INTO catalog.test_counters (id) VALUES ($1)`, fmt.Sprint(i)); err != nil {
			b.Fatal(err)
		}
	}
	j := counterJournal(db, "bench")
	acts := make([]*actors.Activation, identities)
	for i := range acts {
		a, err := j.Activate(ctx, "bench", fmt.Sprint(i))
		if err != nil {
			b.Fatal(err)
		}
		acts[i] = a
	}

	// The same rows by hand: rows of their own (another kind) so the
	// actor rows the journal fences are not touched.
	for i := range identities {
		if _, err := db.Pool().Exec(ctx, `INSERT INTO runtime.actors (kind, identity, epoch, owner) VALUES ('bench-raw', $1, 1, 'bench')`, fmt.Sprint(i)); err != nil {
			b.Fatal(err)
		}
	}
	rawOp := func(i, n int) error {
		id := fmt.Sprint(i)
		return db.InDomain(ctx, vayva.DomainCatalog, func(ctx context.Context, tx pgx.Tx) error {
			for _, st := range []struct {
				sql  string
				args []any
			}{
				{`UPDATE catalog.test_counters SET n = n + 1 WHERE id = $1`, []any{id}},
				{`INSERT INTO runtime.inbox (kind, identity, command_id, reply) VALUES ('bench-raw', $1, $2, $3)`, []any{id, fmt.Sprintf("cmd-%d-%d", i, n), []byte("ok")}},
				{`INSERT INTO runtime.outbox (event_id, aggregate_kind, aggregate_id, queue, type, payload) VALUES ($1, 'bench-raw', $2, $3, 'bench.added', $4)`,
					[]any{vayva.NewID("evt"), id, vayva.QueueOrdersSync, `{"type":"bench.added","data":{}}`}},
				{`UPDATE runtime.actors SET version = version + 1, updated_at = now() WHERE kind = 'bench-raw' AND identity = $1`, []any{id}},
			} {
				if _, err := tx.Exec(ctx, st.sql, st.args...); err != nil {
					return err
				}
			}
			return nil
		})
	}
	// The domain update alone, one transaction each.
	updateOp := func(i, n int) error {
		return db.InDomain(ctx, vayva.DomainCatalog, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE catalog.test_counters SET n = n + 1 WHERE id = $1`, fmt.Sprint(i))
			return err
		})
	}
	oursOp := func(i, n int) error {
		_, _, err := j.Commit(ctx, acts[i], actors.Commit{
			CommandID: fmt.Sprintf("cmd-%d-%d", i, n),
			Domain:    vayva.DomainCatalog,
			Reply:     []byte("ok"),
			Changes:   []actors.Change{actortest.AddToCounter{ID: fmt.Sprint(i), N: 1}},
			Events:    []vayva.Event{{Type: "bench.added", Queue: vayva.QueueOrdersSync, Data: []byte(`{}`)}},
		})
		return err
	}
	b.ResetTimer()
	times := alternate(b.N, func(n, base int) time.Duration {
		return measure(n, base, identities, oursOp)
	}, func(n, base int) time.Duration {
		return measure(n, base, identities, rawOp)
	}, func(n, base int) time.Duration {
		return measure(n, base, identities, updateOp)
	})
	b.StopTimer()
	ours, raw, update := times[0], times[1], times[2]
	b.ReportMetric(float64(b.N)/ours.Seconds(), "commits/s")
	b.ReportMetric(float64(b.N)/raw.Seconds(), "raw-tx/s")
	b.ReportMetric(raw.Seconds()/ours.Seconds(), "ratio-to-raw")
	b.ReportMetric(float64(b.N)/update.Seconds(), "raw-update-tx/s")
	b.ReportMetric(update.Seconds()/ours.Seconds(), "ratio-to-update")
}

// alternate runs total operations of each of runs in eight slices each,
// in rounds whose order turns (0, 1, 2, then 2, 1, 0, ...), so a change of
// machine load during the run weighs on all alike; it returns each one's
// total time. run(n, base) runs n operations numbered from base.
func alternate(total int, runs ...func(n, base int) time.Duration) []time.Duration {
	const slices = 8
	spent := make([]time.Duration, len(runs))
	done := make([]int, len(runs))
	for s := range slices {
		for k := range runs {
			w := k
			if s%2 == 1 {
				w = len(runs) - 1 - k
			}
			n := total / slices
			if s == slices-1 {
				n = total - done[w]
			}
			spent[w] += runs[w](n, done[w])
			done[w] += n
		}
	}
	return spent
}

// measure runs total operations numbered from base+1 spread over workers
// goroutines, each owning one identity (as an actor would), and returns how
// long they took.
func measure(total, base, workers int, op func(identity, n int) error) time.Duration {
	var next atomic.Int64
	next.Store(int64(base))
	var failed atomic.Value
	start := time.Now()
	done := make(chan struct{})
	for w := range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				n := int(next.Add(1))
				if n > base+total {
					return
				}
				if err := op(w, n); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	for range workers {
		<-done
	}
	if err := failed.Load(); err != nil {
		panic(err)
	}
	return time.Since(start)
}
