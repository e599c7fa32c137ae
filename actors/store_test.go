package actors_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/cluster"
	"github.com/vayvahq/vayva/messages"
	"github.com/vayvahq/vayva/persistence/postgres"
)

func TestStoreCatalogSurvivesReactivation(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)

	profile := must[*messages.StoreProfile](t, e.member, e.storeID, &messages.GetStore{})
	require.Equal(t, e.storeID, profile.GetId())
	require.Equal(t, "NGN", profile.GetCurrency())

	shirt := e.create(t, "Ankara shirt", 10, "SHIRT-S", "SHIRT-M")
	require.True(t, vayva.HasIDPrefix(shirt.GetId(), "prod"))
	require.Len(t, shirt.GetVariants(), 2)
	require.Equal(t, "NGN", shirt.GetVariants()[0].GetCurrency())
	require.Equal(t, int64(10), shirt.GetVariants()[0].GetAvailable())

	draft := newProduct("Secret", 1, "SECRET-1")
	draft.Status = ptr("draft")
	must[*messages.Product](t, e.member, e.storeID, draft)
	hat := e.create(t, "Fila cap", 3, "CAP")

	updated := must[*messages.Product](t, e.member, e.storeID, &messages.UpdateProduct{
		CommandId: vayva.NewID("cmd"), ProductId: shirt.GetId(), Title: ptr("Ankara shirt, blue"),
		Variants: []*messages.VariantPatch{{Id: shirt.GetVariants()[1].GetId(), Price: ptr(int64(300000))}},
	})
	require.Equal(t, "Ankara shirt, blue", updated.GetTitle())
	require.Equal(t, int64(300000), updated.GetVariants()[1].GetPrice())
	require.Equal(t, int64(250000), updated.GetVariants()[0].GetPrice())

	archived := must[*messages.Product](t, e.member, e.storeID, &messages.ArchiveProduct{CommandId: vayva.NewID("cmd"), ProductId: hat.GetId()})
	require.Equal(t, actors.ProductArchived, archived.GetStatus())

	col := must[*messages.Collection](t, e.member, e.storeID, &messages.CreateCollection{
		CommandId: vayva.NewID("cmd"), Title: ptr("Summer"), ProductIds: []string{shirt.GetId()},
	})
	level := must[*messages.InventoryLevel](t, e.member, e.storeID, &messages.AdjustInventory{
		CommandId: vayva.NewID("cmd"), VariantId: shirt.GetVariants()[0].GetId(), Delta: -4, Reason: "damaged",
	})
	require.Equal(t, int64(6), level.GetAvailable())
	must[*messages.Reservation](t, e.member, e.storeID, &messages.ReserveItems{
		CommandId: vayva.NewID("cmd"), ReservationId: "ord_1", ExpiresAtUnixMs: inAnHour(),
		Items: []*messages.ReservationItem{{VariantId: shirt.GetVariants()[0].GetId(), Quantity: 2}},
	})

	merchantList := must[*messages.ProductPage](t, e.member, e.storeID, &messages.ListProducts{})
	require.Len(t, merchantList.GetProducts(), 2, "archived products are not listed by default")
	storefront := must[*messages.ProductPage](t, e.member, e.storeID, &messages.ListProducts{Storefront: true})
	require.Len(t, storefront.GetProducts(), 1)
	require.Equal(t, shirt.GetId(), storefront.GetProducts()[0].GetId())
	_, err := request[*messages.Product](t, e.member, e.storeID, &messages.GetProduct{ProductId: hat.GetId(), Storefront: true})
	requireCode(t, err, vayva.ENOTFOUND)

	// A fresh activation elsewhere loads the same state from the database.
	other := startStoreMember(t, e.db, "b")
	for _, msg := range []proto.Message{
		&messages.GetStore{},
		&messages.ListProducts{},
		&messages.ListProducts{Status: "archived"},
		&messages.ListProducts{Storefront: true},
		&messages.ListCollections{},
		&messages.GetProduct{ProductId: shirt.GetId()},
	} {
		before, err := request[proto.Message](t, e.member, e.storeID, msg)
		require.NoError(t, err)
		after, err := request[proto.Message](t, other, e.storeID, msg)
		require.NoError(t, err)
		require.True(t, proto.Equal(before, after), "%T: %v\nreloaded: %v", msg, before, after)
	}
	reloadedCols := must[*messages.CollectionPage](t, other, e.storeID, &messages.ListCollections{})
	require.Equal(t, []string{shirt.GetId()}, reloadedCols.GetCollections()[0].GetProductIds())
	require.Equal(t, col.GetId(), reloadedCols.GetCollections()[0].GetId())
	p := must[*messages.Product](t, other, e.storeID, &messages.GetProduct{ProductId: shirt.GetId()})
	require.Equal(t, int64(2), p.GetVariants()[0].GetReserved())
	require.Equal(t, int64(4), p.GetVariants()[0].GetAvailable())
}

