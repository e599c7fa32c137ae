package pgtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva/persistence/postgres"
)

// Each test database is a migrated copy of the template, isolated from the
// others.
func TestNewIsMigratedAndIsolated(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, _ := New(t)
	b, _ := New(t)
	for _, db := range []*postgres.DB{a, b} {
		current, err := db.MigrationsCurrent(ctx)
		require.NoError(t, err)
		require.True(t, current)
	}
	_, err := a.Pool().Exec(ctx, `INSERT INTO runtime.actors (kind, identity, epoch, owner) VALUES ('store', 'st_1', 1, 'a')`)
	require.NoError(t, err)
	var n int
	require.NoError(t, b.Pool().QueryRow(ctx, `SELECT count(*) FROM runtime.actors`).Scan(&n))
	require.Zero(t, n, "a write to one test database is not in another")

	name, err := templateName()
	require.NoError(t, err)
	sum, err := postgres.MigrationsChecksum()
	require.NoError(t, err)
	require.Equal(t, "vayva_tmpl_"+sum[:16], name, "the template is named after the migrations' content")
}

// dropTemplate removes a template database a test built.
func dropTemplate(t *testing.T, name string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := connect(ctx, baseURL())
		require.NoError(t, err)
		defer admin.Close(ctx)
		id := pgx.Identifier{name}.Sanitize()
		_, _ = admin.Exec(ctx, "ALTER DATABASE "+id+" WITH IS_TEMPLATE false")
		_, err = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+id+" WITH (FORCE)")
		require.NoError(t, err)
	})
}

func isTemplate(t *testing.T, name string) bool {
	t.Helper()
	ctx := t.Context()
	admin, err := connect(ctx, baseURL())
	require.NoError(t, err)
	defer admin.Close(ctx)
	var finished bool
	require.NoError(t, admin.QueryRow(ctx, `SELECT datistemplate FROM pg_database WHERE datname = $1`, name).Scan(&finished))
	return finished
}

// Builders racing for one template (as test processes of several packages
// do) take turns under the advisory lock: one migrates, the others find it
// finished, and copies of it are migrated databases.
func TestConcurrentBuildersShareOneTemplate(t *testing.T) {
	t.Parallel()
	name := "vayva_tmpl_test_" + randomSuffix(t)
	dropTemplate(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = ensureTemplate(ctx, baseURL(), name) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.True(t, isTemplate(t, name))

	url := create(t, baseURL(), name)
	db, err := postgres.Open(ctx, url)
	require.NoError(t, err)
	defer db.Close()
	current, err := db.MigrationsCurrent(ctx)
	require.NoError(t, err)
	require.True(t, current)
}

// A template left unfinished (its builder died before marking it) is
// dropped and built again, not copied half migrated.
func TestUnfinishedTemplateIsRebuilt(t *testing.T) {
	t.Parallel()
	name := "vayva_tmpl_test_" + randomSuffix(t)
	dropTemplate(t, name)
	ctx := t.Context()
	admin, err := connect(ctx, baseURL())
	require.NoError(t, err)
	_, err = admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	require.NoError(t, admin.Close(ctx))
	require.NoError(t, err)
	require.False(t, isTemplate(t, name))

	require.NoError(t, ensureTemplate(ctx, baseURL(), name))
	require.True(t, isTemplate(t, name))
	url := create(t, baseURL(), name)
	db, err := postgres.Open(ctx, url)
	require.NoError(t, err)
	defer db.Close()
	current, err := db.MigrationsCurrent(ctx)
	require.NoError(t, err)
	require.True(t, current)
}
