-- Merchant webhook endpoints: where a merchant wants its events delivered,
-- which event types, and the per-endpoint signing secret.
--
-- The secret must stay readable for signing, so it cannot be hashed; it is
-- stored sealed (AES-GCM) when the node has a key for it, and is only ever
-- returned to the merchant in the answer that creates the endpoint. Unlike
-- the rest of the merchant schema, this table is readable only by the
-- merchant role (the API) and the comm role (the delivery worker).

-- +goose Up

CREATE TABLE merchant.webhook_endpoints (
	id                   text        PRIMARY KEY,
	merchant_id          text        NOT NULL REFERENCES merchant.merchants (id),
	url                  text        NOT NULL CHECK (char_length(url) BETWEEN 1 AND 2048),
	events               text[]      NOT NULL CHECK (cardinality(events) > 0),
	secret               text        NOT NULL,
	status               text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
	-- Deliveries exhausted in a row since the last successful attempt.
	consecutive_failures int         NOT NULL DEFAULT 0,
	disabled_reason      text        NOT NULL DEFAULT '',
	disabled_at          timestamptz,
	-- Deleted endpoints stay (their deliveries keep their history) with the
	-- secret wiped; the API no longer shows them.
	deleted_at           timestamptz,
	created_at           timestamptz NOT NULL DEFAULT now(),
	updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_merchant_idx ON merchant.webhook_endpoints (merchant_id, created_at DESC, id DESC)
	WHERE deleted_at IS NULL;
CREATE TRIGGER webhook_endpoints_touch BEFORE UPDATE ON merchant.webhook_endpoints
	FOR EACH ROW EXECUTE FUNCTION merchant.touch_updated_at();

REVOKE SELECT ON merchant.webhook_endpoints FROM vayva_auth, vayva_catalog, vayva_orders, vayva_ledger, vayva_runtime;

-- +goose Down

DROP TABLE IF EXISTS merchant.webhook_endpoints;
