package http

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/valyala/fasthttp"
	"google.golang.org/protobuf/proto"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/cluster"
	"github.com/vayvahq/vayva/messages"
)

// StoreDirectory resolves a storefront's slug to its store id.
// Implemented by *postgres.StoreDirectory.
type StoreDirectory interface {
	StoreIDBySlug(ctx context.Context, slug string) (string, error)
}

// CatalogArea serves everything the store actor owns: the store profile
// (/v1/store), the merchant catalog (/v1/products, /v1/inventory,
// /v1/collections) and the public storefront (/v1/storefront/{slug}).
// Merchant routes address the store of the caller's tenant, so another
// store's ids are simply not found; storefront routes find the store by
// slug. Every read and write is a command to the store actor.
type CatalogArea struct {
	member      *cluster.Member
	stores      StoreDirectory
	storefronts *Storefronts
}

// NewCatalogArea returns the area, calling store actors through member,
// resolving storefront slugs through stores and serving storefront reads
// from storefronts (nil: a cache of its own with the defaults, which
// trusts the store actors' answers).
func NewCatalogArea(member *cluster.Member, stores StoreDirectory, storefronts *Storefronts) *CatalogArea {
	if storefronts == nil {
		storefronts = NewStorefronts(StorefrontsConfig{})
	}
	return &CatalogArea{member: member, stores: stores, storefronts: storefronts}
}

// Register adds the area's routes.
func (a *CatalogArea) Register(r *Routes) {
	r.Handle("GET", "/v1/store", Merchant, a.getStore)
	r.Handle("PATCH", "/v1/store", Merchant, a.updateStore)

	r.Handle("POST", "/v1/products", Merchant, a.createProduct)
	r.Handle("GET", "/v1/products", Merchant, a.listProducts)
	r.Handle("GET", "/v1/products/{id}", Merchant, a.getProduct)
	r.Handle("PATCH", "/v1/products/{id}", Merchant, a.updateProduct)
	r.Handle("DELETE", "/v1/products/{id}", Merchant, a.archiveProduct)
	r.Handle("POST", "/v1/inventory/adjustments", Merchant, a.adjustInventory)
	r.Handle("POST", "/v1/collections", Merchant, a.createCollection)
	r.Handle("GET", "/v1/collections", Merchant, a.listCollections)

	r.Handle("GET", "/v1/storefront/{slug}", Public, a.storefront)
	r.Handle("GET", "/v1/storefront/{slug}/products", Public, a.storefrontProducts)
	r.Handle("GET", "/v1/storefront/{slug}/products/{id}", Public, a.storefrontProduct)
	r.Handle("GET", "/checkout/{slug}", Public, a.checkoutPageView)
}

// storeCall sends msg to the store actor storeID and returns its reply.
func storeCall[T proto.Message](ctx context.Context, a *CatalogArea, storeID string, msg proto.Message) (T, error) {
	if a.member == nil {
		var zero T
		return zero, vayva.Errorf(vayva.EUNAVAILABLE, "This node runs no cluster member.")
	}
	return cluster.Request[T](ctx, a.member, actors.StoreKind, storeID, msg)
}

// commandID derives the store command's idempotency id from the request.
// With an Idempotency-Key the same request (operation, path and body) of
// the same principal (idempotencyScope) always maps to the same command, so
// a retry after an unknown outcome is applied once; without one each
// request is a new command.
func commandID(rc *fasthttp.RequestCtx, op string) string {
	key := rc.Request.Header.Peek("Idempotency-Key")
	if len(key) == 0 {
		return vayva.NewID("cmd")
	}
	h := sha256.New()
	h.Write([]byte(idempotencyScope(rc)))
	h.Write([]byte{0})
	h.Write(rc.Path())
	h.Write([]byte{0})
	h.Write(rc.PostBody())
	h.Write([]byte{0})
	h.Write(key)
	return op + ":" + hex.EncodeToString(h.Sum(nil)[:16])
}

// Request bodies. Pointers tell an absent field from a zero one.

type createProductRequest struct {
	Title       *string           `json:"title"`
	Description *string           `json:"description"`
	Status      *string           `json:"status"`
	Variants    []json.RawMessage `json:"variants"`
}

type newVariantRequest struct {
	SKU               *string `json:"sku"`
	Title             *string `json:"title"`
	Price             *int64  `json:"price"`
	InventoryQuantity *int64  `json:"inventory_quantity"`
}

type updateProductRequest struct {
	Title       *string           `json:"title"`
	Description *string           `json:"description"`
	Status      *string           `json:"status"`
	Variants    []json.RawMessage `json:"variants"`
}

type variantPatchRequest struct {
	ID    *string `json:"id"`
	Price *int64  `json:"price"`
	Title *string `json:"title"`
}

type adjustmentRequest struct {
	VariantID *string `json:"variant_id"`
	Delta     *int64  `json:"delta"`
	Reason    *string `json:"reason"`
}

type collectionRequest struct {
	Title      *string  `json:"title"`
	ProductIDs []string `json:"product_ids"`
}

