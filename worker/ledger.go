package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/integrations/paystack"
	"github.com/vayvahq/vayva/internal/startstop"
	"github.com/vayvahq/vayva/messages"
	"github.com/vayvahq/vayva/persistence/redis/queue"
)

// LedgerCommands are the commands the ledger's background components send
// to merchants' ledger actors. Implemented in node/ over cluster.Request;
// every command may be sent again and posts once.
type LedgerCommands interface {
	Capture(ctx context.Context, m *messages.LedgerCapture) (*messages.LedgerPosted, error)
	SettlePayout(ctx context.Context, m *messages.LedgerSettlePayout) (*messages.Payout, error)
}

// PayoutStore reads payouts by id, whoever's they are. Implemented by
// persistence/postgres's Ledger.
type PayoutStore interface {
	PayoutByID(ctx context.Context, payoutID string) (actors.PayoutRecord, error)
}

// Transfers is Paystack's transfer API. Implemented by *paystack.Client.
type Transfers interface {
	CreateTransferRecipient(ctx context.Context, r paystack.RecipientRequest) (paystack.Recipient, error)
	InitiateTransfer(ctx context.Context, r paystack.TransferRequest) (paystack.Transfer, error)
	VerifyTransfer(ctx context.Context, reference string) (paystack.Transfer, error)
}

var _ Transfers = (*paystack.Client)(nil)

// consumer is a queue consumer run as a component with the shared
// start/stop semantics: Start subscribes handler to one queue, Stop waits
// for the jobs in flight.
type consumer struct {
	startstop.BaseStartStop
	name, queue string
	broker      *queue.Broker
	handler     queue.Handler
	concurrency int

	c *queue.Consumer
}

// Start subscribes to the queue and starts consuming.
func (c *consumer) Start(ctx context.Context) (err error) {
	run, started, stopped, err := c.StartInit(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			stopped()
		}
	}()
	sctx, cancel := startstop.StartupContext(ctx, run)
	defer cancel()
	qc, err := c.broker.NewConsumer(c.name)
	if err != nil {
		return fmt.Errorf("worker: %s: %w", c.queue, err)
	}
	if err := qc.Consume(sctx, c.queue, c.handler, queue.ConsumeOptions{Concurrency: c.concurrency}); err != nil {
		return fmt.Errorf("worker: %s: %w", c.queue, err)
	}
	if err := qc.Start(sctx); err != nil {
		return fmt.Errorf("worker: %s: %w", c.queue, err)
	}
	c.c = qc
	started()
	return nil
}

// Stop stops consuming and waits for the jobs in flight (or for ctx).
func (c *consumer) Stop(ctx context.Context) error {
	return c.StopWith(ctx, func(ctx context.Context) error {
		if err := c.c.Stop(ctx); err != nil {
			return fmt.Errorf("worker: %s: %w", c.queue, err)
		}
		return nil
	})
}

func newConsumer(name, q string, broker *queue.Broker, concurrency int, h queue.Handler) (*consumer, error) {
	if broker == nil {
		return nil, fmt.Errorf("worker: %s: a broker is required", q)
	}
	if name == "" {
		return nil, fmt.Errorf("worker: %s: ConsumerName is required", q)
	}
	if concurrency < 0 {
		return nil, errors.New("worker: Concurrency must not be negative")
	}
	return &consumer{name: name, queue: q, broker: broker, handler: h, concurrency: concurrency}, nil
}
