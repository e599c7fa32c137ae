-- The merchant domain: merchants (the tenants), their business profiles,
-- their stores and the stores' teams. Written only as vayva_merchant; every
-- domain may read it.
--
-- merchant.stores is shared with the store actor, which reads a store's
-- profile from it and updates name, currency, status and settings through
-- the merchant role.
--
-- References to auth.users are not foreign keys, so that each domain's
-- tables stay its own; sign-up and team changes write both sides in one
-- transaction.

-- +goose Up

-- Stamps updated_at on every UPDATE that does not set it itself.
-- +goose StatementBegin
CREATE FUNCTION merchant.touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
		NEW.updated_at := now();
	END IF;
	RETURN NEW;
END
$$;
-- +goose StatementEnd

CREATE TABLE merchant.merchants (
	id            text        PRIMARY KEY,
	name          text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
	owner_user_id text        NOT NULL,
	created_at    timestamptz NOT NULL DEFAULT now(),
	updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER merchants_touch BEFORE UPDATE ON merchant.merchants
	FOR EACH ROW EXECUTE FUNCTION merchant.touch_updated_at();

-- The business behind a merchant: legal identity and contact, for payouts
-- and invoices. Sign-up creates it from the business name.
CREATE TABLE merchant.business_profiles (
	merchant_id text        PRIMARY KEY REFERENCES merchant.merchants (id),
	legal_name  text        NOT NULL CHECK (char_length(legal_name) BETWEEN 1 AND 200),
	country     char(2)     NOT NULL DEFAULT 'NG',
	phone       text        NOT NULL DEFAULT '',
	address     jsonb       NOT NULL DEFAULT '{}',
	created_at  timestamptz NOT NULL DEFAULT now(),
	updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER business_profiles_touch BEFORE UPDATE ON merchant.business_profiles
	FOR EACH ROW EXECUTE FUNCTION merchant.touch_updated_at();

-- A store: its slug is its public address (/v1/storefront/{slug}), 3 to 48
-- characters of a-z, 0-9 and '-', starting and ending with a letter or
-- digit. status is 'active' unless the store actor says otherwise.
CREATE TABLE merchant.stores (
	id          text        PRIMARY KEY,
	merchant_id text        NOT NULL REFERENCES merchant.merchants (id),
	slug        text        NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,46}[a-z0-9]$'),
	name        text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
	currency    char(3)     NOT NULL DEFAULT 'NGN' CHECK (currency ~ '^[A-Z]{3}$'),
	status      text        NOT NULL DEFAULT 'active' CHECK (status <> ''),
	settings    jsonb       NOT NULL DEFAULT '{}',
	created_at  timestamptz NOT NULL DEFAULT now(),
	updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stores_merchant_idx ON merchant.stores (merchant_id);
CREATE TRIGGER stores_touch BEFORE UPDATE ON merchant.stores
	FOR EACH ROW EXECUTE FUNCTION merchant.touch_updated_at();

-- A store's team. Exactly one owner per store (the user who signed up);
-- owners and admins manage the team.
CREATE TABLE merchant.team_members (
	id          text        PRIMARY KEY,
	merchant_id text        NOT NULL REFERENCES merchant.merchants (id),
	store_id    text        NOT NULL REFERENCES merchant.stores (id),
	user_id     text        NOT NULL,
	role        text        NOT NULL CHECK (role IN ('owner', 'admin', 'staff')),
	created_at  timestamptz NOT NULL DEFAULT now(),
	UNIQUE (store_id, user_id)
);
CREATE UNIQUE INDEX team_members_one_owner_key ON merchant.team_members (store_id) WHERE role = 'owner';
CREATE INDEX team_members_user_idx ON merchant.team_members (user_id);
CREATE INDEX team_members_list_idx ON merchant.team_members (store_id, created_at, id);

-- +goose Down

DROP TABLE IF EXISTS merchant.team_members;
DROP TABLE IF EXISTS merchant.stores;
DROP TABLE IF EXISTS merchant.business_profiles;
DROP TABLE IF EXISTS merchant.merchants;
DROP FUNCTION IF EXISTS merchant.touch_updated_at();
