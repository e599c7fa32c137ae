package actors

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/messages"
)

// The store's planning steps are plain functions of its state: tested here
// without a database or a cluster.

var planNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// planState is a store with an active shirt in two sizes and a draft hat.
func planState() *storeState {
	shirt := &Product{ID: "prod_shirt", Seq: 1, Title: "Shirt", Status: ProductActive, Variants: []*Variant{
		{ID: "var_s", ProductID: "prod_shirt", SKU: "SHIRT-S", Price: 1500, OnHand: 5, Reserved: 1},
		{ID: "var_m", ProductID: "prod_shirt", SKU: "SHIRT-M", Price: 1600, OnHand: 2},
	}}
	hat := &Product{ID: "prod_hat", Seq: 2, Title: "Hat", Status: ProductDraft, Variants: []*Variant{
		{ID: "var_hat", ProductID: "prod_hat", SKU: "HAT", Price: 900, OnHand: 9},
	}}
	return newStoreState(&StoreState{Profile: StoreProfile{ID: "sto_1", Currency: "NGN"}, Products: []*Product{shirt, hat}})
}

func fields(err error) []string {
	var e *vayva.Error
	if !errors.As(err, &e) {
		return nil
	}
	out := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		out[i] = f.Field
	}
	return out
}

func TestPlanProduct(t *testing.T) {
	t.Parallel()
	st := planState()
	p, err := planProduct(st, "sto_1", &messages.CreateProduct{Title: ptr(" Cap "), Variants: []*messages.NewVariant{
		{Sku: ptr("CAP-1"), Price: ptr(int64(700)), InventoryQuantity: ptr(int64(4))},
		{Sku: ptr("CAP-2"), Title: ptr("Large"), Price: ptr(int64(800))},
	}}, planNow)
	require.NoError(t, err)
	require.True(t, vayva.HasIDPrefix(p.ID, "prod"))
	require.Equal(t, "Cap", p.Title)
	require.Equal(t, ProductActive, p.Status, "products are active unless said otherwise")
	require.Equal(t, int64(3), p.Seq, "after the store's last product")
	require.Equal(t, planNow, p.CreatedAt)
	require.Len(t, p.Variants, 2)
	require.Equal(t, defaultVariantTitle, p.Variants[0].Title)
	require.Equal(t, "Large", p.Variants[1].Title)
	require.Equal(t, int64(4), p.Variants[0].OnHand)
	require.Equal(t, p.ID, p.Variants[1].ProductID)
	require.Equal(t, 1, p.Variants[1].Position)

	for name, tc := range map[string]struct {
		m      *messages.CreateProduct
		fields []string
	}{
		"no title or variants": {&messages.CreateProduct{}, []string{"title", "variants"}},
		"sku taken by the store, sku repeated": {&messages.CreateProduct{Title: ptr("X"), Variants: []*messages.NewVariant{
			{Sku: ptr("SHIRT-S"), Price: ptr(int64(1))}, {Sku: ptr("NEW"), Price: ptr(int64(1))}, {Sku: ptr("NEW"), Price: ptr(int64(1))},
		}}, []string{"variants[0].sku", "variants[2].sku"}},
		"negative stock, bad status": {&messages.CreateProduct{Title: ptr("X"), Status: ptr("sold"), Variants: []*messages.NewVariant{
			{Sku: ptr("A"), Price: ptr(int64(1)), InventoryQuantity: ptr(int64(-1))},
		}}, []string{"status", "variants[0].inventory_quantity"}},
		"nil variant": {&messages.CreateProduct{Title: ptr("X"), Variants: []*messages.NewVariant{nil}}, []string{"variants[0]"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := planProduct(st, "sto_1", tc.m, planNow)
			require.Equal(t, vayva.EINVALID, vayva.ErrorCode(err))
			require.Equal(t, tc.fields, fields(err))
		})
	}

	many := &messages.CreateProduct{Title: ptr("X")}
	for range MaxVariants + 50 {
		many.Variants = append(many.Variants, &messages.NewVariant{})
	}
	_, err = planProduct(st, "sto_1", many, planNow)
	require.Equal(t, vayva.EINVALID, vayva.ErrorCode(err))
	require.Equal(t, "variants", fields(err)[0])
	require.LessOrEqual(t, len(fields(err)), 1+2*MaxVariants, "entries past the maximum are not checked one by one")
}

