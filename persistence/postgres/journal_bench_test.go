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
// one domain row update, inbox row, one outbox event) from 16 identities in
// parallel, against a raw baseline measured in the same run: the same row
// update in its own transaction, without fence, inbox or outbox.
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
	raw := measure(b.N, identities, func(i, n int) error {
		return db.InDomain(ctx, vayva.DomainCatalog, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE catalog.test_counters SET n = n + 1 WHERE id = $1`, fmt.Sprint(i))
			return err
		})
	})

	b.ResetTimer()
	ours := measure(b.N, identities, func(i, n int) error {
		_, _, err := j.Commit(ctx, acts[i], actors.Commit{
			CommandID: fmt.Sprintf("cmd-%d-%d", i, n),
			Domain:    vayva.DomainCatalog,
			Reply:     []byte("ok"),
			Changes:   []actors.Change{actortest.AddToCounter{ID: fmt.Sprint(i), N: 1}},
			Events:    []vayva.Event{{Type: "bench.added", Queue: vayva.QueueOrdersSync, Data: []byte(`{}`)}},
		})
		return err
	})
	b.StopTimer()
	b.ReportMetric(ours, "commits/s")
	b.ReportMetric(raw, "raw-tx/s")
	b.ReportMetric(ours/raw, "ratio-to-raw")
}

// measure runs total operations spread over workers goroutines, each owning
// one identity (as an actor would), and returns operations per second.
func measure(total, workers int, op func(identity, n int) error) float64 {
	var next atomic.Int64
	var failed atomic.Value
	start := time.Now()
	done := make(chan struct{})
	for w := range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				n := int(next.Add(1))
				if n > total {
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
	return float64(total) / time.Since(start).Seconds()
}
