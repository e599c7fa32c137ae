-- The ledger: per-merchant accounts, hash-chained transactions, their
-- postings, stored balances, two-phase holds, payouts and the audit log.
-- Everything here except the audit log is written only by the ledger actor
-- (ledger/{merchant_id}) as vayva_ledger, in the transactions of its
-- journal commits.
--
-- Each merchant's ledger has, per currency, the accounts the merchant owns
-- (available, on_hold) and its slice of each platform account
-- (paystack_clearing, fee_revenue, payouts_in_transit). Keeping platform
-- accounts per merchant makes the merchant's actor the only writer of every
-- account its transactions touch, so no two merchants contend for a row;
-- a platform total is the sum of its slices.

-- +goose Up

ALTER TABLE ledger.accounts
	ADD COLUMN owner text NOT NULL DEFAULT 'merchant' CHECK (owner IN ('merchant', 'platform'));
CREATE INDEX accounts_merchant_idx ON ledger.accounts (merchant_id);

-- seq numbers a merchant's transactions from 1 without gaps; prev_hash is
-- the hash of the merchant's transaction seq - 1 (32 zero bytes for the
-- first) and hash is SHA-256 of prev_hash followed by the canonical
-- encoding of the transaction and its postings (see CheckLedger). A
-- transaction of a two-phase hold names the hold (hold_id) and its phase:
-- the hold itself, or the post or void that resolves it.
ALTER TABLE ledger.transactions
	ADD COLUMN seq            bigint NOT NULL DEFAULT 0,
	ADD COLUMN reference_type text   NOT NULL DEFAULT '' CHECK (reference_type IN ('', 'order', 'refund', 'payout')),
	ADD COLUMN hold_id        text   NOT NULL DEFAULT '',
	ADD COLUMN phase          text   NOT NULL DEFAULT '' CHECK (phase IN ('', 'hold', 'post', 'void')),
	ADD COLUMN prev_hash      bytea  NOT NULL DEFAULT ''::bytea,
	ADD COLUMN hash           bytea  NOT NULL DEFAULT ''::bytea,
	ADD CONSTRAINT transactions_merchant_seq_key UNIQUE (merchant_id, seq),
	ADD CONSTRAINT transactions_hold_phase_check CHECK ((hold_id = '') = (phase = ''));
-- A hold is placed once and resolved at most once.
CREATE UNIQUE INDEX transactions_hold_placed_idx ON ledger.transactions (hold_id) WHERE phase = 'hold';
CREATE UNIQUE INDEX transactions_hold_resolved_idx ON ledger.transactions (hold_id) WHERE phase IN ('post', 'void');

