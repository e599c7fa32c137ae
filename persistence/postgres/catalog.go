package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
)

// The store actor's changes. Each runs inside the actor's commit, as the
// commit's domain role: the catalog role for the catalog tables, the
// merchant role for the store profile.
func init() {
	registerChange(applyProfileChange)
	registerChange(applyProductChange)
	registerQueuedChange(applyStockChange)
	registerQueuedChange(applyAdjustmentRecord)
	registerChange(applyCollectionChange)
	registerChange(applyReservationChange)
}

var _ actors.StoreRepository = (*Catalog)(nil)

// Catalog reads the store actor's state: the store profile in
// merchant.stores and the catalog tables. It implements
// actors.StoreRepository; the writes are the change appliers above.
type Catalog struct {
	db *DB
}

// NewCatalog returns the catalog repository of db.
func NewCatalog(db *DB) *Catalog { return &Catalog{db: db} }

func applyProfileChange(ctx context.Context, tx pgx.Tx, c actors.ProfileChange) error {
	settings := []byte(c.Settings)
	if len(settings) == 0 {
		settings = []byte("{}")
	}
	tag, err := tx.Exec(ctx, `
		UPDATE merchant.stores SET name = $2, currency = $3, settings = $4::jsonb, fee_bps = $5,
			whatsapp_phone_number_id = NULLIF($6, ''), updated_at = $7
		WHERE id = $1`,
		c.StoreID, c.Name, c.Currency, string(settings), c.FeeBps, c.WhatsAppPhoneNumberID, c.UpdatedAt)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.ConstraintName == "stores_whatsapp_phone_number_id_key" {
		return &vayva.Error{Code: vayva.ECONFLICT, Message: "Another store already uses this WhatsApp phone number id.",
			Fields: []vayva.FieldError{{Field: "whatsapp_phone_number_id", Message: "is used by another store"}}}
	}
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("store %s: no such store", c.StoreID)
	}
	return nil
}

func applyProductChange(ctx context.Context, tx pgx.Tx, c actors.ProductChange) error {
	p := c.Product
	var b pgx.Batch
	b.Queue(`
		INSERT INTO catalog.products (id, store_id, seq, title, description, status, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (id) DO UPDATE
			SET title = excluded.title, description = excluded.description, status = excluded.status,
				updated_at = excluded.updated_at
			WHERE catalog.products.store_id = excluded.store_id`,
		p.ID, p.StoreID, p.Seq, p.Title, p.Description, p.Status, p.CreatedAt, p.UpdatedAt,
	).Exec(expectOne("product " + p.ID))
	for _, v := range p.Variants {
		// Stock of an existing variant changes only through StockChange.
		b.Queue(`
			INSERT INTO catalog.variants (id, store_id, product_id, position, sku, title, price, on_hand, reserved, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
			ON CONFLICT (id) DO UPDATE
				SET title = excluded.title, price = excluded.price, updated_at = excluded.updated_at
				WHERE catalog.variants.store_id = excluded.store_id AND catalog.variants.product_id = excluded.product_id`,
			v.ID, p.StoreID, p.ID, v.Position, v.SKU, v.Title, v.Price, v.OnHand, v.Reserved, v.CreatedAt, v.UpdatedAt,
		).Exec(expectOne("variant " + v.ID))
	}
	return tx.SendBatch(ctx, &b).Close()
}

func applyStockChange(b *pgx.Batch, c actors.StockChange) error {
	for _, l := range c.Levels {
		b.Queue(`UPDATE catalog.variants SET on_hand = $3, reserved = $4 WHERE id = $1 AND store_id = $2`,
			l.VariantID, c.StoreID, l.OnHand, l.Reserved,
		).Exec(expectOne("variant " + l.VariantID))
	}
	return nil
}

