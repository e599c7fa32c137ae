// Package pgtest gives each test its own freshly migrated PostgreSQL
// database, so tests run in parallel and repeatedly without sharing state.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vayvahq/vayva/persistence/postgres"
)

// DefaultURL is the server tests use unless VAYVA_TEST_DATABASE_URL names
// another. Its database is only used to create and drop test databases.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// EnvURL is the environment variable that overrides DefaultURL. The user it
// names must be allowed to create databases.
const EnvURL = "VAYVA_TEST_DATABASE_URL"

// New creates a database named vayva_test_<random>, applies every
// migration to it and opens it. A cleanup registered on t closes the pool
// and drops the database. It fails the test, naming what to start, when the
// server is unreachable.
func New(t testing.TB) (db *postgres.DB, dbURL string) {
	t.Helper()
	dbURL = NewEmpty(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := postgres.Migrate(ctx, dbURL); err != nil {
		t.Fatalf("pgtest: migrate: %v", err)
	}
	db, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("pgtest: open: %v", err)
	}
	// Cleanups run last-in first-out: the pool closes before the drop.
	t.Cleanup(db.Close)
	return db, dbURL
}

// NewEmpty creates a database like New but applies no migration and opens
// no pool, for tests of the migrations themselves. It returns the
// database's URL.
func NewEmpty(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		base = DefaultURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("pgtest: PostgreSQL is not reachable at %s: %v\n"+
			"Tests need a real PostgreSQL (15 or newer) whose user may create databases: start the local server "+
			"on 127.0.0.1:5432 with trust authentication for user postgres (e.g. `pg_ctlcluster 15 main start`), "+
			"or set %s to the URL of one.", base, err, EnvURL)
	}
	defer admin.Close(ctx)
	name := "vayva_test_" + randomSuffix(t)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() { drop(t, base, name) })
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
