// Package actors holds one file per virtual actor kind: its state, command
// handlers and state machine. Actor code is pure domain logic plus calls to
// small interfaces declared here (Journal, repositories, gateways); it never
// sees pgx, go-redis or fasthttp types.
//
// Every kind follows the same discipline: on activation it claims an epoch
// through the Journal and loads its state; each state-changing command
// computes its changes without touching the in-memory state, commits them
// (state, idempotency inbox, outbox events, reminders) in one transaction,
// and only then applies them in memory and replies. A stale epoch stops the
// activation so the caller's retry lands on the current owner.
package actors
