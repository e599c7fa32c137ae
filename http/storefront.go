package http

import (
	"context"

	"github.com/valyala/fasthttp"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/messages"
)

// The storefront is served from the store actor's memory: the slug is
// resolved to the store id through a cached read model of merchant.stores,
// then the store actor answers from the catalog it loaded on activation.
// Requests never query the catalog tables.

func (a *CatalogArea) storefrontStore(ctx context.Context, rc *fasthttp.RequestCtx) (string, error) {
	if a.stores == nil {
		return "", vayva.Errorf(vayva.EUNAVAILABLE, "The storefront is not available on this node.")
	}
	slug, _ := rc.UserValue("slug").(string)
	return a.stores.StoreIDBySlug(ctx, slug)
}

func (a *CatalogArea) storefront(ctx context.Context, rc *fasthttp.RequestCtx) error {
	id, err := a.storefrontStore(ctx, rc)
	if err != nil {
		return err
	}
	p, err := storeCall[*messages.StoreProfile](ctx, a, id, &messages.GetStore{})
	if err != nil {
		return err
	}
	if p.GetStatus() != actors.StoreOpen {
		return vayva.Errorf(vayva.ENOTFOUND, "No store %q.", p.GetSlug())
	}
	return writeJSON(rc, fasthttp.StatusOK, map[string]string{"slug": p.GetSlug(), "name": p.GetName(), "currency": p.GetCurrency()})
}

func (a *CatalogArea) storefrontProducts(ctx context.Context, rc *fasthttp.RequestCtx) error {
	limit, cursor, err := pageQuery(rc)
	if err != nil {
		return err
	}
	id, err := a.storefrontStore(ctx, rc)
	if err != nil {
		return err
	}
	page, err := storeCall[*messages.ProductPage](ctx, a, id, &messages.ListProducts{Storefront: true, Limit: limit, Cursor: cursor})
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusOK, productList(page, false))
}

func (a *CatalogArea) storefrontProduct(ctx context.Context, rc *fasthttp.RequestCtx) error {
	id, err := a.storefrontStore(ctx, rc)
	if err != nil {
		return err
	}
	productID, _ := rc.UserValue("id").(string)
	p, err := storeCall[*messages.Product](ctx, a, id, &messages.GetProduct{ProductId: productID, Storefront: true})
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusOK, productView(p, false))
}
