package node

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/cluster"
	"github.com/vayvahq/vayva/integrations/paystack"
	"github.com/vayvahq/vayva/messages"
	"github.com/vayvahq/vayva/worker"
)

// paymentGateway is the order actor's PaymentGateway over the Paystack
// client.
type paymentGateway struct{ ps *paystack.Client }

var _ actors.PaymentGateway = paymentGateway{}

// transient marks a Paystack failure that repeating may fix (no answer, a
// 5xx, a rate limit) as unavailable, so the order treats the outcome as
// unknown; a refusal keeps Paystack's code.
func transient(err error) error {
	if err == nil || paystack.IsPermanent(err) {
		return err
	}
	return fmt.Errorf("%w: %w", vayva.Errorf(vayva.EUNAVAILABLE, "Paystack did not answer."), err)
}

func (g paymentGateway) InitializePayment(ctx context.Context, r actors.PaymentRequest) (actors.PaymentSession, error) {
	meta := make(map[string]any, len(r.Metadata))
	for k, v := range r.Metadata {
		meta[k] = v
	}
	// A reference Paystack already has was opened by a checkout whose
	// answer was lost with its member; its link is one-time and unknown
	// here, so the payment opens under the order's next reference.
	for n := 1; ; n++ {
		ref := actors.NthPaymentReference(r.Reference, n)
		a, err := g.ps.InitializeTransaction(ctx, paystack.InitializeRequest{
			Email: r.Email, Amount: r.Amount, Currency: r.Currency, Reference: ref, CallbackURL: r.CallbackURL, Metadata: meta,
		})
		if err == nil {
			return actors.PaymentSession{AuthorizationURL: a.AuthorizationURL, Reference: ref}, nil
		}
		if !paystack.IsDuplicateReference(err) || n == actors.PaymentReferences {
			return actors.PaymentSession{}, transient(err)
		}
	}
}

func (g paymentGateway) VerifyPayment(ctx context.Context, reference string) (actors.PaymentResult, error) {
	tx, err := g.ps.VerifyTransaction(ctx, reference)
	if err != nil {
		return actors.PaymentResult{}, transient(err)
	}
	return actors.PaymentResult{
		Status: tx.Status, Amount: tx.Amount, Currency: strings.ToUpper(tx.Currency),
		ProviderID: fmt.Sprint(tx.ID), Channel: tx.Channel, PaidAt: tx.PaidAt,
	}, nil
}

// refundNote is the merchant note a refund is asked for with: it carries
// the refund's id, which is how FindRefund recognises it.
func refundNote(refundID string) string { return "vayva refund " + refundID }

func (g paymentGateway) RefundPayment(ctx context.Context, r actors.RefundRequest) (actors.RefundResult, error) {
	res, err := g.ps.Refund(ctx, paystack.RefundRequest{
		Transaction: r.Reference, Amount: r.Amount, Currency: r.Currency,
		CustomerNote: r.Reason, MerchantNote: refundNote(r.RefundID),
	})
	if err != nil {
		return actors.RefundResult{}, transient(err)
	}
	return actors.RefundResult{ProviderRefundID: fmt.Sprint(res.ID), Status: res.Status, Amount: res.Amount}, nil
}

func (g paymentGateway) FindRefund(ctx context.Context, reference, refundID string) (actors.RefundResult, bool, error) {
	tx, err := g.ps.VerifyTransaction(ctx, reference)
	if err != nil {
		return actors.RefundResult{}, false, transient(err)
	}
	refunds, err := g.ps.ListRefunds(ctx, tx.ID)
	if err != nil {
		return actors.RefundResult{}, false, transient(err)
	}
	for _, r := range refunds {
		if r.MerchantNote == refundNote(refundID) {
			return actors.RefundResult{ProviderRefundID: fmt.Sprint(r.ID), Status: r.Status, Amount: r.Amount}, true, nil
		}
	}
	return actors.RefundResult{}, false, nil
}

// paystackClient is the node's Paystack client: the configured one, or in
// sandbox mode the client of the mounted fake (an explicit
// VAYVA_PAYSTACK_BASE_URL still wins).
func (n *Node) paystackClient() (*paystack.Client, error) {
	cfg := paystack.Config{SecretKey: n.cfg.PaystackSecretKey, BaseURL: n.cfg.PaystackBaseURL, RetryScale: n.cfg.RetryScale}
	if n.Sandbox != nil {
		cfg.SecretKey = n.Sandbox.Config().PaystackSecret
		if cfg.BaseURL == "" {
			cfg.BaseURL = n.Sandbox.BaseURLs().Paystack
		}
	}
	c, err := paystack.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("VAYVA_PAYSTACK_SECRET_KEY: %w", err)
	}
	return c, nil
}

// storeClient is the order actor's StoreClient over the cluster. Command
// ids derive from the reservation, so every call is idempotent.
type storeClient struct{ member func() *cluster.Member }

var _ actors.StoreClient = storeClient{}

func (c storeClient) CommitReservation(ctx context.Context, storeID, id string) error {
	_, err := cluster.Request[*messages.Reservation](ctx, c.member(), actors.StoreKind, storeID,
		&messages.CommitReservation{CommandId: "order-commit:" + id, ReservationId: id})
	return err
}

func (c storeClient) ReleaseReservation(ctx context.Context, storeID, id string) error {
	_, err := cluster.Request[*messages.Reservation](ctx, c.member(), actors.StoreKind, storeID,
		&messages.ReleaseReservation{CommandId: "order-release:" + id, ReservationId: id})
	return err
}

func (c storeClient) RestockReservation(ctx context.Context, storeID, id string) error {
	_, err := cluster.Request[*messages.Reservation](ctx, c.member(), actors.StoreKind, storeID,
		&messages.RestockReservation{CommandId: "order-restock:" + id, ReservationId: id})
	return err
}

// orderCommands is the payments ingestor's view of the orders, over the
// cluster.
type orderCommands struct{ member func() *cluster.Member }

var _ worker.Orders = orderCommands{}

// orderCallTimeout bounds a command to an order from a queue: the order may
// ask Paystack and its store before it answers.
const orderCallTimeout = 30 * time.Second

func (c orderCommands) ConfirmPayment(ctx context.Context, orderID, reference string) error {
	ctx, cancel := context.WithTimeout(ctx, orderCallTimeout)
	defer cancel()
	_, err := cluster.Request[*messages.Order](ctx, c.member(), actors.OrderKind, orderID,
		&messages.ConfirmPayment{CommandId: "confirm:" + reference, Reference: reference})
	return err
}

func (c orderCommands) RefundUpdate(ctx context.Context, orderID, providerRefundID, status string, amount int64) error {
	ctx, cancel := context.WithTimeout(ctx, orderCallTimeout)
	defer cancel()
	_, err := cluster.Request[*messages.Order](ctx, c.member(), actors.OrderKind, orderID, &messages.RefundUpdate{
		CommandId: "refund-event:" + providerRefundID + ":" + status, ProviderRefundId: providerRefundID, Status: status, Amount: amount,
	})
	return err
}
