-- +goose Up
-- Store settings the platform reads outside the catalog: the platform fee in
-- basis points the ledger takes from each captured payment (default 1.5%,
-- set by operators, never by the merchant), and the Meta WhatsApp Cloud API
-- phone number id that routes inbound WhatsApp messages to the store (at
-- most one store per number).
ALTER TABLE merchant.stores
	ADD COLUMN fee_bps integer NOT NULL DEFAULT 150 CHECK (fee_bps BETWEEN 0 AND 10000),
	ADD COLUMN whatsapp_phone_number_id text CHECK (whatsapp_phone_number_id ~ '^[0-9]{1,32}$'),
	ADD CONSTRAINT stores_whatsapp_phone_number_id_key UNIQUE (whatsapp_phone_number_id);

-- +goose Down
ALTER TABLE merchant.stores
	DROP CONSTRAINT IF EXISTS stores_whatsapp_phone_number_id_key,
	DROP COLUMN IF EXISTS whatsapp_phone_number_id,
	DROP COLUMN IF EXISTS fee_bps;
