package actors

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/messages"
)

func TestCursors(t *testing.T) {
	t.Parallel()
	prod := encodeCursor(42, "prod_abc")
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"", 0, true}, {encodeCursor(1, "prod_x"), 1, true}, {prod, 42, true},
		{encodeCursor(1, "col_x"), 0, false}, {encodeCursor(0, "prod_x"), 0, false}, {encodeCursor(-1, "prod_x"), 0, false},
		{"p1", 0, false}, {"p42", 0, false}, {prod + "!", 0, false}, {"bogus", 0, false},
		{vayva.EncodeTimeCursor(time.Now(), "prod_x")[:4], 0, false},
	} {
		var v vayva.Validation
		got := decodeCursor(&v, "prod", c.in)
		require.Equal(t, c.ok, v.Err() == nil, c.in)
		require.Equal(t, c.want, got, c.in)
		if !c.ok {
			var e *vayva.Error
			require.ErrorAs(t, v.Err(), &e)
			require.Equal(t, []vayva.FieldError{{Field: "cursor", Message: vayva.BadCursorMessage}}, e.Fields, c.in)
		}
	}
	var v vayva.Validation
	require.Equal(t, int64(17), decodeCursor(&v, "col", encodeCursor(17, "col_q")))
	require.NoError(t, v.Err())
}

func TestMergeSettings(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		current, patch, want string
		fields               []string
	}{
		{"", `{"a":1}`, `{"a":1}`, nil},
		{`{"a":1,"b":2}`, `{"a":null,"c":[1]}`, `{"b":2,"c":[1]}`, nil},
		{`{}`, `[1]`, ``, []string{"settings"}},
		{`{}`, `null`, ``, []string{"settings"}},
		{`{}`, `{"":1}`, `{}`, []string{"settings"}},
		{`{}`, `{"a":"x\u0000"}`, `{}`, []string{"settings.a"}},
		{`{}`, `{"big":"` + strings.Repeat("x", MaxSettingsSize) + `"}`, ``, []string{"settings"}},
	} {
		var v vayva.Validation
		got := mergeSettings(&v, []byte(c.current), []byte(c.patch))
		var fields []string
		var err *vayva.Error
		if errors.As(v.Err(), &err) {
			for _, f := range err.Fields {
				fields = append(fields, f.Field)
			}
		}
		require.Equal(t, c.fields, fields, c.patch)
		if c.want != "" {
			require.JSONEq(t, c.want, string(got), c.patch)
		}
	}
}

// The database's CHECK constraints on products and variants, as the
// migrations declare them.
var dbSKU = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func dbText(s string, min, max int) bool {
	n := utf8.RuneCountInString(s)
	return n >= min && n <= max && utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// FuzzProductValidation checks that every product the store accepts also
// passes the database's constraints, so an accepted command never fails
// its commit: validation is the whole gate, not the table.
func FuzzProductValidation(f *testing.F) {
	f.Add("Shirt", "Soft cotton.", "active", "SKU-1", "Small", int64(100), int64(5))
	f.Add(" ", "", "draft", "bad sku", "", int64(-1), int64(-1))
	f.Add("\x00", "a\x00b", "archived", strings.Repeat("A", 65), "\t", int64(MaxPrice+1), int64(MaxQuantity+1))
	f.Add(strings.Repeat("é", 200), strings.Repeat("\n", 5000), "active", "a.b_c-D", strings.Repeat("x", 201), int64(0), int64(0))
	f.Fuzz(func(t *testing.T, title, description, status, sku, vtitle string, price, qty int64) {
		st := newStoreState(&StoreState{Profile: StoreProfile{ID: "sto_1", Currency: "NGN"}})
		p, err := planProduct(st, "sto_1", &messages.CreateProduct{
			Title: &title, Description: &description, Status: &status,
			Variants: []*messages.NewVariant{{Sku: &sku, Title: &vtitle, Price: &price, InventoryQuantity: &qty}},
		}, storeNow())
		if err != nil {
			require.Equal(t, vayva.EINVALID, vayva.ErrorCode(err))
			return
		}
		require.True(t, dbText(p.Title, 1, 200), "title %q", p.Title)
		require.True(t, dbText(p.Description, 0, 5000), "description %q", p.Description)
		require.Contains(t, []string{ProductActive, ProductDraft}, p.Status)
		v := p.Variants[0]
		require.True(t, dbSKU.MatchString(v.SKU), "sku %q", v.SKU)
		require.True(t, dbText(v.Title, 1, 200), "variant title %q", v.Title)
		require.True(t, v.Price >= 0 && v.Price <= MaxPrice)
		require.True(t, v.OnHand >= 0 && v.OnHand <= MaxQuantity)
	})
}
