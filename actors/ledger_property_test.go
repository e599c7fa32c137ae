package actors_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/cluster"
	"github.com/vayvahq/vayva/messages"
)

// untilDefinite sends msg until the ledger gives a definite answer: an
// outcome-unknown failure (a timeout, an activation moving) is sent again,
// as every client of the ledger does, with the same message.
func untilDefinite[T proto.Message](ctx context.Context, m *cluster.Member, merchantID string, msg proto.Message) (T, error) {
	for {
		out, err := ledgerCall[T](ctx, m, merchantID, msg)
		if vayva.ErrorCode(err) != vayva.EUNAVAILABLE || ctx.Err() != nil {
			return out, err
		}
	}
}

// Payout fates in the property test: what Paystack finally reports.
const (
	fateNone     = iota // never settled: stays pending
	fateSuccess         // transfer.success, delivered several times
	fateFailed          // transfer.failed, several times
	fateReversed        // success, then reversed by the bank, in any order
)

// propModel is the simple model of one merchant the test computes from the
// commands the ledger accepted.
type propModel struct {
	mu                         sync.Mutex
	available, pending, onHold int64
	payouts                    map[string]string // payout id → final status
}

// propWork is a queue of deliveries taken in random order by concurrent
// workers; a delivery may add more (the settles of what it created).
type propWork struct {
	mu      sync.Mutex
	rng     *rand.Rand
	items   []func(ctx context.Context) error
	running int
	cond    *sync.Cond
}

func newPropWork(seed uint64) *propWork {
	w := &propWork{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	w.cond = sync.NewCond(&w.mu)
	return w
}

func (w *propWork) add(f func(ctx context.Context) error) {
	w.mu.Lock()
	w.items = append(w.items, f)
	w.mu.Unlock()
	w.cond.Broadcast()
}

func (w *propWork) intn(n int) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rng.IntN(n)
}

// take returns a random pending delivery, or nil when none is left and
// none is running (nothing more can be added).
func (w *propWork) take() func(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.items) == 0 {
		if w.running == 0 {
			w.cond.Broadcast()
			return nil
		}
		w.cond.Wait()
	}
	i := w.rng.IntN(len(w.items))
	f := w.items[i]
	w.items[i] = w.items[len(w.items)-1]
	w.items = w.items[:len(w.items)-1]
	w.running++
	return f
}

func (w *propWork) done() {
	w.mu.Lock()
	w.running--
	w.mu.Unlock()
	w.cond.Broadcast()
}

// TestLedgerPropertyRandomFlowsKeepTheChecksGreen delivers random captures,
// refunds, payouts and transfer outcomes to three merchants' ledgers,
// concurrently, in random order and with duplicates (a capture after the
// refund that booked it, a hold again after its settle, a transfer's
// success after its reversal), and then requires the SQL checks green and
// every balance equal to a model computed from what the ledger accepted.
// It then reactivates the ledgers and checks they reloaded exactly.
func TestLedgerPropertyRandomFlowsKeepTheChecksGreen(t *testing.T) {
	t.Parallel()
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			t.Parallel()
			runLedgerProperty(t, seed)
		})
	}
}

