-- Foundation: domain schemas, one role per domain with its grants, the
-- runtime tables behind actor fencing, the outbox, durable reminders,
-- cluster membership and HTTP idempotency keys, and the append-only core of
-- the ledger.
--
-- Grants made with ALTER DEFAULT PRIVILEGES cover the tables and sequences
-- that later migrations create, as long as they run as the same database
-- user as this one (the migration user).

-- +goose Up

-- Roles are cluster-wide while schemas and grants belong to one database,
-- and several databases of one cluster may be migrated at the same moment
-- (test databases, or several deployments sharing a server). Creating a role
-- and granting it are therefore idempotent and tolerate a concurrent
-- transaction doing the same: its CREATE ROLE or GRANT wins, ours becomes a
-- no-op.
-- +goose StatementBegin
DO $$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['vayva_auth', 'vayva_merchant', 'vayva_catalog', 'vayva_orders',
		'vayva_ledger', 'vayva_comm', 'vayva_runtime']
	LOOP
		BEGIN
			IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN
				EXECUTE format('CREATE ROLE %I NOLOGIN', r);
			END IF;
		EXCEPTION WHEN duplicate_object OR unique_violation THEN
			NULL;
		END;
		-- The pool's user must be a member of each domain role to SET ROLE
		-- to it (a superuser needs no membership, a production user does).
		BEGIN
			IF NOT pg_catalog.pg_has_role(current_user, r, 'MEMBER') THEN
				EXECUTE format('GRANT %I TO %I', r, current_user);
			END IF;
		EXCEPTION WHEN duplicate_object OR unique_violation THEN
			NULL;
		END;
	END LOOP;
END
$$;
-- +goose StatementEnd

CREATE SCHEMA IF NOT EXISTS auth;
CREATE SCHEMA IF NOT EXISTS merchant;
CREATE SCHEMA IF NOT EXISTS catalog;
CREATE SCHEMA IF NOT EXISTS orders;
CREATE SCHEMA IF NOT EXISTS ledger;
CREATE SCHEMA IF NOT EXISTS comm;
CREATE SCHEMA IF NOT EXISTS runtime;

-- Each domain role may use and change its own schema, and nothing may
-- create objects there but the migration user. Sequences need USAGE for
-- serial columns.
-- +goose StatementBegin
DO $$
DECLARE
	d text;
BEGIN
	FOREACH d IN ARRAY ARRAY['auth', 'merchant', 'catalog', 'orders', 'ledger', 'comm', 'runtime']
	LOOP
		EXECUTE format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', d);
		EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', d, 'vayva_' || d);
		EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I', d, 'vayva_' || d);
		EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO %I', d, 'vayva_' || d);
	END LOOP;
END
$$;
-- +goose StatementEnd

-- Reads are shared for the auth, merchant, catalog and orders schemas: any
-- domain may look up a user, a store, a product or an order. The ledger and
-- comm schemas are readable only by their own roles.
-- +goose StatementBegin
DO $$
DECLARE
	s text;
	r text;
BEGIN
	FOREACH s IN ARRAY ARRAY['auth', 'merchant', 'catalog', 'orders']
	LOOP
		FOREACH r IN ARRAY ARRAY['vayva_auth', 'vayva_merchant', 'vayva_catalog', 'vayva_orders',
			'vayva_ledger', 'vayva_comm', 'vayva_runtime']
		LOOP
			EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', s, r);
			EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT ON TABLES TO %I', s, r);
		END LOOP;
	END LOOP;
END
$$;
-- +goose StatementEnd

-- Actor fencing (see persistence/postgres/doc.go). One row per actor
-- identity: the epoch of its current activation, the number of commits
-- applied to it and its optional state blob.
CREATE TABLE runtime.actors (
	kind         text        NOT NULL,
	identity     text        NOT NULL,
	epoch        bigint      NOT NULL,
	version      bigint      NOT NULL DEFAULT 0,
	owner        text        NOT NULL,
	snapshot     bytea,
	activated_at timestamptz NOT NULL DEFAULT now(),
	updated_at   timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (kind, identity)
);

-- Commands applied per identity, with their replies, so a redelivered
-- command is answered without being applied twice.
CREATE TABLE runtime.inbox (
	kind       text NOT NULL,
	identity   text NOT NULL,
	command_id text NOT NULL,
	reply      bytea,
	created_at timestamptz DEFAULT now(),
	PRIMARY KEY (kind, identity, command_id)
);

-- The transactional outbox: events written in the same transaction as the
-- state change that caused them, published by the relay after commit.
CREATE TABLE runtime.outbox (
	id             bigserial PRIMARY KEY,
	event_id       text        NOT NULL UNIQUE,
	aggregate_kind text        NOT NULL,
	aggregate_id   text        NOT NULL,
	queue          text        NOT NULL,
	key            text        NOT NULL DEFAULT '',
	type           text        NOT NULL,
	merchant_id    text        NOT NULL DEFAULT '',
	payload        jsonb       NOT NULL, -- the vayva.Event as JSON
	created_at     timestamptz NOT NULL DEFAULT now(),
	published_at   timestamptz
);
CREATE INDEX outbox_unpublished_idx ON runtime.outbox (id) WHERE published_at IS NULL;

