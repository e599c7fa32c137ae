package node

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/integrations/paystack"
	"github.com/vayvahq/vayva/integrations/sandbox"
)

// A member that opened an order's payment and died before the order
// committed leaves Paystack holding the reference, with a one-time link
// nobody saw. The retry, on another member, opens the payment under the
// order's next reference, and that reference still names the order.
func TestPaymentOpensUnderTheNextReferenceWhenPaystackHasTheFirst(t *testing.T) {
	t.Parallel()
	sb := sandbox.New(sandbox.Config{})
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(srv.Close)
	ps, err := paystack.New(paystack.Config{SecretKey: sandbox.DefaultPaystackSecret, BaseURL: srv.URL + sandbox.PaystackAPIPrefix})
	require.NoError(t, err)
	g := paymentGateway{ps: ps}
	orderID := vayva.NewID("ord")
	ref := actors.PaymentReference(orderID)
	req := actors.PaymentRequest{Reference: ref, Email: "ada@example.com", Amount: 5000, Currency: "NGN"}

	// The dead member's opening: Paystack has the reference.
	_, err = ps.InitializeTransaction(t.Context(), paystack.InitializeRequest{Email: req.Email, Amount: req.Amount, Currency: req.Currency, Reference: ref})
	require.NoError(t, err)
	_, err = ps.InitializeTransaction(t.Context(), paystack.InitializeRequest{Email: req.Email, Amount: req.Amount, Currency: req.Currency, Reference: ref})
	require.True(t, paystack.IsDuplicateReference(err), "Paystack refuses a reference twice: %v", err)

	s, err := g.InitializePayment(t.Context(), req)
	require.NoError(t, err)
	require.Equal(t, ref+".2", s.Reference)
	require.NotEmpty(t, s.AuthorizationURL)
	id, ok := actors.OrderIDFromReference(s.Reference)
	require.True(t, ok)
	require.Equal(t, orderID, id)
	res, err := g.VerifyPayment(t.Context(), s.Reference)
	require.NoError(t, err)
	require.EqualValues(t, 5000, res.Amount)

	// A fresh order opens under its own reference.
	fresh := req
	fresh.Reference = actors.PaymentReference(vayva.NewID("ord"))
	s, err = g.InitializePayment(t.Context(), fresh)
	require.NoError(t, err)
	require.Equal(t, fresh.Reference, s.Reference)

	// After PaymentReferences openings the refusal is the caller's.
	for n := 3; n <= actors.PaymentReferences; n++ {
		_, err = ps.InitializeTransaction(t.Context(), paystack.InitializeRequest{Email: req.Email, Amount: req.Amount, Currency: req.Currency, Reference: actors.NthPaymentReference(ref, n)})
		require.NoError(t, err)
	}
	_, err = g.InitializePayment(t.Context(), req)
	require.True(t, paystack.IsDuplicateReference(err), "%v", err)
}
