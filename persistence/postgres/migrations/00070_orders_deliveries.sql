-- Delivery scheduling. A store's delivery settings (pickup address,
-- auto-booking, rules of which states are delivered by which provider and
-- at what fee) are written by the store actor as part of merchant.stores.
-- An order keeps the shipping its checkout chose (delivery by a provider
-- at a fee, or pickup) and its bookings with the provider, written by the
-- order actor.

-- +goose Up
ALTER TABLE merchant.stores ADD COLUMN delivery_settings jsonb;

-- shipping is {method: "delivery"|"pickup", provider, fee, quoted, auto_book,
-- pickup:{…}}; NULL for orders placed before delivery scheduling.
ALTER TABLE orders.orders ADD COLUMN shipping jsonb;

-- One row per booking attempt of an order with a delivery provider. id is
-- derived from the order and the attempt's number, and is what the
-- provider is given as its idempotency reference (Kwik's unique_order_id).
CREATE TABLE orders.deliveries (
	id                 text        PRIMARY KEY,
	order_id           text        NOT NULL REFERENCES orders.orders (id),
	seq                int         NOT NULL CHECK (seq > 0),
	provider           text        NOT NULL,
	-- provider_reference is the provider's job id once booked.
	provider_reference text        NOT NULL DEFAULT '',
	status             text        NOT NULL CHECK (status IN ('pending', 'booked', 'picked_up', 'in_transit',
	                                                    'delivered', 'failed', 'canceled')),
	-- provider_status is the provider's own status codes, verbatim.
	provider_status    text        NOT NULL DEFAULT '',
	fee                bigint      NOT NULL CHECK (fee >= 0),
	currency           char(3)     NOT NULL,
	tracking_url       text        NOT NULL DEFAULT '',
	failure_reason     text        NOT NULL DEFAULT '',
	created_at         timestamptz NOT NULL,
	updated_at         timestamptz NOT NULL,
	UNIQUE (order_id, seq)
);

-- +goose Down
DROP TABLE IF EXISTS orders.deliveries;
ALTER TABLE orders.orders DROP COLUMN IF EXISTS shipping;
ALTER TABLE merchant.stores DROP COLUMN IF EXISTS delivery_settings;
