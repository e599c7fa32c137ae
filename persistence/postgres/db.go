package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vayvahq/vayva"
)

// maxTxAttempts bounds how often InDomain runs a transaction that failed with
// a serialization failure or a deadlock.
const maxTxAttempts = 5

// ErrPermissionDenied reports that the database refused a statement because
// the domain role the transaction ran as has no privilege for it: a write to
// another domain's schema, or an UPDATE or DELETE of ledger postings. It is
// always a programming error, never a client's. The PostgreSQL error (SQLSTATE
// 42501) stays in the chain.
var ErrPermissionDenied = errors.New("postgres: permission denied for the domain role")

// DB is the runtime's PostgreSQL database: a pgx connection pool plus the
// domain-scoped transactions every writer uses.
type DB struct {
	pool *pgxpool.Pool
}

// Session timeouts every connection of a DB's pool runs with, unless the
// URL or an Option says otherwise. They bound what one stuck or paused
// client can do to the others: a member paused in the middle of a command
// (GC, SIGSTOP, a VM migration) must not keep an actor's fence row locked
// for the whole pause.
const (
	// DefaultLockTimeout bounds a statement's wait for a row or table lock
	// (lock_timeout): 2s. The statement fails with SQLSTATE 55P03, which
	// callers see as EUNAVAILABLE and retry.
	DefaultLockTimeout = 2 * time.Second
	// DefaultStatementTimeout bounds one statement (statement_timeout):
	// 10s, well above every query of a request path. The statement fails
	// with SQLSTATE 57014 (EUNAVAILABLE).
	DefaultStatementTimeout = 10 * time.Second
	// DefaultIdleInTransactionTimeout is how long a transaction may sit
	// idle before the server ends its session and releases its locks
	// (idle_in_transaction_session_timeout): 10s. The client's next
	// statement fails with SQLSTATE 25P03 (EUNAVAILABLE); its transaction
	// never commits.
	DefaultIdleInTransactionTimeout = 10 * time.Second
)

// sessionSettings are the session timeouts of a pool, by setting name.
type sessionSettings map[string]time.Duration

// Option adjusts how Open sets up the pool's sessions.
type Option func(sessionSettings)

// WithLockTimeout sets lock_timeout (default DefaultLockTimeout); zero
// waits for locks without limit.
func WithLockTimeout(d time.Duration) Option {
	return func(s sessionSettings) { s["lock_timeout"] = d }
}

// WithStatementTimeout sets statement_timeout (default
// DefaultStatementTimeout); zero lets statements run without limit (the
// caller's context still bounds them), as long-running tools need.
func WithStatementTimeout(d time.Duration) Option {
	return func(s sessionSettings) { s["statement_timeout"] = d }
}

// WithIdleInTransactionTimeout sets idle_in_transaction_session_timeout
// (default DefaultIdleInTransactionTimeout); zero never ends an idle
// transaction.
func WithIdleInTransactionTimeout(d time.Duration) Option {
	return func(s sessionSettings) { s["idle_in_transaction_session_timeout"] = d }
}

// Open connects to the database at url (a postgres:// URL or a DSN) and
// pings it, so a wrong address fails here rather than on first use. Every
// session runs with the Default*Timeout session timeouts; a setting named
// in the URL (e.g. ?statement_timeout=30000) keeps the URL's value, and an
// Option overrides both.
func Open(ctx context.Context, url string, opts ...Option) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse url: %w", err)
	}
	settings := sessionSettings{}
	for _, o := range opts {
		o(settings)
	}
	params := cfg.ConnConfig.RuntimeParams
	for name, def := range map[string]time.Duration{
		"lock_timeout":                        DefaultLockTimeout,
		"statement_timeout":                   DefaultStatementTimeout,
		"idle_in_transaction_session_timeout": DefaultIdleInTransactionTimeout,
	} {
		d, set := settings[name]
		if !set {
			if _, inURL := params[name]; inURL {
				continue
			}
			d = def
		}
		if d < 0 {
			return nil, fmt.Errorf("postgres: %s must not be negative", name)
		}
		params[name] = strconv.FormatInt(d.Milliseconds(), 10)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", interpretError(err))
	}
	db := &DB{pool: pool}
	if err := db.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// Pool returns the underlying pgx pool, for read models and repositories of
// this package's users that need plain queries.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Close closes every connection of the pool. It waits for acquired
// connections to be released.
func (db *DB) Close() { db.pool.Close() }

// Ping reports whether the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", interpretError(err))
	}
	return nil
}

