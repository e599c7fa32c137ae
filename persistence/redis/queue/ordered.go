package queue

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// orderedSub consumes a partitioned queue. A lease loop keeps this
// consumer's share of the partitions (ceil(partitions / live consumers),
// at most max) by taking free partition leases and renewing held ones; every
// held partition has a worker that reads its stream and handles its entries
// strictly one after another.
type orderedSub struct {
	c       *Consumer
	spec    QueueSpec
	h       Handler
	max     int
	dead    string
	members string

	// kick makes the lease loop look at once (TakeOver freed leases).
	kick chan struct{}

	// workers is touched only by the lease loop (and read by wake under mu).
	mu      sync.Mutex
	workers map[int]*partWorker
}

func newOrderedSub(c *Consumer, s QueueSpec, h Handler, max int) *orderedSub {
	return &orderedSub{
		c: c, spec: s, h: h, max: max,
		dead:    c.b.deadKey(s),
		members: c.b.membersKey(s),
		kick:    make(chan struct{}, 1),
		workers: make(map[int]*partWorker),
	}
}

func (o *orderedSub) queueName() string { return o.spec.Name }
func (o *orderedSub) readerCount() int  { return o.max }

func (o *orderedSub) start() {
	o.c.goroutine(o.leaseLoop)
	o.c.goroutine(func() { trimLoop(o.c, o.spec) })
}

func (o *orderedSub) wake() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, w := range o.workers {
		w.reader.unblock(o.c.hctx, o.c.b.rdb)
	}
}

// partWorker owns one partition while its lease is held.
type partWorker struct {
	o       *orderedSub
	p       int
	stream  string
	lease   string
	reader  *blockingReader
	ctx     context.Context // cancelled when the lease is lost
	cancel  context.CancelFunc
	quit    chan struct{} // closed to stop after the current job
	done    chan struct{}
	release atomic.Bool  // give the lease back on exit
	valid   atomic.Int64 // lease known valid until (unix ns)
	quitted bool         // lease loop's view: quit closed
}

func (w *partWorker) setValid(from time.Time, ttl time.Duration) {
	w.valid.Store(from.Add(ttl - ttl/5).UnixNano())
}

func (w *partWorker) leaseValid() bool { return time.Now().UnixNano() < w.valid.Load() }

// running reports whether the worker may go on: not asked to quit, lease
// not lost and not expired.
func (w *partWorker) running() bool {
	if !w.o.c.live() {
		return false
	}
	select {
	case <-w.quit:
		return false
	case <-w.ctx.Done():
		return false
	default:
		return w.leaseValid()
	}
}

func (w *partWorker) stop(release bool) {
	if w.quitted {
		return
	}
	w.quitted = true
	w.release.Store(release)
	close(w.quit)
	w.reader.unblock(w.o.c.hctx, w.o.c.b.rdb)
}

func (w *partWorker) exited() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// leaseLoop keeps this consumer's share of partitions, every LeaseTTL/3.
func (o *orderedSub) leaseLoop() {
	c := o.c
	var latch errLatch
	ttl := c.b.cfg.LeaseTTL
	t := time.NewTicker(ttl / 3)
	defer t.Stop()
	for {
		latch.report(c.log, "partition leases "+o.spec.Name, o.tick())
		select {
		case <-c.stopping:
			o.shutdown()
			return
		case <-t.C:
		case <-o.kick:
		}
	}
}

