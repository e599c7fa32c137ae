package actors

import (
	"sort"

	"github.com/vayvahq/vayva/messages"
)

// storeState is a store activation's in-memory state, indexed for the
// commands. It changes only after a commit succeeded.
type storeState struct {
	profile StoreProfile
	// products by id, and in creation order (ascending Seq).
	products     map[string]*Product
	productOrder []*Product
	// variants by id, the product of each, and variant ids by SKU (SKUs of
	// archived products stay taken: old orders refer to them).
	variants       map[string]*Variant
	variantProduct map[string]*Product
	skus           map[string]string
	// collections by id and in creation order.
	collections     map[string]*Collection
	collectionOrder []*Collection
	// reservations holds the active reservations only; finished ones are
	// looked up in the database when asked for again.
	reservations map[string]*Reservation
	// lastOrderNumber is the highest order number allocated.
	lastOrderNumber int64

	// storefront caches the storefront's first product page, the hottest
	// read; any catalog or stock change drops it.
	storefront map[int]*messages.ProductPage
	// sf is what changed since the last storefront snapshot.
	sf storefrontChanges
}

func newStoreState(st *StoreState) *storeState {
	s := &storeState{
		profile:         st.Profile,
		products:        map[string]*Product{},
		variants:        map[string]*Variant{},
		variantProduct:  map[string]*Product{},
		skus:            map[string]string{},
		collections:     map[string]*Collection{},
		reservations:    map[string]*Reservation{},
		lastOrderNumber: max(st.LastOrderNumber, FirstOrderNumber-1),
	}
	ps := append([]*Product(nil), st.Products...)
	sortProducts(ps)
	for _, p := range ps {
		s.putProduct(p)
	}
	cs := append([]*Collection(nil), st.Collections...)
	sortCollections(cs)
	for _, c := range cs {
		s.putCollection(c)
	}
	for _, r := range st.Reservations {
		if r.Status == ReservationActive {
			s.reservations[r.ID] = r
		}
	}
	return s
}

// putProduct installs p, new or replacing the product with its id.
func (s *storeState) putProduct(p *Product) {
	old, ok := s.products[p.ID]
	s.sf.touch(p.ID, !ok || (old.Status == ProductActive) != (p.Status == ProductActive))
	if ok {
		i := sort.Search(len(s.productOrder), func(i int) bool { return s.productOrder[i].Seq >= old.Seq })
		s.productOrder[i] = p
	} else {
		s.productOrder = append(s.productOrder, p)
	}
	s.products[p.ID] = p
	for _, v := range p.Variants {
		s.variants[v.ID] = v
		s.variantProduct[v.ID] = p
		s.skus[v.SKU] = v.ID
	}
	s.changed()
}

func (s *storeState) putCollection(c *Collection) {
	s.collections[c.ID] = c
	s.collectionOrder = append(s.collectionOrder, c)
}

// StoreOpen is the status of a store whose storefront is public.
const StoreOpen = "active"

// open reports whether the storefront is public.
func (s *storeState) open() bool { return s.profile.Status == StoreOpen }

// changed drops what is derived from the catalog and its stock.
func (s *storeState) changed() {
	s.storefront = nil
	s.sf.any = true
}

func (s *storeState) nextProductSeq() int64 {
	if n := len(s.productOrder); n > 0 {
		return s.productOrder[n-1].Seq + 1
	}
	return 1
}

func (s *storeState) nextCollectionSeq() int64 {
	if n := len(s.collectionOrder); n > 0 {
		return s.collectionOrder[n-1].Seq + 1
	}
	return 1
}

// setStock applies committed stock levels.
func (s *storeState) setStock(levels []StockLevel) {
	for _, l := range levels {
		if v, ok := s.variants[l.VariantID]; ok {
			v.OnHand, v.Reserved = l.OnHand, l.Reserved
			s.sf.touch(s.variantProduct[v.ID].ID, false)
		}
	}
	s.changed()
}

func (s *storeState) profileProto(p StoreProfile) *messages.StoreProfile {
	settings := []byte(p.Settings)
	if len(settings) == 0 {
		settings = []byte("{}")
	}
	return &messages.StoreProfile{
		Id:                    p.ID,
		MerchantId:            p.MerchantID,
		Slug:                  p.Slug,
		Name:                  p.Name,
		Currency:              p.Currency,
		Status:                p.Status,
		SettingsJson:          settings,
		FeeBps:                p.FeeBps,
		WhatsappPhoneNumberId: p.WhatsAppPhoneNumberID,
		CreatedAtUnixMs:       p.CreatedAt.UnixMilli(),
		UpdatedAtUnixMs:       p.UpdatedAt.UnixMilli(),
	}
}

func (s *storeState) productProto(p *Product) *messages.Product {
	out := &messages.Product{
		Id:              p.ID,
		Title:           p.Title,
		Description:     p.Description,
		Status:          p.Status,
		Variants:        make([]*messages.Variant, len(p.Variants)),
		CreatedAtUnixMs: p.CreatedAt.UnixMilli(),
		UpdatedAtUnixMs: p.UpdatedAt.UnixMilli(),
	}
	for i, v := range p.Variants {
		out.Variants[i] = &messages.Variant{
			Id:        v.ID,
			Sku:       v.SKU,
			Title:     v.Title,
			Price:     v.Price,
			Currency:  s.profile.Currency,
			Available: v.Available(),
			OnHand:    v.OnHand,
			Reserved:  v.Reserved,
		}
	}
	return out
}

func collectionProto(c *Collection) *messages.Collection {
	return &messages.Collection{
		Id:              c.ID,
		Title:           c.Title,
		ProductIds:      append([]string(nil), c.ProductIDs...),
		CreatedAtUnixMs: c.CreatedAt.UnixMilli(),
	}
}

func (s *storeState) reservationProto(r *Reservation) *messages.Reservation {
	out := &messages.Reservation{
		ReservationId:        r.ID,
		Status:               r.Status,
		ExpiresAtUnixMs:      r.ExpiresAt.UnixMilli(),
		Currency:             s.profile.Currency,
		OrderNumber:          r.OrderNumber,
		FeeBps:               s.profile.FeeBps,
		MerchantId:           s.profile.MerchantID,
		StoreSlug:            s.profile.Slug,
		StoreName:            s.profile.Name,
		DeliverySettingsJson: s.profile.Delivery,
		Lines:                make([]*messages.ReservationLine, len(r.Lines)),
	}
	for i, l := range r.Lines {
		line := &messages.ReservationLine{VariantId: l.VariantID, Quantity: l.Quantity, UnitPrice: l.UnitPrice}
		if v, ok := s.variants[l.VariantID]; ok {
			line.Sku, line.VariantTitle = v.SKU, v.Title
			if p := s.variantProduct[l.VariantID]; p != nil {
				line.ProductId, line.ProductTitle = p.ID, p.Title
			}
		}
		out.Lines[i] = line
	}
	return out
}

// cloneProduct deep-copies p, so a change can be prepared without touching
// the installed product.
func cloneProduct(p *Product) *Product {
	c := *p
	c.Variants = make([]*Variant, len(p.Variants))
	for i, v := range p.Variants {
		vc := *v
		c.Variants[i] = &vc
	}
	return &c
}
