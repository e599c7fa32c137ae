-- Invitations to a store's team. Adding a member is an invitation: nothing
-- joins the team until the person the email was sent to accepts, either
-- signed in as a user with that (verified) address or by signing up
-- through the invitation. The invitation does not refer to any user, so
-- creating one tells the inviter nothing about whether the address has an
-- account.
--
-- The token is a 256-bit secret (vin_…) stored only as its SHA-256; it is
-- single use (accepted_at) and expires. At most one invitation per store
-- and address is pending (neither accepted nor revoked); inviting the
-- address again replaces its token, role and expiry. Like every reference
-- across domains, invited_by and accepted_by (auth.users) are not foreign
-- keys.
--
-- Before this table, adding an address without an account created a user
-- without a password (auth.users.password_hash NULL) already on the team.
-- Those memberships become pending invitations with a fresh token (the
-- earlier emails' links stop working; inviting again sends a new one), and
-- the passwordless users, who could never sign in, are removed.

-- +goose Up

CREATE TABLE merchant.invitations (
	id          text        PRIMARY KEY,
	merchant_id text        NOT NULL REFERENCES merchant.merchants (id),
	store_id    text        NOT NULL REFERENCES merchant.stores (id),
	email       text        NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
	role        text        NOT NULL CHECK (role IN ('admin', 'staff')),
	token_hash  bytea       NOT NULL UNIQUE CHECK (length(token_hash) = 32),
	invited_by  text        NOT NULL,
	created_at  timestamptz NOT NULL DEFAULT now(),
	sent_at     timestamptz NOT NULL DEFAULT now(),
	expires_at  timestamptz NOT NULL,
	accepted_at timestamptz,
	accepted_by text,
	revoked_at  timestamptz,
	CHECK (accepted_at IS NULL OR revoked_at IS NULL)
);
CREATE UNIQUE INDEX invitations_pending_key ON merchant.invitations (store_id, lower(email))
	WHERE accepted_at IS NULL AND revoked_at IS NULL;
CREATE INDEX invitations_list_idx ON merchant.invitations (store_id, created_at, id)
	WHERE accepted_at IS NULL AND revoked_at IS NULL;

INSERT INTO merchant.invitations (id, merchant_id, store_id, email, role, token_hash, invited_by, created_at, sent_at, expires_at)
SELECT 'inv_' || substr(tm.id, 5), tm.merchant_id, tm.store_id, u.email, tm.role,
	sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')),
	m.owner_user_id, tm.created_at, tm.created_at, now() + interval '7 days'
FROM merchant.team_members tm
JOIN auth.users u ON u.id = tm.user_id
JOIN merchant.merchants m ON m.id = tm.merchant_id
WHERE u.password_hash IS NULL AND tm.role <> 'owner';

DELETE FROM merchant.team_members tm USING auth.users u
WHERE u.id = tm.user_id AND u.password_hash IS NULL AND tm.role <> 'owner';
DELETE FROM auth.verification_tokens vt USING auth.users u
WHERE u.id = vt.user_id AND u.password_hash IS NULL;
DELETE FROM auth.verification_tokens WHERE purpose = 'invite';
DELETE FROM auth.users u
WHERE u.password_hash IS NULL
	AND NOT EXISTS (SELECT 1 FROM merchant.team_members tm WHERE tm.user_id = u.id)
	AND NOT EXISTS (SELECT 1 FROM auth.sessions s WHERE s.user_id = u.id)
	AND NOT EXISTS (SELECT 1 FROM auth.api_keys k WHERE k.user_id = u.id);

-- +goose Down

DROP TABLE IF EXISTS merchant.invitations;
