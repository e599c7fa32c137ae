// Package pgtest gives each test its own migrated PostgreSQL database, so
// tests run in parallel and repeatedly without sharing state.
//
// Migrating a database takes far longer than copying one, so the
// migrations run once: into a template database named after the checksum
// of the embedded migrations (vayva_tmpl_<checksum>), and each test's
// database is a CREATE DATABASE … TEMPLATE copy of it. A Postgres advisory
// lock makes concurrent test processes (go test runs packages in parallel)
// take turns building it, so exactly one migrates and the rest reuse it; a
// template is marked finished (datistemplate) only once its migrations are
// applied, so one left half built by a killed process is rebuilt. A changed
// migration set has another checksum and so gets a template of its own;
// templates of older sets stay on the server (another checkout may still
// use them) until someone drops them.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vayvahq/vayva/persistence/postgres"
)

// DefaultURL is the server tests use unless VAYVA_TEST_DATABASE_URL names
// another. Its database is only used to create and drop test databases.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// EnvURL is the environment variable that overrides DefaultURL. The user it
// names must be allowed to create databases.
const EnvURL = "VAYVA_TEST_DATABASE_URL"

// templateLockKey is the advisory lock (on the server's admin database)
// under which templates are checked and built.
const templateLockKey int64 = 0x7661797661746d70 // "vayvatmp"

// template is this process's migrated template, found or built once.
var template struct {
	once sync.Once
	name string
	err  error
}

// New creates a database named vayva_test_<random> as a copy of the
// migrated template and opens it. A cleanup registered on t closes the pool
// and drops the database. It fails the test, naming what to start, when the
// server is unreachable.
func New(t testing.TB) (db *postgres.DB, dbURL string) {
	t.Helper()
	base := baseURL()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	template.once.Do(func() {
		template.name, template.err = templateName()
		if template.err == nil {
			template.err = ensureTemplate(ctx, base, template.name)
		}
	})
	if template.err != nil {
		t.Fatalf("pgtest: template database: %v", template.err)
	}
	dbURL = create(t, base, template.name)
	db, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("pgtest: open: %v", err)
	}
	// Cleanups run last-in first-out: the pool closes before the drop.
	t.Cleanup(db.Close)
	return db, dbURL
}

// NewEmpty creates a database like New but with no migration applied and
// no pool opened, for tests of the migrations themselves. It returns the
// database's URL.
func NewEmpty(t testing.TB) string {
	t.Helper()
	return create(t, baseURL(), "")
}

func baseURL() string {
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return DefaultURL
}

// connect opens a connection to the admin database, or explains what to
// start.
func connect(ctx context.Context, base string) (*pgx.Conn, error) {
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL is not reachable at %s: %w\n"+
			"Tests need a real PostgreSQL (15 or newer) whose user may create databases: start the local server "+
			"on 127.0.0.1:5432 with trust authentication for user postgres (e.g. `pg_ctlcluster 15 main start`), "+
			"or set %s to the URL of one", base, err, EnvURL)
	}
	return admin, nil
}

// create makes a fresh test database, a copy of tmpl when tmpl is not
// empty, registers its drop on t and returns its URL.
func create(t testing.TB, base, tmpl string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := connect(ctx, base)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer admin.Close(ctx)
	name := "vayva_test_" + randomSuffix(t)
	stmt := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if tmpl != "" {
		stmt += " TEMPLATE " + pgx.Identifier{tmpl}.Sanitize()
	}
	if err := execRetryingInUse(ctx, admin, stmt); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() { drop(t, base, name) })
	return databaseURL(t, base, name)
}

// execRetryingInUse runs a CREATE DATABASE … TEMPLATE, which fails while a
// session is still connected to the template: the sessions that migrated
// it end a moment after their clients closed them.
func execRetryingInUse(ctx context.Context, admin *pgx.Conn, stmt string) error {
	for {
		_, err := admin.Exec(ctx, stmt)
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "55006" { // object_in_use
			return err
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// templateName is the template of this binary's migrations.
func templateName() (string, error) {
	sum, err := postgres.MigrationsChecksum()
	if err != nil {
		return "", err
	}
	return "vayva_tmpl_" + sum[:16], nil
}

// ensureTemplate makes sure the migrated template name exists, building it
// if no test process has yet.
func ensureTemplate(ctx context.Context, base, name string) error {
	admin, err := connect(ctx, base)
	if err != nil {
		return err
	}
	defer admin.Close(context.WithoutCancel(ctx))
	if _, err := admin.Exec(ctx, `SELECT pg_advisory_lock($1)`, templateLockKey); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	// Closing the session releases the lock too; this is the early path.
	defer admin.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, templateLockKey) //nolint:errcheck // Released with the session anyway.

	var finished bool
	err = admin.QueryRow(ctx, `SELECT datistemplate FROM pg_database WHERE datname = $1`, name).Scan(&finished)
	switch {
	case err == nil && finished:
		return nil
	case err == nil:
		// Left half built by a process that died while migrating it.
		if _, err := admin.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop unfinished %s: %w", name, err)
		}
	case !errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("look up %s: %w", name, err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	u, err := url.Parse(base)
	if err != nil {
		return fmt.Errorf("%s is not a URL: %w", base, err)
	}
	u.Path = "/" + name
	if err := postgres.Migrate(ctx, u.String()); err != nil {
		return fmt.Errorf("migrate %s: %w", name, err)
	}
	// Finished: copies may be made from it, and nobody connects to it by
	// mistake (a session on a template makes its copies fail).
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
		return fmt.Errorf("mark %s finished: %w", name, err)
	}
	return nil
}

func databaseURL(t testing.TB, base, name string) string {
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("pgtest: %s is not a URL: %v", base, err)
	}
	u.Path = "/" + name
	return u.String()
}

func drop(t testing.TB, base, name string) {
	// The test's context is already cancelled when cleanups run.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Errorf("pgtest: drop database %s: %v", name, err)
		return
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Errorf("pgtest: drop database %s: %v", name, err)
	}
}

func randomSuffix(t testing.TB) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("pgtest: random: %v", err)
	}
	return hex.EncodeToString(b[:])
}