func runLedgerProperty(t *testing.T, seed uint64) {
	e := newLedgerEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	work := newPropWork(seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	merchants := []*ledgerMerchant{e.merchant(t), e.merchant(t), e.merchant(t)}
	models := map[string]*propModel{}
	for _, m := range merchants {
		models[m.id] = &propModel{payouts: map[string]string{}}
	}
	// times is how often a delivery is repeated.
	times := func() int { return 1 + work.intn(3) }
	dup := func(n int, f func(ctx context.Context) error) {
		for range n {
			work.add(f)
		}
	}
	var errMu sync.Mutex
	var failures []error
	fail := func(err error) {
		errMu.Lock()
		failures = append(failures, err)
		errMu.Unlock()
	}

	for _, m := range merchants {
		model := models[m.id]
		for range 25 {
			amount := int64(100 + rng.IntN(100000))
			bps := []int32{0, 150, 250, 10000}[rng.IntN(4)]
			capture := m.paidOrder(t, e.db, amount, bps)
			fee := actors.PlatformFee(amount, bps)
			booked := sync.Once{}
			book := func() {
				booked.Do(func() {
					model.mu.Lock()
					model.available += amount - fee
					model.mu.Unlock()
				})
			}
			dup(times(), func(ctx context.Context) error {
				if _, err := untilDefinite[*messages.LedgerPosted](ctx, e.member, m.id, capture); err != nil {
					return fmt.Errorf("capture %s: %w", capture.GetOrderId(), err)
				}
				book()
				return nil
			})
			if rng.IntN(3) != 0 {
				continue
			}
			// A refund of this order, its capture embedded, settled one way
			// or the other (or not yet).
			refundID := vayva.NewID("rfd")
			gross := 1 + rng.Int64N(amount)
			share := gross - actors.RefundFeeShare(amount, fee, 0, 0, gross)
			fate := rng.IntN(3) // 0 pending, 1 succeeded, 2 failed
			refundRow(t, e.db, refundID, capture.GetOrderId(), gross, "pending")
			hold := &messages.LedgerHoldRefund{CommandId: "hold-" + refundID, MerchantId: m.id, RefundId: refundID,
				OrderId: capture.GetOrderId(), Amount: gross, Currency: "NGN", Capture: capture}
			settle := &messages.LedgerSettleRefund{CommandId: "settle-" + refundID, MerchantId: m.id, RefundId: refundID, Succeeded: fate == 1}
			held := sync.Once{}
			dup(times(), func(ctx context.Context) error {
				h, err := untilDefinite[*messages.LedgerHold](ctx, e.member, m.id, hold)
				if vayva.ErrorCode(err) == vayva.EINSUFFICIENTFUNDS {
					book() // the capture was booked all the same
					return nil
				}
				if err != nil {
					return fmt.Errorf("hold %s: %w", refundID, err)
				}
				book()
				if h.GetAmount() != share {
					return fmt.Errorf("hold %s holds %d, want %d", refundID, h.GetAmount(), share)
				}
				held.Do(func() {
					model.mu.Lock()
					model.available -= share
					model.onHold += gross
					model.mu.Unlock()
					if fate == 0 {
						return
					}
					switch fate {
					case 1:
						refundRow(t, e.db, refundID, capture.GetOrderId(), gross, "succeeded")
					case 2:
						refundRow(t, e.db, refundID, capture.GetOrderId(), gross, "failed")
					}
					settled := sync.Once{}
					dup(times(), func(ctx context.Context) error {
						if _, err := untilDefinite[*messages.LedgerHold](ctx, e.member, m.id, settle); err != nil {
							return fmt.Errorf("settle %s: %w", refundID, err)
						}
						settled.Do(func() {
							model.mu.Lock()
							model.onHold -= gross
							if fate == 2 {
								model.available += share
							}
							model.mu.Unlock()
						})
						return nil
					})
					// A hold delivered again after its settle changes
					// nothing.
					dup(1, func(ctx context.Context) error {
						_, err := untilDefinite[*messages.LedgerHold](ctx, e.member, m.id, hold)
						return err
					})
				})
				return nil
			})
		}
		for i := range 20 {
			req := payout(m.id, fmt.Sprintf("payout-%d-%d", seed, i), int64(1+rng.IntN(60000)), "0123456789")
			fate := rng.IntN(4)
			created := sync.Once{}
			dup(times(), func(ctx context.Context) error {
				p, err := untilDefinite[*messages.Payout](ctx, e.member, m.id, req)
				if vayva.ErrorCode(err) == vayva.EINSUFFICIENTFUNDS {
					return nil
				}
				if err != nil {
					return fmt.Errorf("payout %s: %w", req.GetCommandId(), err)
				}
				created.Do(func() {
					model.mu.Lock()
					model.available -= req.GetAmount()
					model.pending += req.GetAmount()
					model.payouts[p.GetId()] = actors.PayoutPending
					model.mu.Unlock()
					var outcomes []messages.TransferOutcome
					final := actors.PayoutFailed
					switch fate {
					case fateNone:
						final = actors.PayoutPending
					case fateSuccess:
						final = actors.PayoutPaid
						for range times() {
							outcomes = append(outcomes, messages.TransferOutcome_TRANSFER_OUTCOME_SUCCESS)
						}
					case fateFailed:
						for range times() {
							outcomes = append(outcomes, messages.TransferOutcome_TRANSFER_OUTCOME_FAILED)
						}
					case fateReversed:
						outcomes = append(outcomes, messages.TransferOutcome_TRANSFER_OUTCOME_SUCCESS, messages.TransferOutcome_TRANSFER_OUTCOME_REVERSED)
					}
					model.mu.Lock()
					model.payouts[p.GetId()] = final
					model.pending -= req.GetAmount()
					switch final {
					case actors.PayoutPending:
						model.pending += req.GetAmount()
					case actors.PayoutFailed:
						model.available += req.GetAmount()
					}
					model.mu.Unlock()
					for _, o := range outcomes {
						dup(1, func(ctx context.Context) error {
							_, err := untilDefinite[*messages.Payout](ctx, e.member, m.id, settlePayout(m.id, p.GetId(), o))
							return err
						})
					}
				})
				return nil
			})
		}
	}

	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				f := work.take()
				if f == nil {
					return
				}
				if err := f(ctx); err != nil {
					fail(err)
				}
				work.done()
			}
		}()
	}
	wg.Wait()
	require.Empty(t, failures)
	require.Greater(t, e.batches.max(), 1, "commands were group-committed")

	requireLedgerOK(t, e.db)
	for _, m := range merchants {
		model := models[m.id]
		require.Equal(t, vayva.Wallet{Currency: "NGN", Available: model.available, Pending: model.pending, OnHold: model.onHold},
			wallet(t, e.db, m.id), "merchant %s", m.id)
		for id, status := range model.payouts {
			var got string
			require.NoError(t, e.db.Pool().QueryRow(ctx, `SELECT status FROM ledger.payouts WHERE id = $1`, id).Scan(&got))
			require.Equal(t, status, got, "payout %s", id)
		}
	}

	// A fresh activation reloads exactly what committed: it refuses one
	// kobo more than available and pays out all of it.
	other := startLedgerMember(t, e.db, "b", cluster.Config{Name: "ledger-" + vayva.NewID("c")}, nil)
	for _, m := range merchants {
		available := models[m.id].available
		_, err := ledgerCall[*messages.Payout](ctx, other, m.id, payout(m.id, "all-plus-one", available+1, "0123456789"))
		requireCode(t, err, vayva.EINSUFFICIENTFUNDS)
		if available > 0 {
			ledgerMust[*messages.Payout](t, other, m.id, payout(m.id, "all", available, "0123456789"))
		}
		require.Equal(t, int64(0), wallet(t, e.db, m.id).Available)
	}
	requireLedgerOK(t, e.db)
}
