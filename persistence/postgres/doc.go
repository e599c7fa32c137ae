// Package postgres is the runtime's PostgreSQL adapter: the connection
// pool, the embedded schema migrations, domain-scoped transactions, the
// actor journal (fencing, inbox, outbox) and the durable reminder scheduler.
//
// # Single writer through fencing
//
// The cluster's identity lookup is routing, not a guarantee: during a
// membership change the same actor identity can be active on two nodes for a
// while. Safety therefore comes from the database, through runtime.actors,
// which holds one row per identity with an epoch and a version.
//
//   - Activate runs one upsert that increments the identity's epoch and
//     returns it with the current version and snapshot. The newest
//     activation always wins; every older one is stale from that moment.
//   - CommitBatch (Commit is a batch of one) runs one transaction that
//     looks the commands up in runtime.inbox and updates the identity's row
//     with "WHERE epoch = mine AND version = mine", incrementing the
//     version, in one round trip. A stale activation matches no row and gets
//     vayva.ErrStaleEpoch before it has written anything; it stops itself
//     and the caller retries, reaching the current owner, which reloads
//     state from the database. The row lock this UPDATE takes also orders
//     the commit against a concurrent Activate: whichever comes second sees
//     the other's result.
//   - In the same transaction the commit applies the commands' domain
//     changes, records their ids and replies in runtime.inbox (a redelivered
//     command is answered from there and not applied again), appends their
//     events to runtime.outbox, and sets or cancels their reminders. Either
//     all of it is written or none.
//   - An error from inside the transaction means it rolled back. A failure
//     at COMMIT that the server did not answer is vayva.ErrCommitUncertain:
//     the transaction may have committed, so the caller must reload.
//   - The actor replies only after the commit, so nothing acknowledged is
//     lost, whichever node dies.
//
// Domain writes reach the journal as actors.Change values. Each value's
// dynamic type selects an applier registered with HandleChange (or, from
// files of this package, with registerChange in an init function); a type
// without an applier fails the commit before it starts, and CheckChanges
// lets a node refuse to start with a kind whose changes it cannot write.
//
// # Roles and grants
//
// Each data-ownership domain (vayva.Domain) has a schema and a NOLOGIN role
// named vayva_<domain>. InDomain runs a transaction after SET LOCAL ROLE to
// the domain's role, so the database itself enforces who writes what:
//
//   - a role may read and write the tables of its own schema;
//   - the auth, merchant, catalog and orders schemas are readable by every
//     domain role; ledger and comm only by their own;
//   - every role may write runtime.actors, runtime.inbox, runtime.outbox and
//     runtime.reminders, which every commit touches; the rest of the runtime
//     schema (membership, idempotency keys) belongs to vayva_runtime;
//   - the ledger role may only INSERT and SELECT ledger.postings: the ledger
//     is append-only by grant, and corrections are reversing transactions.
//
// A refused statement fails with SQLSTATE 42501, reported as
// ErrPermissionDenied with the PostgreSQL error in its chain.
//
// Grants on later tables come from ALTER DEFAULT PRIVILEGES in the first
// migration, so every migration must run as the same database user. The
// migrations create the roles if missing (roles belong to the server, not to
// one database) and grant them to that user, which may then be an ordinary
// user with CREATEROLE rather than a superuser.
//
// # Migrations
//
// Migrations are SQL files in migrations/, embedded in the binary and
// applied by goose under a session-level advisory lock, so nodes starting
// together migrate one at a time. Numbers are allocated in ranges per area
// (see migrationsFS) and may be applied out of order.
//
// # Reminders
//
// A Scheduler on each node claims due reminders with UPDATE … FOR UPDATE
// SKIP LOCKED, setting a lease, and hands them to its fire function. The
// owning actor cancels or moves the reminder in its commit; a reminder whose
// fire failed stays and fires again once its lease has expired.
package postgres
