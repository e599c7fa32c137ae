package worker

import (
	"context"
	"fmt"
	"strings"

	"github.com/rs/zerolog"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/integrations/paystack"
	"github.com/vayvahq/vayva/persistence/redis/queue"
)

// TransferEvents books Paystack's transfer.success, transfer.failed and
// transfer.reversed webhooks, which reach the payments-inbound queue
// through the webhook receiver. The payments-inbound consumer hands it the
// events whose name starts with "transfer." (see HandleJob). A webhook is a
// hint: the transfer is verified with Paystack and its verified status is
// booked, so events arriving twice, late or out of order book each outcome
// once.
type TransferEvents struct {
	store     PayoutStore
	transfers Transfers
	ledger    LedgerCommands
	log       zerolog.Logger
}

// NewTransferEvents returns the handler.
func NewTransferEvents(store PayoutStore, transfers Transfers, ledger LedgerCommands, log zerolog.Logger) *TransferEvents {
	return &TransferEvents{store: store, transfers: transfers, ledger: ledger, log: log.With().Str("component", "transfer-events").Logger()}
}

// IsTransferEvent reports whether a Paystack event name is TransferEvents'.
func IsTransferEvent(event string) bool { return strings.HasPrefix(event, "transfer.") }

// HandleJob handles a paystack.event job of payments-inbound when it holds
// a transfer event and reports whether it did; handled is false for other
// events, which are the payments consumer's. err is what the consumer's
// handler returns: nil acknowledges the job, an error retries it.
func (h *TransferEvents) HandleJob(ctx context.Context, job queue.Job) (handled bool, err error) {
	ev, err := paystack.ParseEvent(job.Payload)
	if err != nil || !IsTransferEvent(ev.Event) {
		return false, nil
	}
	return true, h.Handle(ctx, ev)
}

// Handle books one transfer event: it finds the payout its reference
// names, verifies the transfer with Paystack and books the verified
// outcome. Events about transfers that are not payouts of ours are
// acknowledged and ignored; a transfer Paystack still reports in progress
// is retried.
func (h *TransferEvents) Handle(ctx context.Context, ev paystack.Event) error {
	ref := ev.Data.Reference
	if !vayva.HasIDPrefix(ref, "po") {
		h.log.Warn().Str("event", ev.Event).Str("reference", ref).Msg("transfer event for a transfer that is not a payout; ignored")
		return nil
	}
	p, err := h.store.PayoutByID(ctx, ref)
	if vayva.ErrorCode(err) == vayva.ENOTFOUND {
		h.log.Warn().Str("event", ev.Event).Str("reference", ref).Msg("transfer event for an unknown payout; ignored")
		return nil
	}
	if err != nil {
		return err
	}
	tr, err := h.transfers.VerifyTransfer(ctx, ref)
	if err != nil {
		return fmt.Errorf("transfer events: verify %s: %w", ref, err)
	}
	switch tr.Status {
	case paystack.TransferSuccess, paystack.TransferFailed, paystack.TransferReversed:
		return settleTransfer(ctx, h.ledger, p, tr)
	}
	return fmt.Errorf("transfer events: %s says %s but Paystack reports the transfer %s; retrying", ev.Event, ref, tr.Status)
}
