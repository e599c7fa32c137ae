package actors_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/messages"
	"github.com/vayvahq/vayva/persistence/postgres"
)

// BenchmarkLedgerPostings measures postings committed per second through
// ledger actors (captures: three postings each, with the hash chain, stored
// balances and the fence), from many concurrent clients, for one hot
// merchant and for 64 merchants. In the same run it writes the same rows
// (transactions, postings, balance updates) with raw multi-row inserts in
// transactions of the size the actors' batches had, one writer per
// merchant, with the same durability (synchronous commit), and reports the
// ratio: those rows are the least any ledger must write for the captures,
// so the database taking them is the limit. It also reports the mean batch
// size and the p50/p99 commit time.
func BenchmarkLedgerPostings(b *testing.B) {
	for _, bc := range []struct {
		name      string
		merchants int
	}{{"hot", 1}, {"many", 64}} {
		e := newLedgerEnv(b)
		ms := make([]*ledgerMerchant, bc.merchants)
		for i := range ms {
			ms[i] = e.merchant(b)
		}
		b.Run(bc.name, func(b *testing.B) {
			const clients = 1024
			ctx := context.Background()
			var next atomic.Int64
			var failed atomic.Value
			round := vayva.NewID("r")
			// The raw baseline runs half before and half after the actors,
			// so that both see the same load of a shared machine; its
			// transactions are as large as the actors' batches (half the
			// clients wait while the other half's batch commits).
			rawTook := rawPostings(b, e.db, bc.merchants, b.N/2, max(1, clients/2/bc.merchants))
			e.batches.reset()
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for range min(clients, b.N) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						n := next.Add(1)
						if n > int64(b.N) {
							return
						}
						m := ms[int(n)%len(ms)]
						orderID := fmt.Sprintf("ord_%s_%d", round, n)
						_, err := untilDefinite[*messages.LedgerPosted](ctx, e.member, m.id, &messages.LedgerCapture{
							CommandId: "capture:" + orderID, MerchantId: m.id, OrderId: orderID, Amount: 100000, Currency: "NGN", FeeBps: 150,
						})
						if err != nil {
							failed.Store(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			ours := float64(3*b.N) / time.Since(start).Seconds()
			b.StopTimer()
			if err := failed.Load(); err != nil {
				b.Fatal(err)
			}
			sizes, took := e.batchStats()
			mean := float64(b.N) / float64(max(1, len(sizes)))
			rawTook += rawPostings(b, e.db, bc.merchants, b.N-b.N/2, max(1, int(mean+0.5)))
			raw := float64(3*b.N) / rawTook.Seconds()
			b.ReportMetric(ours, "postings/s")
			b.ReportMetric(raw, "raw-postings/s")
			b.ReportMetric(ours/raw, "ratio-to-raw")
			b.ReportMetric(mean, "size-commands/batch")
			b.ReportMetric(percentile(took, 0.50).Seconds()*1000, "p50-commit-ms")
			b.ReportMetric(percentile(took, 0.99).Seconds()*1000, "p99-commit-ms")
		})
	}
}

func (b *batchLog) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sizes, b.took = nil, nil
}

// batchStats returns the batch sizes and commit times observed so far.
func (e *ledgerEnv) batchStats() ([]int, []time.Duration) {
	e.batches.mu.Lock()
	defer e.batches.mu.Unlock()
	return append([]int(nil), e.batches.sizes...), append([]time.Duration(nil), e.batches.took...)
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

// rawPostings writes total captures' rows (a transaction, three postings,
// three balance updates) for merchants merchants, one writer each, batch
// captures per transaction (multi-row inserts, postings by COPY, as the
// ledger's applier writes them), as the ledger role, and returns how long
// it took.
func rawPostings(b *testing.B, db *postgres.DB, merchants, total, batch int) time.Duration {
	if total == 0 {
		return 0
	}
	ctx := context.Background()
	ids := make([]string, merchants)
	for i := range ids {
		ids[i] = vayva.NewID("mer")
		for _, code := range []string{actors.AccountPaystackClearing, actors.AccountAvailable, actors.AccountFeeRevenue} {
			acc := actors.LedgerAccountID(ids[i], code, "NGN")
			if _, err := db.Pool().Exec(ctx, `INSERT INTO ledger.accounts (id, merchant_id, code, currency, normal) VALUES ($1, $2, $3, 'NGN', 'credit');
				`, acc, ids[i], code); err != nil {
				b.Fatal(err)
			}
			if _, err := db.Pool().Exec(ctx, `INSERT INTO ledger.balances (account_id, merchant_id, balance) VALUES ($1, $2, 1000000000000)`, acc, ids[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
	hash := make([]byte, 32)
	_, _ = rand.Read(hash)
	var next atomic.Int64
	var failed atomic.Value
	start := time.Now()
	var wg sync.WaitGroup
	for w := range merchants {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := ids[w]
			accounts := []string{
				actors.LedgerAccountID(m, actors.AccountPaystackClearing, "NGN"),
				actors.LedgerAccountID(m, actors.AccountAvailable, "NGN"),
				actors.LedgerAccountID(m, actors.AccountFeeRevenue, "NGN"),
			}
			var seq int64
			for {
				// Take this writer's share of the captures, a batch at a time.
				n := int(next.Add(int64(batch)))
				k := min(batch, total-(n-batch))
				if k <= 0 {
					return
				}
				var txIDs, keys, kinds, merchantsCol, empty []string
				var seqs []int64
				var times []time.Time
				var hashes [][]byte
				var pTx, pAcc, pDir, pCur []string
				var pAmt []int64
				now := time.Now()
				for range k {
					seq++
					id := vayva.NewID("txn")
					txIDs, keys, kinds = append(txIDs, id), append(keys, fmt.Sprintf("raw:%s:%d", m, seq)), append(kinds, "capture")
					merchantsCol, empty, seqs, times, hashes = append(merchantsCol, m), append(empty, ""), append(seqs, seq), append(times, now), append(hashes, hash)
					for j, amt := range []int64{100000, 98500, 1500} {
						dir := "credit"
						if j == 0 {
							dir = "debit"
						}
						pTx, pAcc, pDir, pCur, pAmt = append(pTx, id), append(pAcc, accounts[j]), append(pDir, dir), append(pCur, "NGN"), append(pAmt, amt)
					}
				}
				err := db.InDomain(ctx, vayva.DomainLedger, func(ctx context.Context, tx pgx.Tx) error {
					var bt pgx.Batch
					bt.Queue(`INSERT INTO ledger.transactions (id, merchant_id, seq, kind, reference_type, reference, idempotency_key,
							hold_id, phase, created_at, prev_hash, hash)
						SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[],
							$8::text[], $9::text[], $10::timestamptz[], $11::bytea[], $12::bytea[])`,
						txIDs, merchantsCol, seqs, kinds, empty, txIDs, keys, empty, empty, times, hashes, hashes)
					bt.Queue(`UPDATE ledger.balances b SET balance = b.balance + d.delta
						FROM unnest($1::text[], $2::bigint[]) AS d (account_id, delta) WHERE b.account_id = d.account_id`,
						accounts, []int64{int64(k) * 100000, int64(k) * 98500, int64(k) * 1500})
					if err := tx.SendBatch(ctx, &bt).Close(); err != nil {
						return err
					}
					rows := make([][]any, len(pTx))
					for i := range pTx {
						rows[i] = []any{pTx[i], pAcc[i], pDir[i], pAmt[i], pCur[i]}
					}
					_, err := tx.CopyFrom(ctx, pgx.Identifier{"ledger", "postings"},
						[]string{"transaction_id", "account_id", "direction", "amount", "currency"}, pgx.CopyFromRows(rows))
					return err
				})
				if err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}