func TestStoreListsPagesNewestFirst(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	var ids []string
	for i := range 7 {
		ids = append(ids, e.create(t, fmt.Sprintf("Product %d", i), 1, fmt.Sprintf("SKU-%d", i)).GetId())
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5)
		page := must[*messages.ProductPage](t, e.member, e.storeID, &messages.ListProducts{Limit: 3, Cursor: cursor})
		for _, p := range page.GetProducts() {
			got = append(got, p.GetId())
		}
		if page.GetNextCursor() == "" {
			break
		}
		cursor = page.GetNextCursor()
	}
	want := make([]string, len(ids))
	for i, id := range ids {
		want[len(ids)-1-i] = id
	}
	require.Equal(t, want, got)

	_, err := request[*messages.ProductPage](t, e.member, e.storeID, &messages.ListProducts{Cursor: "bogus"})
	require.Equal(t, []string{"cursor"}, fieldNames(requireCode(t, err, vayva.EINVALID)))
	_, err = request[*messages.ProductPage](t, e.member, e.storeID, &messages.ListProducts{Limit: 201})
	require.Equal(t, []string{"limit"}, fieldNames(requireCode(t, err, vayva.EINVALID)))
}

func TestStoreRefusesInvalidProductsAndWritesNothing(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	existing := e.create(t, "Existing", 1, "TAKEN")
	before := readFence(t, e.db, e.storeID)

	bad := &messages.CreateProduct{
		CommandId:   vayva.NewID("cmd"),
		Title:       ptr("   "),
		Description: ptr(string(make([]byte, 5001))),
		Status:      ptr("published"),
		Variants: []*messages.NewVariant{
			{Sku: ptr("TAKEN"), Price: ptr(int64(1)), InventoryQuantity: ptr(int64(1))},
			{Sku: ptr("has space"), Price: ptr(int64(-1)), InventoryQuantity: ptr(int64(-1))},
			{Sku: ptr("DUP"), Price: ptr(int64(actors.MaxPrice + 1)), InventoryQuantity: ptr(int64(actors.MaxQuantity + 1))},
			{Sku: ptr("DUP"), Title: ptr(""), Price: ptr(int64(0))},
			{},
		},
	}
	_, err := request[*messages.Product](t, e.member, e.storeID, bad)
	ve := requireCode(t, err, vayva.EINVALID)
	require.ElementsMatch(t, []string{
		"title", "description", "status",
		"variants[0].sku",
		"variants[1].sku", "variants[1].price", "variants[1].inventory_quantity",
		"variants[2].price", "variants[2].inventory_quantity",
		"variants[3].title", "variants[3].sku",
		"variants[4].sku", "variants[4].price",
	}, fieldNames(ve))

	_, err = request[*messages.Product](t, e.member, e.storeID, &messages.CreateProduct{CommandId: vayva.NewID("cmd"), Title: ptr("No variants")})
	require.Equal(t, []string{"variants"}, fieldNames(requireCode(t, err, vayva.EINVALID)))

	_, err = request[*messages.Product](t, e.member, e.storeID, &messages.UpdateProduct{
		CommandId: vayva.NewID("cmd"), ProductId: existing.GetId(), Status: ptr("gone"),
		Variants: []*messages.VariantPatch{{Id: "var_other", Price: ptr(int64(1))}},
	})
	require.ElementsMatch(t, []string{"status", "variants[0].id"}, fieldNames(requireCode(t, err, vayva.EINVALID)))
	_, err = request[*messages.Product](t, e.member, e.storeID, &messages.UpdateProduct{CommandId: vayva.NewID("cmd"), ProductId: "prod_missing", Title: ptr("x")})
	requireCode(t, err, vayva.ENOTFOUND)

	_, err = request[*messages.InventoryLevel](t, e.member, e.storeID, &messages.AdjustInventory{CommandId: vayva.NewID("cmd"), VariantId: existing.GetVariants()[0].GetId()})
	require.ElementsMatch(t, []string{"delta", "reason"}, fieldNames(requireCode(t, err, vayva.EINVALID)))
	_, err = request[*messages.InventoryLevel](t, e.member, e.storeID, &messages.AdjustInventory{CommandId: vayva.NewID("cmd"), VariantId: "var_missing", Delta: 1, Reason: "count"})
	requireCode(t, err, vayva.ENOTFOUND)

	_, err = request[*messages.Collection](t, e.member, e.storeID, &messages.CreateCollection{
		CommandId: vayva.NewID("cmd"), Title: ptr(""), ProductIds: []string{existing.GetId(), "prod_missing", existing.GetId()},
	})
	require.ElementsMatch(t, []string{"title", "product_ids[1]", "product_ids[2]"}, fieldNames(requireCode(t, err, vayva.EINVALID)))

	_, err = request[*messages.StoreProfile](t, e.member, e.storeID, &messages.UpdateStore{
		CommandId: vayva.NewID("cmd"), Name: ptr(""), Currency: ptr("XYZ"), SettingsPatchJson: []byte(`[1]`),
	})
	require.ElementsMatch(t, []string{"name", "currency", "settings"}, fieldNames(requireCode(t, err, vayva.EINVALID)))
	_, err = request[*messages.StoreProfile](t, e.member, e.storeID, &messages.UpdateStore{CommandId: vayva.NewID("cmd"), Currency: ptr("GHS")})
	requireCode(t, err, vayva.ECONFLICT)

	require.Equal(t, before, readFence(t, e.db, e.storeID), "refused commands commit nothing")
	require.Equal(t, int64(1), queryInt(t, e.db, `SELECT count(*) FROM catalog.products`))
	require.Equal(t, int64(0), queryInt(t, e.db, `SELECT count(*) FROM catalog.collections`))
	require.Equal(t, int64(0), queryInt(t, e.db, `SELECT count(*) FROM catalog.inventory_adjustments`))
}

