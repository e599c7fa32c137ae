package http

import (
	"bytes"
	"context"
	_ "embed"
	"html/template"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/agent"
	"github.com/vayvahq/vayva/messages"
)

//go:embed checkout.html
var checkoutHTML string

var checkoutPage = template.Must(template.New("checkout").Parse(checkoutHTML))

// maxCheckoutLinkItems bounds the lines of a prefilled checkout link.
const maxCheckoutLinkItems = 20

type checkoutLine struct {
	VariantID string
	Name      string
	Quantity  int64
	Price     string
	Total     string
}

// checkoutPageView serves GET /checkout/{slug}?items=var_x:1,var_y:2: the
// page the WhatsApp agent links to. It shows the items with their live
// prices and a form that posts them to the storefront checkout
// (POST /v1/storefront/{slug}/checkout) and goes on to the payment page.
// Unknown, sold-out or malformed items are refused with 404 or 422.
func (a *CatalogArea) checkoutPageView(ctx context.Context, rc *fasthttp.RequestCtx) error {
	slug, _ := rc.UserValue("slug").(string)
	items, err := parseCheckoutItems(string(rc.QueryArgs().Peek("items")))
	if err != nil {
		return err
	}
	storeID, err := a.stores.StoreIDBySlug(ctx, slug)
	if err != nil {
		return err
	}
	store, err := storeCall[*messages.StoreProfile](ctx, a, storeID, &messages.GetStore{})
	if err != nil {
		return err
	}
	want := map[string]int64{}
	for _, it := range items {
		want[it.VariantID] += it.Quantity
	}
	found := map[string]checkoutLine{}
	var sum int64
	cursor := ""
	for page := 0; page < 10 && len(found) < len(want); page++ {
		pp, err := storeCall[*messages.ProductPage](ctx, a, storeID, &messages.ListProducts{Storefront: true, Limit: 200, Cursor: cursor})
		if err != nil {
			return err
		}
		for _, p := range pp.GetProducts() {
			for _, v := range p.GetVariants() {
				q, ok := want[v.GetId()]
				if !ok {
					continue
				}
				if v.GetAvailable() < q {
					return &vayva.Error{Code: vayva.EINSUFFICIENTSTOCK, Message: "Not enough stock for one of the items.",
						Fields: []vayva.FieldError{{Field: "items", Message: v.GetId() + " has " + strconv.FormatInt(v.GetAvailable(), 10) + " available"}}}
				}
				name := p.GetTitle()
				if t := v.GetTitle(); t != "" && t != "Default" {
					name += " (" + t + ")"
				}
				found[v.GetId()] = checkoutLine{VariantID: v.GetId(), Name: name, Quantity: q,
					Price: agent.FormatMoney(v.GetPrice(), store.GetCurrency()), Total: agent.FormatMoney(v.GetPrice()*q, store.GetCurrency())}
				sum += v.GetPrice() * q
			}
		}
		if cursor = pp.GetNextCursor(); cursor == "" {
			break
		}
	}
	var lines []checkoutLine
	for _, it := range items {
		l, ok := found[it.VariantID]
		if !ok {
			return vayva.Errorf(vayva.ENOTFOUND, "Item %s is not for sale in this store.", it.VariantID)
		}
		if _, dup := want[it.VariantID]; dup {
			lines = append(lines, l)
			delete(want, it.VariantID)
		}
	}
	var body bytes.Buffer
	if err := checkoutPage.Execute(&body, map[string]any{
		"Store": store.GetName(), "Slug": slug, "Lines": lines, "Total": agent.FormatMoney(sum, store.GetCurrency()),
	}); err != nil {
		return err
	}
	rc.Response.SetStatusCode(fasthttp.StatusOK)
	rc.Response.Header.SetContentType("text/html; charset=utf-8")
	rc.Response.Header.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'self'")
	rc.Response.Header.Set("Cache-Control", "no-store")
	rc.Response.SetBodyRaw(body.Bytes())
	return nil
}

// parseCheckoutItems reads "var_x:1,var_y:2".
func parseCheckoutItems(raw string) ([]agent.CheckoutItem, error) {
	bad := func(msg string) error {
		return &vayva.Error{Code: vayva.EINVALID, Message: "The request has invalid fields.",
			Fields: []vayva.FieldError{{Field: "items", Message: msg}}}
	}
	if raw == "" {
		return nil, bad("is required: variant_id:quantity pairs separated by commas")
	}
	parts := strings.Split(raw, ",")
	if len(parts) > maxCheckoutLinkItems {
		return nil, bad("must have at most 20 items")
	}
	out := make([]agent.CheckoutItem, 0, len(parts))
	for _, p := range parts {
		id, q, ok := strings.Cut(p, ":")
		n, err := strconv.ParseInt(q, 10, 64)
		if !ok || !vayva.HasIDPrefix(id, "var") || err != nil || n < 1 || n > 1000 {
			return nil, bad("each item must be variant_id:quantity with a quantity from 1 to 1000")
		}
		out = append(out, agent.CheckoutItem{VariantID: id, Quantity: n})
	}
	return out, nil
}
