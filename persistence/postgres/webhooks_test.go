package postgres_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/persistence/postgres"
	"github.com/vayvahq/vayva/persistence/postgres/pgtest"
)

func newMerchantRow(t *testing.T, db *postgres.DB) string {
	t.Helper()
	id := vayva.NewID("mer")
	_, err := db.Pool().Exec(context.Background(),
		`INSERT INTO merchant.merchants (id, name, owner_user_id) VALUES ($1, 'M', 'usr_x')`, id)
	require.NoError(t, err)
	return id
}

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// With a key, endpoint secrets are stored sealed and bound to their
// endpoint; the worker's claim opens them.
func TestWebhookSecretsSealedAtRest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := pgtest.New(t)
	key := bytes.Repeat([]byte{7}, 32)
	w, err := postgres.NewWebhooks(db, postgres.WebhooksConfig{SecretKey: key})
	require.NoError(t, err)
	merchant := newMerchantRow(t, db)
	ep, err := w.CreateEndpoint(ctx, merchant, "https://example.com/h", []string{"order.paid"}, testSecret)
	require.NoError(t, err)
	require.Equal(t, testSecret, ep.Secret)
	stored, err := w.StoredSecret(ctx, ep.ID)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(stored, "sealed:v1:"), stored)
	require.NotContains(t, stored, strings.TrimPrefix(testSecret, "whsec_"))

	ev := vayva.Event{ID: vayva.NewID("evt"), Type: "order.paid", MerchantID: merchant}
	n, err := w.FanOut(ctx, ev, []byte(`{}`), "")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	due, err := w.ClaimDue(ctx, 10, time.Minute)
	require.NoError(t, err)
	require.Len(t, due, 1)
	require.Equal(t, testSecret, due[0].Secret)

	// Without the key, or with another, the sealed secret does not open.
	_, err = db.Pool().Exec(ctx, `UPDATE comm.webhook_deliveries SET next_attempt_at = now()`)
	require.NoError(t, err)
	other, err := postgres.NewWebhooks(db, postgres.WebhooksConfig{SecretKey: bytes.Repeat([]byte{8}, 32)})
	require.NoError(t, err)
	due, err = other.ClaimDue(ctx, 10, time.Minute)
	require.NoError(t, err)
	require.Len(t, due, 1)
	require.Error(t, due[0].SecretErr)
	require.Empty(t, due[0].Secret)
	_, err = db.Pool().Exec(ctx, `UPDATE comm.webhook_deliveries SET next_attempt_at = now()`)
	require.NoError(t, err)
	plain, err := postgres.NewWebhooks(db, postgres.WebhooksConfig{})
	require.NoError(t, err)
	due, err = plain.ClaimDue(ctx, 10, time.Minute)
	require.NoError(t, err)
	require.Len(t, due, 1)
	require.Error(t, due[0].SecretErr)

	// A sealed secret copied to another endpoint's row does not open there.
	ep2, err := w.CreateEndpoint(ctx, merchant, "https://example.com/h2", []string{"order.paid"}, "whsec_"+strings.Repeat("A", 32))
	require.NoError(t, err)
	_, err = db.Pool().Exec(ctx, `UPDATE merchant.webhook_endpoints SET secret = $1 WHERE id = $2`, stored, ep2.ID)
	require.NoError(t, err)
	_, err = db.Pool().Exec(ctx, `UPDATE comm.webhook_deliveries SET status = 'succeeded'`)
	require.NoError(t, err)
	_, err = w.FanOut(ctx, vayva.Event{ID: vayva.NewID("evt"), Type: "order.paid", MerchantID: merchant}, []byte(`{}`), ep2.ID)
	require.NoError(t, err)
	due, err = w.ClaimDue(ctx, 10, time.Minute)
	require.NoError(t, err)
	require.Len(t, due, 1)
	require.Equal(t, ep2.ID, due[0].EndpointID)
	require.Error(t, due[0].SecretErr)

	_, err = postgres.NewWebhooks(db, postgres.WebhooksConfig{SecretKey: []byte("short")})
	require.Error(t, err)
}

// Endpoint rows (with their secrets) are readable by the merchant and
// comm roles only, unlike the rest of the merchant schema.
func TestWebhookEndpointsReadableOnlyByMerchantAndComm(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := pgtest.New(t)
	for _, d := range vayva.Domains {
		err := db.InDomain(ctx, d, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `SELECT secret FROM merchant.webhook_endpoints`)
			return err
		})
		if d == vayva.DomainMerchant || d == vayva.DomainComm {
			require.NoError(t, err, d)
		} else {
			require.True(t, errors.Is(err, postgres.ErrPermissionDenied), "%s: %v", d, err)
		}
	}
}