// decodeElements decodes each element of a JSON list on its own, so that a
// mistyped or unknown field is named with its index ("variants[1].price").
// Problems are added to v; the result has one element per list element. A
// list longer than max is one problem, and none of its elements is decoded.
func decodeElements[T any](v *vayva.Validation, list string, raws []json.RawMessage, max int) []*T {
	if len(raws) > max {
		v.Add(list, "must have at most %d %s", max, list)
		return nil
	}
	out := make([]*T, len(raws))
	for i, raw := range raws {
		out[i] = new(T)
		if string(raw) == "null" {
			continue
		}
		err := decodeJSONBytes(raw, out[i])
		if err == nil {
			continue
		}
		prefix := fmt.Sprintf("%s[%d]", list, i)
		var e *vayva.Error
		if errors.As(err, &e) && e.Code == vayva.EINVALID {
			for _, f := range e.Fields {
				v.Add(prefix+"."+f.Field, "%s", f.Message)
			}
			continue
		}
		v.Add(prefix, "must be an object")
	}
	return out
}

func decodeCreateProduct(body []byte) (*messages.CreateProduct, error) {
	var req createProductRequest
	if err := decodeJSONBytes(body, &req); err != nil {
		return nil, err
	}
	var v vayva.Validation
	variants := decodeElements[newVariantRequest](&v, "variants", req.Variants, actors.MaxVariants)
	if err := v.Err(); err != nil {
		return nil, err
	}
	m := &messages.CreateProduct{Title: req.Title, Description: req.Description, Status: req.Status}
	for _, nv := range variants {
		m.Variants = append(m.Variants, &messages.NewVariant{
			Sku: nv.SKU, Title: nv.Title, Price: nv.Price, InventoryQuantity: nv.InventoryQuantity,
		})
	}
	return m, nil
}

func decodeUpdateProduct(body []byte) (*messages.UpdateProduct, error) {
	var req updateProductRequest
	if err := decodeJSONBytes(body, &req); err != nil {
		return nil, err
	}
	var v vayva.Validation
	patches := decodeElements[variantPatchRequest](&v, "variants", req.Variants, actors.MaxVariants)
	if err := v.Err(); err != nil {
		return nil, err
	}
	m := &messages.UpdateProduct{Title: req.Title, Description: req.Description, Status: req.Status}
	for _, p := range patches {
		vp := &messages.VariantPatch{Price: p.Price, Title: p.Title}
		if p.ID != nil {
			vp.Id = *p.ID
		}
		m.Variants = append(m.Variants, vp)
	}
	return m, nil
}

func decodeAdjustment(body []byte) (*messages.AdjustInventory, error) {
	var req adjustmentRequest
	if err := decodeJSONBytes(body, &req); err != nil {
		return nil, err
	}
	var v vayva.Validation
	v.Check(req.VariantID != nil, "variant_id", "is required")
	v.Check(req.Delta != nil, "delta", "is required")
	v.Check(req.Reason != nil, "reason", "is required")
	if err := v.Err(); err != nil {
		return nil, err
	}
	return &messages.AdjustInventory{VariantId: *req.VariantID, Delta: *req.Delta, Reason: *req.Reason}, nil
}

func decodeCollection(body []byte) (*messages.CreateCollection, error) {
	var req collectionRequest
	if err := decodeJSONBytes(body, &req); err != nil {
		return nil, err
	}
	return &messages.CreateCollection{Title: req.Title, ProductIds: req.ProductIDs}, nil
}

// Responses.

type variantJSON struct {
	ID        string `json:"id"`
	SKU       string `json:"sku"`
	Title     string `json:"title"`
	Price     int64  `json:"price"`
	Currency  string `json:"currency"`
	Available int64  `json:"available"`
	// Merchant views only.
	InventoryQuantity *int64 `json:"inventory_quantity,omitempty"`
	Reserved          *int64 `json:"reserved,omitempty"`
}

type productJSON struct {
	ID          string        `json:"id"`
	Title       string        `json:"title"`
	Description string        `json:"description"`
	Status      string        `json:"status,omitempty"`
	Variants    []variantJSON `json:"variants"`
	CreatedAt   string        `json:"created_at"`
	UpdatedAt   string        `json:"updated_at"`
}

// productView renders p. The merchant view adds the status and the stock
// behind available; the storefront shows what a customer may see.
func productView(p *messages.Product, merchant bool) productJSON {
	out := productJSON{
		ID:          p.GetId(),
		Title:       p.GetTitle(),
		Description: p.GetDescription(),
		Variants:    make([]variantJSON, len(p.GetVariants())),
		CreatedAt:   rfc3339(p.GetCreatedAtUnixMs()),
		UpdatedAt:   rfc3339(p.GetUpdatedAtUnixMs()),
	}
	if merchant {
		out.Status = p.GetStatus()
	}
	for i, v := range p.GetVariants() {
		vj := variantJSON{ID: v.GetId(), SKU: v.GetSku(), Title: v.GetTitle(), Price: v.GetPrice(),
			Currency: v.GetCurrency(), Available: v.GetAvailable()}
		if merchant {
			onHand, reserved := v.GetOnHand(), v.GetReserved()
			vj.InventoryQuantity, vj.Reserved = &onHand, &reserved
		}
		out.Variants[i] = vj
	}
	return out
}

