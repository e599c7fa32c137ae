-- The Paystack checkout page of an order's payment, kept so a repeated
-- checkout and the order view can hand it out again.

-- +goose Up
ALTER TABLE orders.orders ADD COLUMN authorization_url text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE orders.orders DROP COLUMN IF EXISTS authorization_url;
