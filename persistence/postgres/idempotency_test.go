package postgres_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/persistence/postgres"
	"github.com/vayvahq/vayva/persistence/postgres/pgtest"
)

func TestIdempotencyClaimsReplayExpireAndPrune(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	ctx := context.Background()

	claimed, _, err := db.BeginIdempotent(ctx, "s", "k", []byte("h1"))
	require.NoError(t, err)
	require.True(t, claimed)
	claimed, rec, err := db.BeginIdempotent(ctx, "s", "k", []byte("h1"))
	require.NoError(t, err)
	require.False(t, claimed)
	require.False(t, rec.Done, "the first request is still in flight")

	// A claim whose request died is taken over after the claim timeout.
	_, err = db.Pool().Exec(ctx, `UPDATE runtime.idempotency_keys SET created_at = now() - interval '2 minutes'`)
	require.NoError(t, err)
	claimed, _, err = db.BeginIdempotent(ctx, "s", "k", []byte("h2"))
	require.NoError(t, err)
	require.True(t, claimed)

	require.NoError(t, db.CompleteIdempotent(ctx, "s", "k", vayva.IdempotencyRecord{Status: 201, ContentType: "application/json", Body: []byte(`{}`)}))
	claimed, rec, err = db.BeginIdempotent(ctx, "s", "k", []byte("h2"))
	require.NoError(t, err)
	require.False(t, claimed)
	require.True(t, rec.Done)
	require.Equal(t, 201, rec.Status)
	require.Equal(t, []byte("h2"), rec.RequestHash)

	// A finished response is never taken over, only pruned after retention.
	_, err = db.Pool().Exec(ctx, `UPDATE runtime.idempotency_keys SET created_at = now() - interval '2 days'`)
	require.NoError(t, err)
	claimed, _, err = db.BeginIdempotent(ctx, "s", "k", []byte("h3"))
	require.NoError(t, err)
	require.False(t, claimed)
	n, err := db.PruneIdempotencyKeys(ctx, postgres.IdempotencyRetention)
	require.NoError(t, err)
	require.Equal(t, int64(1), n)

	// Bytes Postgres cannot store are the client's fault, not a 500.
	_, _, err = db.BeginIdempotent(ctx, "s", "bad\xff", []byte("h"))
	require.Error(t, err)
	require.Equal(t, vayva.EBADREQUEST, vayva.ErrorCode(err))
}
