package http

import (
	"testing"
	"unicode/utf8"

	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/auth"
)

// FuzzDecodeCheckout checks that no checkout body panics the decoder, that
// refusals are client errors naming fields, and that what is accepted
// satisfies every rule: an email, one to the maximum of items with a
// variant and a sane quantity, a complete shipping address, and no price
// or total of the client's.
func FuzzDecodeCheckout(f *testing.F) {
	for _, s := range []string{
		`{"email":"ada@example.com","items":[{"variant_id":"var_1","quantity":2}],"shipping_address":{"name":"Ada","line1":"1 Marina","city":"Lagos","state":"Lagos","country":"NG"}}`,
		`{"email":"ada@example.com","phone":"+234","items":[{"variant_id":"var_1","quantity":1,"price":1}],"shipping_address":{}}`,
		`{"email":"ada@example.com","total":5,"items":[],"shipping_address":null}`,
		`{"email":"x","items":[{"variant_id":"","quantity":-1}]}`,
		`{"EMAIL":"ada@example.com"}`, `{"email":"a@b.co","email":"c@d.co"}`, `{"items":"all"}`, `{`, `[]`, `null`, ``,
		`{"email":"ada@example.com","items":[{"variant_id":"var_1","quantity":1e9}],"shipping_address":{"name":"\u0000","line1":"x","city":"x","state":"x","country":"x"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeCheckout(body)
		if err != nil {
			authRequireClientError(t, err)
			return
		}
		if !auth.ValidEmail(req.Email) {
			t.Fatalf("accepted email %q", req.Email)
		}
		if len(req.Items) == 0 || len(req.Items) > maxCheckoutItems {
			t.Fatalf("accepted %d items", len(req.Items))
		}
		for _, it := range req.Items {
			if it.VariantID == "" || it.Quantity < 1 || it.Quantity > actors.MaxQuantity {
				t.Fatalf("accepted item %+v", it)
			}
		}
		a := req.ShippingAddress
		if a == nil {
			t.Fatal("accepted no shipping address")
		}
		for name, v := range map[string]string{"name": a.Name, "line1": a.Line1, "city": a.City, "state": a.State, "country": a.Country} {
			authRequireText(t, name, v, maxAddressField)
		}
		if !utf8.ValidString(a.Phone) || utf8.RuneCountInString(req.Phone) > maxPhoneLength {
			t.Fatalf("accepted phone %q", req.Phone)
		}
	})
}
