package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/messages"
	"github.com/vayvahq/vayva/persistence/redis/queue"
)

// DeliveryProvider books and cancels deliveries with the provider a job
// names. Implemented in node/ over integrations/kwik.
type DeliveryProvider interface {
	// Book books the job's delivery under its delivery id, the provider's
	// idempotency reference: booking the same delivery again answers with
	// the first booking.
	Book(ctx context.Context, job actors.DeliveryJob) (actors.DeliveryUpdate, error)
	// Cancel cancels the job's booked delivery.
	Cancel(ctx context.Context, job actors.DeliveryJob) error
}

// DeliveryOrders hands the provider's answers to the orders. Implemented in
// node/ over the cluster.
type DeliveryOrders interface {
	RecordDelivery(ctx context.Context, orderID string, m *messages.RecordDelivery) error
}

// DeliveryConfig configures the delivery worker.
type DeliveryConfig struct {
	// ConsumerName is the queue consumer's name, stable across restarts and
	// unique among live processes. Required.
	ConsumerName string
	// Concurrency is how many jobs are handled at once. Defaults to 4.
	Concurrency int
	// Logger receives operational logs. The zero value discards them.
	Logger zerolog.Logger
}

// Delivery is the worker of the delivery queue. The order actor writes a
// delivery.book job (on order.paid when its store books by itself, or when
// the merchant asks) and a delivery.cancel job (when a booked order is
// canceled) through the outbox, in the transaction that records the
// pending delivery. The worker books with the provider under the
// delivery's id, so a job delivered twice, retried after a lost answer or
// taken over from a worker that died mid-booking books once, and reports
// the booking to the order (command ids derived from the delivery, so the
// report is applied once). A booking that keeps failing is retried with
// the queue's backoff; on its last attempt the order records the delivery
// failed with the reason, and the job goes to the dead-letter queue.
type Delivery struct {
	*consumer
	provider DeliveryProvider
	orders   DeliveryOrders
	log      zerolog.Logger
}

// NewDelivery returns the delivery worker.
func NewDelivery(cfg DeliveryConfig, broker *queue.Broker, provider DeliveryProvider, orders DeliveryOrders) (*Delivery, error) {
	if provider == nil || orders == nil {
		return nil, errors.New("worker: delivery: a provider and the orders are required")
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 4
	}
	w := &Delivery{provider: provider, orders: orders, log: cfg.Logger.With().Str("component", "delivery").Logger()}
	c, err := newConsumer(cfg.ConsumerName, vayva.QueueDelivery, broker, cfg.Concurrency, w.Handle)
	if err != nil {
		return nil, err
	}
	w.consumer = c
	return w, nil
}

// Handle processes one job of the delivery queue.
func (w *Delivery) Handle(ctx context.Context, job queue.Job) error {
	var ev vayva.Event
	if err := json.Unmarshal(job.Payload, &ev); err != nil {
		w.log.Error().Err(err).Str("job", job.ID).Msg("delivery job is not an event; dropped")
		return nil
	}
	if ev.Type == "" {
		ev.Type = job.Type
	}
	var dj actors.DeliveryJob
	if err := json.Unmarshal(ev.Data, &dj); err != nil || dj.OrderID == "" || dj.DeliveryID == "" {
		w.log.Error().Str("job", job.ID).Str("type", ev.Type).Msg("delivery job without an order and delivery; dropped")
		return nil
	}
	log := w.log.With().Str("order_id", dj.OrderID).Str("delivery_id", dj.DeliveryID).Int("attempt", job.Attempt).Logger()
	switch ev.Type {
	case actors.EventDeliveryBook:
		upd, err := w.provider.Book(ctx, dj)
		if err != nil {
			if job.MaxAttempts > 0 && job.Attempt >= job.MaxAttempts {
				// The last attempt: the order shows the failure, the job
				// goes to the dead letters for ops to replay.
				log.Error().Err(err).Msg("delivery booking failed for good")
				if rerr := w.record(ctx, dj, "failed", actors.DeliveryUpdate{Status: actors.DeliveryFailed,
					FailureReason: "Booking with " + dj.Provider + " failed: " + vayva.ErrorMessage(err)}); rerr != nil {
					return errors.Join(err, rerr)
				}
			} else {
				log.Warn().Err(err).Msg("delivery booking failed; retrying")
			}
			return fmt.Errorf("delivery: book %s: %w", dj.DeliveryID, err)
		}
		return w.record(ctx, dj, "booked", upd)
	case actors.EventDeliveryCancel:
		if err := w.provider.Cancel(ctx, dj); err != nil {
			log.Warn().Err(err).Msg("delivery cancel failed")
			return fmt.Errorf("delivery: cancel %s: %w", dj.DeliveryID, err)
		}
		return w.record(ctx, dj, "canceled", actors.DeliveryUpdate{Status: actors.DeliveryCanceled, ProviderReference: dj.ProviderReference})
	default:
		log.Warn().Str("type", ev.Type).Msg("delivery job of an unknown type; dropped")
		return nil
	}
}

// record reports upd to the delivery's order. A report the order refuses
// (its delivery moved on already) is dropped: repeating it cannot help.
func (w *Delivery) record(ctx context.Context, dj actors.DeliveryJob, what string, upd actors.DeliveryUpdate) error {
	err := w.orders.RecordDelivery(ctx, dj.OrderID, &messages.RecordDelivery{
		CommandId: "delivery:" + dj.DeliveryID + ":" + what, DeliveryId: dj.DeliveryID, Status: upd.Status,
		ProviderReference: upd.ProviderReference, ProviderStatus: upd.ProviderStatus, TrackingUrl: upd.TrackingURL,
		FailureReason: upd.FailureReason,
	})
	switch code := vayva.ErrorCode(err); {
	case err == nil:
		return nil
	case code == vayva.ECONFLICT || code == vayva.ENOTFOUND || code == vayva.EINVALID:
		w.log.Warn().Err(err).Str("order_id", dj.OrderID).Str("delivery_id", dj.DeliveryID).Msg("the order refused a delivery report; dropped")
		return nil
	default:
		return fmt.Errorf("delivery: record %s on order %s: %w", what, dj.OrderID, err)
	}
}
