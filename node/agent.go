package node

import (
	"context"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/agent"
	"github.com/vayvahq/vayva/cluster"
	"github.com/vayvahq/vayva/messages"
)

// storeCatalog reads a store's storefront from its store actor, so the
// agent answers with the prices and availability checkout will use.
type storeCatalog struct {
	member *cluster.Member
}

var _ agent.Catalog = storeCatalog{}

// maxAgentPages bounds the product pages read for one answer (200 each).
const maxAgentPages = 5

// Storefront asks the store actor for its profile and active products.
func (c storeCatalog) Storefront(ctx context.Context, storeID string) (agent.Storefront, error) {
	p, err := cluster.Request[*messages.StoreProfile](ctx, c.member, actors.StoreKind, storeID, &messages.GetStore{})
	if err != nil {
		return agent.Storefront{}, err
	}
	shop := agent.Storefront{StoreID: storeID, Slug: p.GetSlug(), Name: p.GetName(), Currency: p.GetCurrency()}
	cursor := ""
	for range maxAgentPages {
		page, err := cluster.Request[*messages.ProductPage](ctx, c.member, actors.StoreKind, storeID,
			&messages.ListProducts{Storefront: true, Limit: vayva.MaxPageLimit, Cursor: cursor})
		if err != nil {
			return agent.Storefront{}, err
		}
		for _, pr := range page.GetProducts() {
			ap := agent.Product{ID: pr.GetId(), Title: pr.GetTitle(), Description: pr.GetDescription()}
			for _, v := range pr.GetVariants() {
				ap.Variants = append(ap.Variants, agent.Variant{ID: v.GetId(), SKU: v.GetSku(), Title: v.GetTitle(),
					Price: v.GetPrice(), Available: v.GetAvailable()})
			}
			shop.Products = append(shop.Products, ap)
		}
		if cursor = page.GetNextCursor(); cursor == "" {
			break
		}
	}
	return shop, nil
}
