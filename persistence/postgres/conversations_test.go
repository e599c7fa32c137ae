package postgres_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/persistence/postgres"
	"github.com/vayvahq/vayva/persistence/postgres/pgtest"
)

// A customer's orders are found by their WhatsApp number however the
// checkout form had it typed, never a number that only shares its last
// digits, never another store's; and the lookup can use its index.
func TestOrdersByPhone(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := pgtest.New(t)
	storeID := insertStore(t, db, "phone-shop")
	otherStore := insertStore(t, db, "other-phone-shop")
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	n := 0
	order := func(store, phone string) string {
		n++
		id := vayva.NewID("ord")
		mustExec(t, db, `INSERT INTO orders.orders (id, store_id, merchant_id, number, status, payment_status, fulfillment_status,
				currency, subtotal, total, fee_bps, customer_email, customer_phone, token_hash, payment_reference, expires_at, created_at, updated_at)
			SELECT $1, s.id, s.merchant_id, $3, 'awaiting_payment', 'unpaid', 'unfulfilled', 'NGN', 1000, 1000, 150,
				'buyer@example.com', $4, '\x00', $1, $5, $5, $5
			FROM merchant.stores s WHERE s.id = $2`, id, store, 1000+n, phone, at.Add(time.Duration(n)*time.Minute))
		return id
	}
	local := order(storeID, "0803 999 0001")
	intl := order(storeID, "+234 803-999-0001")
	order(storeID, "+1 803 999 0001")   // the same last nine digits, another country
	order(storeID, "08039990002")       // another customer
	order(otherStore, "+2348039990001") // the same customer at another store
	repo := postgres.NewConversations(db)
	got, err := repo.OrdersByPhone(ctx, storeID, "2348039990001", 10)
	require.NoError(t, err)
	var ids []string
	for _, o := range got {
		ids = append(ids, o.ID)
	}
	require.Equal(t, []string{intl, local}, ids, "newest first")
	got, err = repo.OrdersByPhone(ctx, storeID, "2348039990001", 1)
	require.NoError(t, err)
	require.Len(t, got, 1)
	got, err = repo.OrdersByPhone(ctx, storeID, "12", 10)
	require.NoError(t, err)
	require.Empty(t, got)

	// The lookup's query uses the index (checked with
	// sequential scans off: on a table this small the planner would read
	// it whole anyway).
	tx, err := db.Pool().Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, `SET LOCAL enable_seqscan = off`)
	require.NoError(t, err)
	var plan strings.Builder
	rows, err := tx.Query(ctx, "EXPLAIN "+postgres.OrdersByPhoneSQL, storeID, "803999000", 500)
	require.NoError(t, err)
	for rows.Next() {
		var line string
		require.NoError(t, rows.Scan(&line))
		fmt.Fprintln(&plan, line)
	}
	require.NoError(t, rows.Err())
	require.Contains(t, plan.String(), "orders_customer_phone_suffix_idx", plan.String())
}
