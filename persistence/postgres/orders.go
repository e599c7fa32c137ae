package postgres

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
)

// The order actor's changes, written in its commits as the orders role.
func init() {
	registerChange(applyOrderChange)
	registerChange(applyOrderEventChange)
	registerChange(applyPaymentChange)
	registerChange(applyRefundChange)
	registerChange(applyDeliveryChange)
}

var _ actors.OrderRepository = (*Orders)(nil)

// Orders reads the orders tables: the order actor's state on activation
// (actors.OrderRepository) and the read model of the order routes. Every
// write is one of the order actor's changes.
type Orders struct {
	db *DB
}

// NewOrders returns the orders repository of db.
func NewOrders(db *DB) *Orders { return &Orders{db: db} }

func applyOrderChange(ctx context.Context, tx pgx.Tx, c actors.OrderChange) error {
	o := c.Order
	var address []byte
	if o.ShippingAddress != nil {
		var err error
		if address, err = json.Marshal(o.ShippingAddress); err != nil {
			return err
		}
	}
	var shipping []byte
	if o.Shipping != nil {
		var err error
		if shipping, err = json.Marshal(o.Shipping); err != nil {
			return err
		}
	}
	paidAt, canceledAt := nullTime(o.PaidAt), nullTime(o.CanceledAt)
	if !c.Created {
		tag, err := tx.Exec(ctx, `
			UPDATE orders.orders SET status = $2, payment_status = $3, fulfillment_status = $4, amount_paid = $5,
				amount_refunded = $6, paid_at = $7, canceled_at = $8, cancel_reason = $9, authorization_url = $10,
				shipping_total = $11, total = $12, updated_at = $13
			WHERE id = $1`,
			o.ID, o.Status, o.PaymentStatus, o.FulfillmentStatus, o.AmountPaid, o.AmountRefunded, paidAt, canceledAt,
			o.CancelReason, o.AuthorizationURL, o.ShippingTotal, o.Total, o.UpdatedAt)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("order %s: no such order", o.ID)
		}
		return nil
	}
	var b pgx.Batch
	b.Queue(`
		INSERT INTO orders.orders (id, store_id, merchant_id, number, status, payment_status, fulfillment_status, currency,
			subtotal, shipping_total, total, amount_paid, amount_refunded, fee_bps, customer_email, customer_phone,
			customer_name, shipping_address, token_hash, payment_reference, authorization_url, expires_at, paid_at,
			canceled_at, cancel_reason, created_at, updated_at, shipping)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23,
			$24, $25, $26, $27, $28)`,
		o.ID, o.StoreID, o.MerchantID, o.Number, o.Status, o.PaymentStatus, o.FulfillmentStatus, o.Currency,
		o.Subtotal, o.ShippingTotal, o.Total, o.AmountPaid, o.AmountRefunded, o.FeeBps, o.Customer.Email, o.Customer.Phone,
		o.Customer.Name, address, o.TokenHash, o.PaymentReference, o.AuthorizationURL, o.ExpiresAt, paidAt,
		canceledAt, o.CancelReason, o.CreatedAt, o.UpdatedAt, shipping)
	for i, l := range o.Lines {
		b.Queue(`
			INSERT INTO orders.order_items (order_id, position, variant_id, product_id, sku, title, variant_title, quantity, unit_price, total)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			o.ID, i, l.VariantID, l.ProductID, l.SKU, l.Title, l.VariantTitle, l.Quantity, l.UnitPrice, l.Total())
	}
	return tx.SendBatch(ctx, &b).Close()
}

func applyOrderEventChange(ctx context.Context, tx pgx.Tx, c actors.OrderEventChange) error {
	data := []byte(c.Event.Data)
	if len(data) == 0 {
		data = []byte("{}")
	}
	_, err := tx.Exec(ctx, `INSERT INTO orders.order_events (order_id, seq, type, at, data) VALUES ($1, $2, $3, $4, $5)`,
		c.OrderID, c.Event.Seq, c.Event.Type, c.Event.At, data)
	return err
}

func applyPaymentChange(ctx context.Context, tx pgx.Tx, c actors.PaymentChange) error {
	p := c.Payment
	_, err := tx.Exec(ctx, `
		INSERT INTO orders.payments (id, order_id, provider, reference, provider_id, amount, currency, channel, applied, paid_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		p.ID, p.OrderID, p.Provider, p.Reference, p.ProviderID, p.Amount, p.Currency, p.Channel, p.Applied, p.PaidAt, p.CreatedAt)
	return err
}

func applyRefundChange(ctx context.Context, tx pgx.Tx, c actors.RefundChange) error {
	r := c.Refund
	_, err := tx.Exec(ctx, `
		INSERT INTO orders.refunds (id, order_id, amount, currency, reason, status, automatic, provider_refund_id,
			failure_reason, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (id) DO UPDATE SET status = excluded.status, provider_refund_id = excluded.provider_refund_id,
			failure_reason = excluded.failure_reason, updated_at = excluded.updated_at
		WHERE orders.refunds.order_id = excluded.order_id`,
		r.ID, r.OrderID, r.Amount, r.Currency, r.Reason, r.Status, r.Automatic, r.ProviderRefundID,
		r.FailureReason, r.CreatedAt, r.UpdatedAt)
	return err
}

func applyDeliveryChange(ctx context.Context, tx pgx.Tx, c actors.DeliveryChange) error {
	d := c.Delivery
	_, err := tx.Exec(ctx, `
		INSERT INTO orders.deliveries (id, order_id, seq, provider, provider_reference, status, provider_status, fee, currency,
			tracking_url, failure_reason, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (id) DO UPDATE SET provider_reference = excluded.provider_reference, status = excluded.status,
			provider_status = excluded.provider_status, tracking_url = excluded.tracking_url,
			failure_reason = excluded.failure_reason, updated_at = excluded.updated_at
		WHERE orders.deliveries.order_id = excluded.order_id`,
		d.ID, d.OrderID, d.Seq, d.Provider, d.ProviderReference, d.Status, d.ProviderStatus, d.Fee, d.Currency,
		d.TrackingURL, d.FailureReason, d.CreatedAt, d.UpdatedAt)
	return err
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// orderColumns are the columns scanOrder reads, with the store's slug and
// name and the merchant owner's email.
const orderColumns = `o.id, o.store_id, o.merchant_id, o.number, o.status, o.payment_status, o.fulfillment_status,
	o.currency, o.subtotal, o.shipping_total, o.total, o.amount_paid, o.amount_refunded, o.fee_bps, o.customer_email,
	o.customer_phone, o.customer_name, o.shipping_address, o.token_hash, o.payment_reference, o.authorization_url,
	o.expires_at, o.paid_at, o.canceled_at, o.cancel_reason, o.created_at, o.updated_at,
	s.slug, s.name, coalesce(u.email, ''), o.shipping`

const orderFrom = ` FROM orders.orders o
	JOIN merchant.stores s ON s.id = o.store_id
	JOIN merchant.merchants m ON m.id = o.merchant_id
	LEFT JOIN auth.users u ON u.id = m.owner_user_id`

func scanOrder(row pgx.Row) (*actors.Order, error) {
	o := &actors.Order{}
	var address, shipping []byte
	var paidAt, canceledAt *time.Time
	err := row.Scan(&o.ID, &o.StoreID, &o.MerchantID, &o.Number, &o.Status, &o.PaymentStatus, &o.FulfillmentStatus,
		&o.Currency, &o.Subtotal, &o.ShippingTotal, &o.Total, &o.AmountPaid, &o.AmountRefunded, &o.FeeBps, &o.Customer.Email,
		&o.Customer.Phone, &o.Customer.Name, &address, &o.TokenHash, &o.PaymentReference, &o.AuthorizationURL,
		&o.ExpiresAt, &paidAt, &canceledAt, &o.CancelReason, &o.CreatedAt, &o.UpdatedAt,
		&o.StoreSlug, &o.StoreName, &o.MerchantEmail, &shipping)
	if err != nil {
		return nil, err
	}
	if len(address) > 0 {
		o.ShippingAddress = &actors.Address{}
		if err := json.Unmarshal(address, o.ShippingAddress); err != nil {
			return nil, fmt.Errorf("shipping address: %w", err)
		}
	}
	if len(shipping) > 0 {
		o.Shipping = &actors.Shipping{}
		if err := json.Unmarshal(shipping, o.Shipping); err != nil {
			return nil, fmt.Errorf("shipping: %w", err)
		}
	}
	if paidAt != nil {
		o.PaidAt = paidAt.UTC()
	}
	if canceledAt != nil {
		o.CanceledAt = canceledAt.UTC()
	}
	o.ExpiresAt, o.CreatedAt, o.UpdatedAt = o.ExpiresAt.UTC(), o.CreatedAt.UTC(), o.UpdatedAt.UTC()
	return o, nil
}

// LoadOrder returns the order with id with its lines, timeline, payments
// and refunds, read in one transaction, or a vayva.ENOTFOUND error.
func (r *Orders) LoadOrder(ctx context.Context, id string) (*actors.Order, error) {
	var o *actors.Order
	err := r.db.InDomain(ctx, vayva.DomainOrders, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if o, err = scanOrder(tx.QueryRow(ctx, `SELECT `+orderColumns+orderFrom+` WHERE o.id = $1`, id)); err != nil {
			return err
		}
		return loadOrderDetails(ctx, tx, o)
	})
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, vayva.Errorf(vayva.ENOTFOUND, "No order %q.", id)
		}
		return nil, fmt.Errorf("postgres: load order %s: %w", id, err)
	}
	return o, nil
}