func applyAdjustmentRecord(b *pgx.Batch, a actors.AdjustmentRecord) error {
	b.Queue(`
		INSERT INTO catalog.inventory_adjustments (id, store_id, variant_id, delta, reason, on_hand, reserved, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		a.ID, a.StoreID, a.VariantID, a.Delta, a.Reason, a.OnHand, a.Reserved, a.CreatedAt)
	return nil
}

func applyCollectionChange(ctx context.Context, tx pgx.Tx, c actors.CollectionChange) error {
	col := c.Collection
	var b pgx.Batch
	b.Queue(`
		INSERT INTO catalog.collections (id, store_id, seq, title, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		col.ID, col.StoreID, col.Seq, col.Title, col.CreatedAt, col.UpdatedAt)
	if len(col.ProductIDs) > 0 {
		// The products must be this store's: the join refuses others.
		b.Queue(`
			INSERT INTO catalog.collection_products (collection_id, product_id, position)
			SELECT $1, p.id, ids.position - 1
			FROM unnest($2::text[]) WITH ORDINALITY AS ids (id, position)
			JOIN catalog.products p ON p.id = ids.id AND p.store_id = $3`,
			col.ID, col.ProductIDs, col.StoreID,
		).Exec(func(tag pgconn.CommandTag) error {
			if tag.RowsAffected() != int64(len(col.ProductIDs)) {
				return fmt.Errorf("collection %s: products of another store", col.ID)
			}
			return nil
		})
	}
	return tx.SendBatch(ctx, &b).Close()
}

func applyReservationChange(ctx context.Context, tx pgx.Tx, c actors.ReservationChange) error {
	r := c.Reservation
	if r.Status != actors.ReservationActive {
		// Finishing: only an active reservation may move on, and only a
		// committed one may be restocked.
		from := actors.ReservationActive
		if r.Status == actors.ReservationRestocked {
			from = actors.ReservationCommitted
		}
		tag, err := tx.Exec(ctx, `
			UPDATE catalog.reservations SET status = $3, updated_at = $4
			WHERE store_id = $1 AND id = $2 AND status = $5`,
			r.StoreID, r.ID, r.Status, r.UpdatedAt, from)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("reservation %s: not %s", r.ID, from)
		}
		return nil
	}
	var b pgx.Batch
	b.Queue(`
		INSERT INTO catalog.reservations (store_id, id, status, expires_at, created_at, updated_at, order_number)
		VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, 0))`,
		r.StoreID, r.ID, r.Status, r.ExpiresAt, r.CreatedAt, r.UpdatedAt, r.OrderNumber)
	for i, l := range r.Lines {
		b.Queue(`
			INSERT INTO catalog.reservation_lines (store_id, reservation_id, variant_id, position, quantity, unit_price)
			VALUES ($1, $2, $3, $4, $5, $6)`,
			r.StoreID, r.ID, l.VariantID, i, l.Quantity, l.UnitPrice)
	}
	return tx.SendBatch(ctx, &b).Close()
}

// expectOne fails a batched statement that did not affect exactly one row.
func expectOne(what string) func(pgconn.CommandTag) error {
	return func(tag pgconn.CommandTag) error {
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("%s: %d rows affected, want 1", what, tag.RowsAffected())
		}
		return nil
	}
}

