package actors

import (
	"context"

	"github.com/vayvahq/vayva/messages"
)

// LedgerClient is how other kinds (the order actor's refunds) reach a
// merchant's ledger actor. Implemented in node/ over cluster.Request; every
// method may be retried with the same message, which posts once.
type LedgerClient interface {
	// Capture books an order's payment (LedgerCapture).
	Capture(ctx context.Context, m *messages.LedgerCapture) (*messages.LedgerPosted, error)
	// HoldRefund books the order's capture if needed and holds the
	// merchant's share of the refund; insufficient_funds when the available
	// balance does not cover it.
	HoldRefund(ctx context.Context, m *messages.LedgerHoldRefund) (*messages.LedgerHold, error)
	// SettleRefund posts the refund's reversal or voids its hold.
	SettleRefund(ctx context.Context, m *messages.LedgerSettleRefund) (*messages.LedgerHold, error)
}
