-- Credentials of the auth domain: sessions, API keys and single-use
-- verification tokens. Secrets are never stored, only their SHA-256 (32
-- bytes); they carry 256 random bits, so the hash is all a lookup needs and
-- a copy of the database lets nobody sign in. Revocation sets revoked_at;
-- rows stay for audit. merchant_id and store_id refer to merchant.merchants
-- and merchant.stores; like every reference across domains they are not
-- foreign keys.

-- +goose Up

CREATE TABLE auth.sessions (
	id          text        PRIMARY KEY,
	token_hash  bytea       NOT NULL UNIQUE CHECK (length(token_hash) = 32),
	user_id     text        NOT NULL REFERENCES auth.users (id),
	merchant_id text        NOT NULL,
	store_id    text        NOT NULL,
	created_at  timestamptz NOT NULL DEFAULT now(),
	expires_at  timestamptz NOT NULL,
	revoked_at  timestamptz
);
CREATE INDEX sessions_user_store_idx ON auth.sessions (user_id, store_id) WHERE revoked_at IS NULL;

CREATE TABLE auth.api_keys (
	id          text        PRIMARY KEY,
	token_hash  bytea       NOT NULL UNIQUE CHECK (length(token_hash) = 32),
	merchant_id text        NOT NULL,
	store_id    text        NOT NULL,
	-- The user who created the key; the key acts with that user's current
	-- role and dies when the user leaves the store's team.
	user_id     text        NOT NULL REFERENCES auth.users (id),
	name        text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
	last4       text        NOT NULL,
	created_at  timestamptz NOT NULL DEFAULT now(),
	revoked_at  timestamptz
);
CREATE INDEX api_keys_list_idx ON auth.api_keys (store_id, created_at DESC, id DESC) WHERE revoked_at IS NULL;
CREATE INDEX api_keys_user_store_idx ON auth.api_keys (user_id, store_id) WHERE revoked_at IS NULL;

-- Email verification ('verify_email') and team invitation ('invite')
-- tokens. Redeeming sets used_at; a used or expired token is refused.
CREATE TABLE auth.verification_tokens (
	token_hash bytea       PRIMARY KEY CHECK (length(token_hash) = 32),
	user_id    text        NOT NULL REFERENCES auth.users (id),
	purpose    text        NOT NULL CHECK (purpose IN ('verify_email', 'invite')),
	expires_at timestamptz NOT NULL,
	used_at    timestamptz,
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX verification_tokens_user_idx ON auth.verification_tokens (user_id);

-- +goose Down

DROP TABLE IF EXISTS auth.verification_tokens;
DROP TABLE IF EXISTS auth.api_keys;
DROP TABLE IF EXISTS auth.sessions;