func loadOrderDetails(ctx context.Context, tx pgx.Tx, o *actors.Order) error {
	var b pgx.Batch
	b.Queue(`SELECT variant_id, product_id, sku, title, variant_title, quantity, unit_price
		FROM orders.order_items WHERE order_id = $1 ORDER BY position`, o.ID).Query(func(rows pgx.Rows) error {
		var err error
		o.Lines, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (actors.OrderLine, error) {
			var l actors.OrderLine
			err := row.Scan(&l.VariantID, &l.ProductID, &l.SKU, &l.Title, &l.VariantTitle, &l.Quantity, &l.UnitPrice)
			return l, err
		})
		return err
	})
	b.Queue(`SELECT seq, type, at, data FROM orders.order_events WHERE order_id = $1 ORDER BY seq`, o.ID).Query(func(rows pgx.Rows) error {
		var err error
		o.Events, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (actors.OrderEvent, error) {
			var e actors.OrderEvent
			var data []byte
			err := row.Scan(&e.Seq, &e.Type, &e.At, &data)
			e.At, e.Data = e.At.UTC(), data
			return e, err
		})
		return err
	})
	b.Queue(`SELECT id, provider, reference, provider_id, amount, currency, channel, applied, paid_at, created_at
		FROM orders.payments WHERE order_id = $1 ORDER BY created_at, id`, o.ID).Query(func(rows pgx.Rows) error {
		var err error
		o.Payments, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*actors.Payment, error) {
			p := &actors.Payment{OrderID: o.ID}
			err := row.Scan(&p.ID, &p.Provider, &p.Reference, &p.ProviderID, &p.Amount, &p.Currency, &p.Channel, &p.Applied, &p.PaidAt, &p.CreatedAt)
			p.PaidAt, p.CreatedAt = p.PaidAt.UTC(), p.CreatedAt.UTC()
			return p, err
		})
		return err
	})
	b.Queue(`SELECT id, amount, currency, reason, status, automatic, provider_refund_id, failure_reason, created_at, updated_at
		FROM orders.refunds WHERE order_id = $1 ORDER BY created_at, id`, o.ID).Query(func(rows pgx.Rows) error {
		var err error
		o.Refunds, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*actors.Refund, error) {
			r := &actors.Refund{OrderID: o.ID}
			err := row.Scan(&r.ID, &r.Amount, &r.Currency, &r.Reason, &r.Status, &r.Automatic, &r.ProviderRefundID,
				&r.FailureReason, &r.CreatedAt, &r.UpdatedAt)
			r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
			return r, err
		})
		return err
	})
	b.Queue(`SELECT id, seq, provider, provider_reference, status, provider_status, fee, currency, tracking_url, failure_reason,
			created_at, updated_at
		FROM orders.deliveries WHERE order_id = $1 ORDER BY seq`, o.ID).Query(func(rows pgx.Rows) error {
		var err error
		o.Deliveries, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*actors.Delivery, error) {
			d := &actors.Delivery{OrderID: o.ID}
			err := row.Scan(&d.ID, &d.Seq, &d.Provider, &d.ProviderReference, &d.Status, &d.ProviderStatus, &d.Fee, &d.Currency,
				&d.TrackingURL, &d.FailureReason, &d.CreatedAt, &d.UpdatedAt)
			d.CreatedAt, d.UpdatedAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC()
			return d, err
		})
		return err
	})
	return tx.SendBatch(ctx, &b).Close()
}

