package queue

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/internal/startstop"
	"github.com/vayvahq/vayva/persistence/redis"
)

// ErrConsumerNameTaken is returned by Start when another live process holds
// the consumer name.
var ErrConsumerNameTaken = errors.New("queue: consumer name is held by another live consumer")

// ConsumeOptions tunes one subscription.
type ConsumeOptions struct {
	// Concurrency is, on an unordered queue, how many jobs are handled at
	// once (default 8); on a partitioned queue, the most partitions this
	// consumer owns at once, each processed sequentially (default: all).
	// The consumers of a partitioned queue must together be able to own
	// every partition, or the partitions left over are not read.
	Concurrency int
}

// Consumer runs handlers for one or more queues under one consumer name.
// Register handlers with Consume, then Start; Stop waits for in-flight
// handlers. The name must be unique among live processes; Start enforces
// it with a lease on the name. A name that stays the same across restarts
// finds its own pending entries again, but must wait for the dead
// process's lease; the runtime names consumers per process incarnation
// ("<member-id>-<role>") instead, and a survivor takes over a dead
// incarnation's entries and leases (Broker.TakeOver).
// A consumer is a long-lived component with the semantics of package
// startstop.
type Consumer struct {
	startstop.BaseStartStop

	b     *Broker
	name  string
	token string
	log   zerolog.Logger

	mu      sync.Mutex // guards begun and subs
	begun   bool       // Start was called: no more Consume
	subs    []runner
	readers *goredis.Client

	// Set by Start, before any goroutine runs.
	stopping <-chan struct{} // closed when Stop begins: loops wind down
	hctx     context.Context // handlers' context: cancelled by a hard stop
	hcancel  context.CancelFunc
	wg       sync.WaitGroup
	killed   atomic.Bool
}

// runner is one subscription's machinery.
type runner interface {
	queueName() string
	readerCount() int
	start()
	wake()
}