-- Postings are the bulk of the ledger's rows, so each costs as little as it
-- can: the account a posting names is checked by the ledger actor, which
-- opens accounts in the transaction that first posts to them, and by the
-- ledger check, instead of by a foreign key checked row by row; and
-- postings are found by transaction (an account's history is its
-- merchant's transactions, in seq order), so they need no index by
-- account.
ALTER TABLE ledger.postings DROP CONSTRAINT postings_account_id_fkey;
DROP INDEX ledger.postings_account_idx;

-- The stored balance of each account, in the account's normal direction
-- (credits minus debits for a credit-normal account). It changes only in
-- the transaction that inserts the postings behind the change, and no
-- account of the ledger may go below zero: the CHECK backs the actor's own
-- refusal of overdrafts.
CREATE TABLE ledger.balances (
	account_id  text   PRIMARY KEY REFERENCES ledger.accounts (id),
	merchant_id text   NOT NULL,
	balance     bigint NOT NULL DEFAULT 0 CHECK (balance >= 0)
);
CREATE INDEX balances_merchant_idx ON ledger.balances (merchant_id);

-- Two-phase holds on a merchant's available funds: a payout until its
-- transfer's outcome, a refund until Paystack's. amount is what the hold
-- takes from available; for a refund, gross is what the customer gets back
-- and fee the platform fee's share of it.
CREATE TABLE ledger.holds (
	id                     text        PRIMARY KEY,
	merchant_id            text        NOT NULL,
	kind                   text        NOT NULL CHECK (kind IN ('payout', 'refund')),
	order_id               text        NOT NULL DEFAULT '',
	currency               char(3)     NOT NULL,
	amount                 bigint      NOT NULL CHECK (amount >= 0),
	gross                  bigint      NOT NULL CHECK (gross > 0),
	fee                    bigint      NOT NULL DEFAULT 0 CHECK (fee >= 0 AND gross = amount + fee),
	status                 text        NOT NULL CHECK (status IN ('pending', 'posted', 'voided')),
	hold_transaction_id    text        NOT NULL REFERENCES ledger.transactions (id),
	resolve_transaction_id text        REFERENCES ledger.transactions (id),
	created_at             timestamptz NOT NULL,
	resolved_at            timestamptz,
	CHECK ((status = 'pending') = (resolve_transaction_id IS NULL))
);
CREATE INDEX holds_merchant_pending_idx ON ledger.holds (merchant_id) WHERE status = 'pending';
CREATE INDEX holds_order_idx ON ledger.holds (order_id) WHERE order_id <> '';

-- Payouts to merchants' bank accounts. The id is the Paystack transfer
-- reference. account_number is needed to register the transfer recipient;
-- the API shows only its last four digits.
CREATE TABLE ledger.payouts (
	id             text        PRIMARY KEY,
	merchant_id    text        NOT NULL,
	amount         bigint      NOT NULL CHECK (amount > 0),
	currency       char(3)     NOT NULL,
	status         text        NOT NULL CHECK (status IN ('pending', 'paid', 'failed')),
	bank_code      text        NOT NULL,
	account_number text        NOT NULL,
	account_name   text        NOT NULL,
	transfer_code  text        NOT NULL DEFAULT '',
	failure_reason text        NOT NULL DEFAULT '',
	created_at     timestamptz NOT NULL,
	updated_at     timestamptz NOT NULL
);
CREATE INDEX payouts_merchant_created_idx ON ledger.payouts (merchant_id, created_at DESC, id DESC);
CREATE INDEX payouts_merchant_status_idx ON ledger.payouts (merchant_id, status, created_at DESC, id DESC);

-- Who did what to a merchant's money, when, from which credential: payout
-- requests, refunds and platform fee changes. Any domain may append (a fee
-- change is the store's commit, a refund the order's); only the ledger role
-- reads it; nobody changes it.
CREATE TABLE ledger.audit_log (
	id            bigserial   PRIMARY KEY,
	merchant_id   text        NOT NULL,
	action        text        NOT NULL,
	actor_kind    text        NOT NULL CHECK (actor_kind IN ('user', 'operator', 'system')),
	user_id       text        NOT NULL DEFAULT '',
	credential_id text        NOT NULL DEFAULT '',
	request_id    text        NOT NULL DEFAULT '',
	object_type   text        NOT NULL,
	object_id     text        NOT NULL,
	data          jsonb       NOT NULL DEFAULT '{}',
	created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_merchant_idx ON ledger.audit_log (merchant_id, id DESC);

-- +goose StatementBegin
DO $$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['vayva_auth', 'vayva_merchant', 'vayva_catalog', 'vayva_orders',
		'vayva_comm', 'vayva_runtime']
	LOOP
		EXECUTE format('GRANT USAGE ON SCHEMA ledger TO %I', r);
		EXECUTE format('GRANT INSERT ON ledger.audit_log TO %I', r);
		EXECUTE format('GRANT USAGE ON SEQUENCE ledger.audit_log_id_seq TO %I', r);
	END LOOP;
END
$$;
-- +goose StatementEnd

-- Rows that record what happened are never changed, whoever asks: the
-- ledger role has no grant for it, and a trigger refuses it for every role,
-- the tables' owner included. Corrections are reversing transactions.
REVOKE UPDATE, DELETE, TRUNCATE ON ledger.transactions, ledger.audit_log, ledger.accounts FROM vayva_ledger;
REVOKE DELETE, TRUNCATE ON ledger.balances, ledger.holds, ledger.payouts FROM vayva_ledger;

-- +goose StatementBegin
CREATE FUNCTION ledger.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'ledger.% is append-only: % refused', TG_TABLE_NAME, TG_OP
		USING ERRCODE = 'insufficient_privilege';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON ledger.postings
	FOR EACH ROW EXECUTE FUNCTION ledger.refuse_change();
CREATE TRIGGER postings_no_truncate BEFORE TRUNCATE ON ledger.postings
	FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_change();
CREATE TRIGGER transactions_append_only BEFORE UPDATE OR DELETE ON ledger.transactions
	FOR EACH ROW EXECUTE FUNCTION ledger.refuse_change();
CREATE TRIGGER transactions_no_truncate BEFORE TRUNCATE ON ledger.transactions
	FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_change();
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON ledger.audit_log
	FOR EACH ROW EXECUTE FUNCTION ledger.refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON ledger.audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_change();

-- +goose Down

DROP TRIGGER IF EXISTS audit_log_no_truncate ON ledger.audit_log;
DROP TRIGGER IF EXISTS audit_log_append_only ON ledger.audit_log;
DROP TRIGGER IF EXISTS transactions_no_truncate ON ledger.transactions;
DROP TRIGGER IF EXISTS transactions_append_only ON ledger.transactions;
DROP TRIGGER IF EXISTS postings_no_truncate ON ledger.postings;
DROP TRIGGER IF EXISTS postings_append_only ON ledger.postings;
DROP FUNCTION IF EXISTS ledger.refuse_change();
DROP TABLE IF EXISTS ledger.audit_log;
DROP TABLE IF EXISTS ledger.payouts;
DROP TABLE IF EXISTS ledger.holds;
DROP TABLE IF EXISTS ledger.balances;
DROP INDEX IF EXISTS ledger.transactions_hold_resolved_idx;
DROP INDEX IF EXISTS ledger.transactions_hold_placed_idx;
ALTER TABLE ledger.transactions
	DROP CONSTRAINT IF EXISTS transactions_hold_phase_check,
	DROP CONSTRAINT IF EXISTS transactions_merchant_seq_key,
	DROP COLUMN IF EXISTS hash,
	DROP COLUMN IF EXISTS prev_hash,
	DROP COLUMN IF EXISTS phase,
	DROP COLUMN IF EXISTS hold_id,
	DROP COLUMN IF EXISTS reference_type,
	DROP COLUMN IF EXISTS seq;
GRANT UPDATE, DELETE, TRUNCATE ON ledger.transactions, ledger.accounts TO vayva_ledger;
CREATE INDEX IF NOT EXISTS postings_account_idx ON ledger.postings (account_id, id);
ALTER TABLE ledger.postings ADD CONSTRAINT postings_account_id_fkey FOREIGN KEY (account_id) REFERENCES ledger.accounts (id);
DROP INDEX IF EXISTS ledger.accounts_merchant_idx;
ALTER TABLE ledger.accounts DROP COLUMN IF EXISTS owner;
