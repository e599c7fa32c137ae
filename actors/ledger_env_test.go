package actors_test

import (
	"context"
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

// ledgerEnv is a database with merchants and a single-member cluster
// hosting the ledger kind.
type ledgerEnv struct {
	db     *postgres.DB
	member *cluster.Member
	// batches records every batch size the ledger committed.
	batches *batchLog
}

// batchLog collects the pipeline's observations.
type batchLog struct {
	mu    sync.Mutex
	sizes []int
	took  []time.Duration
}

func (b *batchLog) observe(size int, took time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sizes = append(b.sizes, size)
	b.took = append(b.took, took)
}

func (b *batchLog) max() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := 0
	for _, s := range b.sizes {
		m = max(m, s)
	}
	return m
}

func newLedgerEnv(t testing.TB) *ledgerEnv {
	t.Helper()
	db, _ := pgtest.New(t)
	e := &ledgerEnv{db: db, batches: &batchLog{}}
	e.member = startLedgerMember(t, db, "a", cluster.Config{Name: "ledger-" + vayva.NewID("c")}, e.batches.observe)
	return e
}

// ledgerKind is the ledger kind on journal j, reconciling pending payouts
// after a minute (scaled down as tests scale every delay).
func ledgerKind(db *postgres.DB, j actors.Journal, observe func(int, time.Duration)) cluster.Kind {
	return cluster.Kind{
		Name: actors.LedgerKind,
		Producer: actors.NewLedgerProducer(j, postgres.NewLedger(db), actors.LedgerConfig{
			ReconcileAfter: time.Hour, Observe: observe,
		}, zerolog.Nop()),
		IdleTimeout: time.Minute,
		Changes:     actors.LedgerChanges,
	}
}

func startLedgerMember(t testing.TB, db *postgres.DB, owner string, cfg cluster.Config, observe func(int, time.Duration)) *cluster.Member {
	t.Helper()
	j := postgres.NewJournal(db, owner)
	cfg.Kinds = append(cfg.Kinds, ledgerKind(db, j, observe))
	m, err := cluster.New(cfg, db, zerolog.Nop(), nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, m.Start(ctx))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = m.Stop(ctx)
	})
	return m
}

// ledgerMerchant is a merchant with a store, whose paid orders the test
// records in orders.orders as the order actor would.
type ledgerMerchant struct {
	id, storeID string
	orders      atomic.Int64
}

func (e *ledgerEnv) merchant(t testing.TB) *ledgerMerchant {
	t.Helper()
	return newLedgerMerchant(t, e.db)
}

func newLedgerMerchant(t testing.TB, db *postgres.DB) *ledgerMerchant {
	t.Helper()
	ctx := context.Background()
	m := &ledgerMerchant{id: vayva.NewID("mer"), storeID: vayva.NewID("sto")}
	_, err := db.Pool().Exec(ctx, `INSERT INTO merchant.merchants (id, name, owner_user_id) VALUES ($1, 'Ledger Test', 'usr_owner')`, m.id)
	require.NoError(t, err)
	_, err = db.Pool().Exec(ctx, `INSERT INTO merchant.stores (id, merchant_id, slug, name) VALUES ($1, $2, $3, 'Ledger Shop')`,
		m.storeID, m.id, "l-"+m.storeID[4:16])
	require.NoError(t, err)
	return m
}

// paidOrder records a paid order of amount and returns the capture the
// orders-sync consumer would send for it.
func (m *ledgerMerchant) paidOrder(t testing.TB, db *postgres.DB, amount int64, feeBps int32) *messages.LedgerCapture {
	t.Helper()
	id := vayva.NewID("ord")
	n := m.orders.Add(1)
	paid := time.Now().UTC().Add(-time.Minute)
	_, err := db.Pool().Exec(context.Background(), `
		INSERT INTO orders.orders (id, store_id, merchant_id, number, status, payment_status, fulfillment_status, currency,
			subtotal, total, amount_paid, fee_bps, customer_email, token_hash, payment_reference, expires_at, paid_at,
			created_at, updated_at)
		VALUES ($1, $2, $3, $4, 'confirmed', 'paid', 'unfulfilled', 'NGN', $5, $5, $5, $6, 'c@example.com', '\x00',
			$7, $8, $8, $8, $8)`,
		id, m.storeID, m.id, n, amount, feeBps, "ref-"+id, paid)
	require.NoError(t, err)
	return &messages.LedgerCapture{
		CommandId: "capture:" + id, MerchantId: m.id, OrderId: id, Amount: amount, Currency: "NGN", FeeBps: feeBps,
		PaymentReference: "ref-" + id, PaidAtUnixMs: paid.UnixMilli(),
	}
}

// refundRow records a non-automatic refund of an order as the order actor
// would, with the given status.
func refundRow(t testing.TB, db *postgres.DB, refundID, orderID string, amount int64, status string) {
	t.Helper()
	_, err := db.Pool().Exec(context.Background(), `
		INSERT INTO orders.refunds (id, order_id, amount, currency, status, created_at, updated_at)
		VALUES ($1, $2, $3, 'NGN', $4, now() - interval '1 minute', now() - interval '1 minute')
		ON CONFLICT (id) DO UPDATE SET status = excluded.status`,
		refundID, orderID, amount, status)
	require.NoError(t, err)
}

func ledgerCall[T proto.Message](ctx context.Context, m *cluster.Member, merchantID string, msg proto.Message) (T, error) {
	return cluster.Request[T](ctx, m, actors.LedgerKind, merchantID, msg)
}

func ledgerMust[T proto.Message](t testing.TB, m *cluster.Member, merchantID string, msg proto.Message) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := ledgerCall[T](ctx, m, merchantID, msg)
	require.NoError(t, err)
	return out
}

// wallet reads the merchant's committed balances.
func wallet(t testing.TB, db *postgres.DB, merchantID string) vayva.Wallet {
	t.Helper()
	w, err := postgres.NewLedger(db).Wallet(context.Background(), merchantID, "NGN")
	require.NoError(t, err)
	return w
}

// requireLedgerOK runs the ledger checks with no grace period.
func requireLedgerOK(t testing.TB, db *postgres.DB) postgres.LedgerReport {
	t.Helper()
	r, err := db.CheckLedgerWith(context.Background(), postgres.LedgerCheckOptions{Grace: -1})
	require.NoError(t, err)
	require.True(t, r.OK, "problems: %v", r.Problems)
	return r
}

func payout(merchantID, cmd string, amount int64, account string) *messages.LedgerRequestPayout {
	return &messages.LedgerRequestPayout{
		CommandId: cmd, MerchantId: merchantID, Amount: amount,
		BankAccount: &messages.BankAccount{AccountNumber: account, BankCode: "058", Name: "Ada Obi"},
		Audit:       &messages.AuditActor{Kind: "user", UserId: "usr_1", CredentialId: "ses_1"},
	}
}

func settlePayout(merchantID, payoutID string, outcome messages.TransferOutcome) *messages.LedgerSettlePayout {
	return &messages.LedgerSettlePayout{CommandId: vayva.NewID("cmd"), MerchantId: merchantID, PayoutId: payoutID, Outcome: outcome}
}
