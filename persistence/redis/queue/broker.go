package queue

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/persistence/redis"
)

// Broker is the queue system on one Redis: it enqueues jobs, answers ops
// questions (stats, dead letters, replay) and creates consumers. It is safe
// for concurrent use and owns no long-lived goroutines (consumers do); an
// IngestOnce call may start one that sends the batches waiting behind its
// own and ends when none waits.
type Broker struct {
	rc      *redis.Client
	rdb     *goredis.Client
	cfg     Config
	specs   map[string]QueueSpec
	metrics *metrics
	log     zerolog.Logger
	ingest  ingestCoalescer

	// consumers are the consumers of this process that are running, for
	// TakeOver.
	consumersMu sync.Mutex
	consumers   map[*Consumer]struct{}
}

// New returns a Broker over rc. cfg's zero fields take their defaults.
func New(rc *redis.Client, cfg Config) (*Broker, error) {
	if rc == nil {
		return nil, errors.New("queue: new: nil redis client")
	}
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	b := &Broker{rc: rc, rdb: rc.Redis(), cfg: cfg, specs: make(map[string]QueueSpec, len(cfg.Queues)), log: cfg.Logger}
	for _, s := range cfg.Queues {
		b.specs[s.Name] = s
	}
	b.metrics = newMetrics(cfg.Registerer, b)
	return b, nil
}

// Spec returns the definition of queue name.
func (b *Broker) Spec(name string) (QueueSpec, bool) {
	s, ok := b.specs[name]
	return s, ok
}

// Queues returns the definitions of all queues, in configuration order.
func (b *Broker) Queues() []QueueSpec {
	return append([]QueueSpec(nil), b.cfg.Queues...)
}

// Key layout, all under the client prefix:
//
//	q:<name>               stream of an unordered queue
//	q:<name>:p:<n>         partition stream n of an ordered queue
//	q:<name>:p:<n>:lease   owner of partition n
//	q:<name>:members       consumers of an ordered queue (zset, score = expiry)
//	q:<name>:delayed       retries waiting for their time (zset, score = due ms)
//	q:<name>:dead          dead-letter stream
//	consumer:<group>:<c>   lease on a consumer name
//	dedupe:<key>           ingest dedupe marker
func (b *Broker) streamKey(s QueueSpec, partition int) string {
	if !s.Ordered() {
		return b.rc.Key("q", s.Name)
	}
	return b.rc.Key("q", s.Name, "p", strconv.Itoa(partition))
}

func (b *Broker) streamKeys(s QueueSpec) []string {
	if !s.Ordered() {
		return []string{b.streamKey(s, 0)}
	}
	keys := make([]string, s.Partitions)
	for i := range keys {
		keys[i] = b.streamKey(s, i)
	}
	return keys
}

func (b *Broker) leaseKey(s QueueSpec, partition int) string {
	return b.rc.Key("q", s.Name, "p", strconv.Itoa(partition), "lease")
}

func (b *Broker) membersKey(s QueueSpec) string { return b.rc.Key("q", s.Name, "members") }
func (b *Broker) delayedKey(s QueueSpec) string { return b.rc.Key("q", s.Name, "delayed") }
func (b *Broker) deadKey(s QueueSpec) string    { return b.rc.Key("q", s.Name, "dead") }

func (b *Broker) spec(op, queue string) (QueueSpec, error) {
	s, ok := b.specs[queue]
	if !ok {
		return QueueSpec{}, fmt.Errorf("queue: %s: %w", op, vayva.Errorf(vayva.EINVALID, "unknown queue %q", queue))
	}
	return s, nil
}

// prepare validates job for queue and fills in its defaults; it returns the
// stream the job goes to.
func (b *Broker) prepare(op, queue string, job *Job) (QueueSpec, string, error) {
	s, err := b.spec(op, queue)
	if err != nil {
		return s, "", err
	}
	var v vayva.Validation
	v.Check(job.Type != "", "type", "is required")
	v.Check(len(job.Type) <= 200 && len(job.ID) <= 200 && len(job.Key) <= 1000, "job", "id, type or key is too long")
	v.Check(!s.Ordered() || job.Key != "", "key", "is required on ordered queue %s", s.Name)
	v.Check(job.MaxAttempts >= 0, "max_attempts", "must not be negative")
	if err := v.Err(); err != nil {
		return s, "", fmt.Errorf("queue: %s: %w", op, err)
	}
	if job.ID == "" {
		job.ID = vayva.NewID("job")
	}
	if job.MaxAttempts == 0 {
		job.MaxAttempts = s.MaxAttempts
	}
	if job.EnqueuedAt.IsZero() {
		job.EnqueuedAt = time.Now()
	}
	job.EnqueuedAt = time.UnixMilli(job.EnqueuedAt.UnixMilli())
	job.Queue = s.Name
	job.Attempt = 1
	job.LastError = ""
	return s, b.streamKey(s, s.Partition(job.Key)), nil
}

