package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/integrations/paystack"
	"github.com/vayvahq/vayva/persistence/redis/queue"
)

// Orders is how the payments ingestor hands Paystack's news to the order it
// concerns. Implemented in node/ over the cluster.
type Orders interface {
	// ConfirmPayment tells the order its payment may have succeeded; the
	// order verifies it with Paystack itself.
	ConfirmPayment(ctx context.Context, orderID, reference string) error
	// RefundUpdate reports a refund event of the order's payment.
	RefundUpdate(ctx context.Context, orderID, providerRefundID, status string, amount int64) error
}

// PaymentEventHandler handles Paystack events of another domain (the
// ledger's transfer.* events).
type PaymentEventHandler func(ctx context.Context, ev paystack.Event) error

// PaymentsConfig configures the payments ingestor.
type PaymentsConfig struct {
	// ConsumerName is the queue consumer's name, stable across restarts and
	// unique among live processes. Required.
	ConsumerName string
	// Concurrency is how many events are handled at once. Defaults to 8.
	Concurrency int
	// Transfers handles transfer.* events; nil drops them with a warning.
	Transfers PaymentEventHandler
	// Registerer receives the ingestor's metrics. Nil keeps them
	// unregistered.
	Registerer prometheus.Registerer
	// Logger receives operational logs. The zero value discards them.
	Logger zerolog.Logger
}

// Payments is the ingestor of the payments-inbound queue: it turns each
// verified Paystack webhook into a command of the order (or the payout) it
// concerns. A webhook is a hint: the order asks Paystack itself before it
// believes a payment. Events of unknown orders, and events the runtime does
// not act on, are acknowledged and dropped; a failure to reach the order is
// retried with the queue's backoff.
type Payments struct {
	*consumer
	cfg    PaymentsConfig
	orders Orders
	log    zerolog.Logger
	events *prometheus.CounterVec
}

// NewPayments returns the payments ingestor.
func NewPayments(cfg PaymentsConfig, broker *queue.Broker, orders Orders) (*Payments, error) {
	if broker == nil || orders == nil {
		return nil, errors.New("worker: payments: a broker and the orders are required")
	}
	if cfg.ConsumerName == "" {
		return nil, errors.New("worker: payments: ConsumerName is required")
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 8
	}
	p := &Payments{
		cfg: cfg, orders: orders,
		log: cfg.Logger.With().Str("component", "payments-ingestor").Logger(),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vayva_payment_events_total", Help: "Paystack events handled, by event and outcome (routed, dropped, failed).",
		}, []string{"event", "outcome"}),
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(p.events); err != nil {
			return nil, fmt.Errorf("worker: payments: register metrics: %w", err)
		}
	}
	c, err := newConsumer(cfg.ConsumerName, vayva.QueuePaymentsInbound, broker, cfg.Concurrency, p.Handle)
	if err != nil {
		return nil, err
	}
	p.consumer = c
	return p, nil
}

// Handle processes one job of payments-inbound: a verified Paystack
// webhook body.
func (p *Payments) Handle(ctx context.Context, job queue.Job) error {
	ev, err := paystack.ParseEvent(job.Payload)
	if err != nil {
		// The receiver parsed it before queueing; this cannot be fixed by
		// retrying.
		p.log.Error().Err(err).Str("job", job.ID).Msg("payments-inbound job is not a Paystack event; dropped")
		p.events.WithLabelValues("invalid", "dropped").Inc()
		return nil
	}
	err = p.route(ctx, ev)
	switch {
	case err == nil:
		p.events.WithLabelValues(ev.Event, "routed").Inc()
		return nil
	case errors.Is(err, errDropped), vayva.ErrorCode(err) == vayva.ENOTFOUND:
		p.log.Warn().Str("job", job.ID).Str("event", ev.Event).Str("reference", ev.Data.Reference).
			Msg("Paystack event for nothing of ours; dropped")
		p.events.WithLabelValues(ev.Event, "dropped").Inc()
		return nil
	default:
		p.events.WithLabelValues(ev.Event, "failed").Inc()
		return err
	}
}

// errDropped marks an event the runtime does not act on.
var errDropped = errors.New("worker: payments: event not handled")

func (p *Payments) route(ctx context.Context, ev paystack.Event) error {
	switch {
	case ev.Event == paystack.EventChargeSuccess:
		id, ok := actors.OrderIDFromReference(ev.Data.Reference)
		if !ok {
			return errDropped
		}
		return p.orders.ConfirmPayment(ctx, id, ev.Data.Reference)
	case strings.HasPrefix(ev.Event, "refund."):
		status := strings.TrimPrefix(ev.Event, "refund.")
		if status != "processed" && status != "failed" {
			return nil // pending, processing: nothing changes until the outcome
		}
		ref := ev.Data.TransactionReference
		if ref == "" {
			ref = ev.Data.Reference
		}
		id, ok := actors.OrderIDFromReference(ref)
		if !ok {
			return errDropped
		}
		return p.orders.RefundUpdate(ctx, id, fmt.Sprint(ev.Data.ID), status, ev.Data.Amount)
	case strings.HasPrefix(ev.Event, "transfer."):
		if p.cfg.Transfers == nil {
			return errDropped
		}
		return p.cfg.Transfers(ctx, ev)
	default:
		return errDropped
	}
}
