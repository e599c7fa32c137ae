-- The WhatsApp assistant finds a customer's orders by phone: customers type
-- numbers in any form, so candidates are matched on the last nine digits
-- of the stored phone (then compared exactly once normalised). This index
-- is on that very expression, then the lookup's order, so the lookup reads
-- the matching rows of one store, newest first, instead of normalising
-- every order the store has. It replaces the index on the raw text, which
-- no query used.

-- +goose Up
CREATE INDEX orders_customer_phone_suffix_idx ON orders.orders
	(store_id, right(regexp_replace(customer_phone, '[^0-9]', '', 'g'), 9), created_at DESC, id DESC)
	WHERE customer_phone <> '';
DROP INDEX orders.orders_customer_phone_idx;

-- +goose Down
CREATE INDEX orders_customer_phone_idx ON orders.orders (store_id, customer_phone) WHERE customer_phone <> '';
DROP INDEX orders.orders_customer_phone_suffix_idx;
