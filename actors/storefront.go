package actors

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/messages"
)

// Storefront is an immutable snapshot of a store's public storefront (its
// name, currency, whether it is open, and its active products with their
// availability) at one committed state of the store, named by the store's
// fence: Epoch and Version of runtime.actors. The store actor builds a new
// one after every commit that changes what the storefront shows and
// publishes it on its member; members that do not host the store fetch one
// with GetStorefront. Nothing in a Storefront changes once it is built, so
// any number of readers use it without locks; what a reader derives from
// it (the edge's encoded answers) is memoised with it.
type Storefront struct {
	StoreID  string
	Epoch    int64
	Version  int64
	Slug     string
	Name     string
	Currency string
	// Open is false for a closed store, whose storefront is not found.
	Open bool

	// products are the active products in ascending Seq; index finds one
	// by id. Snapshots share index while their list of products is the
	// same, and share the entries of products that did not change.
	products []*StorefrontProduct
	index    map[string]int

	store memo
	pages sync.Map // first-page views by limit
	proto atomic.Pointer[messages.StorefrontSnapshot]
}

// StorefrontProduct is one active product of a snapshot. Snapshots share
// the entry until the product or its stock changes.
type StorefrontProduct struct {
	Seq     int64
	Product *messages.Product
	view    memo
}

// memo holds a value derived once from immutable data.
type memo struct{ v atomic.Pointer[any] }

func (m *memo) get(build func() any) any {
	if p := m.v.Load(); p != nil {
		return *p
	}
	v := build()
	m.v.CompareAndSwap(nil, &v)
	return *m.v.Load()
}

// View returns what build derives from the product, built once per entry.
func (p *StorefrontProduct) View(build func(*messages.Product) any) any {
	return p.view.get(func() any { return build(p.Product) })
}

// StoreView returns what build derives from the store's profile, built
// once per snapshot.
func (sf *Storefront) StoreView(build func(*Storefront) any) any {
	return sf.store.get(func() any { return build(sf) })
}

// FirstPageView returns what build derives from the snapshot's first page
// of limit products, built once per snapshot and limit.
func (sf *Storefront) FirstPageView(limit int, build func(sf *Storefront, limit int) any) any {
	m, ok := sf.pages.Load(limit)
	if !ok {
		m, _ = sf.pages.LoadOrStore(limit, &memo{})
	}
	if v := m.(*memo).v.Load(); v != nil {
		return *v
	}
	return m.(*memo).get(func() any { return build(sf, limit) })
}

// After reports whether sf is of a newer state of the store than the fence
// epoch/version.
func (sf *Storefront) After(epoch, version int64) bool {
	return sf.Epoch > epoch || (sf.Epoch == epoch && sf.Version > version)
}

// Product returns the active product with id.
func (sf *Storefront) Product(id string) (*StorefrontProduct, bool) {
	i, ok := sf.index[id]
	if !ok {
		return nil, false
	}
	return sf.products[i], true
}

// Len is the number of active products.
func (sf *Storefront) Len() int { return len(sf.products) }

// Page returns a page of the storefront's product list, newest first, as
// ListProducts{Storefront: true} answers it: limit 0 is the default, a
// cursor is the previous page's next cursor, and next is "" on the last
// page. Invalid limits and cursors are the same refusals.
func (sf *Storefront) Page(limit int32, cursor string) (page []*StorefrontProduct, next string, err error) {
	var v vayva.Validation
	n := pageLimit(&v, limit)
	after := decodeCursor(&v, "prod", cursor)
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	i := len(sf.products) - 1
	if after > 0 {
		i = sort.Search(len(sf.products), func(i int) bool { return sf.products[i].Seq >= after }) - 1
	}
	page = make([]*StorefrontProduct, 0, min(n, i+1))
	for ; i >= 0 && len(page) < n; i-- {
		page = append(page, sf.products[i])
	}
	if i >= 0 {
		last := page[len(page)-1]
		next = encodeCursor(last.Seq, last.Product.GetId())
	}
	return page, next, nil
}

// Proto is the snapshot as the GetStorefront reply.
func (sf *Storefront) Proto() *messages.StorefrontSnapshot {
	if m := sf.proto.Load(); m != nil {
		return m
	}
	m := &messages.StorefrontSnapshot{
		StoreId: sf.StoreID, Epoch: sf.Epoch, Version: sf.Version,
		Slug: sf.Slug, Name: sf.Name, Currency: sf.Currency, Open: sf.Open,
		Products: make([]*messages.StorefrontEntry, len(sf.products)),
	}
	for i, p := range sf.products {
		m.Products[i] = &messages.StorefrontEntry{Seq: p.Seq, Product: p.Product}
	}
	sf.proto.CompareAndSwap(nil, m)
	return sf.proto.Load()
}