// Enqueue appends job to queue and returns its ID (generated when job.ID is
// empty). The job starts at attempt 1; MaxAttempts 0 means the queue's.
// On a partitioned queue job.Key is required and picks the partition.
func (b *Broker) Enqueue(ctx context.Context, queue string, job Job) (string, error) {
	_, stream, err := b.prepare("enqueue", queue, &job)
	if err != nil {
		return "", err
	}
	if err := b.rdb.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: job.values()}).Err(); err != nil {
		return "", fmt.Errorf("queue: enqueue: %w", redis.Translate(err))
	}
	b.metrics.enqueued.WithLabelValues(queue).Inc()
	return job.ID, nil
}

// QueueStats describes one queue, summed over its partitions.
type QueueStats struct {
	Name string
	// Length is the number of entries in the job streams: waiting plus in
	// flight (acknowledged entries are deleted).
	Length int64
	// Pending is the number of entries delivered and not yet acknowledged.
	Pending int64
	// Delayed is the number of jobs waiting for a retry.
	Delayed int64
	// Dead is the number of entries in the dead-letter stream.
	Dead int64
}

// Stats returns the depth of every queue.
func (b *Broker) Stats(ctx context.Context) ([]QueueStats, error) {
	pipe := b.rdb.Pipeline()
	cmds := make([]*goredis.Cmd, len(b.cfg.Queues))
	for i, s := range b.cfg.Queues {
		keys := append(b.streamKeys(s), b.delayedKey(s), b.deadKey(s))
		cmds[i] = statsScript.EvalSha(ctx, pipe, keys, b.cfg.Group)
	}
	if _, err := pipe.Exec(ctx); err != nil && !isNoScript(err) {
		return nil, fmt.Errorf("queue: stats: %w", redis.Translate(err))
	}
	out := make([]QueueStats, len(b.cfg.Queues))
	for i, s := range b.cfg.Queues {
		vals, err := cmds[i].Int64Slice()
		if isNoScript(err) {
			keys := append(b.streamKeys(s), b.delayedKey(s), b.deadKey(s))
			vals, err = statsScript.Run(ctx, b.rdb, keys, b.cfg.Group).Int64Slice()
		}
		if err != nil {
			return nil, fmt.Errorf("queue: stats %s: %w", s.Name, redis.Translate(err))
		}
		if len(vals) != 4 {
			return nil, fmt.Errorf("queue: stats %s: unexpected reply %v", s.Name, vals)
		}
		out[i] = QueueStats{Name: s.Name, Length: vals[0], Pending: vals[1], Delayed: vals[2], Dead: vals[3]}
	}
	return out, nil
}

func isNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}

// DeadLetter is one entry of a dead-letter stream.
type DeadLetter struct {
	// StreamID is the entry's id in the dead-letter stream.
	StreamID string
	// Job is the job as it failed: Attempt is the number of attempts made
	// and LastError the final error. A malformed entry has only LastError.
	Job Job
	// DeadAt is when the job was dead-lettered.
	DeadAt time.Time
}

// DeadLetters returns up to limit dead letters of queue, oldest first
// (limit <= 0 means 100).
func (b *Broker) DeadLetters(ctx context.Context, queue string, limit int) ([]DeadLetter, error) {
	s, err := b.spec("dead letters", queue)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 100
	}
	msgs, err := b.rdb.XRangeN(ctx, b.deadKey(s), "-", "+", int64(limit)).Result()
	if err != nil {
		return nil, fmt.Errorf("queue: dead letters: %w", redis.Translate(err))
	}
	out := make([]DeadLetter, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, decodeDead(queue, m))
	}
	return out, nil
}

func decodeDead(queue string, m goredis.XMessage) DeadLetter {
	d := DeadLetter{StreamID: m.ID}
	if at, ok := m.Values[fieldDeadAt].(string); ok {
		if ms, err := strconv.ParseInt(at, 10, 64); err == nil {
			d.DeadAt = time.UnixMilli(ms)
		}
	}
	job, err := decodeJob(queue, m.Values)
	if err != nil {
		job = Job{Queue: queue, LastError: fmt.Sprintf("malformed entry: %v", err)}
		if e, ok := m.Values[fieldErr].(string); ok {
			job.LastError += ": " + e
		}
	}
	d.Job = job
	return d
}

