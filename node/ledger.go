package node

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/cluster"
	vhttp "github.com/vayvahq/vayva/http"
	"github.com/vayvahq/vayva/integrations/paystack"
	"github.com/vayvahq/vayva/messages"
	"github.com/vayvahq/vayva/persistence/postgres"
	"github.com/vayvahq/vayva/worker"
)

// LedgerParts are the ledger's pieces on a node besides its actor kind.
type LedgerParts struct {
	// Client sends commands to ledger actors for the ledger's background
	// components.
	Client *LedgerClient
	// OrdersSync books captures from order.paid events (ingestors role).
	OrdersSync *worker.OrdersSync
	// Payouts sends payouts' transfers (workers role).
	Payouts *worker.Payouts
	// TransferEvents books Paystack's transfer.* webhooks; the
	// payments-inbound consumer hands them to it (ingestors and workers
	// roles).
	TransferEvents *worker.TransferEvents
	// Paystack is the client payouts go through.
	Paystack *paystack.Client

	metrics *ledgerMetrics
}

// LedgerClient reaches merchants' ledger actors through the cluster.
type LedgerClient struct {
	member *cluster.Member
}

var (
	_ worker.LedgerCommands = (*LedgerClient)(nil)
	_ worker.PayoutStore    = (*postgres.Ledger)(nil)
	_ vhttp.LedgerReads     = (*postgres.Ledger)(nil)
)

// Capture books an order's payment.
func (c *LedgerClient) Capture(ctx context.Context, m *messages.LedgerCapture) (*messages.LedgerPosted, error) {
	return cluster.Request[*messages.LedgerPosted](ctx, c.member, actors.LedgerKind, m.GetMerchantId(), m)
}

// HoldRefund holds a refund's share of the merchant's available funds.
func (c *LedgerClient) HoldRefund(ctx context.Context, m *messages.LedgerHoldRefund) (*messages.LedgerHold, error) {
	return cluster.Request[*messages.LedgerHold](ctx, c.member, actors.LedgerKind, m.GetMerchantId(), m)
}

// SettleRefund posts or voids a refund's hold.
func (c *LedgerClient) SettleRefund(ctx context.Context, m *messages.LedgerSettleRefund) (*messages.LedgerHold, error) {
	return cluster.Request[*messages.LedgerHold](ctx, c.member, actors.LedgerKind, m.GetMerchantId(), m)
}

// SettlePayout books a payout's transfer outcome.
func (c *LedgerClient) SettlePayout(ctx context.Context, m *messages.LedgerSettlePayout) (*messages.Payout, error) {
	return cluster.Request[*messages.Payout](ctx, c.member, actors.LedgerKind, m.GetMerchantId(), m)
}

// ledgerMetrics are the ledger's group-commit histograms.
type ledgerMetrics struct {
	batchSize     prometheus.Histogram
	commitSeconds prometheus.Histogram
}

func (n *Node) ledgerMetrics() *ledgerMetrics {
	if n.Ledger.metrics == nil {
		m := &ledgerMetrics{
			batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
				Name:    "vayva_ledger_batch_size",
				Help:    "Ledger commands committed together in one transaction.",
				Buckets: prometheus.ExponentialBuckets(1, 2, 13),
			}),
			commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
				Name:    "vayva_ledger_commit_seconds",
				Help:    "Time to commit one ledger batch, fallback included.",
				Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
			}),
		}
		n.Registry.MustRegister(m.batchSize, m.commitSeconds)
		n.Ledger.metrics = m
	}
	return n.Ledger.metrics
}

// ledgerKind is the ledger actor kind, its batches observed by the
// metrics.
func (n *Node) ledgerKind() cluster.Kind {
	m := n.ledgerMetrics()
	return cluster.Kind{
		Name: actors.LedgerKind,
		Producer: actors.NewLedgerProducer(n.Journal, postgres.NewLedger(n.DB), actors.LedgerConfig{
			RetryScale: n.cfg.RetryScale,
			Observe: func(size int, took time.Duration) {
				m.batchSize.Observe(float64(size))
				m.commitSeconds.Observe(took.Seconds())
			},
		}, n.log),
		IdleTimeout: actors.LedgerIdleTimeout,
		Changes:     actors.LedgerChanges,
	}
}