// StoreOrder returns the order id of storeID with its details, or a
// vayva.ENOTFOUND error for an order of another store: the merchant view.
func (r *Orders) StoreOrder(ctx context.Context, storeID, id string) (*actors.Order, error) {
	o, err := r.LoadOrder(ctx, id)
	if err != nil {
		return nil, err
	}
	if o.StoreID != storeID {
		return nil, vayva.Errorf(vayva.ENOTFOUND, "No order %q.", id)
	}
	return o, nil
}

// CustomerOrder returns the order id of the store with slug when token is
// its order token, else a vayva.ENOTFOUND error: the customer view.
func (r *Orders) CustomerOrder(ctx context.Context, slug, id, token string) (*actors.Order, error) {
	o, err := r.LoadOrder(ctx, id)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(token))
	if o.StoreSlug != slug || token == "" || subtle.ConstantTimeCompare(sum[:], o.TokenHash) != 1 {
		return nil, vayva.Errorf(vayva.ENOTFOUND, "No order %q.", id)
	}
	return o, nil
}

// OrderStatus returns the number and status of the order id of the store
// with slug, for the tokenless order page a payment returns to.
func (r *Orders) OrderStatus(ctx context.Context, slug, id string) (number int64, status, storeName string, err error) {
	err = r.db.Pool().QueryRow(ctx, `SELECT o.number, o.status, s.name FROM orders.orders o
		JOIN merchant.stores s ON s.id = o.store_id WHERE o.id = $1 AND s.slug = $2`, id, slug).Scan(&number, &status, &storeName)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, "", "", vayva.Errorf(vayva.ENOTFOUND, "No order %q.", id)
	}
	if err != nil {
		return 0, "", "", fmt.Errorf("postgres: order status: %w", interpretError(err))
	}
	return number, status, storeName, nil
}