-- Durable reminders. A scheduler claims a due reminder by setting
-- lease_until; the owning actor deletes or moves it in its commit.
CREATE TABLE runtime.reminders (
	kind        text        NOT NULL,
	identity    text        NOT NULL,
	name        text        NOT NULL,
	due_at      timestamptz NOT NULL,
	payload     bytea,
	lease_until timestamptz,
	attempts    int         NOT NULL DEFAULT 0,
	PRIMARY KEY (kind, identity, name)
);
CREATE INDEX reminders_due_at_idx ON runtime.reminders (due_at);

-- Cluster membership for the postgres membership provider.
CREATE TABLE runtime.members (
	cluster      text        NOT NULL,
	id           text        NOT NULL,
	host         text        NOT NULL,
	port         int         NOT NULL,
	http_addr    text        NOT NULL DEFAULT '',
	kinds        text[]      NOT NULL DEFAULT '{}',
	status       text        NOT NULL CHECK (status IN ('alive', 'draining', 'left', 'evicted')),
	actor_counts jsonb       NOT NULL DEFAULT '{}',
	joined_at    timestamptz NOT NULL DEFAULT now(),
	heartbeat_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (cluster, id)
);

-- HTTP Idempotency-Key records. status 0 means the first request is still
-- in progress; otherwise it is the HTTP status of the stored response.
CREATE TABLE runtime.idempotency_keys (
	scope        text  NOT NULL,
	key          text  NOT NULL,
	request_hash bytea NOT NULL,
	status       int   NOT NULL DEFAULT 0,
	response     bytea,
	content_type text,
	created_at   timestamptz DEFAULT now(),
	PRIMARY KEY (scope, key)
);

-- Every domain's commits write the fencing, inbox, outbox and reminder
-- tables, whatever role they run as. Membership and idempotency keys stay
-- with the runtime role.
-- +goose StatementBegin
DO $$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['vayva_auth', 'vayva_merchant', 'vayva_catalog', 'vayva_orders',
		'vayva_ledger', 'vayva_comm', 'vayva_runtime']
	LOOP
		EXECUTE format('GRANT USAGE ON SCHEMA runtime TO %I', r);
		EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON runtime.actors, runtime.inbox, runtime.outbox, runtime.reminders TO %I', r);
		EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE runtime.outbox_id_seq TO %I', r);
	END LOOP;
END
$$;
-- +goose StatementEnd

-- The core of the double-entry ledger. Amounts are minor units of an ISO
-- 4217 currency.
CREATE TABLE ledger.accounts (
	id          text        PRIMARY KEY,
	merchant_id text        NOT NULL,
	code        text        NOT NULL,
	currency    char(3)     NOT NULL,
	normal      text        NOT NULL CHECK (normal IN ('debit', 'credit')),
	created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ledger.transactions (
	id              text        PRIMARY KEY,
	merchant_id     text        NOT NULL,
	kind            text        NOT NULL,
	reference       text        NOT NULL DEFAULT '',
	idempotency_key text        NOT NULL UNIQUE,
	created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ledger.postings (
	id             bigserial   PRIMARY KEY,
	transaction_id text        NOT NULL REFERENCES ledger.transactions (id),
	account_id     text        NOT NULL REFERENCES ledger.accounts (id),
	direction      text        NOT NULL CHECK (direction IN ('debit', 'credit')),
	amount         bigint      NOT NULL CHECK (amount > 0),
	currency       char(3)     NOT NULL,
	created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX postings_account_idx ON ledger.postings (account_id, id);
CREATE INDEX postings_transaction_idx ON ledger.postings (transaction_id);

-- Postings are append-only, and that is a grant: the ledger role may insert
-- and read them, never update, delete or truncate. Corrections are
-- reversing transactions.
REVOKE UPDATE, DELETE, TRUNCATE ON ledger.postings FROM vayva_ledger;
REVOKE ALL ON ledger.postings FROM PUBLIC;

-- +goose Down

-- Roles are shared by every database of the cluster, so they stay.
DROP SCHEMA IF EXISTS runtime CASCADE;
DROP SCHEMA IF EXISTS comm CASCADE;
DROP SCHEMA IF EXISTS ledger CASCADE;
DROP SCHEMA IF EXISTS orders CASCADE;
DROP SCHEMA IF EXISTS catalog CASCADE;
DROP SCHEMA IF EXISTS merchant CASCADE;
DROP SCHEMA IF EXISTS auth CASCADE;
