package worker_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/integrations/paystack"
	"github.com/vayvahq/vayva/integrations/sandbox"
	"github.com/vayvahq/vayva/messages"
	"github.com/vayvahq/vayva/persistence/postgres"
	"github.com/vayvahq/vayva/persistence/redis/queue"
	"github.com/vayvahq/vayva/worker"
)

// ledgerRecorder stands in for the ledger actors at the worker's boundary
// (their own idempotency is tested with the actor): it records what the
// workers send.
type ledgerRecorder struct {
	mu       sync.Mutex
	captures []*messages.LedgerCapture
	settles  []*messages.LedgerSettlePayout
}

func (r *ledgerRecorder) Capture(_ context.Context, m *messages.LedgerCapture) (*messages.LedgerPosted, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.captures = append(r.captures, m)
	return &messages.LedgerPosted{TransactionId: "txn_x"}, nil
}

func (r *ledgerRecorder) SettlePayout(_ context.Context, m *messages.LedgerSettlePayout) (*messages.Payout, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.settles = append(r.settles, m)
	return &messages.Payout{Id: m.GetPayoutId()}, nil
}

func (r *ledgerRecorder) outcomes() []messages.TransferOutcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []messages.TransferOutcome
	for _, s := range r.settles {
		out = append(out, s.GetOutcome())
	}
	return out
}

// ledgerEnv adds to env a Paystack client of the sandbox (started, so
// transfers complete) and a pending payout row per call of payout.
type ledgerWorkerEnv struct {
	*env
	ps     *paystack.Client
	ledger *ledgerRecorder
	store  *postgres.Ledger
}

// paystackClient is a Paystack client of the env's sandbox.
func (e *env) paystackClient(t *testing.T) *paystack.Client {
	t.Helper()
	ps, err := paystack.New(paystack.Config{SecretKey: e.sb.Config().PaystackSecret, BaseURL: e.sbURL + sandboxPaystackPrefix, RetryScale: 0.001})
	require.NoError(t, err)
	return ps
}

func newLedgerWorkerEnv(t *testing.T) *ledgerWorkerEnv {
	t.Helper()
	e := newEnv(t)
	require.NoError(t, e.sb.Start(context.Background()))
	t.Cleanup(func() { _ = e.sb.Stop(context.Background()) })
	return &ledgerWorkerEnv{env: e, ps: e.paystackClient(t), ledger: &ledgerRecorder{}, store: postgres.NewLedger(e.db)}
}

const sandboxPaystackPrefix = "/sandbox/paystack/api"

