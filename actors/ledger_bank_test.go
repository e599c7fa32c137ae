package actors_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/cluster"
	"github.com/vayvahq/vayva/messages"
	"github.com/vayvahq/vayva/persistence/postgres"
	"github.com/vayvahq/vayva/persistence/postgres/pgtest"
)

// bankMember is one cluster member of the bank test with its own pool, so
// that killing it also cuts its connections, as a crashed process would.
type bankMember struct {
	m  *cluster.Member
	db *postgres.DB
}

func startBankMember(t *testing.T, dbURL, clusterName, owner string) *bankMember {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := postgres.Open(ctx, dbURL)
	require.NoError(t, err)
	m, err := cluster.New(cluster.Config{
		Name: clusterName, Provider: cluster.ProviderPostgres,
		HeartbeatInterval: 200 * time.Millisecond, MemberTTL: 1500 * time.Millisecond, RequestTimeout: 3 * time.Second,
		Kinds: []cluster.Kind{ledgerKind(db, postgres.NewJournal(db, owner), nil)},
	}, db, zerolog.Nop(), nil)
	require.NoError(t, err)
	require.NoError(t, m.Start(ctx))
	bm := &bankMember{m: m, db: db}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = m.Stop(ctx)
		db.Close()
	})
	return bm
}

// bankOp is one money movement a client sent, with what it learned.
type bankOp struct {
	merchant string
	msg      proto.Message
	// outcome: "acked", "refused" (a definite refusal) or "unknown"
	// (no definite answer: a timeout or an error while a member died).
	outcome string
	reply   proto.Message
}