func productList(page *messages.ProductPage, merchant bool) listJSON[productJSON] {
	data := make([]productJSON, len(page.GetProducts()))
	for i, p := range page.GetProducts() {
		data[i] = productView(p, merchant)
	}
	return newList(data, page.GetNextCursor())
}

type collectionJSON struct {
	ID         string   `json:"id"`
	Title      string   `json:"title"`
	ProductIDs []string `json:"product_ids"`
	CreatedAt  string   `json:"created_at"`
}

func collectionView(c *messages.Collection) collectionJSON {
	ids := c.GetProductIds()
	if ids == nil {
		ids = []string{}
	}
	return collectionJSON{ID: c.GetId(), Title: c.GetTitle(), ProductIDs: ids, CreatedAt: rfc3339(c.GetCreatedAtUnixMs())}
}

// pageQuery reads ?limit= and ?cursor= for a store actor's list command.
func pageQuery(rc *fasthttp.RequestCtx) (int32, string, error) {
	limit, cursor, err := pageParams(rc)
	return int32(limit), cursor, err
}

func (a *CatalogArea) createProduct(ctx context.Context, rc *fasthttp.RequestCtx) error {
	m, err := decodeCreateProduct(rc.PostBody())
	if err != nil {
		return err
	}
	m.CommandId = commandID(rc, "products.create")
	p, err := storeCall[*messages.Product](ctx, a, tenantOf(ctx).StoreID, m)
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusCreated, productView(p, true))
}

func (a *CatalogArea) listProducts(ctx context.Context, rc *fasthttp.RequestCtx) error {
	limit, cursor, err := pageQuery(rc)
	if err != nil {
		return err
	}
	page, err := storeCall[*messages.ProductPage](ctx, a, tenantOf(ctx).StoreID, &messages.ListProducts{
		Limit: limit, Cursor: cursor, Status: string(rc.QueryArgs().Peek("status")),
	})
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusOK, productList(page, true))
}

func (a *CatalogArea) getProduct(ctx context.Context, rc *fasthttp.RequestCtx) error {
	id, _ := rc.UserValue("id").(string)
	p, err := storeCall[*messages.Product](ctx, a, tenantOf(ctx).StoreID, &messages.GetProduct{ProductId: id})
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusOK, productView(p, true))
}

func (a *CatalogArea) updateProduct(ctx context.Context, rc *fasthttp.RequestCtx) error {
	m, err := decodeUpdateProduct(rc.PostBody())
	if err != nil {
		return err
	}
	m.ProductId, _ = rc.UserValue("id").(string)
	m.CommandId = commandID(rc, "products.update")
	p, err := storeCall[*messages.Product](ctx, a, tenantOf(ctx).StoreID, m)
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusOK, productView(p, true))
}

func (a *CatalogArea) archiveProduct(ctx context.Context, rc *fasthttp.RequestCtx) error {
	id, _ := rc.UserValue("id").(string)
	_, err := storeCall[*messages.Product](ctx, a, tenantOf(ctx).StoreID, &messages.ArchiveProduct{
		CommandId: commandID(rc, "products.archive"), ProductId: id,
	})
	if err != nil {
		return err
	}
	rc.Response.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

func (a *CatalogArea) adjustInventory(ctx context.Context, rc *fasthttp.RequestCtx) error {
	m, err := decodeAdjustment(rc.PostBody())
	if err != nil {
		return err
	}
	m.CommandId = commandID(rc, "inventory.adjust")
	l, err := storeCall[*messages.InventoryLevel](ctx, a, tenantOf(ctx).StoreID, m)
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusOK, map[string]any{
		"variant_id": l.GetVariantId(), "available": l.GetAvailable(), "reserved": l.GetReserved(), "on_hand": l.GetOnHand(),
	})
}

func (a *CatalogArea) createCollection(ctx context.Context, rc *fasthttp.RequestCtx) error {
	m, err := decodeCollection(rc.PostBody())
	if err != nil {
		return err
	}
	m.CommandId = commandID(rc, "collections.create")
	c, err := storeCall[*messages.Collection](ctx, a, tenantOf(ctx).StoreID, m)
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusCreated, collectionView(c))
}

func (a *CatalogArea) listCollections(ctx context.Context, rc *fasthttp.RequestCtx) error {
	limit, cursor, err := pageQuery(rc)
	if err != nil {
		return err
	}
	page, err := storeCall[*messages.CollectionPage](ctx, a, tenantOf(ctx).StoreID, &messages.ListCollections{Limit: limit, Cursor: cursor})
	if err != nil {
		return err
	}
	data := make([]collectionJSON, len(page.GetCollections()))
	for i, c := range page.GetCollections() {
		data[i] = collectionView(c)
	}
	return writeJSON(rc, fasthttp.StatusOK, newList(data, page.GetNextCursor()))
}
