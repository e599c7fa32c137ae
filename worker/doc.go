// Package worker holds the node's background components that move events
// out of the database and into the world: the outbox relay, the email
// worker and the outbound webhook worker. Each is a long-lived component
// with Start and an idempotent Stop that owns its goroutines.
//
// # Outbox relay
//
// Actors and repositories append events to runtime.outbox in the
// transaction of the state change that caused them. The Relay publishes
// them to their Redis queues after commit. One relay publishes at a time in
// the whole deployment: the leader is whoever holds a PostgreSQL advisory
// lock on a dedicated connection (postgres.Outbox.Lead); followers try to
// take it every LeaderRetry, so when the leader's process or connection
// dies its session ends, the lock is released and another node takes over
// within a second or so. The leader reads unpublished rows in outbox order
// (batches of BatchSize, polling every PollInterval while idle), enqueues
// each with Job.ID = event id, Key = event key, Type = event type and the
// event JSON as payload, then marks them published on the same connection.
// Publishing stops at the first failure, so a row is never published before
// an earlier one. A crash between enqueue and mark publishes the row again
// (same job id) after restart: delivery is at least once, never lost, and
// consumers dedupe on the job id. If two relays ever overlap (a leader cut
// off from the database while still enqueueing), each publishes in order,
// so the first copy of each event still arrives in order. Published rows
// older than Retention are pruned in batches.
//
// # Email worker
//
// Email consumes email.send events from the email queue, renders the
// template (html/template for the HTML body, text/template for subject and
// text), records the email in comm.email_log (unique per event) under a
// send lease, so a redelivered or duplicated event is sent once, and sends
// it through Resend with the job id (the event id) as Idempotency-Key, which
// covers a crash between the send and its log line. A 429 pauses every send of the worker for the
// provider's retry-after (scaled by RetryScale) and is waited out inline a
// few times before the job goes back to the queue's backoff; a permanent
// 4xx marks the email failed without retrying.
//
// # Webhook worker
//
// Webhooks consumes merchant-facing events from the webhook-delivery
// queue and fans each out to one delivery per subscribed active endpoint
// (comm.webhook_deliveries, unique per endpoint and event). Deliveries are
// retried durably: a dispatcher on every worker node claims due deliveries
// (FOR UPDATE SKIP LOCKED, with a lease) and POSTs them, signed per
// Standard Webhooks, with the delivery id as the stable webhook-id. Every
// attempt is logged. Failures are retried after 5s, 5m, 30m, 2h, 5h, 10h
// and 10h (with jitter, times RetryScale; longer when the endpoint sends
// Retry-After with a 429 or 503); then the delivery is exhausted. 410 Gone
// disables the endpoint at once, and DisableAfter exhausted deliveries in a
// row disable it too; disabling fails its pending deliveries.
package worker