// startLedger starts the ledger's background components: the orders-sync
// consumer on ingestor nodes, the payout worker on worker nodes, and the
// transfer-event handler the payments ingestor hands transfer.* events to.
func (n *Node) startLedger(ctx context.Context) error {
	cfg := n.cfg
	n.Ledger.Client = &LedgerClient{member: n.Member}
	if !cfg.Roles["ingestors"] && !cfg.Roles["workers"] {
		return nil
	}
	var err error
	if n.Ledger.Paystack, err = n.paystackClient(); err != nil {
		return err
	}
	store := postgres.NewLedger(n.DB)
	n.Ledger.TransferEvents = worker.NewTransferEvents(store, n.Ledger.Paystack, n.Ledger.Client, n.log)
	if cfg.Roles["ingestors"] {
		n.Ledger.OrdersSync, err = worker.NewOrdersSync(worker.OrdersSyncConfig{ConsumerName: n.consumerBase() + "-orders-sync", Logger: n.log},
			n.Queues, n.Ledger.Client)
		if err != nil {
			return err
		}
		if err := n.Ledger.OrdersSync.Start(ctx); err != nil {
			return err
		}
		n.onStop("orders-sync consumer", n.Ledger.OrdersSync.Stop, nil)
	}
	if cfg.Roles["workers"] {
		n.Ledger.Payouts, err = worker.NewPayouts(worker.PayoutsConfig{ConsumerName: n.consumerBase() + "-payouts", Logger: n.log},
			n.Queues, store, n.Ledger.Paystack, n.Ledger.Client)
		if err != nil {
			return err
		}
		if err := n.Ledger.Payouts.Start(ctx); err != nil {
			return err
		}
		n.onStop("payout worker", n.Ledger.Payouts.Stop, nil)
	}
	return nil
}

// orderLedger is the order actor's LedgerClient over the cluster: an
// order's refunds hold and settle on its merchant's ledger, the order's
// capture embedded so a refund that overtakes orders-sync books it first.
// Command ids derive from the refund, so every call is idempotent.
type orderLedger struct{ member func() *cluster.Member }

var _ actors.LedgerClient = orderLedger{}

func (l orderLedger) HoldRefund(ctx context.Context, o *actors.Order, r *actors.Refund, by *messages.AuditActor) error {
	currency := r.Currency
	if currency == "" {
		currency = o.Currency
	}
	m := &messages.LedgerHoldRefund{
		CommandId: "refund-hold:" + r.ID, MerchantId: o.MerchantID, RefundId: r.ID, OrderId: o.ID, Amount: r.Amount,
		Currency: currency, Audit: by,
		Capture: &messages.LedgerCapture{
			CommandId: "capture:" + o.ID, MerchantId: o.MerchantID, OrderId: o.ID, Amount: o.AmountPaid, Currency: o.Currency,
			FeeBps: o.FeeBps, PaymentReference: o.PaymentReference, PaidAtUnixMs: o.PaidAt.UnixMilli(),
		},
	}
	_, err := cluster.Request[*messages.LedgerHold](ctx, l.member(), actors.LedgerKind, o.MerchantID, m)
	return err
}

func (l orderLedger) SettleRefund(ctx context.Context, o *actors.Order, r *actors.Refund, succeeded bool) error {
	_, err := cluster.Request[*messages.LedgerHold](ctx, l.member(), actors.LedgerKind, o.MerchantID, &messages.LedgerSettleRefund{
		CommandId: "refund-settle:" + r.ID, MerchantId: o.MerchantID, RefundId: r.ID, Succeeded: succeeded,
	})
	return err
}
