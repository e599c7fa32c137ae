package postgres_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/persistence/postgres"
	"github.com/vayvahq/vayva/persistence/postgres/pgtest"
)

func insertStore(t *testing.T, db *postgres.DB, slug string) string {
	t.Helper()
	merchantID, storeID := vayva.NewID("mer"), vayva.NewID("sto")
	mustExec(t, db, `INSERT INTO merchant.merchants (id, name, owner_user_id) VALUES ($1, 'Ada', 'usr_1')`, merchantID)
	mustExec(t, db, `INSERT INTO merchant.stores (id, merchant_id, slug, name) VALUES ($1, $2, $3, 'Ada Shop')`, storeID, merchantID, slug)
	return storeID
}

func TestCatalogChangesRoundTripAndKeepStockInvariant(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := pgtest.New(t)
	storeID := insertStore(t, db, "ada-shop")
	j := postgres.NewJournal(db, "node-a")
	repo := postgres.NewCatalog(db)
	a, err := j.Activate(ctx, actors.StoreKind, storeID)
	require.NoError(t, err)

	now := time.Now().UTC().Truncate(time.Microsecond)
	p := actors.Product{ID: "prod_1", StoreID: storeID, Seq: 1, Title: "Shirt", Status: actors.ProductActive, CreatedAt: now, UpdatedAt: now,
		Variants: []*actors.Variant{{ID: "var_1", ProductID: "prod_1", SKU: "S-1", Title: "S", Price: 500, OnHand: 5, CreatedAt: now, UpdatedAt: now}}}
	r := actors.Reservation{ID: "ord_1", StoreID: storeID, Status: actors.ReservationActive, ExpiresAt: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now,
		Lines: []actors.ReservationLine{{VariantID: "var_1", Quantity: 2, UnitPrice: 500}}}
	_, _, err = j.Commit(ctx, a, actors.Commit{CommandID: "c1", Domain: vayva.DomainCatalog, Changes: []actors.Change{
		actors.ProductChange{Product: p},
		actors.CollectionChange{Collection: actors.Collection{ID: "col_1", StoreID: storeID, Seq: 1, Title: "All", ProductIDs: []string{"prod_1"}, CreatedAt: now, UpdatedAt: now}},
		actors.ReservationChange{Reservation: r},
		actors.StockChange{StoreID: storeID, Levels: []actors.StockLevel{{VariantID: "var_1", OnHand: 5, Reserved: 2}}},
	}})
	require.NoError(t, err)

	st, err := repo.LoadStore(ctx, storeID)
	require.NoError(t, err)
	require.Equal(t, "ada-shop", st.Profile.Slug)
	require.Equal(t, "NGN", st.Profile.Currency)
	require.JSONEq(t, `{}`, string(st.Profile.Settings))
	require.Len(t, st.Products, 1)
	require.Equal(t, "Shirt", st.Products[0].Title)
	require.Equal(t, int64(2), st.Products[0].Variants[0].Reserved)
	require.Equal(t, now, st.Products[0].Variants[0].CreatedAt)
	require.Equal(t, []string{"prod_1"}, st.Collections[0].ProductIDs)
	require.Len(t, st.Reservations, 1)
	require.Equal(t, r.Lines, st.Reservations[0].Lines)

	// A change that would break on_hand >= reserved >= 0 fails the whole
	// commit: the fence, the inbox and the other changes are not written.
	_, _, err = j.Commit(ctx, a, actors.Commit{CommandID: "c2", Domain: vayva.DomainCatalog, Changes: []actors.Change{
		actors.AdjustmentRecord{ID: "adj_1", StoreID: storeID, VariantID: "var_1", Delta: -4, Reason: "x", OnHand: 1, Reserved: 2, CreatedAt: now},
		actors.StockChange{StoreID: storeID, Levels: []actors.StockLevel{{VariantID: "var_1", OnHand: 1, Reserved: 2}}},
	}})
	require.ErrorContains(t, err, "variants_stock_check")
	require.Equal(t, int64(1), queryInt(t, db, `SELECT version FROM runtime.actors WHERE identity = $1`, storeID))
	require.Equal(t, int64(0), queryInt(t, db, `SELECT count(*) FROM catalog.inventory_adjustments`))
	require.Equal(t, int64(0), queryInt(t, db, `SELECT count(*) FROM runtime.inbox WHERE command_id = 'c2'`))

	// Finishing a reservation twice is refused by the applier.
	done := r
	done.Status = actors.ReservationReleased
	_, _, err = j.Commit(ctx, a, actors.Commit{Domain: vayva.DomainCatalog, Changes: []actors.Change{actors.ReservationChange{Reservation: done}}})
	require.NoError(t, err)
	_, _, err = j.Commit(ctx, a, actors.Commit{Domain: vayva.DomainCatalog, Changes: []actors.Change{actors.ReservationChange{Reservation: done}}})
	require.ErrorContains(t, err, "not active")
	got, err := repo.LoadReservation(ctx, storeID, "ord_1")
	require.NoError(t, err)
	require.Equal(t, actors.ReservationReleased, got.Status)
	_, err = repo.LoadReservation(ctx, storeID, "ord_2")
	require.Equal(t, vayva.ENOTFOUND, vayva.ErrorCode(err))

	reply, ok, err := j.StoredReply(ctx, a, "c1")
	require.NoError(t, err)
	require.True(t, ok)
	require.Empty(t, reply)
	_, ok, err = j.StoredReply(ctx, a, "c2")
	require.NoError(t, err)
	require.False(t, ok)
	// A superseded activation learns it instead of an answer it could
	// refuse on: the new one may apply what it would refuse.
	b, err := j.Activate(ctx, actors.StoreKind, storeID)
	require.NoError(t, err)
	_, _, err = j.StoredReply(ctx, a, "c2")
	require.ErrorIs(t, err, vayva.ErrStaleEpoch)
	_, ok, err = j.StoredReply(ctx, b, "c1")
	require.NoError(t, err)
	require.True(t, ok)
	a = b

	// The catalog role may not write the profile: it is the merchant
	// domain's table.
	_, _, err = j.Commit(ctx, a, actors.Commit{Domain: vayva.DomainCatalog, Changes: []actors.Change{
		actors.ProfileChange{StoreID: storeID, Name: "X", Currency: "NGN", UpdatedAt: now},
	}})
	require.ErrorIs(t, err, postgres.ErrPermissionDenied)

	_, err = repo.LoadStore(ctx, "sto_missing")
	require.Equal(t, vayva.ENOTFOUND, vayva.ErrorCode(err))
}

func TestStoreDirectoryFindsStoresBySlug(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := pgtest.New(t)
	dir := postgres.NewStoreDirectory(db, postgres.StoreDirectoryConfig{})

	_, err := dir.StoreIDBySlug(ctx, "late-shop")
	require.Equal(t, vayva.ENOTFOUND, vayva.ErrorCode(err))
	// Unknown slugs are not remembered: a store is found as soon as it
	// exists.
	id := insertStore(t, db, "late-shop")
	got, err := dir.StoreIDBySlug(ctx, "late-shop")
	require.NoError(t, err)
	require.Equal(t, id, got)

	// Known slugs are served from memory.
	mustExec(t, db, `UPDATE merchant.stores SET slug = 'renamed-shop' WHERE id = $1`, id)
	got, err = dir.StoreIDBySlug(ctx, "late-shop")
	require.NoError(t, err)
	require.Equal(t, id, got)

	for _, slug := range []string{"", strings.Repeat("a", 101), "nope", "Late-Shop", "late\x00shop"} {
		_, err = dir.StoreIDBySlug(ctx, slug)
		require.Equal(t, vayva.ENOTFOUND, vayva.ErrorCode(err))
	}
}
