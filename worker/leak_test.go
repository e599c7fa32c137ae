package worker_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vayvahq/vayva/persistence/postgres"
	"github.com/vayvahq/vayva/worker"
)

// Stopping the relay and the workers leaves no goroutine behind, with work
// done by each.
func TestStopLeavesNoGoroutines(t *testing.T) {
	e := newEnv(t)
	merchant := e.newMerchant(t)
	rcv := newReceiver(t)
	ep := e.endpoint(t, merchant, rcv.srv.URL, "order.paid")
	rcv.setSecret(ep.Secret)
	opts := []goleak.Option{
		goleak.IgnoreCurrent(),
		// The Resend client sends through the shared default transport,
		// whose idle connections (and the test servers' ends of them)
		// outlive any one worker.
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreAnyFunction("net/http.(*conn).serve"),
	}
	ctx := context.Background()

	relay, err := worker.NewRelay(worker.RelayConfig{PollInterval: 10 * time.Millisecond}, worker.LeadWith(postgres.NewOutbox(e.db).Lead), e.broker)
	require.NoError(t, err)
	email, err := worker.NewEmail(worker.EmailConfig{ConsumerName: "leak-email", RetryScale: 0.001}, e.broker, postgres.NewEmailLogs(e.db), e.resendClient(t))
	require.NoError(t, err)
	hooks, err := worker.NewWebhooks(worker.WebhooksConfig{ConsumerName: "leak-hooks", PollInterval: 10 * time.Millisecond, AllowPrivateNetworks: true}, e.broker, e.webhooks(t))
	require.NoError(t, err)
	require.NoError(t, relay.Start(ctx))
	require.NoError(t, email.Start(ctx))
	require.NoError(t, hooks.Start(ctx))

	e.appendEvent(t, "user", "usr_1", emailEvent(t, "leak@example.com", merchant))
	e.appendEvent(t, "order", "ord_1", merchantEvent(merchant, "order.paid", map[string]string{"order_id": "ord_1"}))
	require.Eventually(t, func() bool { return len(e.sb.Mailbox("leak@example.com")) == 1 }, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool {
		got := rcv.received()
		return len(got) == 1 && got[0].Status == http.StatusOK
	}, 10*time.Second, 10*time.Millisecond)

	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, hooks.Stop(stopCtx))
	require.NoError(t, email.Stop(stopCtx))
	require.NoError(t, relay.Stop(stopCtx))
	require.NoError(t, hooks.Stop(stopCtx), "Stop is idempotent")
	require.NoError(t, relay.Stop(stopCtx), "Stop is idempotent")
	require.NoError(t, email.Stop(stopCtx), "Stop is idempotent")
	goleak.VerifyNone(t, opts...)
}
