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
// parallel, against a raw baseline measured in the same run: the same row
// update in its own transaction (BEGIN with SET LOCAL ROLE, UPDATE,
// COMMIT), without fence, inbox or outbox. The two run in alternating
// slices (raw, ours, ours, raw, ..., eight slices each) so both see the same machine load.
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

	// Raw baseline: the domain update alone, one transaction each.
	rawOp := func(i, n int) error {
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
	ours, raw := alternate(b.N, func(n, base int) time.Duration {
		return measure(n, base, identities, oursOp)
	}, func(n, base int) time.Duration {
		return measure(n, base, identities, rawOp)
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/ours.Seconds(), "commits/s")
	b.ReportMetric(float64(b.N)/raw.Seconds(), "raw-tx/s")
	b.ReportMetric(raw.Seconds()/ours.Seconds(), "ratio-to-raw")
}

// alternate runs total operations of ours and of raw in eight slices
// each, in the order raw, ours, ours, raw, raw, ours, ours, raw, ..., so a change of
// machine load during the run weighs on both alike; it returns each one's
// total time. run(n, base) runs n operations numbered from base.
func alternate(total int, ours, raw func(n, base int) time.Duration) (oursTime, rawTime time.Duration) {
	const slices = 8
	var spent [2]time.Duration
	var done, runs [2]int
	for s := range 2 * slices {
		w := 0 // raw
		if s%4 == 1 || s%4 == 2 {
			w = 1 // ours
		}
		n := total / slices
		if runs[w] == slices-1 {
			n = total - done[w]
		}
		if w == 1 {
			spent[w] += ours(n, done[w])
		} else {
			spent[w] += raw(n, done[w])
		}
		done[w] += n
		runs[w]++
	}
	return spent[1], spent[0]
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