// ReplayDead moves every dead letter of queue that was there when the call
// started back onto the queue, with its attempts reset, and removes it from
// the dead-letter stream; each move is atomic. Malformed entries stay. It
// returns how many jobs were replayed. On a partitioned queue a replayed job
// goes to the end of its partition, after jobs of its key that were
// enqueued while it was dead.
func (b *Broker) ReplayDead(ctx context.Context, queue string) (int, error) {
	s, err := b.spec("replay dead", queue)
	if err != nil {
		return 0, err
	}
	dead := b.deadKey(s)
	last, err := b.rdb.XRevRangeN(ctx, dead, "+", "-", 1).Result()
	if err != nil {
		return 0, fmt.Errorf("queue: replay dead: %w", redis.Translate(err))
	}
	if len(last) == 0 {
		return 0, nil
	}
	end, start, n := last[0].ID, "-", 0
	for {
		msgs, err := b.rdb.XRangeN(ctx, dead, start, end, 100).Result()
		if err != nil {
			return n, fmt.Errorf("queue: replay dead: %w", redis.Translate(err))
		}
		for _, m := range msgs {
			job, err := decodeEntry(s, m)
			if err != nil || (s.Ordered() && job.Key == "") {
				continue
			}
			job.Attempt, job.LastError = 1, ""
			args := append([]any{m.ID}, job.values()...)
			err = replayScript.Run(ctx, b.rdb, []string{dead, b.streamKey(s, s.Partition(job.Key))}, args...).Err()
			switch {
			case errors.Is(err, goredis.Nil):
			case err != nil:
				return n, fmt.Errorf("queue: replay dead: %w", redis.Translate(err))
			default:
				n++
				b.metrics.enqueued.WithLabelValues(queue).Inc()
			}
		}
		if len(msgs) < 100 {
			return n, nil
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
}

// Trim deletes, from every stream of queue, the entries that every consumer
// group has acknowledged and that are older than the oldest entry still
// pending or not yet delivered: XTRIM MINID up to min(oldest pending id,
// last-delivered-id + 1) over all groups. It never drops an entry that is
// pending or undelivered, and leaves streams without a group alone. Entries
// are normally deleted on acknowledgement, so this only collects leftovers.
// It returns the number of entries deleted.
func (b *Broker) Trim(ctx context.Context, queue string) (int64, error) {
	s, err := b.spec("trim", queue)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, key := range b.streamKeys(s) {
		n, err := b.trimStream(ctx, key)
		if err != nil {
			return total, fmt.Errorf("queue: trim %s: %w", key, redis.Translate(err))
		}
		total += n
	}
	return total, nil
}

func (b *Broker) trimStream(ctx context.Context, key string) (int64, error) {
	groups, err := b.rdb.XInfoGroups(ctx, key).Result()
	if err != nil {
		if strings.Contains(err.Error(), "no such key") {
			return 0, nil
		}
		return 0, err
	}
	if len(groups) == 0 {
		return 0, nil
	}
	var min streamID
	for i, g := range groups {
		last, err := parseStreamID(g.LastDeliveredID)
		if err != nil {
			return 0, err
		}
		cand := last.next()
		if g.Pending > 0 {
			p, err := b.rdb.XPending(ctx, key, g.Name).Result()
			if err != nil {
				return 0, err
			}
			if p.Count > 0 {
				lower, err := parseStreamID(p.Lower)
				if err != nil {
					return 0, err
				}
				if lower.less(cand) {
					cand = lower
				}
			}
		}
		if i == 0 || cand.less(min) {
			min = cand
		}
	}
	return b.rdb.XTrimMinID(ctx, key, min.String()).Result()
}

// streamID is a parsed stream entry id "<ms>-<seq>".
type streamID struct{ ms, seq uint64 }

func parseStreamID(s string) (streamID, error) {
	ms, seq, ok := strings.Cut(s, "-")
	if !ok {
		seq = "0"
	}
	a, err1 := strconv.ParseUint(ms, 10, 64)
	b, err2 := strconv.ParseUint(seq, 10, 64)
	if err1 != nil || err2 != nil {
		return streamID{}, fmt.Errorf("queue: bad stream id %q", s)
	}
	return streamID{a, b}, nil
}

func (id streamID) less(o streamID) bool {
	return id.ms < o.ms || (id.ms == o.ms && id.seq < o.seq)
}

func (id streamID) next() streamID {
	if id.seq == math.MaxUint64 {
		return streamID{id.ms + 1, 0}
	}
	return streamID{id.ms, id.seq + 1}
}

func (id streamID) String() string {
	return strconv.FormatUint(id.ms, 10) + "-" + strconv.FormatUint(id.seq, 10)
}
