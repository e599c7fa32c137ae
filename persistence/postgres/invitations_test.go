package postgres_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva/persistence/postgres"
	"github.com/vayvahq/vayva/persistence/postgres/pgtest"
)

// Before invitations, adding an address without an account created a
// passwordless user already on the team. The migration turns those
// memberships into pending invitations and removes the users, and leaves
// real members alone.
func TestInvitationsMigrationConvertsUnacceptedMembers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewEmpty(t)
	require.NoError(t, postgres.MigrateUpTo(ctx, url, 29))
	db, err := postgres.Open(ctx, url)
	require.NoError(t, err)
	defer db.Close()
	for _, q := range []string{
		`INSERT INTO auth.users (id, email, name, password_hash) VALUES ('usr_owner', 'owner@example.com', 'Owner', '$argon2id$x'),
			('usr_member', 'member@example.com', 'Member', '$argon2id$y'), ('usr_ghost', 'Ghost@Example.com', 'ghost', NULL)`,
		`INSERT INTO merchant.merchants (id, name, owner_user_id) VALUES ('mer_1', 'Shop', 'usr_owner')`,
		`INSERT INTO merchant.stores (id, merchant_id, slug, name) VALUES ('sto_1', 'mer_1', 'shop', 'Shop')`,
		`INSERT INTO merchant.team_members (id, merchant_id, store_id, user_id, role) VALUES
			('mem_owner', 'mer_1', 'sto_1', 'usr_owner', 'owner'), ('mem_member', 'mer_1', 'sto_1', 'usr_member', 'staff'),
			('mem_ghost', 'mer_1', 'sto_1', 'usr_ghost', 'admin')`,
		`INSERT INTO auth.verification_tokens (token_hash, user_id, purpose, expires_at) VALUES
			(sha256('a'::bytea), 'usr_ghost', 'invite', now() + interval '1 day'),
			(sha256('b'::bytea), 'usr_member', 'verify_email', now() + interval '1 day')`,
	} {
		_, err := db.Pool().Exec(ctx, q)
		require.NoError(t, err, q)
	}
	require.NoError(t, postgres.Migrate(ctx, url))

	count := func(q string) int {
		var n int
		require.NoError(t, db.Pool().QueryRow(ctx, q).Scan(&n), q)
		return n
	}
	require.Equal(t, 1, count(`SELECT count(*) FROM merchant.invitations WHERE id = 'inv_ghost' AND store_id = 'sto_1' AND email = 'Ghost@Example.com'
		AND role = 'admin' AND invited_by = 'usr_owner' AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now()`))
	require.Equal(t, 0, count(`SELECT count(*) FROM merchant.invitations WHERE token_hash = sha256('a'::bytea)`), "old links do not carry over")
	require.Equal(t, 0, count(`SELECT count(*) FROM auth.users WHERE id = 'usr_ghost'`))
	require.Equal(t, 0, count(`SELECT count(*) FROM merchant.team_members WHERE user_id = 'usr_ghost'`))
	require.Equal(t, 0, count(`SELECT count(*) FROM auth.verification_tokens WHERE purpose = 'invite'`))
	require.Equal(t, 2, count(`SELECT count(*) FROM merchant.team_members`))
	require.Equal(t, 1, count(`SELECT count(*) FROM auth.verification_tokens WHERE user_id = 'usr_member'`))
	require.Equal(t, 1, count(`SELECT count(*) FROM merchant.invitations`))
}
