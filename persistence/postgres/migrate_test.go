package postgres_test

import (
	"context"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/persistence/postgres"
	"github.com/vayvahq/vayva/persistence/postgres/pgtest"
)

// embeddedMigrations counts the migration files of this package's source
// tree, which is what the binary embeds.
func embeddedMigrations(t *testing.T) int {
	t.Helper()
	files, err := fs.Glob(os.DirFS("migrations"), "*.sql")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return len(files)
}

func TestMigrateFreshDatabaseTwice(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dbURL := pgtest.NewEmpty(t)

	db, err := postgres.Open(ctx, dbURL)
	require.NoError(t, err)
	defer db.Close()
	current, err := db.MigrationsCurrent(ctx)
	require.NoError(t, err)
	require.False(t, current, "an empty database has pending migrations")
	var written bool
	require.NoError(t, db.Pool().QueryRow(ctx, `SELECT to_regclass('goose_db_version') IS NOT NULL`).Scan(&written))
	require.False(t, written, "asking wrote nothing")

	require.NoError(t, postgres.Migrate(ctx, dbURL))
	require.NoError(t, postgres.Migrate(ctx, dbURL), "a second run finds nothing to do")

	current, err = db.MigrationsCurrent(ctx)
	require.NoError(t, err)
	require.True(t, current)

	var applied int
	require.NoError(t, db.Pool().QueryRow(ctx,
		`SELECT count(DISTINCT version_id) FROM goose_db_version WHERE version_id > 0 AND is_applied`).Scan(&applied))
	require.Equal(t, embeddedMigrations(t), applied)

	for _, table := range []string{
		"runtime.actors", "runtime.inbox", "runtime.outbox", "runtime.reminders", "runtime.members",
		"runtime.idempotency_keys", "ledger.accounts", "ledger.transactions", "ledger.postings",
	} {
		var exists bool
		require.NoError(t, db.Pool().QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&exists))
		require.True(t, exists, table)
	}
	for _, role := range []string{"vayva_auth", "vayva_merchant", "vayva_catalog", "vayva_orders", "vayva_ledger", "vayva_comm", "vayva_runtime"} {
		var canLogin bool
		require.NoError(t, db.Pool().QueryRow(ctx, `SELECT rolcanlogin FROM pg_roles WHERE rolname = $1`, role).Scan(&canLogin), role)
		require.False(t, canLogin, role)
	}
}

func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dbURL := pgtest.NewEmpty(t)

	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { errs[i] = postgres.Migrate(ctx, dbURL) })
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "node %d", i)
	}

	db, err := postgres.Open(ctx, dbURL)
	require.NoError(t, err)
	defer db.Close()
	current, err := db.MigrationsCurrent(ctx)
	require.NoError(t, err)
	require.True(t, current)
	var rows int
	require.NoError(t, db.Pool().QueryRow(ctx,
		`SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&rows))
	require.Equal(t, embeddedMigrations(t), rows, "each migration recorded once")
}

func TestOpenUnreachableIsUnavailable(t *testing.T) {
	t.Parallel()
	// Port 1 on loopback has no listener: the connection is refused.
	_, err := postgres.Open(context.Background(), "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=5")
	require.Error(t, err)
	require.Equal(t, vayva.EUNAVAILABLE, vayva.ErrorCode(err))
}

// TestMigrateAsOrdinaryUser runs the migrations and domain transactions as a
// login role that is neither superuser nor owner of the domain roles, as in
// production: the migrations grant it the domain roles so it can SET ROLE.
func TestMigrateAsOrdinaryUser(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dbURL := pgtest.NewEmpty(t)
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	dbName := strings.TrimPrefix(u.Path, "/")

	admin, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer admin.Close(context.Background())
	user := "vayva_test_user_" + strings.TrimPrefix(dbName, "vayva_test_")
	_, err = admin.Exec(ctx, `CREATE ROLE `+pgx.Identifier{user}.Sanitize()+` LOGIN CREATEROLE`)
	require.NoError(t, err)
	t.Cleanup(func() {
		// Registered after the database's drop, so it runs before it:
		// drop what the role owns there first.
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dbURL)
		require.NoError(t, err)
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, `DROP OWNED BY `+pgx.Identifier{user}.Sanitize()+` CASCADE`)
		require.NoError(t, err)
		_, err = conn.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{dbName}.Sanitize()+` OWNER TO CURRENT_USER`)
		require.NoError(t, err)
		_, err = conn.Exec(ctx, `DROP ROLE `+pgx.Identifier{user}.Sanitize())
		require.NoError(t, err)
	})
	_, err = admin.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{dbName}.Sanitize()+` OWNER TO `+pgx.Identifier{user}.Sanitize())
	require.NoError(t, err)

	u.User = url.User(user)
	userURL := u.String()
	require.NoError(t, postgres.Migrate(ctx, userURL))
	db, err := postgres.Open(ctx, userURL)
	require.NoError(t, err)
	defer db.Close()

	var superuser bool
	require.NoError(t, db.Pool().QueryRow(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&superuser))
	require.False(t, superuser)
	require.NoError(t, exec(ctx, db, vayva.DomainRuntime,
		`INSERT INTO runtime.members (cluster, id, host, port, status) VALUES ('c', 'm', 'h', 1, 'alive')`))
	requireSQLState(t, exec(ctx, db, vayva.DomainCatalog,
		`INSERT INTO runtime.members (cluster, id, host, port, status) VALUES ('c', 'n', 'h', 1, 'alive')`), "42501")
	requireSQLState(t, exec(ctx, db, vayva.DomainLedger, `DELETE FROM ledger.postings`), "42501")
}