// Begin gives one worker at a time the right to send an event's email,
// and none once it was sent or refused for good.
func TestEmailLogBegin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := pgtest.New(t)
	l := postgres.NewEmailLogs(db)
	e := vayva.EmailLog{EventID: "evt_1", Template: "verification", To: "a@example.com", Subject: "Hi"}

	ok, err := l.Begin(ctx, e, time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	_, err = l.Begin(ctx, e, time.Minute)
	require.ErrorIs(t, err, postgres.ErrEmailInFlight, "a duplicate waits while the first sends")
	require.NoError(t, l.RecordError(ctx, "evt_1", "HTTP 503"))
	ok, err = l.Begin(ctx, e, time.Minute)
	require.NoError(t, err)
	require.True(t, ok, "a retry after a recorded error proceeds")
	require.NoError(t, l.MarkSent(ctx, "evt_1", "re_1"))
	ok, err = l.Begin(ctx, e, time.Minute)
	require.NoError(t, err)
	require.False(t, ok, "sent once")
	got, err := l.Get(ctx, "evt_1")
	require.NoError(t, err)
	require.Equal(t, vayva.EmailSent, got.Status)
	require.Equal(t, "re_1", got.ProviderID)
	require.Equal(t, 2, got.Attempts)
	require.Empty(t, got.Error)

	e2 := vayva.EmailLog{EventID: "evt_2", Template: "welcome", To: "b@example.com"}
	ok, err = l.Begin(ctx, e2, time.Millisecond)
	require.NoError(t, err)
	require.True(t, ok)
	require.Eventually(t, func() bool {
		ok, err := l.Begin(ctx, e2, time.Minute)
		return err == nil && ok
	}, 5*time.Second, 5*time.Millisecond, "an expired lease (a crashed sender) lets another proceed")
	require.NoError(t, l.MarkFailed(ctx, "evt_2", "attempts ran out", false))
	ok, err = l.Begin(ctx, e2, time.Minute)
	require.NoError(t, err)
	require.True(t, ok, "a failure that was not permanent may be retried (dead-letter replay)")
	require.NoError(t, l.MarkFailed(ctx, "evt_2", "422 refused", true))
	ok, err = l.Begin(ctx, e2, time.Minute)
	require.NoError(t, err)
	require.False(t, ok, "a permanent refusal is final")

	_, err = l.Get(ctx, "evt_none")
	require.Equal(t, vayva.ENOTFOUND, vayva.ErrorCode(err))
}

// AppendOutbox writes complete events that the relay's leader reads back
// in order.
func TestAppendOutboxAndLeader(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := pgtest.New(t)
	require.NoError(t, db.InDomain(ctx, vayva.DomainRuntime, func(ctx context.Context, tx pgx.Tx) error {
		return postgres.AppendOutbox(ctx, tx, "order", "ord_1",
			vayva.Event{Type: "order.paid", Queue: vayva.QueueWebhookDelivery, MerchantID: "mer_1", Data: json.RawMessage(`{"a":1}`)},
			vayva.Event{Type: "order.fulfilled", Queue: vayva.QueueWebhookDelivery, MerchantID: "mer_1", Key: "k"})
	}))
	o := postgres.NewOutbox(db)
	l, err := o.Lead(ctx)
	require.NoError(t, err)
	defer l.Close(ctx)
	_, err = o.Lead(ctx)
	require.ErrorIs(t, err, vayva.ErrNotLeader, "one leader at a time")

	rows, err := l.Unpublished(ctx, 10)
	require.NoError(t, err)
	require.Len(t, rows, 2)
	require.Equal(t, "order.paid", rows[0].Type)
	require.Equal(t, "ord_1", rows[0].AggregateID)
	require.Equal(t, "k", rows[1].Key)
	var ev vayva.Event
	require.NoError(t, json.Unmarshal(rows[0].Payload, &ev))
	require.Equal(t, rows[0].EventID, ev.ID)
	require.False(t, ev.OccurredAt.IsZero())
	require.NoError(t, l.MarkPublished(ctx, []int64{rows[0].Seq}))
	rows, err = l.Unpublished(ctx, 10)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Equal(t, "order.fulfilled", rows[0].Type)

	require.NoError(t, l.Close(ctx))
	require.NoError(t, l.Close(ctx), "Close is idempotent")
	// The server releases the lock as it ends the closed session.
	require.Eventually(t, func() bool {
		l2, err := o.Lead(ctx)
		if err != nil {
			require.ErrorIs(t, err, vayva.ErrNotLeader)
			return false
		}
		require.NoError(t, l2.Close(ctx))
		return true
	}, 5*time.Second, 10*time.Millisecond, "the lock is free once the leader's session closed")
}
