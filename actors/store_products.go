package actors

import (
	"fmt"
	"sort"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/messages"
)

// defaultVariantTitle names a variant created without a title.
const defaultVariantTitle = "Default"

func (s *Store) createProduct(ctx actor.Context, m *messages.CreateProduct) {
	p, err := planProduct(s.state, s.id, m, s.now())
	if err != nil {
		s.Refuse(ctx, m.GetCommandId(), &messages.Product{}, err)
		return
	}
	s.Apply(ctx, Commit{
		CommandID: m.GetCommandId(),
		Domain:    vayva.DomainCatalog,
		Changes:   []Change{ProductChange{Product: *p}},
	}, s.state.productProto(p), func() { s.state.putProduct(p) })
}

// planProduct validates a new product against the catalog in st and builds
// it, stamped with now.
func planProduct(st *storeState, storeID string, m *messages.CreateProduct, now time.Time) (*Product, error) {
	var v vayva.Validation
	p := &Product{
		ID:        vayva.NewID("prod"),
		StoreID:   storeID,
		Seq:       st.nextProductSeq(),
		Title:     validText(&v, "title", m.Title, MaxTitleLength),
		Status:    ProductActive,
		CreatedAt: now,
		UpdatedAt: now,
	}
	if m.Description != nil {
		p.Description = validDescription(&v, "description", m.GetDescription())
	}
	if m.Status != nil {
		p.Status = m.GetStatus()
		validStatus(&v, "status", p.Status)
	}
	variants := m.GetVariants()
	switch n := len(variants); {
	case n == 0:
		v.Add("variants", "must have at least one variant")
	case n > MaxVariants:
		// One error for the list, none per entry.
		v.Add("variants", "must have at most %d variants", MaxVariants)
		variants = nil
	}
	seen := map[string]int{}
	for i, nv := range variants {
		f := func(name string) string { return fmt.Sprintf("variants[%d].%s", i, name) }
		if nv == nil {
			v.Add(fmt.Sprintf("variants[%d]", i), "must be an object")
			continue
		}
		vr := &Variant{
			ID:        vayva.NewID("var"),
			ProductID: p.ID,
			Position:  i,
			SKU:       validSKU(&v, f("sku"), nv.Sku),
			Title:     defaultVariantTitle,
			Price:     validPrice(&v, f("price"), nv.Price),
			CreatedAt: now,
			UpdatedAt: now,
		}
		if nv.Title != nil {
			vr.Title = validText(&v, f("title"), nv.Title, MaxTitleLength)
		}
		if nv.InventoryQuantity != nil {
			vr.OnHand = nv.GetInventoryQuantity()
			switch {
			case vr.OnHand < 0:
				v.Add(f("inventory_quantity"), "must not be negative")
			case vr.OnHand > MaxQuantity:
				v.Add(f("inventory_quantity"), "must be at most %d", int64(MaxQuantity))
			}
		}
		if vr.SKU != "" {
			if j, dup := seen[vr.SKU]; dup {
				v.Add(f("sku"), "repeats the sku of variants[%d]", j)
			} else if _, taken := st.skus[vr.SKU]; taken {
				v.Add(f("sku"), "is already used by another variant of this store")
			}
			seen[vr.SKU] = i
		}
		p.Variants = append(p.Variants, vr)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

func (s *Store) updateProduct(ctx actor.Context, m *messages.UpdateProduct) {
	cur, ok := s.state.products[m.GetProductId()]
	if !ok {
		s.Refuse(ctx, m.GetCommandId(), &messages.Product{}, errNotFound("product", m.GetProductId()))
		return
	}
	p := cloneProduct(cur)
	var v vayva.Validation
	if m.Title != nil {
		p.Title = validText(&v, "title", m.Title, MaxTitleLength)
	}
	if m.Description != nil {
		p.Description = validDescription(&v, "description", m.GetDescription())
	}
	if m.Status != nil {
		p.Status = m.GetStatus()
		if p.Status != ProductActive && p.Status != ProductDraft && p.Status != ProductArchived {
			v.Add("status", "must be one of active, draft, archived")
		}
	}
	patches := m.GetVariants()
	if len(patches) > MaxVariants {
		// One error for the list, none per entry.
		v.Add("variants", "must have at most %d variants", MaxVariants)
		patches = nil
	}
	byID := make(map[string]*Variant, len(p.Variants))
	for _, vr := range p.Variants {
		byID[vr.ID] = vr
	}
	seen := map[string]int{}
	for i, vp := range patches {
		f := func(name string) string { return fmt.Sprintf("variants[%d].%s", i, name) }
		if vp == nil {
			v.Add(fmt.Sprintf("variants[%d]", i), "must be an object")
			continue
		}
		vr, ok := byID[vp.GetId()]
		switch {
		case vp.GetId() == "":
			v.Add(f("id"), "is required")
			continue
		case !ok:
			v.Add(f("id"), "is not a variant of this product")
			continue
		}
		if j, dup := seen[vp.GetId()]; dup {
			v.Add(f("id"), "repeats variants[%d]", j)
			continue
		}
		seen[vp.GetId()] = i
		if vp.Price != nil {
			vr.Price = validPrice(&v, f("price"), vp.Price)
		}
		if vp.Title != nil {
			vr.Title = validText(&v, f("title"), vp.Title, MaxTitleLength)
		}
	}
	if err := v.Err(); err != nil {
		s.Refuse(ctx, m.GetCommandId(), &messages.Product{}, err)
		return
	}
	s.saveProduct(ctx, m.GetCommandId(), cur, p)
}

func (s *Store) archiveProduct(ctx actor.Context, m *messages.ArchiveProduct) {
	cur, ok := s.state.products[m.GetProductId()]
	if !ok {
		s.Refuse(ctx, m.GetCommandId(), &messages.Product{}, errNotFound("product", m.GetProductId()))
		return
	}
	p := cloneProduct(cur)
	p.Status = ProductArchived
	s.saveProduct(ctx, m.GetCommandId(), cur, p)
}

// saveProduct commits p, the changed copy of cur; a change that changes
// nothing is answered without a commit.
func (s *Store) saveProduct(ctx actor.Context, commandID string, cur, p *Product) {
	if sameProduct(cur, p) {
		ctx.Respond(s.state.productProto(cur))
		return
	}
	now := s.now()
	p.UpdatedAt = now
	for i, vr := range p.Variants {
		if *vr != *cur.Variants[i] {
			vr.UpdatedAt = now
		}
	}
	s.Apply(ctx, Commit{
		CommandID: commandID,
		Domain:    vayva.DomainCatalog,
		Changes:   []Change{ProductChange{Product: *p}},
	}, s.state.productProto(p), func() { s.state.putProduct(p) })
}

func sameProduct(a, b *Product) bool {
	if a.Title != b.Title || a.Description != b.Description || a.Status != b.Status || len(a.Variants) != len(b.Variants) {
		return false
	}
	for i := range a.Variants {
		if *a.Variants[i] != *b.Variants[i] {
			return false
		}
	}
	return true
}

func (s *Store) getProduct(ctx actor.Context, m *messages.GetProduct) {
	p, ok := s.state.products[m.GetProductId()]
	if !ok || (m.GetStorefront() && (p.Status != ProductActive || !s.state.open())) {
		s.Fail(ctx, errNotFound("product", m.GetProductId()))
		return
	}
	ctx.Respond(s.state.productProto(p))
}

func (s *Store) listProducts(ctx actor.Context, m *messages.ListProducts) {
	var v vayva.Validation
	limit := pageLimit(&v, m.GetLimit())
	after := decodeCursor(&v, "prod", m.GetCursor())
	status := m.GetStatus()
	if m.GetStorefront() {
		status = ProductActive
	} else if status != "" && status != ProductActive && status != ProductDraft && status != ProductArchived {
		v.Add("status", "must be one of active, draft, archived")
	}
	if err := v.Err(); err != nil {
		s.Fail(ctx, err)
		return
	}
	if m.GetStorefront() && !s.state.open() {
		s.Fail(ctx, vayva.Errorf(vayva.ENOTFOUND, "No store %q.", s.state.profile.Slug))
		return
	}
	cacheable := m.GetStorefront() && after == 0
	if cacheable {
		if page, ok := s.state.storefront[limit]; ok {
			ctx.Respond(page)
			return
		}
	}
	order := s.state.productOrder
	// Newest first: start below the cursor's position.
	i := len(order) - 1
	if after > 0 {
		i = sort.Search(len(order), func(i int) bool { return order[i].Seq >= after }) - 1
	}
	page := &messages.ProductPage{Products: []*messages.Product{}}
	var last *Product
	for ; i >= 0; i-- {
		p := order[i]
		if (status == "" && p.Status == ProductArchived) || (status != "" && p.Status != status) {
			continue
		}
		if len(page.Products) == limit {
			page.NextCursor = encodeCursor(last.Seq, last.ID)
			break
		}
		page.Products = append(page.Products, s.state.productProto(p))
		last = p
	}
	if cacheable {
		if s.state.storefront == nil {
			s.state.storefront = map[int]*messages.ProductPage{}
		}
		s.state.storefront[limit] = page
	}
	ctx.Respond(page)
}

func (s *Store) adjustInventory(ctx actor.Context, m *messages.AdjustInventory) {
	var v vayva.Validation
	if m.GetVariantId() == "" {
		v.Add("variant_id", "is required")
	}
	delta := m.GetDelta()
	switch {
	case delta == 0:
		v.Add("delta", "must not be zero")
	case delta < -MaxQuantity || delta > MaxQuantity:
		v.Add("delta", "must be between -%d and %d", int64(MaxQuantity), int64(MaxQuantity))
	}
	reason := m.GetReason()
	reason = validText(&v, "reason", &reason, MaxReasonLength)
	var vr *Variant
	if m.GetVariantId() != "" {
		var ok bool
		if vr, ok = s.state.variants[m.GetVariantId()]; !ok {
			if err := v.Err(); err != nil {
				s.Refuse(ctx, m.GetCommandId(), &messages.InventoryLevel{}, err)
				return
			}
			s.Refuse(ctx, m.GetCommandId(), &messages.InventoryLevel{}, errNotFound("variant", m.GetVariantId()))
			return
		}
	}
	if err := v.Err(); err != nil {
		s.Refuse(ctx, m.GetCommandId(), &messages.InventoryLevel{}, err)
		return
	}
	onHand := vr.OnHand + delta
	switch {
	case onHand > MaxQuantity:
		s.Refuse(ctx, m.GetCommandId(), &messages.InventoryLevel{}, &vayva.Error{Code: vayva.EINVALID,
			Message: "The request has invalid fields.",
			Fields:  []vayva.FieldError{{Field: "delta", Message: fmt.Sprintf("would take stock on hand above %d", int64(MaxQuantity))}}})
		return
	case onHand < vr.Reserved:
		s.Refuse(ctx, m.GetCommandId(), &messages.InventoryLevel{}, &vayva.Error{Code: vayva.ECONFLICT,
			Message: fmt.Sprintf("Variant %s has %d on hand of which %d are reserved; stock cannot go below what is reserved.", vr.ID, vr.OnHand, vr.Reserved),
			Fields:  []vayva.FieldError{{Field: "delta", Message: fmt.Sprintf("must be at least %d", vr.Reserved-vr.OnHand)}}})
		return
	}
	now := s.now()
	level := StockLevel{VariantID: vr.ID, OnHand: onHand, Reserved: vr.Reserved}
	s.Apply(ctx, Commit{
		CommandID: m.GetCommandId(),
		Domain:    vayva.DomainCatalog,
		Changes: []Change{
			StockChange{StoreID: s.id, Levels: []StockLevel{level}},
			AdjustmentRecord{ID: vayva.NewID("adj"), StoreID: s.id, VariantID: vr.ID, Delta: delta, Reason: reason,
				OnHand: onHand, Reserved: vr.Reserved, CreatedAt: now},
		},
	}, &messages.InventoryLevel{VariantId: vr.ID, Available: onHand - vr.Reserved, Reserved: vr.Reserved, OnHand: onHand},
		func() { s.state.setStock([]StockLevel{level}) })
}

func (s *Store) createCollection(ctx actor.Context, m *messages.CreateCollection) {
	var v vayva.Validation
	now := s.now()
	c := &Collection{
		ID:        vayva.NewID("col"),
		StoreID:   s.id,
		Seq:       s.state.nextCollectionSeq(),
		Title:     validText(&v, "title", m.Title, MaxTitleLength),
		CreatedAt: now,
		UpdatedAt: now,
	}
	ids := m.GetProductIds()
	if len(ids) > MaxCollectionProducts {
		// One error for the list, none per entry.
		v.Add("product_ids", "must have at most %d products", MaxCollectionProducts)
		ids = nil
	}
	seen := map[string]int{}
	for i, id := range ids {
		f := fmt.Sprintf("product_ids[%d]", i)
		p, ok := s.state.products[id]
		switch {
		case id == "":
			v.Add(f, "must not be blank")
			continue
		case !ok:
			v.Add(f, "is not a product of this store")
			continue
		case p.Status == ProductArchived:
			v.Add(f, "is archived")
			continue
		}
		if j, dup := seen[id]; dup {
			v.Add(f, "repeats product_ids[%d]", j)
			continue
		}
		seen[id] = i
		c.ProductIDs = append(c.ProductIDs, id)
	}
	if err := v.Err(); err != nil {
		s.Refuse(ctx, m.GetCommandId(), &messages.Collection{}, err)
		return
	}
	s.Apply(ctx, Commit{
		CommandID: m.GetCommandId(),
		Domain:    vayva.DomainCatalog,
		Changes:   []Change{CollectionChange{Collection: *c}},
	}, collectionProto(c), func() { s.state.putCollection(c) })
}

func (s *Store) listCollections(ctx actor.Context, m *messages.ListCollections) {
	var v vayva.Validation
	limit := pageLimit(&v, m.GetLimit())
	after := decodeCursor(&v, "col", m.GetCursor())
	if err := v.Err(); err != nil {
		s.Fail(ctx, err)
		return
	}
	order := s.state.collectionOrder
	i := len(order) - 1
	if after > 0 {
		i = sort.Search(len(order), func(i int) bool { return order[i].Seq >= after }) - 1
	}
	page := &messages.CollectionPage{Collections: []*messages.Collection{}}
	for ; i >= 0; i-- {
		if len(page.Collections) == limit {
			page.NextCursor = encodeCursor(order[i+1].Seq, order[i+1].ID)
			break
		}
		page.Collections = append(page.Collections, collectionProto(order[i]))
	}
	ctx.Respond(page)
}