// payout records a pending payout as the ledger actor would.
func (e *ledgerWorkerEnv) payout(t *testing.T, account string, amount int64) actors.PayoutRecord {
	t.Helper()
	p := actors.PayoutRecord{
		ID: actors.PayoutID("mer_w", vayva.NewID("cmd")), MerchantID: "mer_w", Amount: amount, Currency: "NGN", Status: actors.PayoutPending,
		BankCode: "058", AccountNumber: account, AccountName: "Ada Obi", CreatedAt: time.Now(), UpdatedAt: time.Now(),
	}
	_, err := e.db.Pool().Exec(context.Background(), `
		INSERT INTO ledger.payouts (id, merchant_id, amount, currency, status, bank_code, account_number, account_name, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		p.ID, p.MerchantID, p.Amount, p.Currency, p.Status, p.BankCode, p.AccountNumber, p.AccountName, p.CreatedAt, p.UpdatedAt)
	require.NoError(t, err)
	return p
}

func payoutJob(t *testing.T, typ string, p actors.PayoutRecord) queue.Job {
	t.Helper()
	data, err := json.Marshal(actors.PayoutJob{PayoutID: p.ID, MerchantID: p.MerchantID})
	require.NoError(t, err)
	payload, err := json.Marshal(vayva.Event{ID: vayva.NewID("evt"), Type: typ, Queue: vayva.QueuePayouts, Data: data})
	require.NoError(t, err)
	return queue.Job{ID: vayva.NewID("job"), Type: typ, Payload: payload, Attempt: 1, MaxAttempts: 10}
}

func (e *ledgerWorkerEnv) transferStatus(t *testing.T, ref string) string {
	t.Helper()
	tr, err := e.ps.VerifyTransfer(context.Background(), ref)
	require.NoError(t, err)
	return tr.Status
}

// A payout job delivered twice starts one transfer, books nothing while
// the transfer is in progress, and the reconcile job books its outcome.
func TestPayoutsWorkerStartsOneTransferAndReconciles(t *testing.T) {
	t.Parallel()
	e := newLedgerWorkerEnv(t)
	w, err := worker.NewPayouts(worker.PayoutsConfig{ConsumerName: "t"}, e.broker, e.store, e.ps, e.ledger)
	require.NoError(t, err)
	ctx := context.Background()

	for _, tc := range []struct {
		account string
		status  string
		outcome messages.TransferOutcome
	}{
		{"0123456789", paystack.TransferSuccess, messages.TransferOutcome_TRANSFER_OUTCOME_SUCCESS},
		{"0000000000", paystack.TransferFailed, messages.TransferOutcome_TRANSFER_OUTCOME_FAILED},
	} {
		*e.ledger = ledgerRecorder{}
		p := e.payout(t, tc.account, 70000)
		require.NoError(t, w.Handle(ctx, payoutJob(t, actors.EventPayoutRequested, p)))
		require.NoError(t, w.Handle(ctx, payoutJob(t, actors.EventPayoutRequested, p)), "a second delivery finds the transfer")
		require.Eventually(t, func() bool { return e.transferStatus(t, p.ID) == tc.status }, 10*time.Second, 5*time.Millisecond)
		require.NoError(t, w.Handle(ctx, payoutJob(t, actors.EventPayoutReconcile, p)))
		// The second delivery may have found the transfer complete already;
		// every booking is of the one outcome.
		outcomes := e.ledger.outcomes()
		require.NotEmpty(t, outcomes)
		for _, o := range outcomes {
			require.Equal(t, tc.outcome, o)
		}
		require.Equal(t, p.MerchantID, e.ledger.settles[0].GetMerchantId())
	}

	// A reconcile job for a payout Paystack never heard of starts it.
	*e.ledger = ledgerRecorder{}
	p := e.payout(t, "0123456789", 1000)
	require.NoError(t, w.Handle(ctx, payoutJob(t, actors.EventPayoutReconcile, p)))
	require.Eventually(t, func() bool { return e.transferStatus(t, p.ID) == paystack.TransferSuccess }, 10*time.Second, 5*time.Millisecond)

	// A bank account Paystack refuses fails the payout with its reason.
	*e.ledger = ledgerRecorder{}
	p = e.payout(t, "12345", 1000)
	require.NoError(t, w.Handle(ctx, payoutJob(t, actors.EventPayoutRequested, p)))
	require.Equal(t, []messages.TransferOutcome{messages.TransferOutcome_TRANSFER_OUTCOME_FAILED}, e.ledger.outcomes())
	require.Contains(t, e.ledger.settles[0].GetReason(), "Account number is invalid")
	_, err = e.ps.VerifyTransfer(ctx, p.ID)
	require.Equal(t, vayva.ENOTFOUND, vayva.ErrorCode(err))
}

// Transfer webhooks are hints: the verified status is what gets booked,
// however often and in whatever order the events arrive.
func TestTransferEventsBookTheVerifiedOutcome(t *testing.T) {
	t.Parallel()
	e := newLedgerWorkerEnv(t)
	ctx := context.Background()
	h := worker.NewTransferEvents(e.store, e.ps, e.ledger, e.log)
	w, err := worker.NewPayouts(worker.PayoutsConfig{ConsumerName: "t"}, e.broker, e.store, e.ps, e.ledger)
	require.NoError(t, err)
	p := e.payout(t, "0123456789", 25000)
	require.NoError(t, w.Handle(ctx, payoutJob(t, actors.EventPayoutRequested, p)))
	event := func(name string) queue.Job {
		body, err := json.Marshal(map[string]any{"event": name, "data": map[string]any{"reference": p.ID, "amount": p.Amount, "status": "x"}})
		require.NoError(t, err)
		return queue.Job{ID: vayva.NewID("job"), Type: "paystack.event", Payload: body}
	}

	require.Eventually(t, func() bool { return e.transferStatus(t, p.ID) == paystack.TransferSuccess }, 10*time.Second, 5*time.Millisecond)
	// A forged or late transfer.failed is checked and books the success.
	for _, name := range []string{paystack.EventTransferFailed, paystack.EventTransferSuccess, paystack.EventTransferSuccess} {
		handled, err := h.HandleJob(ctx, event(name))
		require.True(t, handled)
		require.NoError(t, err)
	}
	for _, o := range e.ledger.outcomes() {
		require.Equal(t, messages.TransferOutcome_TRANSFER_OUTCOME_SUCCESS, o)
	}

	// While Paystack still reports a transfer pending, its event is
	// retried rather than believed.
	slow := sandbox.New(sandbox.Config{TransferDelay: time.Hour})
	srv := httptest.NewServer(slow.Handler())
	t.Cleanup(srv.Close)
	slowPS, err := paystack.New(paystack.Config{SecretKey: slow.Config().PaystackSecret, BaseURL: srv.URL + sandboxPaystackPrefix})
	require.NoError(t, err)
	pending := e.payout(t, "0123456789", 3000)
	ws, err := worker.NewPayouts(worker.PayoutsConfig{ConsumerName: "t"}, e.broker, e.store, slowPS, e.ledger)
	require.NoError(t, err)
	require.NoError(t, ws.Handle(ctx, payoutJob(t, actors.EventPayoutRequested, pending)))
	before := len(e.ledger.outcomes())
	early, _ := json.Marshal(map[string]any{"event": "transfer.success", "data": map[string]any{"reference": pending.ID}})
	handled, err := worker.NewTransferEvents(e.store, slowPS, e.ledger, e.log).HandleJob(ctx, queue.Job{Payload: early})
	require.True(t, handled)
	require.ErrorContains(t, err, "pending")
	require.Len(t, e.ledger.outcomes(), before, "nothing booked")

	// Not ours: other events and other transfers.
	charge, _ := json.Marshal(map[string]any{"event": "charge.success", "data": map[string]any{"reference": "ord_1"}})
	handled, err = h.HandleJob(ctx, queue.Job{Payload: charge})
	require.False(t, handled)
	require.NoError(t, err)
	foreign, _ := json.Marshal(map[string]any{"event": "transfer.success", "data": map[string]any{"reference": "someone-elses-transfer"}})
	handled, err = h.HandleJob(ctx, queue.Job{Payload: foreign})
	require.True(t, handled)
	require.NoError(t, err)
	unknown, _ := json.Marshal(map[string]any{"event": "transfer.success", "data": map[string]any{"reference": actors.PayoutID("m", "nope")}})
	handled, err = h.HandleJob(ctx, queue.Job{Payload: unknown})
	require.True(t, handled)
	require.NoError(t, err)
}

func TestOrdersSyncSendsOneCapturePerOrder(t *testing.T) {
	t.Parallel()
	e := newLedgerWorkerEnv(t)
	w, err := worker.NewOrdersSync(worker.OrdersSyncConfig{ConsumerName: "t"}, e.broker, e.ledger)
	require.NoError(t, err)
	data, _ := json.Marshal(map[string]any{"order_id": "ord_1", "store_id": "sto_1", "merchant_id": "mer_1", "amount": 5000,
		"currency": "NGN", "fee_bps": 150, "payment_reference": "ref", "paid_at": "2026-01-02T03:04:05Z"})
	payload, _ := json.Marshal(vayva.Event{ID: "evt_1", Type: worker.EventOrderPaid, Data: data})
	ctx := context.Background()
	require.NoError(t, w.Handle(ctx, queue.Job{ID: "evt_1", Type: worker.EventOrderPaid, Payload: payload}))
	require.Len(t, e.ledger.captures, 1)
	c := e.ledger.captures[0]
	require.Equal(t, "capture:ord_1", c.GetCommandId())
	require.Equal(t, int64(5000), c.GetAmount())
	require.Equal(t, int32(150), c.GetFeeBps())
	require.Equal(t, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMilli(), c.GetPaidAtUnixMs())

	other, _ := json.Marshal(vayva.Event{ID: "evt_2", Type: "order.fulfilled", Data: data})
	require.NoError(t, w.Handle(ctx, queue.Job{Payload: other}), "other events are acknowledged")
	bad, _ := json.Marshal(vayva.Event{ID: "evt_3", Type: worker.EventOrderPaid, Data: json.RawMessage(`{"order_id":"ord_2"}`)})
	require.Error(t, w.Handle(ctx, queue.Job{Payload: bad}), "an unreadable capture fails (and is dead-lettered in the end)")
	require.Error(t, w.Handle(ctx, queue.Job{Payload: []byte("not json")}))
	require.Len(t, e.ledger.captures, 1)
}
