package worker_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/internal/startstop/startstoptest"
	"github.com/vayvahq/vayva/persistence/postgres"
	"github.com/vayvahq/vayva/worker"
)

// The relay and the workers keep the start/stop semantics every long-lived
// component shares.
func TestLifecycle(t *testing.T) {
	e := newEnv(t)
	t.Run("Relay", func(t *testing.T) {
		startstoptest.Check(t, func(t *testing.T) startstoptest.Service {
			r, err := worker.NewRelay(worker.RelayConfig{}, worker.LeadWith(postgres.NewOutbox(e.db).Lead), e.broker)
			require.NoError(t, err)
			return r
		})
	})
	t.Run("Email", func(t *testing.T) {
		startstoptest.Check(t, func(t *testing.T) startstoptest.Service {
			w, err := worker.NewEmail(worker.EmailConfig{ConsumerName: vayva.NewID("email")}, e.broker, postgres.NewEmailLogs(e.db), e.resendClient(t))
			require.NoError(t, err)
			return w
		})
	})
	t.Run("Payments", func(t *testing.T) {
		startstoptest.Check(t, func(t *testing.T) startstoptest.Service {
			w, err := worker.NewPayments(worker.PaymentsConfig{ConsumerName: vayva.NewID("payments")}, e.broker, noOrders{})
			require.NoError(t, err)
			return w
		})
	})
	t.Run("OrdersSync", func(t *testing.T) {
		startstoptest.Check(t, func(t *testing.T) startstoptest.Service {
			w, err := worker.NewOrdersSync(worker.OrdersSyncConfig{ConsumerName: vayva.NewID("sync")}, e.broker, &ledgerRecorder{})
			require.NoError(t, err)
			return w
		})
	})
	t.Run("Payouts", func(t *testing.T) {
		startstoptest.Check(t, func(t *testing.T) startstoptest.Service {
			w, err := worker.NewPayouts(worker.PayoutsConfig{ConsumerName: vayva.NewID("payouts")}, e.broker,
				postgres.NewLedger(e.db), e.paystackClient(t), &ledgerRecorder{})
			require.NoError(t, err)
			return w
		})
	})
	t.Run("Webhooks", func(t *testing.T) {
		startstoptest.Check(t, func(t *testing.T) startstoptest.Service {
			w, err := worker.NewWebhooks(worker.WebhooksConfig{ConsumerName: vayva.NewID("hooks")}, e.broker, e.webhooks(t))
			require.NoError(t, err)
			return w
		})
	})
}

// noOrders is an Orders that no event reaches in a lifecycle test.
type noOrders struct{}

func (noOrders) ConfirmPayment(context.Context, string, string) error { return nil }

func (noOrders) RefundUpdate(context.Context, string, string, string, int64) error { return nil }
