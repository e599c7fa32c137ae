package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/messages"
	"github.com/vayvahq/vayva/persistence/redis/queue"
)

// EventOrderPaid is the type of the order actor's event for the ledger on
// the orders-sync queue.
const EventOrderPaid = "order.paid"

// orderPaid is the Data of an order.paid event on orders-sync.
type orderPaid struct {
	OrderID          string `json:"order_id"`
	StoreID          string `json:"store_id"`
	MerchantID       string `json:"merchant_id"`
	Amount           int64  `json:"amount"`
	Currency         string `json:"currency"`
	FeeBps           int32  `json:"fee_bps"`
	PaymentReference string `json:"payment_reference"`
	PaidAt           string `json:"paid_at"`
}

// OrdersSyncConfig configures the orders-sync consumer.
type OrdersSyncConfig struct {
	// ConsumerName is the queue consumer's name, stable across restarts and
	// unique among live processes. Required.
	ConsumerName string
	// Concurrency is how many events are handled at once; the ledger actor
	// commits the captures that arrive together in one transaction.
	// Defaults to 32.
	Concurrency int
	// Logger receives operational logs. The zero value discards them.
	Logger zerolog.Logger
}

// OrdersSync consumes the orders-sync queue on ingestor nodes: each
// order.paid event becomes a LedgerCapture to the merchant's ledger actor,
// whose command id and idempotency key are the order's, so a redelivered
// event (or one the relay published twice) captures once. Events it
// cannot read, or that the ledger refuses, fail and are retried until they
// are dead-lettered, where operators see them.
type OrdersSync struct {
	*consumer
	ledger LedgerCommands
	log    zerolog.Logger
}

// NewOrdersSync returns the consumer; it sends captures to ledger.
func NewOrdersSync(cfg OrdersSyncConfig, broker *queue.Broker, ledger LedgerCommands) (*OrdersSync, error) {
	if ledger == nil {
		return nil, errors.New("worker: orders-sync: a ledger is required")
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 32
	}
	w := &OrdersSync{ledger: ledger, log: cfg.Logger.With().Str("component", "orders-sync").Logger()}
	c, err := newConsumer(cfg.ConsumerName, vayva.QueueOrdersSync, broker, cfg.Concurrency, w.Handle)
	if err != nil {
		return nil, err
	}
	w.consumer = c
	return w, nil
}

// Handle processes one job of the orders-sync queue.
func (w *OrdersSync) Handle(ctx context.Context, job queue.Job) error {
	var ev vayva.Event
	if err := json.Unmarshal(job.Payload, &ev); err != nil {
		return fmt.Errorf("orders-sync: job %s is not an event: %w", job.ID, err)
	}
	if ev.Type == "" {
		ev.Type = job.Type
	}
	if ev.Type != EventOrderPaid {
		w.log.Warn().Str("job", job.ID).Str("type", ev.Type).Msg("orders-sync event the ledger does not book; acknowledged")
		return nil
	}
	m, err := CaptureOf(ev.Data)
	if err != nil {
		w.log.Error().Err(err).Str("job", job.ID).Msg("unreadable order.paid event")
		return err
	}
	if _, err := w.ledger.Capture(ctx, m); err != nil {
		if code := vayva.ErrorCode(err); code != vayva.EUNAVAILABLE {
			w.log.Error().Err(err).Str("order_id", m.GetOrderId()).Str("merchant_id", m.GetMerchantId()).
				Msg("the ledger refused an order's capture")
		}
		return fmt.Errorf("orders-sync: capture order %s: %w", m.GetOrderId(), err)
	}
	return nil
}

// CaptureOf is the ledger capture of an order.paid event's data: command
// id "capture:<order id>", so every delivery of the event is one command.
func CaptureOf(data json.RawMessage) (*messages.LedgerCapture, error) {
	var d orderPaid
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("order.paid: %w", err)
	}
	var v vayva.Validation
	v.Check(d.OrderID != "", "order_id", "is required")
	v.Check(d.MerchantID != "", "merchant_id", "is required")
	v.Check(d.Amount > 0, "amount", "must be positive")
	v.Check(d.Currency != "", "currency", "is required")
	var paidAt time.Time
	if d.PaidAt != "" {
		t, err := time.Parse(time.RFC3339Nano, d.PaidAt)
		v.Check(err == nil, "paid_at", "must be an RFC 3339 time")
		paidAt = t
	}
	if err := v.Err(); err != nil {
		return nil, fmt.Errorf("order.paid: %w", err)
	}
	m := &messages.LedgerCapture{
		CommandId: "capture:" + d.OrderID, MerchantId: d.MerchantID, OrderId: d.OrderID, Amount: d.Amount,
		Currency: d.Currency, FeeBps: d.FeeBps, PaymentReference: d.PaymentReference,
	}
	if !paidAt.IsZero() {
		m.PaidAtUnixMs = paidAt.UnixMilli()
	}
	return m, nil
}