func TestStoreUpdatesProfile(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	p := must[*messages.StoreProfile](t, e.member, e.storeID, &messages.UpdateStore{
		CommandId: vayva.NewID("cmd"), Name: ptr("  Ada's Shop  "), Currency: ptr("ghs"),
		SettingsPatchJson: []byte(`{"theme":"dark","tagline":"Fresh"}`),
	})
	require.Equal(t, "Ada's Shop", p.GetName())
	require.Equal(t, "GHS", p.GetCurrency())
	require.JSONEq(t, `{"theme":"dark","tagline":"Fresh"}`, string(p.GetSettingsJson()))
	p = must[*messages.StoreProfile](t, e.member, e.storeID, &messages.UpdateStore{
		CommandId: vayva.NewID("cmd"), SettingsPatchJson: []byte(`{"theme":null,"banner":{"on":true}}`),
	})
	require.JSONEq(t, `{"tagline":"Fresh","banner":{"on":true}}`, string(p.GetSettingsJson()))
	require.Equal(t, "Ada's Shop", p.GetName())

	var name, currency, settings string
	require.NoError(t, e.db.Pool().QueryRow(t.Context(), `SELECT name, currency, settings::text FROM merchant.stores WHERE id = $1`, e.storeID).
		Scan(&name, &currency, &settings))
	require.Equal(t, "Ada's Shop", name)
	require.Equal(t, "GHS", currency)
	require.JSONEq(t, `{"tagline":"Fresh","banner":{"on":true}}`, settings)
}

