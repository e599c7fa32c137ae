// Package queue is the runtime's background-job layer on Redis Streams
// (go-redis v9), for the queues email, whatsapp-inbound, whatsapp-outbound,
// webhook-delivery, orders-sync, payments-inbound and delivery.
//
// # Model
//
// A Broker enqueues jobs and answers ops questions; a Consumer, named by
// the caller ("<node-id>-<n>"), runs handlers. Every job travels in a Job
// envelope (ID stable across retries, Key, Type, Attempt, MaxAttempts,
// EnqueuedAt, Payload, LastError) stored as the fields of one stream entry.
// Delivery is at least once: handlers make their effects idempotent on
// Job.ID (and the webhook edge dedupes on the provider's event id first).
//
// Each queue has one consumer group ("vayva") on each of its streams,
// created from the stream's first entry so nothing enqueued before the
// first consumer is missed. An entry is acknowledged (XACK) only after its
// handler returned nil, and deleted (XDEL) in the same script.
//
// # Unordered queues
//
// One stream, q:<name>. A consumer reads with one blocking XREADGROUP and
// runs up to Concurrency handlers at once; acknowledgements are batched. A
// failed job is rescheduled atomically (Lua: XACK + ZADD q:<name>:delayed +
// XDEL) with exponential backoff and jitter: a random delay between
// BaseBackoff and min(MaxBackoff, BaseBackoff·2^(attempt-1)), times
// RetryScale (VAYVA_RETRY_SCALE). A mover on every consumer (Lua:
// ZRANGEBYSCORE + XADD + ZREM) puts due retries back on the stream; it
// sleeps until the earliest is due. After MaxAttempts the job goes to the
// dead-letter stream q:<name>:dead with its last error and attempt count
// (Lua: XACK + XADD + XDEL).
//
// # Ordered queues and leases
//
// WhatsApp queues are ordered per conversation: a job goes to partition
// stream q:<name>:p:<fnv1a32(Key) mod Partitions>. Each partition is read by
// exactly one consumer at a time, the holder of its lease
// (q:<name>:p:<n>:lease, SET NX PX LeaseTTL, renewed every LeaseTTL/3 by a
// script that checks ownership). Consumers register in q:<name>:members and
// each keeps ceil(partitions / live consumers) partitions (capped by
// Concurrency), so partitions spread out as consumers come and go; a
// consumer above its share hands partitions back after the job in hand. A
// worker stops reading as soon as its lease is lost or cannot be confirmed
// in time, and its handler context is cancelled.
//
// Within a partition entries are handled strictly one after another and
// acknowledged before the next starts. A failing job is retried in place:
// the worker sleeps the backoff and tries again while the partition waits,
// so no later job of the same key (nor of any key in that partition) can
// overtake it, also across retries. Before each retry the attempt number is
// written to the entry's delivery counter (XCLAIM RETRYCOUNT), so a new
// owner continues the count. After MaxAttempts the job is dead-lettered and
// the partition moves on. The cost is head-of-line blocking of the
// partition, bounded by the sum of the backoffs (keep MaxBackoff short on
// ordered queues; more partitions make it rarer).
//
// A new owner first takes over everything pending on the partition
// (XAUTOCLAIM … JUSTID from 0-0, then XRANGE) and handles it in id order
// before reading new entries. Only the oldest pending entry can have been in
// progress, so only its delivery count is raised; a job that crashes every
// consumer thus runs out of attempts, while entries that were merely read
// ahead are not charged (a graceful stop hands the uncharged delivery back).
//
// # Crash recovery
//
// On unordered queues a janitor claims entries idle longer than
// ClaimMinIdle from consumers that stopped answering (XAUTOCLAIM) and
// handles them; the claim counts as a delivery, and a job whose deliveries
// exceed MaxAttempts is dead-lettered without running, so poison messages
// that kill their consumers end in the dead-letter stream. Live consumers
// refresh their in-flight entries every ClaimMinIdle/3 (XCLAIM JUSTID) so
// long handlers are not claimed. Consumer names are stable, so a restarted
// process first takes back its own pending entries; a lease on the name
// (consumer:<group>:<name>) keeps two live processes from sharing one.
// Consumers silent for ConsumerExpiry with nothing pending are deleted from
// the group, never ones with pending entries.
//
// If Redis drops the connection, readers back off (50ms doubling to 2s),
// log the failure once and the recovery once, and then take back whatever
// was delivered to them while the reply was lost; unacknowledged entries
// stay in the pending list meanwhile, so nothing is lost. Blocking reads run
// on a dedicated connection pool and are interrupted with CLIENT UNBLOCK on
// Stop and on lease loss.
//
// # Trimming
//
// Entries are deleted when they are acknowledged, retried or dead-lettered.
// Trim (run by consumers every TrimInterval) collects any leftovers with
// XTRIM MINID at min(oldest pending id, last-delivered-id + 1) over all
// groups (from XINFO GROUPS and XPENDING), which can never drop an entry
// that is pending or not yet delivered. Job streams are never trimmed with
// MAXLEN; only the dead-letter streams are capped (MAXLEN ~ DeadMaxLen).
//
// # Ingest
//
// IngestOnce is the webhook edge's enqueue: a Lua script sets
// dedupe:<key> with SET NX EX and, only if it was new, XADDs the job; both
// happen or neither. The TTL must cover the provider's retry horizon (4h
// Shopify, 3 days Stripe and Paystack, 7 days Meta). Concurrent calls are
// coalesced like a group commit: while IngestFlushes batches are in
// flight, new calls wait, and the next batch carries every waiting call
// (up to IngestBatch) in one script run, atomic as a whole. There is no
// batching window; a call returns when Redis has answered for its batch,
// with its own event's outcome, so nothing is acknowledged before it is
// written. The histogram vayva_queue_ingest_batch_events shows batch sizes.
// Every script argument costs Redis time, so an ingested entry leaves out
// the fields it implies (attempt 1, the queue's MaxAttempts, the entry id's
// time as the enqueue time); readers fill them in before decoding, and
// retries and dead letters write every field.
//
// # Reading ahead
//
// An unordered consumer runs Concurrency long-lived handler goroutines,
// and reads up to ReadBatch further entries ahead, which wait in the
// process for a free handler (held: the heartbeat keeps them from looking idle). A consumer
// that dies with entries read ahead leaves them pending like its running
// ones: they are claimed after ClaimMinIdle and that delivery counts as an
// attempt.
//
// # Ops and metrics
//
// Stats reports length, pending, delayed and dead counts per queue;
// DeadLetters lists dead letters; ReplayDead moves them back with attempts
// reset (atomically per entry). With a Registerer, counters
// vayva_queue_jobs_{enqueued,processed,failed,retried,dead,reclaimed}_total,
// the histogram vayva_queue_handler_duration_seconds and, collected on
// scrape, the gauges vayva_queue_{length,pending,delayed,dead} are exported.
//
// # Redis baseline and durability
//
// Everything works on Redis 7.0 (what Debian ships): no XACKDEL, XADD IDMP,
// XREADGROUP CLAIM or WAITAOF is used. Run Redis with appendonly yes and,
// on the instance holding ingress streams, appendfsync always: with the
// default everysec an acknowledged webhook can be lost in a crash, and the
// provider will not resend it. Also set maxmemory-policy noeviction. The
// scripts touch several keys and assume one Redis (or a primary with
// replicas), not Redis Cluster.
package queue
