package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/auth"
	"github.com/vayvahq/vayva/node"
	"github.com/vayvahq/vayva/node/nodetest"
	"github.com/vayvahq/vayva/persistence/postgres"
)

// A sign-up on a whole node (sandbox providers) ends in the sandbox
// mailbox: auth writes the email.send event in the sign-up transaction, the
// relay publishes it, the email worker renders and sends it through the
// Resend client pointed at the sandbox, and comm.email_log records it.
func TestSignupVerificationEmailReachesMailbox(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Options{Configure: func(n *node.Node) { n.AuthConfig.Hash = auth.TestHashParams }})
	require.NotNil(t, n.Sandbox)
	require.NotNil(t, n.Relay)
	require.NotNil(t, n.EmailWorker)

	body, err := json.Marshal(map[string]string{
		"email": "founder@example.com", "password": "correct horse battery", "name": "Ngozi", "business_name": "Ngozi Fabrics",
	})
	require.NoError(t, err)
	resp, err := http.Post(n.BaseURL+"/v1/auth/signup", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)

	require.Eventually(t, func() bool { return len(n.Sandbox.Mailbox("founder@example.com")) == 1 }, 20*time.Second, 50*time.Millisecond)
	m := n.Sandbox.Mailbox("founder@example.com")[0]
	require.Equal(t, "Verify your email address for Vayva", m.Subject)
	require.Contains(t, m.Text, "Hi Ngozi,")
	require.Contains(t, m.Text, n.Config().PublicURL+"/verify-email?token=")
	require.Contains(t, m.HTML, "Ngozi Fabrics")

	var eventID string
	require.NoError(t, n.DB.Pool().QueryRow(context.Background(),
		`SELECT event_id FROM runtime.outbox WHERE type = 'email.send' AND payload->'data'->>'to' = 'founder@example.com'`).Scan(&eventID))
	require.Equal(t, eventID, m.IdempotencyKey)
	require.Eventually(t, func() bool {
		l, err := postgres.NewEmailLogs(n.DB).Get(context.Background(), eventID)
		return err == nil && l.Status == vayva.EmailSent && l.ProviderID == m.ID
	}, 10*time.Second, 20*time.Millisecond)
	require.True(t, strings.HasPrefix(m.From, "Vayva <"))
}
