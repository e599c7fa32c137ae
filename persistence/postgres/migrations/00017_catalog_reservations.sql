-- Stock reservations: stock held for an order (the reservation id is the
-- order id) until it is committed (the stock leaves with the order),
-- released, or expires. While active, each line's quantity is counted in
-- its variant's reserved column, written in the same transaction.

-- +goose Up

CREATE TABLE catalog.reservations (
	store_id   text        NOT NULL,
	id         text        NOT NULL,
	status     text        NOT NULL CHECK (status IN ('active', 'committed', 'released', 'expired')),
	expires_at timestamptz NOT NULL,
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL,
	PRIMARY KEY (store_id, id)
);
CREATE INDEX reservations_active_idx ON catalog.reservations (store_id) WHERE status = 'active';

CREATE TABLE catalog.reservation_lines (
	store_id       text   NOT NULL,
	reservation_id text   NOT NULL,
	variant_id     text   NOT NULL REFERENCES catalog.variants (id),
	position       int    NOT NULL,
	quantity       bigint NOT NULL CHECK (quantity BETWEEN 1 AND 1000000000),
	unit_price     bigint NOT NULL CHECK (unit_price >= 0),
	PRIMARY KEY (store_id, reservation_id, variant_id),
	FOREIGN KEY (store_id, reservation_id) REFERENCES catalog.reservations (store_id, id)
);

-- +goose Down

DROP TABLE IF EXISTS catalog.reservation_lines;
DROP TABLE IF EXISTS catalog.reservations;
