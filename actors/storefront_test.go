package actors_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/cluster"
	"github.com/vayvahq/vayva/messages"
	"github.com/vayvahq/vayva/persistence/postgres"
	"github.com/vayvahq/vayva/persistence/postgres/pgtest"
)

// published keeps what the store actors of a member publish.
type published struct {
	mu   sync.Mutex
	last *actors.Storefront
	n    int
}

func (p *published) PublishStorefront(sf *actors.Storefront, verifiedAt time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if verifiedAt.After(time.Now()) {
		panic("verified in the future")
	}
	p.last, p.n = sf, p.n+1
}

func (p *published) latest() (*actors.Storefront, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last, p.n
}

// The store publishes a snapshot when it loads and after each change,
// before answering, named by the fence the commit left in runtime.actors;
// products that did not change keep their entry; drafts are not in it.
func TestStorePublishesItsStorefront(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	storeID := createStore(t, db, "shop-"+vayva.NewID("s")[2:12])
	pub := &published{}
	m, err := cluster.New(cluster.Config{
		Name: "store-" + vayva.NewID("c"),
		Kinds: []cluster.Kind{{
			Name:        actors.StoreKind,
			Producer:    actors.NewPublishingStoreProducer(postgres.NewJournal(db, "a"), postgres.NewCatalog(db), pub, zerolog.Nop()),
			IdleTimeout: time.Minute,
		}},
	}, db, zerolog.Nop(), nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, m.Start(ctx))
	t.Cleanup(func() { _ = m.Stop(context.Background()) })

	requireCurrent := func() *actors.Storefront {
		t.Helper()
		sf, _ := pub.latest()
		require.NotNil(t, sf)
		f := readFence(t, db, storeID)
		require.Equal(t, f.epoch, sf.Epoch)
		require.Equal(t, f.version, sf.Version)
		return sf
	}
	create := func(p *messages.CreateProduct) *messages.Product {
		return must[*messages.Product](t, m, storeID, p)
	}
	scarf := create(newProduct("Scarf", 5, "SCARF"))
	requireCurrent()
	draft := newProduct("Draft", 1, "DRAFT")
	draft.Status = ptr("draft")
	create(draft)
	hat := create(newProduct("Cap", 2, "CAP"))
	before := requireCurrent()
	require.Equal(t, 2, before.Len(), "drafts are not on the storefront")
	require.True(t, before.Open)

	must[*messages.InventoryLevel](t, m, storeID, &messages.AdjustInventory{
		CommandId: vayva.NewID("cmd"), VariantId: scarf.GetVariants()[0].GetId(), Delta: 3, Reason: "found",
	})
	after := requireCurrent()
	s, ok := after.Product(scarf.GetId())
	require.True(t, ok)
	require.EqualValues(t, 8, s.Product.GetVariants()[0].GetAvailable(), "published before the answer")
	c1, _ := before.Product(hat.GetId())
	c2, _ := after.Product(hat.GetId())
	require.Same(t, c1, c2, "an unchanged product keeps its entry")

	// A read changes nothing and publishes nothing.
	_, n := pub.latest()
	must[*messages.ProductPage](t, m, storeID, &messages.ListProducts{Storefront: true})
	_, n2 := pub.latest()
	require.Equal(t, n, n2)

	// GetStorefront answers the same snapshot; asked with a fence past the
	// activation's (another activation committed), the activation stops and
	// the retry is answered by a new one.
	got := must[*messages.StorefrontSnapshot](t, m, storeID, &messages.GetStorefront{MinEpoch: after.Epoch, MinVersion: after.Version})
	require.Equal(t, after.Version, got.GetVersion())
	require.Len(t, got.GetProducts(), 2)
	got = must[*messages.StorefrontSnapshot](t, m, storeID, &messages.GetStorefront{MinEpoch: after.Epoch + 1})
	require.Equal(t, after.Epoch+1, got.GetEpoch(), "a new activation answered")
	require.Equal(t, after.Epoch+1, readFence(t, db, storeID).epoch)
	require.Len(t, got.GetProducts(), 2)
}
