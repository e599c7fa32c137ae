package actors_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/cluster"
	"github.com/vayvahq/vayva/messages"
	"github.com/vayvahq/vayva/persistence/postgres"
	"github.com/vayvahq/vayva/persistence/postgres/pgtest"
)

// storeEnv is a database with one store and a single-member cluster
// hosting the store kind.
type storeEnv struct {
	db      *postgres.DB
	member  *cluster.Member
	storeID string
}

func newStoreEnv(t *testing.T) *storeEnv {
	t.Helper()
	db, _ := pgtest.New(t)
	e := &storeEnv{db: db, storeID: createStore(t, db, "shop-"+vayva.NewID("s")[2:12])}
	e.member = startStoreMember(t, db, "a")
	return e
}

// startStoreMember starts a member of a single-member cluster of its own,
// hosting the store kind, against db. Two such members share the database
// but not the cluster, so both activate the same identity.
func startStoreMember(t *testing.T, db *postgres.DB, owner string) *cluster.Member {
	t.Helper()
	j := postgres.NewJournal(db, owner)
	m, err := cluster.New(cluster.Config{
		Name: "store-" + vayva.NewID("c"),
		Kinds: []cluster.Kind{{
			Name:        actors.StoreKind,
			Producer:    actors.NewStoreProducer(j, postgres.NewCatalog(db), zerolog.Nop()),
			IdleTimeout: time.Minute,
		}},
	}, db, zerolog.Nop(), nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, m.Start(ctx))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = m.Stop(ctx)
	})
	return m
}

// createStore inserts a merchant and its store as signup does and returns
// the store's id.
func createStore(t *testing.T, db *postgres.DB, slug string) string {
	t.Helper()
	ctx := t.Context()
	merchantID, storeID := vayva.NewID("mer"), vayva.NewID("sto")
	_, err := db.Pool().Exec(ctx, `INSERT INTO merchant.merchants (id, name, owner_user_id) VALUES ($1, 'Ada Stores', 'usr_owner')`, merchantID)
	require.NoError(t, err)
	_, err = db.Pool().Exec(ctx, `INSERT INTO merchant.stores (id, merchant_id, slug, name) VALUES ($1, $2, $3, 'Ada Shop')`,
		storeID, merchantID, slug)
	require.NoError(t, err)
	return storeID
}

func request[T proto.Message](t *testing.T, m *cluster.Member, storeID string, msg proto.Message) (T, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return cluster.Request[T](ctx, m, actors.StoreKind, storeID, msg)
}

func must[T proto.Message](t *testing.T, m *cluster.Member, storeID string, msg proto.Message) T {
	t.Helper()
	out, err := request[T](t, m, storeID, msg)
	require.NoError(t, err)
	return out
}

func requireCode(t *testing.T, err error, code string) *vayva.Error {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, code, vayva.ErrorCode(err), "error: %v", err)
	var e *vayva.Error
	require.ErrorAs(t, err, &e)
	return e
}

func fieldNames(e *vayva.Error) []string {
	out := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		out[i] = f.Field
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// newProduct builds a CreateProduct with one variant per sku, each with the
// given stock.
func newProduct(title string, stock int64, skus ...string) *messages.CreateProduct {
	m := &messages.CreateProduct{CommandId: vayva.NewID("cmd"), Title: ptr(title), Status: ptr("active")}
	for _, sku := range skus {
		m.Variants = append(m.Variants, &messages.NewVariant{
			Sku: ptr(sku), Title: ptr("Size " + sku), Price: ptr(int64(250000)), InventoryQuantity: ptr(stock),
		})
	}
	return m
}

func (e *storeEnv) create(t *testing.T, title string, stock int64, skus ...string) *messages.Product {
	t.Helper()
	return must[*messages.Product](t, e.member, e.storeID, newProduct(title, stock, skus...))
}

func queryInt(t *testing.T, db *postgres.DB, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	require.NoError(t, db.Pool().QueryRow(t.Context(), sql, args...).Scan(&n), sql)
	return n
}

// fence is the store identity's epoch and version plus the number of outbox
// rows: what every commit changes.
type fence struct{ epoch, version, outbox int64 }

func readFence(t *testing.T, db *postgres.DB, storeID string) fence {
	t.Helper()
	var f fence
	require.NoError(t, db.Pool().QueryRow(t.Context(), `
		SELECT a.epoch, a.version, (SELECT count(*) FROM runtime.outbox)
		FROM runtime.actors a WHERE a.kind = 'store' AND a.identity = $1`, storeID).Scan(&f.epoch, &f.version, &f.outbox))
	return f
}

func variantLevels(t *testing.T, db *postgres.DB, variantID string) (onHand, reserved int64) {
	t.Helper()
	require.NoError(t, db.Pool().QueryRow(t.Context(),
		`SELECT on_hand, reserved FROM catalog.variants WHERE id = $1`, variantID).Scan(&onHand, &reserved))
	return onHand, reserved
}

func inAnHour() int64 { return time.Now().Add(time.Hour).UnixMilli() }
