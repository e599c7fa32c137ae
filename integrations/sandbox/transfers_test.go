package sandbox_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva/integrations/paystack"
	"github.com/vayvahq/vayva/integrations/sandbox"
)

// A transfer stays pending, then completes by itself and announces its
// outcome with a signed webhook: success, or failure for the account
// number 0000000000.
func TestTransfersCompleteByThemselves(t *testing.T) {
	t.Parallel()
	n := newNode(t, sandbox.Config{TransferDelay: 50 * time.Second}) // times the test RetryScale of 0.001
	type hook struct {
		event, signature string
		body             []byte
	}
	got := make(chan hook, 4)
	n.mux.HandleFunc("POST /webhooks/paystack", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ev, err := paystack.ParseEvent(body)
		require.NoError(t, err)
		got <- hook{event: ev.Event + " " + ev.Data.Reference + " " + ev.Data.Status, signature: r.Header.Get(paystack.SignatureHeader), body: body}
	})
	require.NoError(t, n.sb.Start(context.Background()))
	secret := n.sb.Config().PaystackSecret
	for _, tc := range []struct{ account, reference, status, want string }{
		{"0123456789", "po_00000000000000000000000001", "success", "transfer.success po_00000000000000000000000001 success"},
		{"0000000000", "po_00000000000000000000000002", "failed", "transfer.failed po_00000000000000000000000002 failed"},
	} {
		status, out := n.do(t, http.MethodPost, "/sandbox/paystack/api/transferrecipient", secret,
			`{"type":"nuban","name":"Ada","account_number":"`+tc.account+`","bank_code":"058"}`)
		require.Equal(t, http.StatusCreated, status)
		code := out["data"].(map[string]any)["recipient_code"].(string)
		status, out = n.do(t, http.MethodPost, "/sandbox/paystack/api/transfer", secret,
			`{"source":"balance","amount":250000,"recipient":"`+code+`","reference":"`+tc.reference+`"}`)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, "pending", out["data"].(map[string]any)["status"])
		select {
		case h := <-got:
			require.Equal(t, tc.want, h.event)
			require.NoError(t, paystack.VerifySignature(secret, h.body, h.signature))
		case <-time.After(10 * time.Second):
			t.Fatal("no transfer webhook")
		}
		_, out = n.do(t, http.MethodGet, "/sandbox/paystack/api/transfer/verify/"+tc.reference, secret, "")
		require.Equal(t, tc.status, out["data"].(map[string]any)["status"])
	}
}