func (o *orderedSub) tick() error {
	c := o.c
	b := c.b
	if !c.live() {
		return nil
	}
	ttl := b.cfg.LeaseTTL
	now := time.Now()

	// Forget workers that have exited.
	o.mu.Lock()
	for p, w := range o.workers {
		if w.exited() {
			delete(o.workers, p)
		}
	}
	o.mu.Unlock()

	// Expire workers whose lease could not be confirmed in time.
	for _, w := range o.workers {
		if !w.leaseValid() {
			w.cancel()
			w.stop(false)
		}
	}

	// Renew what we hold (including workers finishing before release).
	var held []*partWorker
	var keys []string
	for _, w := range o.workers {
		if !w.exited() && w.ctx.Err() == nil {
			held = append(held, w)
			keys = append(keys, w.lease)
		}
	}
	if len(keys) > 0 {
		start := time.Now()
		res, err := renewScript.Run(c.hctx, b.rdb, keys, c.token, ttl.Milliseconds()).Int64Slice()
		if err != nil {
			return err
		}
		for i, w := range held {
			if i < len(res) && res[i] == 1 {
				w.setValid(start, ttl)
				continue
			}
			c.log.Warn().Str("queue", o.spec.Name).Int("partition", w.p).Msg("queue: partition lease lost")
			w.cancel()
			w.stop(false)
		}
	}

	if c.stopped() {
		return nil
	}

	// Membership: the live consumers decide each one's share.
	pipe := b.rdb.Pipeline()
	pipe.ZAdd(c.hctx, o.members, goredis.Z{Score: float64(now.Add(ttl).UnixMilli()), Member: c.token})
	pipe.ZRemRangeByScore(c.hctx, o.members, "-inf", "("+itoa(now.UnixMilli()))
	card := pipe.ZCard(c.hctx, o.members)
	pipe.PExpire(c.hctx, o.members, 10*ttl)
	if _, err := pipe.Exec(c.hctx); err != nil {
		return err
	}
	live := max(int(card.Val()), 1)
	target := min(o.max, (o.spec.Partitions+live-1)/live)

	// Shed partitions above our share; their workers release the lease
	// after the job in hand.
	var active []*partWorker
	for _, w := range o.workers {
		if !w.quitted {
			active = append(active, w)
		}
	}
	for i := target; i < len(active); i++ {
		active[i].stop(true)
	}

	// Take free partitions up to our share.
	want := target - len(active)
	if want <= 0 {
		return nil
	}
	var cand []int
	var candKeys []string
	off := rand.IntN(o.spec.Partitions)
	for i := range o.spec.Partitions {
		p := (off + i) % o.spec.Partitions
		if _, ok := o.workers[p]; ok {
			continue
		}
		cand = append(cand, p)
		candKeys = append(candKeys, b.leaseKey(o.spec, p))
	}
	if len(cand) == 0 {
		return nil
	}
	start := time.Now()
	got, err := acquireScript.Run(c.hctx, b.rdb, candKeys, c.token, ttl.Milliseconds(), want).Int64Slice()
	if err != nil {
		return err
	}
	for _, i := range got {
		p := cand[i-1]
		o.startWorker(p, start)
	}
	return nil
}