// NewConsumer returns a consumer named name (letters, digits, "-", "_",
// "." and ":" only).
func (b *Broker) NewConsumer(name string) (*Consumer, error) {
	if name == "" || len(name) > 200 || strings.ContainsFunc(name, func(r rune) bool {
		return !(r == '-' || r == '_' || r == '.' || r == ':' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) {
		return nil, fmt.Errorf("queue: new consumer: %w", vayva.Errorf(vayva.EINVALID, "invalid consumer name %q", name))
	}
	return &Consumer{
		b:     b,
		name:  name,
		token: name + "/" + strconv.FormatUint(rand.Uint64(), 36),
		log:   b.log.With().Str("consumer", name).Logger(),
	}, nil
}

// Name returns the consumer name.
func (c *Consumer) Name() string { return c.name }

// Consume registers handler for queue and creates the queue's consumer
// group(s) if needed. It must be called before Start, once per queue.
func (c *Consumer) Consume(ctx context.Context, queue string, handler Handler, opts ConsumeOptions) error {
	s, err := c.b.spec("consume", queue)
	if err != nil {
		return err
	}
	if handler == nil || opts.Concurrency < 0 {
		return fmt.Errorf("queue: consume %s: %w", queue, vayva.Errorf(vayva.EINVALID, "a handler and a non-negative concurrency are required"))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.begun {
		return fmt.Errorf("queue: consume %s: consumer already started", queue)
	}
	for _, r := range c.subs {
		if r.queueName() == queue {
			return fmt.Errorf("queue: consume %s: already registered", queue)
		}
	}
	for _, key := range c.b.streamKeys(s) {
		if err := c.b.ensureGroup(ctx, key); err != nil {
			return fmt.Errorf("queue: consume %s: %w", queue, redis.Translate(err))
		}
	}
	if s.Ordered() {
		n := opts.Concurrency
		if n == 0 || n > s.Partitions {
			n = s.Partitions
		}
		c.subs = append(c.subs, newOrderedSub(c, s, handler, n))
	} else {
		n := opts.Concurrency
		if n == 0 {
			n = 8
		}
		c.subs = append(c.subs, newUnorderedSub(c, s, handler, n))
	}
	return nil
}

// ensureGroup creates the consumer group on key, starting from the first
// entry so jobs enqueued before any consumer existed are delivered.
func (b *Broker) ensureGroup(ctx context.Context, key string) error {
	err := b.rdb.XGroupCreateMkStream(ctx, key, b.cfg.Group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return err
	}
	return nil
}

// Start takes the lease on the consumer name (waiting up to twice LeaseTTL
// for a previous holder's lease to expire) and starts the subscriptions.
// The consumer runs until Stop; ctx bounds only the start itself.
func (c *Consumer) Start(ctx context.Context) (err error) {
	run, started, stopped, err := c.StartInit(ctx)
	if err != nil {
		return fmt.Errorf("queue: start %s: %w", c.name, err)
	}
	defer func() {
		if err != nil {
			stopped()
		}
	}()
	c.mu.Lock()
	c.begun = true
	subs := c.subs
	c.mu.Unlock()
	if len(subs) == 0 {
		return fmt.Errorf("queue: start %s: no queue registered", c.name)
	}
	sctx, cancel := startstop.StartupContext(ctx, run)
	defer cancel()
	if err := c.acquireName(sctx); err != nil {
		return err
	}
	readers := 0
	for _, r := range subs {
		readers += r.readerCount()
	}
	c.readers = c.b.rc.Dedicated(readers + 2)
	c.stopping = run.Done()
	c.hctx, c.hcancel = context.WithCancel(context.WithoutCancel(run))
	c.goroutine(c.nameLoop)
	for _, r := range subs {
		r.start()
	}
	c.b.register(c)
	go func() {
		defer stopped()
		<-c.stopping
		c.b.unregister(c)
		// Blocking reads are interrupted until every loop has seen the stop.
		exited, woken := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(woken)
			c.wakeUntil(exited)
		}()
		c.wg.Wait()
		close(exited)
		<-woken
		if !c.killed.Load() {
			ctx, cancel := context.WithTimeout(c.hctx, time.Second)
			_ = releaseScript.Run(ctx, c.b.rdb, []string{c.nameKey()}, c.token).Err()
			cancel()
		}
		_ = c.readers.Close()
		c.hcancel()
	}()
	started()
	return nil
}

func (c *Consumer) nameKey() string { return c.b.rc.Key("consumer", c.b.cfg.Group, c.name) }

func (c *Consumer) acquireName(ctx context.Context) error {
	ttl := c.b.cfg.LeaseTTL
	deadline := time.Now().Add(2 * ttl)
	for {
		ok, err := c.b.rdb.SetNX(ctx, c.nameKey(), c.token, ttl).Result()
		if err != nil {
			return fmt.Errorf("queue: start %s: %w", c.name, redis.Translate(err))
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("queue: start %s: %w", c.name, ErrConsumerNameTaken)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("queue: start %s: %w", c.name, ctx.Err())
		case <-time.After(ttl / 10):
		}
	}
}

// nameLoop renews the lease on the consumer name.
func (c *Consumer) nameLoop() {
	var latch errLatch
	t := time.NewTicker(c.b.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-c.stopping:
			return
		case <-t.C:
		}
		if !c.live() {
			return
		}
		res, err := renewScript.Run(c.hctx, c.b.rdb, []string{c.nameKey()}, c.token, c.b.cfg.LeaseTTL.Milliseconds()).Int64Slice()
		if err == nil && len(res) == 1 && res[0] == 0 {
			// Lost (expired while Redis was out of reach): take it back if free.
			var ok bool
			ok, err = c.b.rdb.SetNX(c.hctx, c.nameKey(), c.token, c.b.cfg.LeaseTTL).Result()
			if err == nil && !ok {
				err = ErrConsumerNameTaken
			}
		}
		latch.report(c.log, "renew consumer name", err)
	}
}

// Stop stops reading, waits for in-flight handlers to finish and their
// results to be recorded, and releases the consumer's partitions and name.
// If ctx ends first, handler contexts are cancelled, Stop waits for the
// handlers to return and reports ctx's error; work not acknowledged by then
// stays pending and is taken over by another consumer.
func (c *Consumer) Stop(ctx context.Context) error {
	if err := c.StopWithAbort(ctx, func() { c.hcancel() }); err != nil {
		return fmt.Errorf("queue: stop %s: %w", c.name, err)
	}
	return nil
}

// kill stops the consumer the way a crash would: nothing more is
// acknowledged, retried, dead-lettered or released.
func (c *Consumer) kill() {
	c.killed.Store(true) // checked by every loop before it talks to Redis
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = c.Stop(ctx) // an ended context: the hard stop at once
}

// wakeUntil interrupts blocking reads until done is closed.
func (c *Consumer) wakeUntil(done <-chan struct{}) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		for _, r := range c.subs {
			r.wake()
		}
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}

// live reports whether the consumer may still act on Redis: neither killed
// nor cancelled. go-redis sends commands even on a cancelled context, so
// loops check this before each round.
func (c *Consumer) live() bool { return !c.killed.Load() && c.hctx.Err() == nil }

func (c *Consumer) goroutine(f func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
}

func (c *Consumer) stopped() bool {
	select {
	case <-c.stopping:
		return true
	default:
		return false
	}
}

// sleep waits d or until the consumer stops; it reports whether it slept
// the full time.
func (c *Consumer) sleep(d time.Duration, extra <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.stopping:
		return false
	case <-c.hctx.Done():
		return false
	case <-extra:
		return false
	}
}

