-- The cluster member whose request holds an Idempotency-Key claim in
-- progress: when that member is evicted, its claims are released at once
-- (its requests died with it) instead of after the claim timeout.

-- +goose Up
ALTER TABLE runtime.idempotency_keys ADD COLUMN owner text NOT NULL DEFAULT '';
CREATE INDEX idempotency_keys_owner_idx ON runtime.idempotency_keys (owner) WHERE status = 0;

-- +goose Down
DROP INDEX IF EXISTS runtime.idempotency_keys_owner_idx;
ALTER TABLE runtime.idempotency_keys DROP COLUMN IF EXISTS owner;