func (o *orderedSub) startWorker(p int, leased time.Time) {
	c := o.c
	ctx, cancel := context.WithCancel(c.hctx)
	w := &partWorker{
		o: o, p: p,
		stream: c.b.streamKey(o.spec, p),
		lease:  c.b.leaseKey(o.spec, p),
		reader: &blockingReader{pool: c.readers},
		ctx:    ctx, cancel: cancel,
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
	w.setValid(leased, c.b.cfg.LeaseTTL)
	o.mu.Lock()
	o.workers[p] = w
	o.mu.Unlock()
	c.goroutine(w.run)
}

// shutdown stops every worker after its current job, keeping their leases
// renewed until they exit; the workers then release the leases.
func (o *orderedSub) shutdown() {
	c := o.c
	for _, w := range o.workers {
		w.stop(true)
	}
	t := time.NewTicker(c.b.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		// Wait for a worker still running to exit (look again at once), or
		// renew the leases of those still finishing their job.
		var running <-chan struct{}
		for _, w := range o.workers {
			if !w.exited() {
				running = w.done
				break
			}
		}
		if running == nil {
			break
		}
		select {
		case <-running:
		case <-t.C:
			_ = o.tick()
		case <-c.hctx.Done():
			for _, w := range o.workers {
				<-w.done
			}
		}
	}
	if !c.killed.Load() {
		ctx, cancel := context.WithTimeout(c.hctx, time.Second)
		_ = c.b.rdb.ZRem(ctx, o.members, c.token).Err()
		cancel()
	}
}

// run is the partition worker: take over whatever is pending on the
// partition, then read and handle new entries in order.
func (w *partWorker) run() {
	c := w.o.c
	defer close(w.done)
	defer w.cancel()
	defer w.reader.close()
	defer func() {
		if w.release.Load() && !c.killed.Load() {
			ctx, cancel := context.WithTimeout(c.hctx, time.Second)
			_ = releaseScript.Run(ctx, c.b.rdb, []string{w.lease}, c.token).Err()
			cancel()
		}
	}()
	var latch errLatch
	synced, first := false, true
	for w.running() {
		var err error
		if !synced {
			err = w.takeOver(first)
			synced = err == nil
			first = first && err != nil
		} else {
			var res []goredis.XStream
			res, err = w.reader.read(w.ctx, &goredis.XReadGroupArgs{
				Group: c.b.cfg.Group, Consumer: c.name, Streams: []string{w.stream, ">"},
				Count: int64(c.b.cfg.ReadBatch), Block: c.b.cfg.BlockTimeout,
			})
			if errors.Is(err, goredis.Nil) {
				err = nil
			}
			if err != nil {
				synced = false
			}
			for _, s := range res {
				for _, m := range s.Messages {
					if !w.running() {
						w.handBack(m.ID, 1)
						return // the rest stays pending for the next owner
					}
					w.handle(m, 1)
				}
			}
		}
		latch.report(c.log, "read "+w.stream, err)
		if err != nil {
			if isNoGroup(err) {
				_ = c.b.ensureGroup(w.ctx, w.stream)
			}
			if !c.sleep(latch.delay(), w.quit) {
				return
			}
		}
	}
}

// takeOver claims every pending entry of the partition (this consumer's
// from an earlier run, or a previous owner's) and handles them in id order
// before anything new. Only the oldest pending entry can have been started
// (the partition is processed sequentially and acknowledged in order), so
// on a change of owner (fresh) only its delivery count is raised: a job that
// kills its consumers runs out of attempts, jobs that were merely buffered
// do not. After a read error within one ownership nothing pending has been
// started, so nothing is raised.
func (w *partWorker) takeOver(fresh bool) error {
	c := w.o.c
	b := c.b
	var ids []string
	cursor := "0-0"
	for {
		got, next, err := b.rdb.XAutoClaimJustID(w.ctx, &goredis.XAutoClaimArgs{
			Stream: w.stream, Group: b.cfg.Group, Consumer: c.name, MinIdle: 0, Start: cursor, Count: 1000,
		}).Result()
		if err != nil {
			return err
		}
		ids = append(ids, got...)
		if next == "0-0" || next == "" {
			break
		}
		cursor = next
	}
	if len(ids) == 0 {
		return nil
	}
	counts, err := b.pendingCounts(w.ctx, w.stream, c.name, ids[0], ids[len(ids)-1], int64(len(ids))+1000)
	if err != nil {
		return err
	}
	if oldest := ids[0]; fresh {
		counts[oldest]++
		if err := b.rdb.Do(w.ctx, "XCLAIM", w.stream, b.cfg.Group, c.name, 0, oldest, "RETRYCOUNT", counts[oldest], "JUSTID").Err(); err != nil {
			return err
		}
	}
	reclaimed := b.metrics.reclaimed.WithLabelValues(w.o.spec.Name)
	for start := ids[0]; ; {
		msgs, err := b.rdb.XRangeN(w.ctx, w.stream, start, ids[len(ids)-1], 1000).Result()
		if err != nil {
			return err
		}
		for _, m := range msgs {
			n, ok := counts[m.ID]
			if !ok {
				continue // acknowledged, left behind: not ours to redo
			}
			if !w.running() {
				w.handBack(m.ID, max(n, 1))
				return nil
			}
			reclaimed.Inc()
			w.handle(m, max(n, 1))
		}
		if len(msgs) < 1000 {
			return nil
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
}

// handle processes one entry to the end: success, or retries in place
// (the partition waits, so later jobs of the same key cannot overtake it),
// then the dead-letter stream. It returns early, leaving the entry
// pending, if the worker has to stop; the next owner resumes it with the
// attempt count kept in the delivery counter (set before each retry).
func (w *partWorker) handle(m goredis.XMessage, count int64) {
	c := w.o.c
	b := c.b
	q := w.o.spec.Name
	if len(m.Values) == 0 {
		w.settle(ackScript, []string{w.stream}, b.cfg.Group, m.ID)
		return
	}
	job, err := decodeEntry(w.o.spec, m)
	if err != nil {
		w.settle(deadScript, []string{w.stream, w.o.dead}, append([]any{b.cfg.Group, m.ID, b.cfg.DeadMaxLen}, rawDeadValues(m.Values, m.ID, err)...)...)
		b.metrics.dead.WithLabelValues(q).Inc()
		return
	}
	stored := job.Attempt
	first := stored + int(count) - 1
	for attempt := first; ; attempt++ {
		if attempt > job.MaxAttempts {
			job.Attempt = attempt - 1
			job.LastError = abandonedError(job)
			w.deadLetter(m.ID, job)
			return
		}
		if !w.running() {
			return
		}
		if attempt > first {
			// Record the attempt about to start in the delivery counter, so
			// a new owner continues the count if this one dies.
			if err := b.rdb.Do(w.ctx, "XCLAIM", w.stream, b.cfg.Group, c.name, 0, m.ID,
				"RETRYCOUNT", attempt-stored+1, "JUSTID").Err(); err != nil {
				return // lease lost or Redis gone: leave it pending
			}
		}
		job.Attempt = attempt
		start := time.Now()
		err := call(w.ctx, w.o.h, job)
		b.metrics.duration.WithLabelValues(q).Observe(time.Since(start).Seconds())
		if c.killed.Load() || w.ctx.Err() != nil {
			return // lost the lease or cancelled: the next owner redoes it
		}
		if err == nil {
			b.metrics.processed.WithLabelValues(q).Inc()
			w.settle(ackScript, []string{w.stream}, b.cfg.Group, m.ID)
			return
		}
		b.metrics.failed.WithLabelValues(q).Inc()
		job.LastError = err.Error()
		if attempt >= job.MaxAttempts {
			w.deadLetter(m.ID, job)
			c.log.Warn().Str("queue", q).Str("job", job.ID).Str("key", job.Key).Int("attempts", attempt).
				Str("error", job.LastError).Msg("queue: job dead-lettered; partition continues")
			return
		}
		b.metrics.retried.WithLabelValues(q).Inc()
		if !c.sleep(w.o.spec.backoff(attempt, b.cfg.RetryScale), w.quit) || w.ctx.Err() != nil {
			return
		}
	}
}

// handBack runs when the worker stops before starting entry id, the oldest
// it still has pending: on a graceful stop it takes back the delivery that
// was never attempted, so the next owner's takeover (which counts one for
// the oldest entry) does not charge the job an attempt.
func (w *partWorker) handBack(id string, count int64) {
	c := w.o.c
	if !w.release.Load() || c.killed.Load() || w.ctx.Err() != nil {
		return
	}
	_ = c.b.rdb.Do(w.ctx, "XCLAIM", w.stream, c.b.cfg.Group, c.name, 0, id, "RETRYCOUNT", count-1, "JUSTID").Err()
}

func (w *partWorker) deadLetter(id string, job Job) {
	b := w.o.c.b
	w.settle(deadScript, []string{w.stream, w.o.dead}, append([]any{b.cfg.Group, id, b.cfg.DeadMaxLen}, deadValues(job, id)...)...)
	b.metrics.dead.WithLabelValues(w.o.spec.Name).Inc()
}

// settle runs a script that finishes an entry, retrying Redis errors while
// the lease is held. Finishing is synchronous so the next entry of the
// partition never starts while an earlier one could still be redelivered.
func (w *partWorker) settle(script *goredis.Script, keys []string, args ...any) {
	c := w.o.c
	var latch errLatch
	for !c.killed.Load() {
		err := script.Run(w.ctx, c.b.rdb, keys, args...).Err()
		latch.report(c.log, "settle "+w.stream, err)
		if err == nil || w.ctx.Err() != nil || !w.leaseValid() {
			return
		}
		if !c.sleepHard(latch.delay()) {
			return
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

var _ runner = (*orderedSub)(nil)