func TestStoreUnknownStoreIsNotFound(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	_, err := request[*messages.StoreProfile](t, e.member, "sto_missing", &messages.GetStore{})
	requireCode(t, err, vayva.ENOTFOUND)
	_, err = request[*messages.Product](t, e.member, "sto_missing", newProduct("x", 1, "X"))
	requireCode(t, err, vayva.ENOTFOUND)
}

// Two members of separate clusters share the database, so both activate
// the store: each activation supersedes the other, and the stale one must
// never commit. The stock stays exact.
func TestStoreStaleActivationIsRefused(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	b := startStoreMember(t, e.db, "b")
	variant := e.create(t, "Shoe", 0, "SHOE").GetVariants()[0].GetId()

	const perMember = 25
	var wg sync.WaitGroup
	errs := make(chan error, 2*perMember)
	for mi, member := range []*cluster.Member{e.member, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perMember {
				_, err := request[*messages.InventoryLevel](t, member, e.storeID, &messages.AdjustInventory{
					CommandId: fmt.Sprintf("m%d-%d", mi, i), VariantId: variant, Delta: 1, Reason: "restock",
				})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	onHand, _ := variantLevels(t, e.db, variant)
	require.Equal(t, int64(2*perMember), onHand)
	require.Equal(t, int64(2*perMember), queryInt(t, e.db, `SELECT count(*) FROM catalog.inventory_adjustments`))
	require.Greater(t, readFence(t, e.db, e.storeID).epoch, int64(2), "the members superseded each other")

	// A stale activation that would write refuses instead and its caller
	// retries on a fresh activation, which sees every earlier commit.
	j := postgres.NewJournal(e.db, "intruder")
	_, err := j.Activate(t.Context(), actors.StoreKind, e.storeID)
	require.NoError(t, err)
	level := must[*messages.InventoryLevel](t, e.member, e.storeID, &messages.AdjustInventory{
		CommandId: vayva.NewID("cmd"), VariantId: variant, Delta: 1, Reason: "restock",
	})
	require.Equal(t, int64(2*perMember+1), level.GetOnHand())
}

func TestStoreAppliesDuplicateCommandsOnce(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	create := newProduct("Bag", 5, "BAG")
	first := must[*messages.Product](t, e.member, e.storeID, create)
	// Its SKU is taken now, so validating it again would refuse it: the
	// redelivery is answered with the first reply instead.
	again := must[*messages.Product](t, e.member, e.storeID, create)
	require.True(t, proto.Equal(first, again))
	require.Equal(t, int64(1), queryInt(t, e.db, `SELECT count(*) FROM catalog.products`))

	variant := first.GetVariants()[0].GetId()
	adjust := &messages.AdjustInventory{CommandId: vayva.NewID("cmd"), VariantId: variant, Delta: 3, Reason: "delivery"}
	l1 := must[*messages.InventoryLevel](t, e.member, e.storeID, adjust)
	l2 := must[*messages.InventoryLevel](t, e.member, e.storeID, adjust)
	require.True(t, proto.Equal(l1, l2))
	require.Equal(t, int64(8), l2.GetOnHand())
	onHand, _ := variantLevels(t, e.db, variant)
	require.Equal(t, int64(8), onHand)

	// The same after the identity moved: the inbox is durable.
	other := startStoreMember(t, e.db, "b")
	l3 := must[*messages.InventoryLevel](t, other, e.storeID, adjust)
	require.True(t, proto.Equal(l1, l3))
	again = must[*messages.Product](t, other, e.storeID, create)
	require.Equal(t, first.GetId(), again.GetId())
	onHand, _ = variantLevels(t, e.db, variant)
	require.Equal(t, int64(8), onHand)
}

func TestReservationsHoldStockAllOrNothing(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	p := e.create(t, "Kaftan", 5, "K-S", "K-M")
	small, medium := p.GetVariants()[0].GetId(), p.GetVariants()[1].GetId()
	must[*messages.InventoryLevel](t, e.member, e.storeID, &messages.AdjustInventory{CommandId: vayva.NewID("cmd"), VariantId: medium, Delta: -3, Reason: "count"})

	reserve := func(id string, items ...*messages.ReservationItem) (*messages.Reservation, error) {
		return request[*messages.Reservation](t, e.member, e.storeID, &messages.ReserveItems{
			CommandId: vayva.NewID("cmd"), ReservationId: id, Items: items, ExpiresAtUnixMs: inAnHour(),
		})
	}
	before := readFence(t, e.db, e.storeID)
	_, err := reserve("ord_a", &messages.ReservationItem{VariantId: small, Quantity: 3}, &messages.ReservationItem{VariantId: medium, Quantity: 3})
	ve := requireCode(t, err, vayva.EINSUFFICIENTSTOCK)
	require.Contains(t, ve.Message, medium)
	require.Equal(t, []string{"items[1].quantity"}, fieldNames(ve))
	require.Contains(t, ve.Fields[0].Message, medium)
	require.Equal(t, before, readFence(t, e.db, e.storeID), "nothing reserved")

	_, err = reserve("ord_b", &messages.ReservationItem{VariantId: "var_nope", Quantity: 1}, &messages.ReservationItem{VariantId: small, Quantity: 0})
	require.ElementsMatch(t, []string{"items[0].variant_id", "items[1].quantity"}, fieldNames(requireCode(t, err, vayva.EINVALID)))
	_, err = request[*messages.Reservation](t, e.member, e.storeID, &messages.ReserveItems{
		CommandId: vayva.NewID("cmd"), ReservationId: "ord_c", ExpiresAtUnixMs: time.Now().Add(-time.Minute).UnixMilli(),
		Items: []*messages.ReservationItem{{VariantId: small, Quantity: 1}},
	})
	require.Equal(t, []string{"expires_at"}, fieldNames(requireCode(t, err, vayva.EINVALID)))

	// A variant named twice is reserved once, quantities added up.
	r, err := reserve("ord_a", &messages.ReservationItem{VariantId: small, Quantity: 2}, &messages.ReservationItem{VariantId: medium, Quantity: 2},
		&messages.ReservationItem{VariantId: small, Quantity: 1})
	require.NoError(t, err)
	require.Equal(t, actors.ReservationActive, r.GetStatus())
	require.Len(t, r.GetLines(), 2)
	require.Equal(t, int64(3), r.GetLines()[0].GetQuantity())
	require.Equal(t, int64(250000), r.GetLines()[0].GetUnitPrice())
	require.Equal(t, "Kaftan", r.GetLines()[0].GetProductTitle())
	require.Equal(t, "NGN", r.GetCurrency())

	// Reserving the same order again answers with the reservation; other
	// items for the same order are a conflict.
	again, err := reserve("ord_a", &messages.ReservationItem{VariantId: medium, Quantity: 2}, &messages.ReservationItem{VariantId: small, Quantity: 3})
	require.NoError(t, err)
	require.Equal(t, r.GetExpiresAtUnixMs(), again.GetExpiresAtUnixMs())
	_, err = reserve("ord_a", &messages.ReservationItem{VariantId: small, Quantity: 1})
	requireCode(t, err, vayva.ECONFLICT)
	onHand, reserved := variantLevels(t, e.db, small)
	require.Equal(t, [2]int64{5, 3}, [2]int64{onHand, reserved})

	// Stock on hand never drops below what is reserved.
	_, err = request[*messages.InventoryLevel](t, e.member, e.storeID, &messages.AdjustInventory{CommandId: vayva.NewID("cmd"), VariantId: small, Delta: -3, Reason: "count"})
	requireCode(t, err, vayva.ECONFLICT)
	l := must[*messages.InventoryLevel](t, e.member, e.storeID, &messages.AdjustInventory{CommandId: vayva.NewID("cmd"), VariantId: small, Delta: -2, Reason: "count"})
	require.Equal(t, int64(0), l.GetAvailable())
	require.Equal(t, int64(3), l.GetReserved())
	// The table refuses it too, whatever writes it.
	_, err = e.db.Pool().Exec(t.Context(), `UPDATE catalog.variants SET on_hand = reserved - 1 WHERE id = $1`, small)
	require.ErrorContains(t, err, "variants_stock_check")
	_, err = e.db.Pool().Exec(t.Context(), `UPDATE catalog.variants SET reserved = -1, on_hand = 0 WHERE id = $1`, medium)
	require.ErrorContains(t, err, "variants_stock_check")

	// Committing takes the stock out of the store.
	c := must[*messages.Reservation](t, e.member, e.storeID, &messages.CommitReservation{CommandId: vayva.NewID("cmd"), ReservationId: "ord_a"})
	require.Equal(t, actors.ReservationCommitted, c.GetStatus())
	onHand, reserved = variantLevels(t, e.db, small)
	require.Equal(t, [2]int64{0, 0}, [2]int64{onHand, reserved})
	onHand, reserved = variantLevels(t, e.db, medium)
	require.Equal(t, [2]int64{0, 0}, [2]int64{onHand, reserved})
	c = must[*messages.Reservation](t, e.member, e.storeID, &messages.CommitReservation{CommandId: vayva.NewID("cmd"), ReservationId: "ord_a"})
	require.Equal(t, actors.ReservationCommitted, c.GetStatus(), "committing again changes nothing")
	_, err = request[*messages.Reservation](t, e.member, e.storeID, &messages.ReleaseReservation{CommandId: vayva.NewID("cmd"), ReservationId: "ord_a"})
	requireCode(t, err, vayva.ECONFLICT)
	_, err = request[*messages.Reservation](t, e.member, e.storeID, &messages.ReleaseReservation{CommandId: vayva.NewID("cmd"), ReservationId: "ord_zzz"})
	requireCode(t, err, vayva.ENOTFOUND)

	// Releasing gives the stock back, once.
	must[*messages.InventoryLevel](t, e.member, e.storeID, &messages.AdjustInventory{CommandId: vayva.NewID("cmd"), VariantId: small, Delta: 4, Reason: "delivery"})
	_, err = reserve("ord_d", &messages.ReservationItem{VariantId: small, Quantity: 4})
	require.NoError(t, err)
	for range 2 {
		rel := must[*messages.Reservation](t, e.member, e.storeID, &messages.ReleaseReservation{CommandId: vayva.NewID("cmd"), ReservationId: "ord_d"})
		require.Equal(t, actors.ReservationReleased, rel.GetStatus())
	}
	onHand, reserved = variantLevels(t, e.db, small)
	require.Equal(t, [2]int64{4, 0}, [2]int64{onHand, reserved})
	_, err = request[*messages.Reservation](t, e.member, e.storeID, &messages.CommitReservation{CommandId: vayva.NewID("cmd"), ReservationId: "ord_d"})
	requireCode(t, err, vayva.ECONFLICT)
	require.Equal(t, int64(0), queryInt(t, e.db, `SELECT count(*) FROM runtime.reminders`), "finished reservations leave no reminders")

	// Draft products are not for sale.
	must[*messages.Product](t, e.member, e.storeID, &messages.UpdateProduct{CommandId: vayva.NewID("cmd"), ProductId: p.GetId(), Status: ptr("draft")})
	_, err = reserve("ord_e", &messages.ReservationItem{VariantId: small, Quantity: 1})
	require.Equal(t, []string{"items[0].variant_id"}, fieldNames(requireCode(t, err, vayva.EINVALID)))
}

func TestReservationExpiresThroughItsReminder(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	variant := e.create(t, "Hat", 4, "HAT").GetVariants()[0].GetId()
	r := must[*messages.Reservation](t, e.member, e.storeID, &messages.ReserveItems{
		CommandId: vayva.NewID("cmd"), ReservationId: "ord_x", ExpiresAtUnixMs: time.Now().Add(300 * time.Millisecond).UnixMilli(),
		Items: []*messages.ReservationItem{{VariantId: variant, Quantity: 3}},
	})
	require.Equal(t, int64(1), queryInt(t, e.db, `SELECT count(*) FROM runtime.reminders WHERE kind = 'store' AND identity = $1 AND name = 'reservation:ord_x'`, e.storeID))

	// The reservation outlives its activation: a member that never saw it
	// loads it and expires it when the reminder fires there.
	other := startStoreMember(t, e.db, "b")
	var fired []vayva.Reminder
	var mu sync.Mutex
	sched, err := postgres.NewScheduler(e.db, func(_ context.Context, rem vayva.Reminder) error {
		mu.Lock()
		fired = append(fired, rem)
		mu.Unlock()
		_, err := request[*messages.Ack](t, other, rem.Identity, &messages.ReminderFired{Name: rem.Name, DueAtUnixMs: rem.DueAt.UnixMilli(), Payload: rem.Payload})
		return err
	}, postgres.SchedulerConfig{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := sched.RunOnce(t.Context())
		require.NoError(t, err)
		_, reserved := variantLevels(t, e.db, variant)
		return reserved == 0
	}, 10*time.Second, 50*time.Millisecond)
	require.Equal(t, "expired", queryString(t, e.db, `SELECT status FROM catalog.reservations WHERE id = 'ord_x'`))
	require.Equal(t, int64(0), queryInt(t, e.db, `SELECT count(*) FROM runtime.reminders`))
	p := must[*messages.Product](t, other, e.storeID, &messages.GetProduct{ProductId: r.GetLines()[0].GetProductId()})
	require.Equal(t, int64(4), p.GetVariants()[0].GetAvailable())

	// A reminder delivered again changes nothing.
	mu.Lock()
	first := fired[0]
	mu.Unlock()
	before := readFence(t, e.db, e.storeID)
	must[*messages.Ack](t, other, e.storeID, &messages.ReminderFired{Name: first.Name, DueAtUnixMs: first.DueAt.UnixMilli()})
	require.Equal(t, before, readFence(t, e.db, e.storeID))
	_, reserved := variantLevels(t, e.db, variant)
	require.Zero(t, reserved)
	_, err = request[*messages.Reservation](t, other, e.storeID, &messages.CommitReservation{CommandId: vayva.NewID("cmd"), ReservationId: "ord_x"})
	requireCode(t, err, vayva.ECONFLICT)
}

func queryString(t *testing.T, db *postgres.DB, sql string, args ...any) string {
	t.Helper()
	var s string
	require.NoError(t, db.Pool().QueryRow(t.Context(), sql, args...).Scan(&s), sql)
	return s
}

func TestClosedStoreHasNoStorefront(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	closed := createStore(t, e.db, "closed-"+vayva.NewID("s")[2:10])
	_, err := e.db.Pool().Exec(t.Context(), `UPDATE merchant.stores SET status = 'suspended' WHERE id = $1`, closed)
	require.NoError(t, err)
	p := must[*messages.Product](t, e.member, closed, newProduct("Lamp", 2, "LAMP"))
	require.Len(t, must[*messages.ProductPage](t, e.member, closed, &messages.ListProducts{}).GetProducts(), 1, "the merchant still manages it")
	_, err = request[*messages.ProductPage](t, e.member, closed, &messages.ListProducts{Storefront: true})
	requireCode(t, err, vayva.ENOTFOUND)
	_, err = request[*messages.Product](t, e.member, closed, &messages.GetProduct{ProductId: p.GetId(), Storefront: true})
	requireCode(t, err, vayva.ENOTFOUND)
	require.Equal(t, "suspended", must[*messages.StoreProfile](t, e.member, closed, &messages.GetStore{}).GetStatus())
}
