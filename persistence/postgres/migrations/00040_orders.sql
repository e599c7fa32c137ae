-- Orders: written only by the order actor (order/{id}) as vayva_orders, in
-- the same transactions as its journal commits, and readable by every
-- domain (the ledger checks reconcile against them).
--
-- An order's three state dimensions are orthogonal: status (the order's
-- lifecycle), payment_status (derived from payments and refunds) and
-- fulfillment_status (derived from fulfilment and delivery). Money is
-- integer minor units of currency.

-- +goose Up

CREATE TABLE orders.orders (
	id                 text        PRIMARY KEY,
	store_id           text        NOT NULL REFERENCES merchant.stores (id),
	merchant_id        text        NOT NULL,
	-- number is the store's order number, shown to people (#1001).
	number             bigint      NOT NULL CHECK (number > 0),
	status             text        NOT NULL CHECK (status IN ('awaiting_payment', 'confirmed', 'completed', 'expired', 'canceled')),
	payment_status     text        NOT NULL CHECK (payment_status IN ('unpaid', 'paid', 'partially_refunded', 'refunded', 'failed')),
	fulfillment_status text        NOT NULL CHECK (fulfillment_status IN ('unfulfilled', 'booked', 'picked_up', 'in_transit',
	                                                    'delivered', 'fulfilled', 'failed', 'canceled')),
	currency           char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
	subtotal           bigint      NOT NULL CHECK (subtotal >= 0),
	shipping_total     bigint      NOT NULL DEFAULT 0 CHECK (shipping_total >= 0),
	total              bigint      NOT NULL CHECK (total = subtotal + shipping_total),
	-- amount_paid counts only the payment that confirmed the order; a
	-- payment that arrived too late is in orders.payments and refunded.
	amount_paid        bigint      NOT NULL DEFAULT 0 CHECK (amount_paid >= 0),
	amount_refunded    bigint      NOT NULL DEFAULT 0 CHECK (amount_refunded BETWEEN 0 AND amount_paid),
	-- fee_bps is the store's platform fee when the order was placed.
	fee_bps            integer     NOT NULL CHECK (fee_bps BETWEEN 0 AND 10000),
	customer_email     text        NOT NULL,
	customer_phone     text        NOT NULL DEFAULT '',
	customer_name      text        NOT NULL DEFAULT '',
	shipping_address   jsonb,
	-- token_hash is SHA-256 of the customer's order token (shown once, at
	-- checkout); the storefront order page needs the token.
	token_hash         bytea       NOT NULL,
	-- payment_reference is our Paystack reference for the order's payment.
	payment_reference  text        NOT NULL UNIQUE,
	expires_at         timestamptz NOT NULL,
	paid_at            timestamptz,
	canceled_at        timestamptz,
	cancel_reason      text        NOT NULL DEFAULT '',
	created_at         timestamptz NOT NULL,
	updated_at         timestamptz NOT NULL,
	UNIQUE (store_id, number),
	CHECK ((paid_at IS NULL) = (amount_paid = 0))
);
CREATE INDEX orders_store_created_idx ON orders.orders (store_id, created_at DESC, id DESC);
CREATE INDEX orders_store_status_idx ON orders.orders (store_id, status, created_at DESC, id DESC);
CREATE INDEX orders_customer_phone_idx ON orders.orders (store_id, customer_phone) WHERE customer_phone <> '';

CREATE TABLE orders.order_items (
	order_id      text   NOT NULL REFERENCES orders.orders (id),
	position      int    NOT NULL CHECK (position >= 0),
	variant_id    text   NOT NULL,
	product_id    text   NOT NULL,
	sku           text   NOT NULL,
	title         text   NOT NULL,
	variant_title text   NOT NULL,
	quantity      bigint NOT NULL CHECK (quantity > 0),
	unit_price    bigint NOT NULL CHECK (unit_price >= 0),
	total         bigint NOT NULL CHECK (total = quantity * unit_price),
	PRIMARY KEY (order_id, position)
);

-- The order's timeline: one row per transition, in order.
CREATE TABLE orders.order_events (
	order_id text        NOT NULL REFERENCES orders.orders (id),
	seq      int         NOT NULL CHECK (seq > 0),
	type     text        NOT NULL,
	at       timestamptz NOT NULL,
	data     jsonb       NOT NULL DEFAULT '{}',
	PRIMARY KEY (order_id, seq)
);

-- Payments received for an order, as confirmed by Paystack's verify
-- endpoint: the one that confirmed it (applied = true), and any that came
-- after the order expired or was canceled (refunded automatically).
CREATE TABLE orders.payments (
	id           text        PRIMARY KEY,
	order_id     text        NOT NULL REFERENCES orders.orders (id),
	provider     text        NOT NULL,
	reference    text        NOT NULL,
	provider_id  text        NOT NULL DEFAULT '',
	amount       bigint      NOT NULL CHECK (amount >= 0),
	currency     char(3)     NOT NULL,
	channel      text        NOT NULL DEFAULT '',
	applied      boolean     NOT NULL,
	paid_at      timestamptz NOT NULL,
	created_at   timestamptz NOT NULL,
	UNIQUE (provider, reference)
);

-- Refunds of an order, each its own record with Paystack's lifecycle.
-- automatic marks the refund of a payment that came too late, which never
-- reached the merchant's balance.
CREATE TABLE orders.refunds (
	id                 text        PRIMARY KEY,
	order_id           text        NOT NULL REFERENCES orders.orders (id),
	amount             bigint      NOT NULL CHECK (amount > 0),
	currency           char(3)     NOT NULL,
	reason             text        NOT NULL DEFAULT '',
	status             text        NOT NULL CHECK (status IN ('pending', 'processing', 'succeeded', 'failed')),
	automatic          boolean     NOT NULL DEFAULT false,
	provider_refund_id text        NOT NULL DEFAULT '',
	failure_reason     text        NOT NULL DEFAULT '',
	created_at         timestamptz NOT NULL,
	updated_at         timestamptz NOT NULL
);
CREATE INDEX refunds_order_idx ON orders.refunds (order_id);

-- +goose Down

DROP TABLE IF EXISTS orders.refunds;
DROP TABLE IF EXISTS orders.payments;
DROP TABLE IF EXISTS orders.order_events;
DROP TABLE IF EXISTS orders.order_items;
DROP TABLE IF EXISTS orders.orders;