func reserve(items ...*messages.ReservationItem) *messages.ReserveItems {
	return &messages.ReserveItems{ReservationId: "ord_1", ExpiresAtUnixMs: planNow.Add(time.Hour).UnixMilli(), Items: items}
}

func item(variant string, q int64) *messages.ReservationItem {
	return &messages.ReservationItem{VariantId: variant, Quantity: q}
}

func TestPlanReservation(t *testing.T) {
	t.Parallel()
	st := planState()
	req, err := planReservation(st, reserve(item("var_m", 1), item("var_s", 2), item("var_m", 1)), planNow)
	require.NoError(t, err)
	require.Equal(t, "ord_1", req.id)
	require.Equal(t, planNow.Add(time.Hour), req.expires)
	require.Equal(t, []ReservationLine{{VariantID: "var_m", Quantity: 2, UnitPrice: 1600}, {VariantID: "var_s", Quantity: 2, UnitPrice: 1500}},
		req.lines, "one line per variant in the order of first mention, at the catalog's price")
	require.Equal(t, map[string]int{"var_m": 0, "var_s": 1}, req.first)

	levels, err := holdStock(st, req)
	require.NoError(t, err)
	require.Equal(t, []StockLevel{{VariantID: "var_m", OnHand: 2, Reserved: 2}, {VariantID: "var_s", OnHand: 5, Reserved: 3}}, levels)
	require.Equal(t, int64(0), st.variants["var_m"].Reserved, "planning changes nothing")

	for name, tc := range map[string]struct {
		m      *messages.ReserveItems
		fields []string
	}{
		"no id, no expiry, no items": {&messages.ReserveItems{}, []string{"reservation_id", "expires_at", "items"}},
		"expired":                    {&messages.ReserveItems{ReservationId: "o", ExpiresAtUnixMs: planNow.Add(-time.Second).UnixMilli(), Items: []*messages.ReservationItem{item("var_s", 1)}}, []string{"expires_at"}},
		"too far ahead":              {&messages.ReserveItems{ReservationId: "o", ExpiresAtUnixMs: planNow.Add(MaxReservationTTL + time.Hour).UnixMilli(), Items: []*messages.ReservationItem{item("var_s", 1)}}, []string{"expires_at"}},
		"unknown, draft, bad quantity": {reserve(item("var_nope", 1), item("var_hat", 1), item("var_s", 0), item("", 1)),
			[]string{"items[0].variant_id", "items[1].variant_id", "items[2].quantity", "items[3].variant_id"}},
		"adds up past the maximum": {reserve(item("var_s", MaxQuantity), item("var_s", 1)), []string{"items[1].quantity"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := planReservation(st, tc.m, planNow)
			require.Equal(t, vayva.EINVALID, vayva.ErrorCode(err))
			require.Equal(t, tc.fields, fields(err))
		})
	}
}

func TestHoldStockRefusesShortLines(t *testing.T) {
	t.Parallel()
	st := planState()
	req, err := planReservation(st, reserve(item("var_s", 4), item("var_m", 3), item("var_s", 1)), planNow)
	require.NoError(t, err)
	_, err = holdStock(st, req)
	require.Equal(t, vayva.EINSUFFICIENTSTOCK, vayva.ErrorCode(err))
	require.Contains(t, vayva.ErrorMessage(err), "var_s", "the first variant short of stock is named")
	require.Equal(t, []string{"items[0].quantity", "items[1].quantity"}, fields(err))
}
