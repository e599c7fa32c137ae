package postgres

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// migrationsFS holds the schema migrations, compiled into the binary.
// Numbering is split by area so that migrations written side by side never
// collide: 00001–00009 the foundation (schemas, roles, runtime tables),
// 00010–00019 auth, merchant and catalog, 00020–00029 queues, comm and
// webhooks, 00030–00039 accounts and team, 00040–00049 orders, 00050–00059
// the ledger, 00060–00069 WhatsApp conversations, 00070–00079 delivery.
//
//go:embed migrations/*.sql
var migrationsFS embed.FS

// migrationLockTimeout bounds how long Migrate waits for another node that is
// migrating the same database: a number of one-second probes.
const migrationLockTimeout = 600

// Migrate applies every embedded migration not yet applied to the database
// at url. Several nodes may call it at once: a session-level advisory lock
// makes them take turns, and those that come later find nothing to do.
func Migrate(ctx context.Context, url string) error {
	sqlDB, err := openSQL(url)
	if err != nil {
		return err
	}
	defer sqlDB.Close()
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, migrationLockTimeout))
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	p, err := newProvider(sqlDB, goose.WithSessionLocker(locker))
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: %w", interpretError(err))
	}
	return nil
}

// MigrationsChecksum returns a hex SHA-256 over the names and contents of
// the embedded migrations: two binaries with the same checksum build the
// same schema. Test helpers name their migrated template databases by it.
func MigrationsChecksum() (string, error) {
	files, err := fs.Glob(migrationsFS, "migrations/*.sql")
	if err != nil {
		return "", fmt.Errorf("postgres: migrations: %w", err)
	}
	sort.Strings(files)
	h := sha256.New()
	for _, name := range files {
		b, err := migrationsFS.ReadFile(name)
		if err != nil {
			return "", fmt.Errorf("postgres: migrations: %w", err)
		}
		// Length-prefixed, so no two file sets hash alike by concatenation.
		fmt.Fprintf(h, "%d:%s%d:", len(name), name, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// MigrationsCurrent reports whether every migration embedded in this binary
// has been applied to the database. Readiness checks use it; it takes no
// lock, so it answers while another node is migrating.
func (db *DB) MigrationsCurrent(ctx context.Context) (bool, error) {
	// Asked of a database never migrated, goose would create its version
	// table; a readiness check should not write.
	var tracked bool
	if err := db.pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, goose.DefaultTablename).Scan(&tracked); err != nil {
		return false, fmt.Errorf("postgres: migration status: %w", interpretError(err))
	}
	if !tracked {
		return false, nil
	}
	sqlDB := stdlib.OpenDBFromPool(db.pool)
	defer sqlDB.Close()
	p, err := newProvider(sqlDB)
	if err != nil {
		return false, err
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return false, fmt.Errorf("postgres: migration status: %w", interpretError(err))
	}
	return !pending, nil
}

// openSQL opens the connections migrations run on. They run without the
// session timeouts of Open: a migration may rewrite a large table or wait
// its turn for a lock, and failing half way through a deploy is worse than
// waiting. The caller's context still bounds the run. Settings sent at
// connection start up override the URL's options=-c switches and the
// role's and database's defaults, so no timeout of those applies either.
func openSQL(url string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse url: %w", err)
	}
	for _, name := range []string{"statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout"} {
		cfg.RuntimeParams[name] = "0"
	}
	return stdlib.OpenDB(*cfg), nil
}

// newProvider returns a goose provider over the embedded migrations.
// Out-of-order application is allowed because migration numbers are handed
// out in ranges per area: a database may have seen 00020 before 00011 was
// written, and 00011 must still be applied.
func newProvider(sqlDB *sql.DB, opts ...goose.ProviderOption) (*goose.Provider, error) {
	sub, err := fs.Sub(migrationsFS, "migrations")
	if err != nil {
		return nil, fmt.Errorf("postgres: migrations: %w", err)
	}
	opts = append(opts,
		goose.WithAllowOutofOrder(true),
		goose.WithDisableGlobalRegistry(true),
		goose.WithLogger(goose.NopLogger()),
	)
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, sub, opts...)
	if err != nil {
		return nil, fmt.Errorf("postgres: migrations: %w", err)
	}
	return p, nil
}
