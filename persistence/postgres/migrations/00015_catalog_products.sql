-- The catalog of each store: products and their variants with stock, and
-- the log of inventory adjustments. The store actor (kind "store") is the
-- only writer; it commits these rows in the same transaction as its fence.
-- store_id refers to merchant.stores(id); the reference is not a foreign key
-- so that each domain's tables stay its own.

-- +goose Up

CREATE TABLE catalog.products (
	id          text        PRIMARY KEY,
	store_id    text        NOT NULL,
	-- seq orders a store's products by creation; list cursors use it.
	seq         bigint      NOT NULL CHECK (seq > 0),
	title       text        NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
	description text        NOT NULL DEFAULT '' CHECK (char_length(description) <= 5000),
	status      text        NOT NULL CHECK (status IN ('active', 'draft', 'archived')),
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL,
	UNIQUE (store_id, seq)
);

-- Stock lives on the variant: on_hand units are in the store, reserved of
-- them are held for orders. The check is the inventory invariant; the actor
-- enforces it first, the table makes a bug fail the commit instead of
-- overselling.
CREATE TABLE catalog.variants (
	id         text        PRIMARY KEY,
	store_id   text        NOT NULL,
	product_id text        NOT NULL REFERENCES catalog.products (id),
	position   int         NOT NULL CHECK (position >= 0),
	sku        text        NOT NULL CHECK (sku ~ '^[A-Za-z0-9._-]{1,64}$'),
	title      text        NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
	price      bigint      NOT NULL CHECK (price BETWEEN 0 AND 1000000000000),
	on_hand    bigint      NOT NULL CHECK (on_hand <= 1000000000),
	reserved   bigint      NOT NULL DEFAULT 0,
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL,
	CONSTRAINT variants_stock_check CHECK (reserved >= 0 AND on_hand >= reserved),
	UNIQUE (store_id, sku),
	UNIQUE (product_id, position)
);
CREATE INDEX variants_product_idx ON catalog.variants (product_id);

CREATE TABLE catalog.inventory_adjustments (
	id         text        PRIMARY KEY,
	store_id   text        NOT NULL,
	variant_id text        NOT NULL REFERENCES catalog.variants (id),
	delta      bigint      NOT NULL CHECK (delta <> 0),
	reason     text        NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 200),
	on_hand    bigint      NOT NULL,
	reserved   bigint      NOT NULL,
	created_at timestamptz NOT NULL
);
CREATE INDEX inventory_adjustments_variant_idx ON catalog.inventory_adjustments (variant_id, created_at);

-- +goose Down

DROP TABLE IF EXISTS catalog.inventory_adjustments;
DROP TABLE IF EXISTS catalog.variants;
DROP TABLE IF EXISTS catalog.products;
