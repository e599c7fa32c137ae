package http

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/cespare/xxhash/v2"
	"github.com/valyala/fasthttp"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/messages"
)

// The storefront is served from the store's storefront snapshot on this
// member (Storefronts): the slug is resolved to the store id through a
// cached read model of merchant.stores, and the snapshot, published by the
// store actor after each commit or fetched from it when the store's fence
// moved, answers with bytes encoded once per snapshot. Requests never query
// the catalog tables, and checkout and every write still go to the actor.
//
// Every 200 carries a strong ETag (a hash of the exact body bytes, the
// same on every member for the same bytes) and Cache-Control; a request
// whose If-None-Match matches the current ETag (weak comparison, as RFC
// 9110 prescribes for If-None-Match; "*" matches any) is answered 304 with
// no body.

// rendered is an encoded storefront answer and its entity tag.
type rendered struct {
	body []byte
	tag  string
	// tagBytes is tag, for fasthttp's header calls.
	tagBytes []byte
	err      error
}

func render(v any) rendered {
	body, err := json.Marshal(v)
	if err != nil {
		return rendered{err: fmt.Errorf("http: encode response: %w", err)}
	}
	return tagged(body)
}

func tagged(body []byte) rendered {
	tag := fmt.Sprintf(`"%016x"`, xxhash.Sum64(body))
	return rendered{body: body, tag: tag, tagBytes: []byte(tag)}
}

func productRendered(p *actors.StorefrontProduct) rendered {
	return p.View(func(p *messages.Product) any { return render(productView(p, false)) }).(rendered)
}

// pageRendered encodes a page exactly as json.Marshal encodes
// productList's answer, from the products' encodings.
func pageRendered(page []*actors.StorefrontProduct, next string) rendered {
	parts := make([]rendered, len(page))
	size := 32 + len(next)
	for i, p := range page {
		if parts[i] = productRendered(p); parts[i].err != nil {
			return parts[i]
		}
		size += len(parts[i].body) + 1
	}
	body := make([]byte, 0, size)
	body = append(body, `{"data":[`...)
	for i, p := range parts {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, p.body...)
	}
	body = append(body, `],"next_cursor":`...)
	if next == "" {
		body = append(body, "null"...)
	} else {
		cursor, err := json.Marshal(next)
		if err != nil {
			return rendered{err: err}
		}
		body = append(body, cursor...)
	}
	return tagged(append(body, '}'))
}

var (
	etagHeader         = []byte("ETag")
	cacheControlHeader = []byte("Cache-Control")
)

func firstPageRendered(sf *actors.Storefront, limit int) any {
	page, next, err := sf.Page(int32(limit), "")
	if err != nil {
		return rendered{err: err}
	}
	return pageRendered(page, next)
}

// writeRendered answers r with its ETag and Cache-Control, or 304 when the
// request's If-None-Match matches it.
func (a *CatalogArea) writeRendered(rc *fasthttp.RequestCtx, r rendered) error {
	if r.err != nil {
		return r.err
	}
	// Canonical names, so fasthttp need not normalise them per request.
	rc.Response.Header.SetCanonical(etagHeader, r.tagBytes)
	rc.Response.Header.SetCanonical(cacheControlHeader, a.storefronts.cacheControlBytes)
	if inm := rc.Request.Header.Peek("If-None-Match"); len(inm) > 0 && noneMatch(inm, r.tag) {
		rc.Response.SetStatusCode(fasthttp.StatusNotModified)
		rc.Response.SkipBody = true
		return nil
	}
	rc.Response.Header.SetContentType("application/json")
	rc.Response.SetBodyRaw(r.body)
	return nil
}

// noneMatch reports whether an If-None-Match value (a list of entity tags,
// or "*") matches tag under the weak comparison: opaque tags compared with
// any W/ prefix ignored. Malformed members of the list match nothing.
func noneMatch(header []byte, tag string) bool {
	for i := 0; i < len(header); {
		switch header[i] {
		case ' ', '\t', ',':
			i++
			continue
		case '*':
			return true
		}
		if header[i] == 'W' && i+1 < len(header) && header[i+1] == '/' {
			i += 2
		}
		if i >= len(header) || header[i] != '"' {
			// Not an entity tag: skip to the next member.
			for i < len(header) && header[i] != ',' {
				i++
			}
			continue
		}
		end := i + 1
		for end < len(header) && header[end] != '"' {
			end++
		}
		if end >= len(header) {
			return false
		}
		if string(header[i:end+1]) == tag {
			return true
		}
		i = end + 1
	}
	return false
}

func (a *CatalogArea) storefrontSnapshot(ctx context.Context, rc *fasthttp.RequestCtx) (*actors.Storefront, error) {
	if a.stores == nil {
		return nil, vayva.Errorf(vayva.EUNAVAILABLE, "The storefront is not available on this node.")
	}
	slug, _ := rc.UserValue("slug").(string)
	id, err := a.stores.StoreIDBySlug(ctx, slug)
	if err != nil {
		return nil, err
	}
	return a.storefronts.Get(ctx, id, a.fetchStorefront)
}

func (a *CatalogArea) fetchStorefront(ctx context.Context, storeID string, epoch, version int64) (*messages.StorefrontSnapshot, error) {
	return storeCall[*messages.StorefrontSnapshot](ctx, a, storeID, &messages.GetStorefront{MinEpoch: epoch, MinVersion: version})
}

func (a *CatalogArea) storefront(ctx context.Context, rc *fasthttp.RequestCtx) error {
	sf, err := a.storefrontSnapshot(ctx, rc)
	if err != nil {
		return err
	}
	if !sf.Open {
		return vayva.Errorf(vayva.ENOTFOUND, "No store %q.", sf.Slug)
	}
	return a.writeRendered(rc, sf.StoreView(func(sf *actors.Storefront) any {
		return render(map[string]string{"slug": sf.Slug, "name": sf.Name, "currency": sf.Currency})
	}).(rendered))
}

func (a *CatalogArea) storefrontProducts(ctx context.Context, rc *fasthttp.RequestCtx) error {
	limit, cursor, err := pageQuery(rc)
	if err != nil {
		return err
	}
	sf, err := a.storefrontSnapshot(ctx, rc)
	if err != nil {
		return err
	}
	var r rendered
	if cursor == "" {
		if !sf.Open {
			return vayva.Errorf(vayva.ENOTFOUND, "No store %q.", sf.Slug)
		}
		r = sf.FirstPageView(int(limit), firstPageRendered).(rendered)
	} else {
		page, next, err := sf.Page(limit, cursor)
		if err != nil {
			return err
		}
		if !sf.Open {
			return vayva.Errorf(vayva.ENOTFOUND, "No store %q.", sf.Slug)
		}
		r = pageRendered(page, next)
	}
	return a.writeRendered(rc, r)
}

func (a *CatalogArea) storefrontProduct(ctx context.Context, rc *fasthttp.RequestCtx) error {
	sf, err := a.storefrontSnapshot(ctx, rc)
	if err != nil {
		return err
	}
	productID, _ := rc.UserValue("id").(string)
	p, ok := sf.Product(productID)
	if !ok || !sf.Open {
		return vayva.Errorf(vayva.ENOTFOUND, "No product %q in this store.", productID)
	}
	return a.writeRendered(rc, productRendered(p))
}
