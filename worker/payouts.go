package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/rs/zerolog"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/integrations/paystack"
	"github.com/vayvahq/vayva/messages"
	"github.com/vayvahq/vayva/persistence/redis/queue"
)

// PayoutsConfig configures the payout worker.
type PayoutsConfig struct {
	// ConsumerName is the queue consumer's name, stable across restarts and
	// unique among live processes. Required.
	ConsumerName string
	// Concurrency is how many payouts are handled at once. Defaults to 4.
	Concurrency int
	// Logger receives operational logs. The zero value discards them.
	Logger zerolog.Logger
}

// Payouts is the payout worker. The ledger actor holds a payout's funds
// and, in the same transaction, writes a payout.requested job to the
// payouts queue through the outbox, so no payout is sent for a hold that
// did not commit and none is lost when a node dies; HTTP never waits for
// Paystack. The worker registers the bank account as a transfer recipient
// and starts the transfer with the payout id as its reference, Paystack's
// idempotency key: a job delivered twice, or retried after a lost answer,
// starts one transfer. An outcome Paystack gives at once is booked; the
// others come as transfer webhooks (TransferEvents). A payout.reconcile job
// (the ledger's reminder, while the payout stays pending) verifies the
// transfer and books its outcome, or starts it if it never was.
//
// A refusal of the bank account or the transfer by Paystack fails the
// payout, which gives the funds back; Paystack refusing our credentials and
// transient failures are retried.
type Payouts struct {
	*consumer
	store     PayoutStore
	transfers Transfers
	ledger    LedgerCommands
	log       zerolog.Logger
}

// NewPayouts returns the payout worker.
func NewPayouts(cfg PayoutsConfig, broker *queue.Broker, store PayoutStore, transfers Transfers, ledger LedgerCommands) (*Payouts, error) {
	if store == nil || transfers == nil || ledger == nil {
		return nil, errors.New("worker: payouts: a store, a transfers client and a ledger are required")
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 4
	}
	w := &Payouts{store: store, transfers: transfers, ledger: ledger, log: cfg.Logger.With().Str("component", "payouts").Logger()}
	c, err := newConsumer(cfg.ConsumerName, vayva.QueuePayouts, broker, cfg.Concurrency, w.Handle)
	if err != nil {
		return nil, err
	}
	w.consumer = c
	return w, nil
}

// Handle processes one job of the payouts queue.
func (w *Payouts) Handle(ctx context.Context, job queue.Job) error {
	var ev vayva.Event
	if err := json.Unmarshal(job.Payload, &ev); err != nil {
		return fmt.Errorf("payouts: job %s is not an event: %w", job.ID, err)
	}
	if ev.Type == "" {
		ev.Type = job.Type
	}
	var pj actors.PayoutJob
	if err := json.Unmarshal(ev.Data, &pj); err != nil || pj.PayoutID == "" {
		return fmt.Errorf("payouts: job %s has no payout", job.ID)
	}
	p, err := w.store.PayoutByID(ctx, pj.PayoutID)
	if vayva.ErrorCode(err) == vayva.ENOTFOUND {
		w.log.Error().Str("payout_id", pj.PayoutID).Msg("payout job for an unknown payout; dropped")
		return nil
	}
	if err != nil {
		return err
	}
	if p.Status != actors.PayoutPending {
		return nil
	}
	switch ev.Type {
	case actors.EventPayoutRequested:
		return w.send(ctx, p)
	case actors.EventPayoutReconcile:
		return w.reconcile(ctx, p)
	default:
		w.log.Warn().Str("job", job.ID).Str("type", ev.Type).Msg("payouts job of an unknown type; dropped")
		return nil
	}
}

// send starts the payout's transfer and books an outcome Paystack gives at
// once.
func (w *Payouts) send(ctx context.Context, p actors.PayoutRecord) error {
	rc, err := w.transfers.CreateTransferRecipient(ctx, paystack.RecipientRequest{
		Name: p.AccountName, AccountNumber: p.AccountNumber, BankCode: p.BankCode, Currency: p.Currency,
		Description: "Vayva merchant " + p.MerchantID,
	})
	if err != nil {
		return w.refused(ctx, p, "The bank account was refused", err)
	}
	tr, err := w.transfers.InitiateTransfer(ctx, paystack.TransferRequest{
		Amount: p.Amount, Recipient: rc.RecipientCode, Reference: p.ID, Currency: p.Currency, Reason: "Vayva payout " + p.ID,
	})
	if err != nil {
		return w.refused(ctx, p, "The transfer was refused", err)
	}
	return settleTransfer(ctx, w.ledger, p, tr)
}

// reconcile books the outcome of a pending payout's transfer, or starts
// the transfer when Paystack has none.
func (w *Payouts) reconcile(ctx context.Context, p actors.PayoutRecord) error {
	tr, err := w.transfers.VerifyTransfer(ctx, p.ID)
	if vayva.ErrorCode(err) == vayva.ENOTFOUND {
		return w.send(ctx, p)
	}
	if err != nil {
		return err
	}
	return settleTransfer(ctx, w.ledger, p, tr)
}

// refused fails the payout when Paystack refused it for good, and returns
// any other error for a retry.
func (w *Payouts) refused(ctx context.Context, p actors.PayoutRecord, what string, err error) error {
	var pe *paystack.Error
	permanent := vayva.ErrorCode(err) == vayva.EINVALID && !errors.As(err, &pe)
	if errors.As(err, &pe) {
		// Our own credentials being refused is not the payout's fault.
		permanent = paystack.IsPermanent(err) && pe.StatusCode != http.StatusUnauthorized && pe.StatusCode != http.StatusForbidden
	}
	if !permanent {
		return err
	}
	reason := what + "."
	if pe != nil && pe.Message != "" {
		reason = what + ": " + pe.Message
	}
	w.log.Warn().Str("payout_id", p.ID).Str("reason", reason).Msg("payout refused by Paystack; failing it")
	_, serr := w.ledger.SettlePayout(ctx, &messages.LedgerSettlePayout{
		CommandId: "payout-settle:" + p.ID + ":refused", MerchantId: p.MerchantID, PayoutId: p.ID,
		Outcome: messages.TransferOutcome_TRANSFER_OUTCOME_FAILED, Reason: reason,
	})
	return serr
}

// settleTransfer books a transfer's outcome, as Paystack reports it, on
// its payout; a transfer still in progress books nothing.
func settleTransfer(ctx context.Context, ledger LedgerCommands, p actors.PayoutRecord, tr paystack.Transfer) error {
	var outcome messages.TransferOutcome
	switch tr.Status {
	case paystack.TransferSuccess:
		outcome = messages.TransferOutcome_TRANSFER_OUTCOME_SUCCESS
	case paystack.TransferFailed:
		outcome = messages.TransferOutcome_TRANSFER_OUTCOME_FAILED
	case paystack.TransferReversed:
		outcome = messages.TransferOutcome_TRANSFER_OUTCOME_REVERSED
	default:
		return nil
	}
	if tr.Amount != p.Amount || (tr.Currency != "" && tr.Currency != p.Currency) {
		return fmt.Errorf("payout %s is %d %s but Paystack's transfer is %d %s: not booked", p.ID, p.Amount, p.Currency, tr.Amount, tr.Currency)
	}
	_, err := ledger.SettlePayout(ctx, &messages.LedgerSettlePayout{
		CommandId: "payout-settle:" + p.ID + ":" + tr.Status, MerchantId: p.MerchantID, PayoutId: p.ID,
		Outcome: outcome, TransferCode: tr.TransferCode,
	})
	return err
}
