// Package actors holds the actor kit and one file per virtual actor kind:
// its state, command handlers and state machine. Actor code is pure domain
// logic plus calls to small interfaces declared here (Journal, repositories,
// gateways); it never sees pgx, go-redis or fasthttp types.
//
// Every kind runs on the kit's Processor: on activation it claims an epoch
// through the Journal and loads the kind's state; each state-changing command
// computes its changes without touching the in-memory state and hands them
// to Apply (or ApplyBatch), which commits them (state, idempotency inbox,
// outbox events, reminders) in one transaction and only then installs them
// in memory and replies. A refusal keeps the activation; a stale epoch or an
// uncertain commit stops it so the caller's retry lands on a fresh one.
package actors
