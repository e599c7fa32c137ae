package actors_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/messages"
)

func TestLedgerFeesRoundHalfUpAndRefundsGiveTheWholeFeeBack(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		amount int64
		bps    int32
		fee    int64
	}{
		{100000, 150, 1500}, {33, 150, 0}, {34, 150, 1}, {1, 10000, 1}, {999, 0, 0}, {250001, 150, 3750},
	} {
		require.Equal(t, tc.fee, actors.PlatformFee(tc.amount, tc.bps), "%d at %d bps", tc.amount, tc.bps)
	}
	// Refunding a capture in any steps gives back exactly its fee.
	for _, steps := range [][]int64{{100000}, {1, 99999}, {33333, 33333, 33334}, {7, 7, 7, 99979}} {
		gross, fee := int64(100000), int64(1507)
		var refunded, refundedFee int64
		for _, s := range steps {
			share := actors.RefundFeeShare(gross, fee, refunded, refundedFee, s)
			require.GreaterOrEqual(t, share, int64(0))
			require.LessOrEqual(t, share, s)
			refunded += s
			refundedFee += share
		}
		require.Equal(t, fee, refundedFee, "steps %v", steps)
	}
	// Amounts near the limit do not overflow.
	share := actors.RefundFeeShare(actors.MaxLedgerAmount, actors.MaxLedgerAmount/2, 0, 0, actors.MaxLedgerAmount-1)
	require.Equal(t, int64(actors.MaxLedgerAmount/2-1), share)
}

func TestLedgerCapturePayoutAndRefund(t *testing.T) {
	t.Parallel()
	e := newLedgerEnv(t)
	m := e.merchant(t)

	capture := m.paidOrder(t, e.db, 100000, 150)
	posted := ledgerMust[*messages.LedgerPosted](t, e.member, m.id, capture)
	require.True(t, vayva.HasIDPrefix(posted.GetTransactionId(), "txn"))
	require.False(t, posted.GetReplayed())
	require.Equal(t, vayva.Wallet{Currency: "NGN", Available: 98500}, wallet(t, e.db, m.id))

	// The same order captured again, under another command id too: once.
	again := ledgerMust[*messages.LedgerPosted](t, e.member, m.id, capture)
	require.True(t, again.GetReplayed())
	require.Equal(t, posted.GetTransactionId(), again.GetTransactionId())
	other := proto.Clone(capture).(*messages.LedgerCapture)
	other.CommandId = vayva.NewID("cmd")
	require.Equal(t, posted.GetTransactionId(), ledgerMust[*messages.LedgerPosted](t, e.member, m.id, other).GetTransactionId())
	require.Equal(t, vayva.Wallet{Currency: "NGN", Available: 98500}, wallet(t, e.db, m.id))

	// More than available is refused and changes nothing.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := ledgerCall[*messages.Payout](ctx, e.member, m.id, payout(m.id, "big", 98501, "0123456789"))
	requireCode(t, err, vayva.EINSUFFICIENTFUNDS)

	p := ledgerMust[*messages.Payout](t, e.member, m.id, payout(m.id, "p1", 50000, "0123456789"))
	require.Equal(t, actors.PayoutPending, p.GetStatus())
	require.Equal(t, actors.PayoutID(m.id, "p1"), p.GetId())
	require.Equal(t, "6789", p.GetAccountNumberLast4())
	require.Equal(t, vayva.Wallet{Currency: "NGN", Available: 48500, Pending: 50000}, wallet(t, e.db, m.id))
	dup := ledgerMust[*messages.Payout](t, e.member, m.id, payout(m.id, "p1", 50000, "0123456789"))
	require.True(t, dup.GetReplayed())
	require.Equal(t, p.GetId(), dup.GetId())

	paid := ledgerMust[*messages.Payout](t, e.member, m.id, settlePayout(m.id, p.GetId(), messages.TransferOutcome_TRANSFER_OUTCOME_SUCCESS))
	require.Equal(t, actors.PayoutPaid, paid.GetStatus())
	// A late failure of a paid transfer changes nothing.
	late := ledgerMust[*messages.Payout](t, e.member, m.id, settlePayout(m.id, p.GetId(), messages.TransferOutcome_TRANSFER_OUTCOME_FAILED))
	require.Equal(t, actors.PayoutPaid, late.GetStatus())
	require.Equal(t, vayva.Wallet{Currency: "NGN", Available: 48500}, wallet(t, e.db, m.id))

	// A failed transfer gives the funds back.
	p2 := ledgerMust[*messages.Payout](t, e.member, m.id, payout(m.id, "p2", 40000, "0000000000"))
	require.Equal(t, vayva.Wallet{Currency: "NGN", Available: 8500, Pending: 40000}, wallet(t, e.db, m.id))
	failed := ledgerMust[*messages.Payout](t, e.member, m.id, settlePayout(m.id, p2.GetId(), messages.TransferOutcome_TRANSFER_OUTCOME_FAILED))
	require.Equal(t, actors.PayoutFailed, failed.GetStatus())
	require.NotEmpty(t, failed.GetFailureReason())
	require.Equal(t, vayva.Wallet{Currency: "NGN", Available: 48500}, wallet(t, e.db, m.id))

	// A refund holds the merchant's share (the fee's share is the
	// platform's) and its success takes the whole refund out of clearing.
	refundID := vayva.NewID("rfd")
	hold := ledgerMust[*messages.LedgerHold](t, e.member, m.id, &messages.LedgerHoldRefund{
		CommandId: vayva.NewID("cmd"), MerchantId: m.id, RefundId: refundID, OrderId: capture.GetOrderId(), Amount: 20000, Currency: "NGN",
	})
	require.Equal(t, actors.HoldPending, hold.GetStatus())
	require.Equal(t, int64(19700), hold.GetAmount())
	require.Equal(t, vayva.Wallet{Currency: "NGN", Available: 28800, OnHold: 20000}, wallet(t, e.db, m.id))
	refundRow(t, e.db, refundID, capture.GetOrderId(), 20000, "succeeded")
	settled := ledgerMust[*messages.LedgerHold](t, e.member, m.id, &messages.LedgerSettleRefund{
		CommandId: vayva.NewID("cmd"), MerchantId: m.id, RefundId: refundID, Succeeded: true,
	})
	require.Equal(t, actors.HoldPosted, settled.GetStatus())
	require.Equal(t, vayva.Wallet{Currency: "NGN", Available: 28800}, wallet(t, e.db, m.id))

	// A refund the available balance cannot cover is refused.
	_, err = ledgerCall[*messages.LedgerHold](ctx, e.member, m.id, &messages.LedgerHoldRefund{
		CommandId: vayva.NewID("cmd"), MerchantId: m.id, RefundId: vayva.NewID("rfd"), OrderId: capture.GetOrderId(), Amount: 80000, Currency: "NGN",
	})
	requireCode(t, err, vayva.EINSUFFICIENTFUNDS)

	r := requireLedgerOK(t, e.db)
	require.Equal(t, int64(7), r.CheckedTransactions)
	var audits int
	require.NoError(t, e.db.Pool().QueryRow(ctx, `SELECT count(*) FROM ledger.audit_log WHERE merchant_id = $1`, m.id).Scan(&audits))
	require.Equal(t, 3, audits, "two payouts and a refund")
}