// TestLedgerBankWorkloadSurvivesAMemberKill is the ledger's bank workload,
// in the spirit of Jepsen's: clients move money concurrently for several
// merchants (captures in, payouts out, transfer outcomes) through three
// members of one cluster (postgres provider) while one member is killed and
// a replacement started. Afterwards, before any retry, the ledger checks
// hold (nothing unacknowledged is half-written); then every command whose
// outcome the client did not learn is sent again, as clients do, and every
// acknowledged transaction is present exactly once, the balances equal a
// model of the acknowledged commands, and the checks hold.
func TestLedgerBankWorkloadSurvivesAMemberKill(t *testing.T) {
	t.Parallel()
	admin, dbURL := pgtest.New(t)
	name := "bank-" + vayva.NewID("c")
	var members []*bankMember
	for i := range 3 {
		members = append(members, startBankMember(t, dbURL, name, fmt.Sprint("m", i)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	require.Eventually(t, func() bool {
		ms, err := members[0].m.Members(ctx)
		return err == nil && len(ms) == 3 && members[1].m.Ready() && members[2].m.Ready()
	}, 20*time.Second, 20*time.Millisecond, "the members see each other")

	var live atomic.Pointer[[]*bankMember]
	live.Store(&members)
	pick := func(rng *rand.Rand) *bankMember {
		ms := *live.Load()
		return ms[rng.IntN(len(ms))]
	}
	merchants := make([]*ledgerMerchant, 6)
	for i := range merchants {
		merchants[i] = newLedgerMerchant(t, admin)
	}

	var mu sync.Mutex
	var ops []*bankOp
	record := func(op *bankOp) {
		mu.Lock()
		ops = append(ops, op)
		mu.Unlock()
	}
	// send makes one attempt through a live member and classifies it.
	send := func(ctx context.Context, bm *bankMember, op *bankOp) {
		c, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		var reply proto.Message
		var err error
		switch msg := op.msg.(type) {
		case *messages.LedgerCapture:
			reply, err = ledgerCall[*messages.LedgerPosted](c, bm.m, op.merchant, msg)
		case *messages.LedgerRequestPayout:
			reply, err = ledgerCall[*messages.Payout](c, bm.m, op.merchant, msg)
		case *messages.LedgerSettlePayout:
			reply, err = ledgerCall[*messages.Payout](c, bm.m, op.merchant, msg)
		}
		switch {
		case err == nil:
			op.outcome, op.reply = "acked", reply
		case vayva.ErrorCode(err) == vayva.EINSUFFICIENTFUNDS:
			op.outcome = "refused"
		default:
			op.outcome = "unknown"
		}
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 42))
			var mine []*bankOp // this client's acknowledged payouts, to settle
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				m := merchants[rng.IntN(len(merchants))]
				op := &bankOp{merchant: m.id}
				switch r := rng.IntN(10); {
				case r < 5:
					op.msg = m.paidOrder(t, admin, int64(1000+rng.IntN(50000)), 150)
				case r < 8:
					op.msg = payout(m.id, fmt.Sprintf("c%d-%d", c, i), int64(1+rng.IntN(30000)), "0123456789")
				default:
					if len(mine) == 0 {
						continue
					}
					j := rng.IntN(len(mine))
					p := mine[j]
					mine = append(mine[:j], mine[j+1:]...)
					outcome := messages.TransferOutcome_TRANSFER_OUTCOME_SUCCESS
					if rng.IntN(2) == 0 {
						outcome = messages.TransferOutcome_TRANSFER_OUTCOME_FAILED
					}
					op.merchant = p.merchant
					op.msg = settlePayout(p.merchant, p.reply.(*messages.Payout).GetId(), outcome)
				}
				send(ctx, pick(rng), op)
				record(op)
				if _, ok := op.msg.(*messages.LedgerRequestPayout); ok && op.outcome == "acked" {
					mine = append(mine, op)
				}
			}
		}()
	}

	// Let traffic flow, kill the member hosting the most ledgers, start a
	// replacement, let traffic flow again.
	waitOps := func(n int) {
		require.Eventually(t, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(ops) >= n
		}, time.Minute, 10*time.Millisecond)
	}
	waitOps(150)
	victim := 0
	for i, bm := range members {
		if bm.m.ActivationCounts()[actors.LedgerKind] > members[victim].m.ActivationCounts()[actors.LedgerKind] {
			victim = i
		}
	}
	survivors := append(append([]*bankMember(nil), members[:victim]...), members[victim+1:]...)
	live.Store(&survivors)
	members[victim].m.Kill()
	members[victim].db.Close()
	mu.Lock()
	atKill := len(ops)
	mu.Unlock()
	waitOps(atKill + 150)
	replacement := startBankMember(t, dbURL, name, "m3")
	withNew := append(append([]*bankMember(nil), survivors...), replacement)
	live.Store(&withNew)
	mu.Lock()
	atRestart := len(ops)
	mu.Unlock()
	waitOps(atRestart + 150)
	close(stop)
	wg.Wait()

	// Before any retry: whatever committed, acknowledged or not, is whole.
	// (Orders whose capture got no answer may still lack it; the grace
	// period of the check covers them, as it covers the orders-sync lag.)
	r, err := admin.CheckLedger(ctx)
	require.NoError(t, err)
	require.True(t, r.OK, "problems: %v", r.Problems)

	// Clients send again what they got no definite answer for.
	unknown := 0
	for _, op := range ops {
		if op.outcome != "unknown" {
			continue
		}
		unknown++
		for op.outcome == "unknown" {
			send(ctx, withNew[0], op)
		}
	}
	t.Logf("%d money movements, %d without a definite answer at first (retried)", len(ops), unknown)

	// The model of the acknowledged commands.
	type account struct{ available, pending int64 }
	model := map[string]*account{}
	captures := map[string]int{}
	payouts := map[string]string{}
	for _, m := range merchants {
		model[m.id] = &account{}
	}
	for _, op := range ops {
		if op.outcome != "acked" {
			continue
		}
		a := model[op.merchant]
		switch msg := op.msg.(type) {
		case *messages.LedgerCapture:
			if captures[msg.GetOrderId()]++; captures[msg.GetOrderId()] == 1 {
				a.available += msg.GetAmount() - actors.PlatformFee(msg.GetAmount(), msg.GetFeeBps())
			}
		case *messages.LedgerRequestPayout:
			id := op.reply.(*messages.Payout).GetId()
			if _, ok := payouts[id]; !ok {
				payouts[id] = actors.PayoutPending
				a.available -= msg.GetAmount()
				a.pending += msg.GetAmount()
			}
		}
	}
	for _, op := range ops {
		msg, ok := op.msg.(*messages.LedgerSettlePayout)
		if !ok || op.outcome != "acked" {
			continue
		}
		p := op.reply.(*messages.Payout)
		require.NotEqual(t, actors.PayoutPending, p.GetStatus())
		if payouts[p.GetId()] != actors.PayoutPending {
			continue
		}
		payouts[p.GetId()] = p.GetStatus()
		a := model[msg.GetMerchantId()]
		a.pending -= p.GetAmount()
		if p.GetStatus() == actors.PayoutFailed {
			a.available += p.GetAmount()
		}
	}
	for _, m := range merchants {
		require.Equal(t, vayva.Wallet{Currency: "NGN", Available: model[m.id].available, Pending: model[m.id].pending},
			wallet(t, admin, m.id), "merchant %s", m.id)
	}
	// Every acknowledged capture and payout is there exactly once, under
	// the id its client was told.
	for _, op := range ops {
		if op.outcome != "acked" {
			continue
		}
		switch msg := op.msg.(type) {
		case *messages.LedgerCapture:
			var ids []string
			rows, err := admin.Pool().Query(ctx, `SELECT id FROM ledger.transactions WHERE idempotency_key = $1`, "capture:"+msg.GetOrderId())
			require.NoError(t, err)
			for rows.Next() {
				var id string
				require.NoError(t, rows.Scan(&id))
				ids = append(ids, id)
			}
			require.Equal(t, []string{op.reply.(*messages.LedgerPosted).GetTransactionId()}, ids)
		case *messages.LedgerRequestPayout:
			var status string
			require.NoError(t, admin.Pool().QueryRow(ctx, `SELECT status FROM ledger.payouts WHERE id = $1`,
				op.reply.(*messages.Payout).GetId()).Scan(&status))
			require.Equal(t, payouts[op.reply.(*messages.Payout).GetId()], status)
		}
	}
	var captured, payoutRows int
	require.NoError(t, admin.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM ledger.transactions WHERE kind = 'capture'),
		(SELECT count(*) FROM ledger.payouts)`).Scan(&captured, &payoutRows))
	require.Equal(t, len(captures), captured, "no capture the clients were not told of")
	require.Equal(t, len(payouts), payoutRows, "no payout the clients were not told of")
	requireLedgerOK(t, admin)
}