// ListOrders returns a page of storeID's orders, newest first, optionally
// only those with status, and the cursor of the next page ("" on the last).
// Lines come with each order; timelines, payments and refunds do not.
func (r *Orders) ListOrders(ctx context.Context, storeID, status string, limit int, cursor string) ([]*actors.Order, string, error) {
	at, after, err := decodePageCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	var out []*actors.Order
	err = r.db.InDomain(ctx, vayva.DomainOrders, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+orderColumns+orderFrom+`
			WHERE o.store_id = $1 AND ($2 = '' OR o.status = $2)
				AND ($3::timestamptz IS NULL OR (o.created_at, o.id) < ($3::timestamptz, $4::text))
			ORDER BY o.created_at DESC, o.id DESC LIMIT $5`, storeID, status, at, after, limit+1)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*actors.Order, error) { return scanOrder(row) })
		if err != nil {
			return err
		}
		if len(out) == 0 {
			return nil
		}
		ids := make([]string, len(out))
		byID := make(map[string]*actors.Order, len(out))
		for i, o := range out {
			ids[i], byID[o.ID] = o.ID, o
		}
		lines, err := tx.Query(ctx, `SELECT order_id, variant_id, product_id, sku, title, variant_title, quantity, unit_price
			FROM orders.order_items WHERE order_id = ANY($1) ORDER BY order_id, position`, ids)
		if err != nil {
			return err
		}
		var id string
		var l actors.OrderLine
		_, err = pgx.ForEachRow(lines, []any{&id, &l.VariantID, &l.ProductID, &l.SKU, &l.Title, &l.VariantTitle, &l.Quantity, &l.UnitPrice}, func() error {
			byID[id].Lines = append(byID[id].Lines, l)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("postgres: list orders: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		last := out[len(out)-1]
		next = encodePageCursor(last.CreatedAt, last.ID)
	}
	return out, next, nil
}

// MerchantEmail returns the email address of the merchant's owner, where
// order notices go; "" when the owner has none.
func (r *Orders) MerchantEmail(ctx context.Context, merchantID string) (string, error) {
	var email string
	err := r.db.Pool().QueryRow(ctx, `SELECT coalesce(u.email, '') FROM merchant.merchants m
		LEFT JOIN auth.users u ON u.id = m.owner_user_id WHERE m.id = $1`, merchantID).Scan(&email)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("postgres: merchant email: %w", interpretError(err))
	}
	return email, nil
}