// call runs h, turning a panic into an error.
func call(ctx context.Context, h Handler, job Job) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panic: %v", r)
		}
	}()
	return h(ctx, job)
}

// deadValues returns the dead-letter entry fields for job.
func deadValues(job Job, src string) []any {
	return append(job.values(), fieldDeadAt, strconv.FormatInt(time.Now().UnixMilli(), 10), fieldSource, src)
}

// rawDeadValues returns dead-letter fields for an entry that did not parse.
func rawDeadValues(fields map[string]any, src string, err error) []any {
	v := make([]any, 0, 2*len(fields)+6)
	for k, x := range fields {
		if k == fieldErr || k == fieldDeadAt || k == fieldSource {
			continue
		}
		v = append(v, k, x)
	}
	return append(v, fieldErr, err.Error(), fieldDeadAt, strconv.FormatInt(time.Now().UnixMilli(), 10), fieldSource, src)
}

// errLatch logs the first error of a streak and the recovery after it, so
// a Redis outage produces two log lines per loop rather than thousands.
type errLatch struct {
	failing bool
	streak  int
}

func (l *errLatch) report(log zerolog.Logger, what string, err error) {
	if err != nil {
		l.streak++
		if !l.failing {
			l.failing = true
			log.Warn().Err(err).Str("op", what).Msg("queue: redis call failing; retrying with backoff")
		}
		return
	}
	if l.failing {
		log.Info().Str("op", what).Int("failures", l.streak).Msg("queue: redis call recovered")
	}
	l.failing, l.streak = false, 0
}

// delay is the backoff after the latch's current streak of failures:
// 50ms doubling up to 2s, with jitter.
func (l *errLatch) delay() time.Duration {
	n := min(l.streak, 6)
	d := 50 * time.Millisecond << n
	d = min(d, 2*time.Second)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// blockingReader runs blocking XREADGROUPs on a dedicated connection whose
// client id it knows, so Stop and lease loss can interrupt the block with
// CLIENT UNBLOCK instead of waiting for the timeout.
type blockingReader struct {
	pool *goredis.Client
	mu   sync.Mutex
	conn *goredis.Conn
	id   int64
}

func (r *blockingReader) read(ctx context.Context, a *goredis.XReadGroupArgs) ([]goredis.XStream, error) {
	r.mu.Lock()
	conn := r.conn
	r.mu.Unlock()
	if conn == nil {
		conn = r.pool.Conn()
		id, err := conn.ClientID(ctx).Result()
		if err != nil {
			_ = conn.Close()
			return nil, err
		}
		r.mu.Lock()
		r.conn, r.id = conn, id
		r.mu.Unlock()
	}
	res, err := conn.XReadGroup(ctx, a).Result()
	if err != nil && !errors.Is(err, goredis.Nil) {
		r.close()
	}
	return res, err
}

// unblock interrupts a blocked read; the read returns no entries.
func (r *blockingReader) unblock(ctx context.Context, rdb *goredis.Client) {
	r.mu.Lock()
	id := r.id
	r.mu.Unlock()
	if id != 0 {
		_ = rdb.ClientUnblock(ctx, id).Err()
	}
}

func (r *blockingReader) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conn != nil {
		_ = r.conn.Close()
	}
	r.conn, r.id = nil, 0
}

func isNoGroup(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOGROUP")
}

// pendingCounts returns the delivery counts of consumer's pending entries
// of stream between start and end.
func (b *Broker) pendingCounts(ctx context.Context, stream, consumer, start, end string, limit int64) (map[string]int64, error) {
	ps, err := b.rdb.XPendingExt(ctx, &goredis.XPendingExtArgs{
		Stream: stream, Group: b.cfg.Group, Start: start, End: end, Count: limit, Consumer: consumer,
	}).Result()
	if err != nil {
		return nil, err
	}
	m := make(map[string]int64, len(ps))
	for _, p := range ps {
		m[p.ID] = p.RetryCount
	}
	return m, nil
}

// pruneConsumers deletes consumers of stream that have nothing pending and
// have been silent longer than ConsumerExpiry.
func (c *Consumer) pruneConsumers(ctx context.Context, stream string) error {
	cs, err := c.b.rdb.XInfoConsumers(ctx, stream, c.b.cfg.Group).Result()
	if err != nil {
		if strings.Contains(err.Error(), "no such key") || isNoGroup(err) {
			return nil
		}
		return err
	}
	for _, x := range cs {
		if x.Name == c.name || x.Pending > 0 || x.Idle < c.b.cfg.ConsumerExpiry {
			continue
		}
		if err := pruneScript.Run(ctx, c.b.rdb, []string{stream}, c.b.cfg.Group, x.Name).Err(); err != nil {
			return err
		}
	}
	return nil
}