// A refund of an order whose capture the ledger has not seen yet books the
// capture first, from the refund's copy of it.
func TestLedgerRefundBooksTheMissingCaptureFirst(t *testing.T) {
	t.Parallel()
	e := newLedgerEnv(t)
	m := e.merchant(t)
	capture := m.paidOrder(t, e.db, 50000, 200)
	refundID := vayva.NewID("rfd")
	hold := ledgerMust[*messages.LedgerHold](t, e.member, m.id, &messages.LedgerHoldRefund{
		CommandId: vayva.NewID("cmd"), MerchantId: m.id, RefundId: refundID, OrderId: capture.GetOrderId(), Amount: 50000,
		Currency: "NGN", Capture: capture,
	})
	require.Equal(t, int64(49000), hold.GetAmount())
	require.Equal(t, vayva.Wallet{Currency: "NGN", OnHold: 50000}, wallet(t, e.db, m.id))
	// The capture that arrives afterwards through orders-sync is a replay.
	require.True(t, ledgerMust[*messages.LedgerPosted](t, e.member, m.id, capture).GetReplayed())
	voided := ledgerMust[*messages.LedgerHold](t, e.member, m.id, &messages.LedgerSettleRefund{
		CommandId: vayva.NewID("cmd"), MerchantId: m.id, RefundId: refundID,
	})
	require.Equal(t, actors.HoldVoided, voided.GetStatus())
	require.Equal(t, vayva.Wallet{Currency: "NGN", Available: 49000}, wallet(t, e.db, m.id))
	requireLedgerOK(t, e.db)
}
