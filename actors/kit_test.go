package actors_test

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/messages"
	"github.com/vayvahq/vayva/persistence/postgres"
	"github.com/vayvahq/vayva/persistence/postgres/pgtest"
)

// TestKitRefusalInsideTheTransactionKeepsTheActivation makes the database
// refuse a commit the actor's memory allowed (a SKU taken behind its back):
// the caller gets the refusal's code at once, not a timeout, and the same
// activation keeps serving.
func TestKitRefusalInsideTheTransactionKeepsTheActivation(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	e.create(t, "Shirt", 5, "SHIRT")
	before := readFence(t, e.db, e.storeID)

	// Another product with SKU "CAP", written directly: the activation's
	// memory does not know the SKU is taken.
	_, err := e.db.Pool().Exec(t.Context(), `
		WITH p AS (INSERT INTO catalog.products (id, store_id, seq, title, status, created_at, updated_at) VALUES ('prod_x', $1, 99, 'X', 'active', now(), now()) RETURNING id)
		INSERT INTO catalog.variants (id, store_id, product_id, position, sku, title, price, on_hand, reserved, created_at, updated_at) SELECT 'var_x', $1, id, 0, 'CAP', 'X', 1, 0, 0, now(), now() FROM p`, e.storeID)
	require.NoError(t, err)

	started := time.Now()
	_, err = request[*messages.Product](t, e.member, e.storeID, newProduct("Cap", 3, "CAP"))
	requireCode(t, err, vayva.ECONFLICT)
	require.Less(t, time.Since(started), 2*time.Second, "a refusal is answered, not retried until the deadline")

	after := readFence(t, e.db, e.storeID)
	require.Equal(t, before.epoch, after.epoch, "the activation was kept")
	require.Equal(t, before.version, after.version, "nothing was committed")
	e.create(t, "Hat", 2, "HAT")
	require.Equal(t, before.epoch, readFence(t, e.db, e.storeID).epoch)
}

// TestKitUncertainCommitStopsTheActivationAndRetriesExactlyOnce breaks the
// connection at COMMIT under a store command: the activation stops, the
// caller's retry lands on a fresh activation that reloads from the
// database, and the product exists exactly once with the id first answered.
func TestKitUncertainCommitStopsTheActivationAndRetriesExactlyOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		mode pgtest.CutMode
	}{
		{"rolled back", pgtest.CutBeforeCommit},
		{"committed", pgtest.CutAfterCommit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			direct, dbURL := pgtest.New(t)
			storeID := createStore(t, direct, "shop-"+vayva.NewID("s")[2:12])
			proxy, proxied := pgtest.NewProxy(t, dbURL)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			db, err := postgres.Open(ctx, proxied)
			require.NoError(t, err)
			t.Cleanup(db.Close)
			m := startStoreMember(t, db, "a")
			must[*messages.StoreProfile](t, m, storeID, &messages.GetStore{})
			before := readFence(t, direct, storeID)

			proxy.CutNextCommit(tc.mode)
			p := must[*messages.Product](t, m, storeID, newProduct("Cap", 3, "CAP"))
			require.Equal(t, 1, proxy.Cuts())

			after := readFence(t, direct, storeID)
			require.Equal(t, before.epoch+1, after.epoch, "the activation stopped and the identity was activated again")
			require.Equal(t, before.version+1, after.version, "committed once")
			require.Equal(t, int64(1), queryInt(t, direct, `SELECT count(*) FROM catalog.products WHERE store_id = $1`, storeID))
			require.Equal(t, p.GetId(), queryString(t, direct, `SELECT id FROM catalog.products WHERE store_id = $1`, storeID))
			got := must[*messages.Product](t, m, storeID, &messages.GetProduct{ProductId: p.GetId()})
			require.Equal(t, int64(3), got.GetVariants()[0].GetAvailable())
		})
	}
}

// TestEveryChangeTypeIsListed finds every type of the package that declares
// the IsChange seal and requires it in ChangeTypes, so a new change cannot
// escape the node's start-up check.
func TestEveryChangeTypeIsListed(t *testing.T) {
	t.Parallel()
	entries, err := os.ReadDir(".")
	require.NoError(t, err)
	var declared []string
	fset := token.NewFileSet()
	for _, entry := range entries {
		if !strings.HasSuffix(entry.Name(), ".go") || strings.HasSuffix(entry.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, entry.Name(), nil, 0)
		require.NoError(t, err)
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || fn.Name.Name != "IsChange" {
				continue
			}
			if id, ok := fn.Recv.List[0].Type.(*ast.Ident); ok {
				declared = append(declared, id.Name)
			}
		}
	}
	var listed []string
	for _, c := range actors.ChangeTypes() {
		listed = append(listed, reflect.TypeOf(c).Name())
	}
	sort.Strings(declared)
	sort.Strings(listed)
	require.NotEmpty(t, declared)
	require.Equal(t, declared, listed)
}

// TestJournalAppliesEveryChangeType checks the PostgreSQL journal has an
// applier for every change a product kind commits.
func TestJournalAppliesEveryChangeType(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	require.NoError(t, postgres.NewJournal(db, "a").CheckChanges(actors.ChangeTypes()))
}