// StorefrontFromProto makes a snapshot of a GetStorefront reply. The reply
// must not be changed afterwards.
func StorefrontFromProto(m *messages.StorefrontSnapshot) *Storefront {
	sf := &Storefront{
		StoreID: m.GetStoreId(), Epoch: m.GetEpoch(), Version: m.GetVersion(),
		Slug: m.GetSlug(), Name: m.GetName(), Currency: m.GetCurrency(), Open: m.GetOpen(),
		products: make([]*StorefrontProduct, 0, len(m.GetProducts())),
		index:    make(map[string]int, len(m.GetProducts())),
	}
	for _, e := range m.GetProducts() {
		if e.GetProduct() == nil {
			continue
		}
		sf.index[e.GetProduct().GetId()] = len(sf.products)
		sf.products = append(sf.products, &StorefrontProduct{Seq: e.GetSeq(), Product: e.GetProduct()})
	}
	sort.SliceStable(sf.products, func(i, j int) bool { return sf.products[i].Seq < sf.products[j].Seq })
	for i, p := range sf.products {
		sf.index[p.Product.GetId()] = i
	}
	sf.proto.Store(m)
	return sf
}

// StorefrontPublisher receives the storefront snapshots of the store
// actors running on this member. verifiedAt is an instant at which the
// snapshot's state was the store's newest committed one (taken before the
// commit or the load it reflects), so a reader knows how old it may be.
// It is called on the actor's turn, after the commit and before the
// command's reply goes out: it must not block.
type StorefrontPublisher interface {
	PublishStorefront(sf *Storefront, verifiedAt time.Time)
}

// storefrontChanges is what changed since the store's last snapshot.
type storefrontChanges struct {
	// any is set by every change of the catalog, its stock or the profile.
	any bool
	// products are the ids of products whose entry must be rebuilt.
	products map[string]bool
	// list is set when the list of active products changed.
	list bool
}

// touch records that product id changed; list that the set of active
// products did.
func (c *storefrontChanges) touch(id string, list bool) {
	if c.products == nil {
		c.products = map[string]bool{}
	}
	c.products[id] = true
	c.any = true
	c.list = c.list || list
}

// buildStorefront makes the snapshot of st at the activation's fence,
// reusing prev's entries of products that did not change.
func buildStorefront(storeID string, act *Activation, st *storeState, prev *Storefront) *Storefront {
	p := st.profile
	sf := &Storefront{
		StoreID: storeID, Epoch: act.Epoch, Version: act.Version,
		Slug: p.Slug, Name: p.Name, Currency: p.Currency, Open: st.open(),
	}
	ch := st.sf
	reuse := func(id string) *StorefrontProduct {
		if prev == nil || ch.products[id] || prev.Currency != sf.Currency {
			return nil
		}
		if i, ok := prev.index[id]; ok {
			return prev.products[i]
		}
		return nil
	}
	entry := func(pr *Product) *StorefrontProduct {
		if e := reuse(pr.ID); e != nil {
			return e
		}
		return &StorefrontProduct{Seq: pr.Seq, Product: st.productProto(pr)}
	}
	if prev != nil && !ch.list {
		// The same products in the same order: copy the list, replace the
		// entries that changed, share the index.
		sf.products, sf.index = append([]*StorefrontProduct(nil), prev.products...), prev.index
		for i, e := range sf.products {
			if pr := st.products[e.Product.GetId()]; pr != nil {
				if ch.products[pr.ID] || prev.Currency != sf.Currency {
					sf.products[i] = entry(pr)
				}
			}
		}
		return sf
	}
	sf.index = map[string]int{}
	for _, pr := range st.productOrder {
		if pr.Status != ProductActive {
			continue
		}
		sf.index[pr.ID] = len(sf.products)
		sf.products = append(sf.products, entry(pr))
	}
	return sf
}

// publishStorefront builds the storefront snapshot after a change (or the
// load) and hands it to the member's publisher. verifiedAt is when the
// turn that committed or loaded it began.
func (s *Store) publishStorefront(verifiedAt time.Time) {
	act := s.Activation()
	if act == nil || s.state == nil {
		return
	}
	s.storefront = buildStorefront(s.id, act, s.state, s.storefront)
	s.state.sf = storefrontChanges{}
	if s.publisher != nil {
		s.publisher.PublishStorefront(s.storefront, verifiedAt)
	}
}

// AfterApply publishes a new snapshot when the command just installed
// changed what the storefront shows; it runs before the command's reply,
// so a member that hosts the store serves its own writes at once.
func (s *Store) AfterApply() {
	if s.state != nil && s.state.sf.any {
		s.publishStorefront(s.turn)
	}
}

// getStorefront answers the snapshot. An activation behind the fence the
// asking member read from runtime.actors has been superseded: it stops,
// and the retryable answer makes the request reach the current one.
func (s *Store) getStorefront(ctx actor.Context, m *messages.GetStorefront) {
	act := s.Activation()
	if act.Epoch < m.GetMinEpoch() || (act.Epoch == m.GetMinEpoch() && act.Version < m.GetMinVersion()) {
		s.Log().Warn().Int64("fence_epoch", m.GetMinEpoch()).Int64("fence_version", m.GetMinVersion()).
			Msg("storefront asked of a superseded activation; stopping")
		s.stop(ctx, vayva.ErrStaleEpoch)
		ctx.Respond(ErrorReply(vayva.ErrStaleEpoch))
		return
	}
	if s.storefront == nil {
		s.publishStorefront(s.turn)
	}
	ctx.Respond(s.storefront.Proto())
}