// InDomain runs fn in one transaction as the role of domain d, so the
// database itself refuses writes outside d's schema (see the package
// documentation for the grants). The transaction commits when fn returns nil
// and rolls back otherwise.
//
// A transaction that fails with a serialization failure or a deadlock is run
// again from the start, a few times, so fn must have no effects outside the
// transaction. Errors are translated by interpretError: the result carries a
// vayva error code where one applies.
func (db *DB) InDomain(ctx context.Context, d vayva.Domain, fn func(ctx context.Context, tx pgx.Tx) error) error {
	if !d.Valid() {
		return fmt.Errorf("postgres: unknown domain %q", string(d))
	}
	// BEGIN and SET LOCAL ROLE travel as one simple-protocol query: one round
	// trip instead of two. The role name comes from a validated domain and is
	// quoted as an identifier anyway.
	opts := pgx.TxOptions{BeginQuery: "BEGIN; SET LOCAL ROLE " + pgx.Identifier{d.Role()}.Sanitize()}
	var err error
	for attempt := 1; ; attempt++ {
		err = db.inTx(ctx, opts, fn)
		if err == nil || attempt == maxTxAttempts || !retryable(err) {
			break
		}
		// Back off a little, with jitter, so the transactions that collided
		// do not collide again in lockstep.
		wait := time.Duration(attempt)*5*time.Millisecond + rand.N(5*time.Millisecond)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return interpretError(err)
		case <-t.C:
		}
	}
	return interpretError(err)
}

func (db *DB) inTx(ctx context.Context, opts pgx.TxOptions, fn func(ctx context.Context, tx pgx.Tx) error) error {
	tx, err := db.pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // A no-op after Commit; the error of fn or Commit is the one to report.
	if err := fn(ctx, tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return commitError(err)
	}
	return nil
}

// commitError classifies a failed COMMIT. When the server answered it with
// an error, the transaction rolled back and the error says why. Any other
// failure (the connection broke, the context ended while COMMIT was in
// flight) leaves the outcome unknown: the server may have committed before
// the answer was lost. That is vayva.ErrCommitUncertain, so callers never
// mistake it for a refusal.
func commitError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) || errors.Is(err, pgx.ErrTxCommitRollback) {
		return fmt.Errorf("postgres: commit: %w", err)
	}
	return fmt.Errorf("postgres: commit: %w: %w", vayva.ErrCommitUncertain, err)
}

// retryable reports whether a transaction that failed with err may succeed
// when run again unchanged.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return pgErr.Code == "40001" || pgErr.Code == "40P01"
}

// interpretError translates pgx errors into the runtime's coded errors. The
// original error stays in the chain, so callers can still inspect the
// PostgreSQL error (errors.As with *pgconn.PgError). Errors that already
// carry a vayva code, and errors it does not recognise, are returned as they
// are.
func interpretError(err error) error {
	if err == nil {
		return nil
	}
	var coded *vayva.Error
	if errors.As(err, &coded) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return withCode(vayva.ENOTFOUND, "Not found.", err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "23505": // unique_violation
			return withCode(vayva.ECONFLICT, "A record with the same key already exists.", err)
		case strings.HasPrefix(pgErr.Code, "22"): // data_exception: bad bytes, out-of-range values
			return withCode(vayva.EBADREQUEST, "The request holds a value that cannot be stored or compared.", err)
		case pgErr.Code == "42501": // insufficient_privilege
			return fmt.Errorf("%w: %w", ErrPermissionDenied, err)
		case pgErr.Code == "40001" || pgErr.Code == "40P01", // serialization_failure, deadlock_detected
			pgErr.Code == "55P03", // lock_not_available: lock_timeout
			pgErr.Code == "57014", // query_canceled: statement_timeout
			pgErr.Code == "25P03": // idle_in_transaction_session_timeout: the session was ended
			return withCode(vayva.EUNAVAILABLE, "The database is busy; retry.", err)
		case pgErr.Code == "57014", // query_canceled: statement_timeout, or cancelled at the caller's deadline
			pgErr.Code == "55P03": // lock_not_available: lock_timeout, NOWAIT
			return withCode(vayva.EUNAVAILABLE, "The database did not answer in time; retry.", err)
		case strings.HasPrefix(pgErr.Code, "08"), // connection_exception
			pgErr.Code == "53300", // too_many_connections
			pgErr.Code == "57P01", // admin_shutdown
			pgErr.Code == "57P02", // crash_shutdown
			pgErr.Code == "57P03": // cannot_connect_now
			return withCode(vayva.EUNAVAILABLE, "The database is unavailable.", err)
		}
		return err
	}
	if isTimeout(err) {
		return withCode(vayva.EUNAVAILABLE, "The database did not answer in time; retry.", err)
	}
	if isConnectionError(err) {
		return withCode(vayva.EUNAVAILABLE, "The database is unavailable.", err)
	}
	return err
}

// isTimeout reports whether err says a call ran out of time while it
// talked to the database (the caller's deadline, a pool that had no free
// connection in time): the database could not serve the request now, and
// a retry may succeed. A cancelled context is not one: the caller gave up.
func isTimeout(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err)
}

// withCode returns an error whose chain holds both a coded *vayva.Error
// (for vayva.ErrorCode and the API) and the driver error err.
func withCode(code, message string, err error) error {
	return fmt.Errorf("%w: %w", vayva.Errorf(code, "%s", message), err)
}

// isConnectionError reports whether err says the database could not be
// reached or the connection broke. Context cancellation and deadlines are
// not: isTimeout covers a deadline, and a cancelled caller gave up.
func isConnectionError(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}