// LoadStore returns the store's profile, its whole catalog and its active
// reservations, read in one transaction. A store with no merchant.stores
// row is a vayva.ENOTFOUND error.
func (c *Catalog) LoadStore(ctx context.Context, storeID string) (*actors.StoreState, error) {
	st := &actors.StoreState{}
	err := c.db.InDomain(ctx, vayva.DomainCatalog, func(ctx context.Context, tx pgx.Tx) error {
		*st = actors.StoreState{}
		p := &st.Profile
		var settings []byte
		err := tx.QueryRow(ctx, `
			SELECT id, merchant_id, slug, name, currency, COALESCE(status, ''), COALESCE(settings, '{}'::jsonb)::text,
				fee_bps, COALESCE(whatsapp_phone_number_id, ''), created_at, updated_at
			FROM merchant.stores WHERE id = $1`, storeID,
		).Scan(&p.ID, &p.MerchantID, &p.Slug, &p.Name, &p.Currency, &p.Status, &settings,
			&p.FeeBps, &p.WhatsAppPhoneNumberID, &p.CreatedAt, &p.UpdatedAt)
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		p.Settings = json.RawMessage(settings)
		p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()

		products := map[string]*actors.Product{}
		rows, err := tx.Query(ctx, `
			SELECT id, seq, title, description, status, created_at, updated_at
			FROM catalog.products WHERE store_id = $1 ORDER BY seq`, storeID)
		if err != nil {
			return fmt.Errorf("products: %w", err)
		}
		for rows.Next() {
			pr := &actors.Product{StoreID: storeID}
			if err := rows.Scan(&pr.ID, &pr.Seq, &pr.Title, &pr.Description, &pr.Status, &pr.CreatedAt, &pr.UpdatedAt); err != nil {
				rows.Close()
				return fmt.Errorf("products: %w", err)
			}
			pr.CreatedAt, pr.UpdatedAt = pr.CreatedAt.UTC(), pr.UpdatedAt.UTC()
			products[pr.ID] = pr
			st.Products = append(st.Products, pr)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("products: %w", err)
		}

		rows, err = tx.Query(ctx, `
			SELECT id, product_id, position, sku, title, price, on_hand, reserved, created_at, updated_at
			FROM catalog.variants WHERE store_id = $1 ORDER BY product_id, position`, storeID)
		if err != nil {
			return fmt.Errorf("variants: %w", err)
		}
		for rows.Next() {
			v := &actors.Variant{}
			if err := rows.Scan(&v.ID, &v.ProductID, &v.Position, &v.SKU, &v.Title, &v.Price, &v.OnHand, &v.Reserved,
				&v.CreatedAt, &v.UpdatedAt); err != nil {
				rows.Close()
				return fmt.Errorf("variants: %w", err)
			}
			v.CreatedAt, v.UpdatedAt = v.CreatedAt.UTC(), v.UpdatedAt.UTC()
			pr, ok := products[v.ProductID]
			if !ok {
				rows.Close()
				return fmt.Errorf("variants: %s belongs to product %s of another store", v.ID, v.ProductID)
			}
			pr.Variants = append(pr.Variants, v)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("variants: %w", err)
		}

		if st.Collections, err = loadCollections(ctx, tx, storeID); err != nil {
			return err
		}
		if st.Reservations, err = loadReservations(ctx, tx, storeID, ""); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT COALESCE(max(order_number), 0) FROM catalog.reservations WHERE store_id = $1`,
			storeID).Scan(&st.LastOrderNumber)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: load store %s: %w", storeID, err)
	}
	return st, nil
}

func loadCollections(ctx context.Context, tx pgx.Tx, storeID string) ([]*actors.Collection, error) {
	var out []*actors.Collection
	byID := map[string]*actors.Collection{}
	rows, err := tx.Query(ctx, `
		SELECT id, seq, title, created_at, updated_at FROM catalog.collections WHERE store_id = $1 ORDER BY seq`, storeID)
	if err != nil {
		return nil, fmt.Errorf("collections: %w", err)
	}
	for rows.Next() {
		c := &actors.Collection{StoreID: storeID}
		if err := rows.Scan(&c.ID, &c.Seq, &c.Title, &c.CreatedAt, &c.UpdatedAt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("collections: %w", err)
		}
		c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
		byID[c.ID] = c
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("collections: %w", err)
	}
	rows, err = tx.Query(ctx, `
		SELECT cp.collection_id, cp.product_id FROM catalog.collection_products cp
		JOIN catalog.collections c ON c.id = cp.collection_id
		WHERE c.store_id = $1 ORDER BY cp.collection_id, cp.position`, storeID)
	if err != nil {
		return nil, fmt.Errorf("collection products: %w", err)
	}
	for rows.Next() {
		var cid, pid string
		if err := rows.Scan(&cid, &pid); err != nil {
			rows.Close()
			return nil, fmt.Errorf("collection products: %w", err)
		}
		if c := byID[cid]; c != nil {
			c.ProductIDs = append(c.ProductIDs, pid)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("collection products: %w", err)
	}
	return out, nil
}

// loadReservations returns the store's active reservations, or the one
// with reservationID in any status when that is not empty.
func loadReservations(ctx context.Context, tx pgx.Tx, storeID, reservationID string) ([]*actors.Reservation, error) {
	var out []*actors.Reservation
	byID := map[string]*actors.Reservation{}
	rows, err := tx.Query(ctx, `
		SELECT id, status, expires_at, created_at, updated_at, COALESCE(order_number, 0) FROM catalog.reservations
		WHERE store_id = $1 AND (CASE WHEN $2 = '' THEN status = 'active' ELSE id = $2 END)`,
		storeID, reservationID)
	if err != nil {
		return nil, fmt.Errorf("reservations: %w", err)
	}
	for rows.Next() {
		r := &actors.Reservation{StoreID: storeID}
		if err := rows.Scan(&r.ID, &r.Status, &r.ExpiresAt, &r.CreatedAt, &r.UpdatedAt, &r.OrderNumber); err != nil {
			rows.Close()
			return nil, fmt.Errorf("reservations: %w", err)
		}
		r.ExpiresAt, r.CreatedAt, r.UpdatedAt = r.ExpiresAt.UTC(), r.CreatedAt.UTC(), r.UpdatedAt.UTC()
		byID[r.ID] = r
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reservations: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	ids := make([]string, 0, len(out))
	for _, r := range out {
		ids = append(ids, r.ID)
	}
	rows, err = tx.Query(ctx, `
		SELECT reservation_id, variant_id, quantity, unit_price FROM catalog.reservation_lines
		WHERE store_id = $1 AND reservation_id = ANY($2) ORDER BY reservation_id, position`, storeID, ids)
	if err != nil {
		return nil, fmt.Errorf("reservation lines: %w", err)
	}
	for rows.Next() {
		var rid string
		var l actors.ReservationLine
		if err := rows.Scan(&rid, &l.VariantID, &l.Quantity, &l.UnitPrice); err != nil {
			rows.Close()
			return nil, fmt.Errorf("reservation lines: %w", err)
		}
		if r := byID[rid]; r != nil {
			r.Lines = append(r.Lines, l)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reservation lines: %w", err)
	}
	return out, nil
}

// LoadReservation returns one reservation of the store in any status.
func (c *Catalog) LoadReservation(ctx context.Context, storeID, reservationID string) (*actors.Reservation, error) {
	if reservationID == "" {
		return nil, vayva.Errorf(vayva.ENOTFOUND, "No reservation.")
	}
	var out []*actors.Reservation
	err := c.db.InDomain(ctx, vayva.DomainCatalog, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = loadReservations(ctx, tx, storeID, reservationID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: load reservation %s: %w", reservationID, err)
	}
	if len(out) == 0 {
		return nil, vayva.Errorf(vayva.ENOTFOUND, "No reservation %q.", reservationID)
	}
	return out[0], nil
}
