-- Order numbers and restocking. The store actor numbers the orders of its
-- store when it reserves their stock (#1001, #1002, …), so numbers are
-- allocated by the store's single writer and stored with the reservation.
-- A committed reservation is restocked when its order is canceled after
-- payment, before anything left the store.

-- +goose Up
ALTER TABLE catalog.reservations
	ADD COLUMN order_number bigint CHECK (order_number > 0),
	ADD CONSTRAINT reservations_order_number_key UNIQUE (store_id, order_number),
	DROP CONSTRAINT reservations_status_check,
	ADD CONSTRAINT reservations_status_check CHECK (status IN ('active', 'committed', 'released', 'expired', 'restocked'));

-- +goose Down
ALTER TABLE catalog.reservations
	DROP CONSTRAINT reservations_status_check,
	ADD CONSTRAINT reservations_status_check CHECK (status IN ('active', 'committed', 'released', 'expired')),
	DROP CONSTRAINT IF EXISTS reservations_order_number_key,
	DROP COLUMN IF EXISTS order_number;
