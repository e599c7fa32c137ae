-- Collections: named, ordered lists of a store's products.

-- +goose Up

CREATE TABLE catalog.collections (
	id         text        PRIMARY KEY,
	store_id   text        NOT NULL,
	seq        bigint      NOT NULL CHECK (seq > 0),
	title      text        NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL,
	UNIQUE (store_id, seq)
);

CREATE TABLE catalog.collection_products (
	collection_id text NOT NULL REFERENCES catalog.collections (id),
	product_id    text NOT NULL REFERENCES catalog.products (id),
	position      int  NOT NULL,
	PRIMARY KEY (collection_id, product_id),
	UNIQUE (collection_id, position)
);

-- +goose Down

DROP TABLE IF EXISTS catalog.collection_products;
DROP TABLE IF EXISTS catalog.collections;
