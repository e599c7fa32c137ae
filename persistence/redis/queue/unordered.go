package queue

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"
)

// unorderedSub consumes an unordered queue: one stream, one blocking reader,
// up to conc handlers at once, acknowledgements batched by an acker, failed
// jobs retried through the delayed set, silent consumers' entries claimed by
// the janitor.
//
// The reader reads ahead: up to ReadBatch entries beyond the conc running
// may wait in this process for a handler, so one XREADGROUP fetches a full
// batch instead of only as many entries as handlers are free. Entries
// waiting count as held (the heartbeat keeps them from looking idle).
type unorderedSub struct {
	c       *Consumer
	spec    QueueSpec
	h       Handler
	conc    int
	stream  string
	delayed string
	dead    string
	reader  *blockingReader

	sem  chan struct{} // one token per entry in this process (running or waiting for a handler)
	work chan delivery // entries waiting for one of the conc handler goroutines
	// Handler metrics of this queue, looked up once.
	processed, failed prometheus.Counter
	duration          prometheus.Observer
	// speculative counts the slots the reader holds for a read in progress.
	speculative atomic.Int32
	acks        chan string
	poke        chan struct{} // wakes the mover
	handlers    sync.WaitGroup
	loops       sync.WaitGroup // loops that start handlers

	heldMu sync.Mutex
	held   map[string]struct{} // entries in this process: running or awaiting acknowledgement
}

func newUnorderedSub(c *Consumer, s QueueSpec, h Handler, conc int) *unorderedSub {
	return &unorderedSub{
		c: c, spec: s, h: h, conc: conc,
		stream:    c.b.streamKey(s, 0),
		delayed:   c.b.delayedKey(s),
		dead:      c.b.deadKey(s),
		sem:       make(chan struct{}, conc+c.b.cfg.ReadBatch),
		work:      make(chan delivery, conc+c.b.cfg.ReadBatch),
		processed: c.b.metrics.processed.WithLabelValues(s.Name),
		failed:    c.b.metrics.failed.WithLabelValues(s.Name),
		duration:  c.b.metrics.duration.WithLabelValues(s.Name),
		acks:      make(chan string, 2*conc),
		poke:      make(chan struct{}, 1),
		held:      make(map[string]struct{}),
	}
}

func (u *unorderedSub) queueName() string { return u.spec.Name }
func (u *unorderedSub) readerCount() int  { return 1 }

func (u *unorderedSub) start() {
	u.reader = &blockingReader{pool: u.c.readers}
	u.loops.Add(2)
	u.c.goroutine(func() { defer u.loops.Done(); u.readLoop() })
	u.c.goroutine(func() { defer u.loops.Done(); u.janitorLoop() })
	u.c.goroutine(u.heartbeatLoop)
	u.c.goroutine(u.moverLoop)
	u.c.goroutine(func() { trimLoop(u.c, u.spec) })
	u.c.goroutine(u.ackLoop)
	// The handlers are long-lived goroutines: one per delivery grew a
	// fresh stack for every job (runtime.newstack was about half of the
	// handlers' CPU in BenchmarkConsume).
	u.handlers.Add(u.conc)
	for range u.conc {
		u.c.goroutine(func() {
			defer u.handlers.Done()
			for d := range u.work {
				u.process(d)
			}
		})
	}
	u.c.goroutine(func() {
		u.loops.Wait()
		close(u.work)
		u.handlers.Wait()
		close(u.acks)
	})
}

func (u *unorderedSub) wake() {
	if u.reader != nil {
		u.reader.unblock(u.c.hctx, u.c.b.rdb)
	}
}

// acquire takes between 1 and max handler slots, blocking for the first.
func (u *unorderedSub) acquire(max int) int {
	select {
	case u.sem <- struct{}{}:
	case <-u.c.stopping:
		return 0
	}
	n := 1
	for n < max {
		select {
		case u.sem <- struct{}{}:
			n++
		default:
			return n
		}
	}
	return n
}

func (u *unorderedSub) release(n int) {
	for range n {
		<-u.sem
	}
}

func (u *unorderedSub) hold(id string) bool {
	u.heldMu.Lock()
	defer u.heldMu.Unlock()
	if _, ok := u.held[id]; ok {
		return false
	}
	u.held[id] = struct{}{}
	return true
}

func (u *unorderedSub) unhold(ids ...string) {
	u.heldMu.Lock()
	defer u.heldMu.Unlock()
	for _, id := range ids {
		delete(u.held, id)
	}
}

func (u *unorderedSub) isHeld(id string) bool {
	u.heldMu.Lock()
	defer u.heldMu.Unlock()
	_, ok := u.held[id]
	return ok
}

// delivery is an entry handed to this consumer with its delivery count.
type delivery struct {
	msg   goredis.XMessage
	count int64
}

// readLoop reads new entries. After a read error, and at start, it first
// takes back this consumer's own pending entries that no handler holds:
// those were delivered while the reply was lost, or belong to a previous
// run under the same name.
func (u *unorderedSub) readLoop() {
	c := u.c
	defer u.reader.close()
	var latch errLatch
	resync := true
	for !c.stopped() {
		n := u.acquire(c.b.cfg.ReadBatch)
		if n == 0 {
			return
		}
		if c.stopped() || !c.live() {
			u.release(n)
			return
		}
		var ds []delivery
		var err error
		if resync {
			var more bool
			ds, more, err = u.ownPending(n)
			if err == nil && !more {
				resync = false
			}
		} else {
			var res []goredis.XStream
			u.speculative.Store(int32(n))
			res, err = u.reader.read(c.hctx, &goredis.XReadGroupArgs{
				Group: c.b.cfg.Group, Consumer: c.name, Streams: []string{u.stream, ">"},
				Count: int64(n), Block: c.b.cfg.BlockTimeout,
			})
			u.speculative.Store(0)
			if errors.Is(err, goredis.Nil) {
				err = nil
			}
			for _, s := range res {
				for _, m := range s.Messages {
					ds = append(ds, delivery{msg: m, count: 1})
				}
			}
		}
		latch.report(c.log, "read "+u.stream, err)
		if err != nil {
			u.release(n)
			resync = true
			if isNoGroup(err) {
				_ = c.b.ensureGroup(c.hctx, u.stream)
			}
			c.sleep(latch.delay(), nil)
			continue
		}
		u.release(n - len(ds))
		for _, d := range ds {
			u.dispatch(d)
		}
	}
}

// ownPending claims up to n of this consumer's pending entries that no
// handler holds; more reports that there may be further ones.
func (u *unorderedSub) ownPending(n int) (ds []delivery, more bool, err error) {
	c := u.c
	counts, err := c.b.rdb.XPendingExt(c.hctx, &goredis.XPendingExtArgs{
		Stream: u.stream, Group: c.b.cfg.Group, Start: "-", End: "+", Count: 1000, Consumer: c.name,
	}).Result()
	if err != nil {
		return nil, false, err
	}
	var ids []string
	byID := map[string]int64{}
	for _, p := range counts {
		if u.isHeld(p.ID) {
			continue
		}
		if len(ids) == n {
			more = true
			break
		}
		ids = append(ids, p.ID)
		byID[p.ID] = p.RetryCount
	}
	if len(ids) == 0 {
		return nil, more || len(counts) == 1000, nil
	}
	msgs, err := c.b.rdb.XClaim(c.hctx, &goredis.XClaimArgs{
		Stream: u.stream, Group: c.b.cfg.Group, Consumer: c.name, MinIdle: 0, Messages: ids,
	}).Result()
	if err != nil {
		return nil, false, err
	}
	for _, m := range msgs {
		ds = append(ds, delivery{msg: m, count: byID[m.ID] + 1})
	}
	return ds, more, nil
}

// janitorLoop claims entries whose consumer has been silent for
// ClaimMinIdle (XAUTOCLAIM) and handles them; each claim counts as a
// delivery, so a job that keeps killing its consumer ends up dead-lettered.
func (u *unorderedSub) janitorLoop() {
	c := u.c
	var latch errLatch
	cursor := "0-0"
	t := time.NewTicker(c.b.cfg.JanitorInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stopping:
			return
		case <-t.C:
		}
		// Slots the reader holds for its blocking read count as free: it
		// gives them back when woken.
		n := cap(u.sem) - len(u.sem) + int(u.speculative.Load())
		if n <= 0 {
			continue
		}
		if !c.live() {
			return
		}
		msgs, next, err := c.b.rdb.XAutoClaim(c.hctx, &goredis.XAutoClaimArgs{
			Stream: u.stream, Group: c.b.cfg.Group, Consumer: c.name,
			MinIdle: c.b.cfg.ClaimMinIdle, Start: cursor, Count: int64(n),
		}).Result()
		var counts map[string]int64
		if err == nil {
			cursor = next
			if len(msgs) > 0 {
				counts, err = c.b.pendingCounts(c.hctx, u.stream, c.name, msgs[0].ID, msgs[len(msgs)-1].ID, 1000)
			}
		} else if isNoGroup(err) {
			_ = c.b.ensureGroup(c.hctx, u.stream)
		}
		latch.report(c.log, "claim "+u.stream, err)
		if err != nil {
			continue
		}
		for _, m := range msgs {
			if u.isHeld(m.ID) {
				continue // our own slow handler; it keeps it
			}
			if !u.acquireNow() {
				return // stopping: the claimed rest stays pending with us
			}
			cnt, ok := counts[m.ID]
			if !ok {
				<-u.sem
				continue // taken by another consumer since
			}
			c.b.metrics.reclaimed.WithLabelValues(u.spec.Name).Inc()
			u.dispatch(delivery{msg: m, count: cnt})
		}
	}
}

// acquireNow takes one slot, waking the reader so it hands back the slots
// it holds for a blocking read.
func (u *unorderedSub) acquireNow() bool {
	select {
	case u.sem <- struct{}{}:
		return true
	default:
	}
	u.wake()
	select {
	case u.sem <- struct{}{}:
		return true
	case <-u.c.stopping:
		return false
	}
}

// heartbeatLoop keeps this consumer's in-flight entries from looking idle,
// so the janitors of other consumers leave long-running handlers alone.
func (u *unorderedSub) heartbeatLoop() {
	c := u.c
	var latch errLatch
	t := time.NewTicker(c.b.cfg.ClaimMinIdle / 3)
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
		u.heldMu.Lock()
		ids := make([]string, 0, len(u.held))
		for id := range u.held {
			ids = append(ids, id)
		}
		u.heldMu.Unlock()
		var err error
		for len(ids) > 0 && err == nil {
			chunk := ids[:min(len(ids), 200)]
			ids = ids[len(chunk):]
			err = c.b.rdb.XClaimJustID(c.hctx, &goredis.XClaimArgs{
				Stream: u.stream, Group: c.b.cfg.Group, Consumer: c.name, MinIdle: 0, Messages: chunk,
			}).Err()
		}
		latch.report(c.log, "heartbeat "+u.stream, err)
	}
}

// dispatch hands d to the conc handler goroutines; the caller holds a
// slot for it, which the handler releases. An entry still waiting when the
// consumer is cancelled is left pending, for the next run or another
// consumer.
func (u *unorderedSub) dispatch(d delivery) {
	if !u.hold(d.msg.ID) {
		u.release(1)
		return
	}
	// Never blocks: each delivery holds one of the sem tokens, and work
	// has room for as many.
	u.work <- d
}

// process runs one delivery on a handler goroutine and passes it to the
// acker when it is to be acknowledged. A consumer cancelled while the
// delivery waited gives it back untouched.
func (u *unorderedSub) process(d delivery) {
	if u.c.hctx.Err() != nil {
		u.unhold(d.msg.ID)
		<-u.sem
		return
	}
	ack := u.handle(d)
	<-u.sem
	if !ack {
		u.unhold(d.msg.ID)
		return
	}
	select {
	case u.acks <- d.msg.ID:
	case <-u.c.hctx.Done():
		u.unhold(d.msg.ID)
	}
}

// handle processes one delivery and reports whether it is to be
// acknowledged; retries and dead letters are recorded here.
func (u *unorderedSub) handle(d delivery) (ack bool) {
	c, q := u.c, u.spec.Name
	if len(d.msg.Values) == 0 {
		return true // deleted under us
	}
	job, err := decodeEntry(u.spec, d.msg)
	if err != nil {
		u.finish(d.msg.ID, deadScript, []string{u.stream, u.dead}, c.b.cfg.DeadMaxLen, rawDeadValues(d.msg.Values, d.msg.ID, err))
		c.b.metrics.dead.WithLabelValues(q).Inc()
		return false
	}
	attempt := job.Attempt + int(d.count) - 1
	if attempt > job.MaxAttempts {
		job.Attempt = attempt - 1
		job.LastError = abandonedError(job)
		u.finish(d.msg.ID, deadScript, []string{u.stream, u.dead}, c.b.cfg.DeadMaxLen, deadValues(job, d.msg.ID))
		c.b.metrics.dead.WithLabelValues(q).Inc()
		return false
	}
	job.Attempt = attempt
	start := time.Now()
	err = call(c.hctx, u.h, job)
	u.duration.Observe(time.Since(start).Seconds())
	if c.killed.Load() {
		return false
	}
	if err == nil {
		u.processed.Inc()
		return true
	}
	u.failed.Inc()
	job.LastError = err.Error()
	if attempt >= job.MaxAttempts {
		u.finish(d.msg.ID, deadScript, []string{u.stream, u.dead}, c.b.cfg.DeadMaxLen, deadValues(job, d.msg.ID))
		c.b.metrics.dead.WithLabelValues(q).Inc()
		c.log.Warn().Str("queue", q).Str("job", job.ID).Int("attempts", attempt).Str("error", job.LastError).Msg("queue: job dead-lettered")
		return false
	}
	next := job
	next.Attempt = attempt + 1
	// Round the due time up so the retry never runs before its backoff.
	due := (time.Now().Add(u.spec.backoff(attempt, c.b.cfg.RetryScale)).UnixNano() + 999_999) / 1e6
	u.finish(d.msg.ID, retryScript, []string{u.stream, u.delayed}, due, encodeMember(next.values()))
	c.b.metrics.retried.WithLabelValues(q).Inc()
	select {
	case u.poke <- struct{}{}:
	default:
	}
	return false
}

func abandonedError(job Job) string {
	msg := "no result after " + strconv.Itoa(job.Attempt) + " deliveries (consumer stopped or crashed)"
	if job.LastError != "" {
		msg += "; last error: " + job.LastError
	}
	return msg
}

// finish runs a script that settles entry id (retry or dead letter) with
// args after the group and id, retrying on Redis errors until it succeeds
// or the consumer is cancelled; then the entry stays pending and is
// delivered again.
func (u *unorderedSub) finish(id string, script *goredis.Script, keys []string, args ...any) {
	c := u.c
	var latch errLatch
	all := []any{c.b.cfg.Group, id}
	for _, a := range args {
		if v, ok := a.([]any); ok {
			all = append(all, v...)
		} else {
			all = append(all, a)
		}
	}
	for !c.killed.Load() {
		err := script.Run(c.hctx, c.b.rdb, keys, all...).Err()
		latch.report(c.log, "settle "+keys[0], err)
		if err == nil || c.hctx.Err() != nil {
			return
		}
		if !c.sleepHard(latch.delay()) {
			return
		}
	}
}

// sleepHard waits d unless the consumer is cancelled (not merely stopping:
// settling a finished job is worth finishing during a graceful stop).
func (c *Consumer) sleepHard(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.hctx.Done():
		return false
	}
}

// ackLoop acknowledges (and deletes) finished entries in batches.
func (u *unorderedSub) ackLoop() {
	c := u.c
	var latch errLatch
	batch := make([]string, 0, 256)
	for id := range u.acks {
		batch = append(batch[:0], id)
	drain:
		for len(batch) < cap(batch) {
			select {
			case id, ok := <-u.acks:
				if !ok {
					break drain
				}
				batch = append(batch, id)
			default:
				break drain
			}
		}
		for !c.killed.Load() {
			err := ackAndDelete(c.hctx, c.b.rdb, u.stream, c.b.cfg.Group, batch)
			latch.report(c.log, "ack "+u.stream, err)
			if err == nil || !c.sleepHard(latch.delay()) {
				break
			}
		}
		u.unhold(batch...)
	}
}

// moverLoop moves due retries from the delayed set back onto the stream.
// It sleeps until the earliest retry is due, at most MoverInterval, and
// wakes early when this consumer schedules a retry.
func (u *unorderedSub) moverLoop() {
	c := u.c
	var latch errLatch
	wait := time.Duration(0)
	for {
		t := time.NewTimer(wait)
		select {
		case <-c.stopping:
			t.Stop()
			return
		case <-t.C:
		case <-u.poke:
			t.Stop()
		}
		if !c.live() {
			return
		}
		now := time.Now()
		res, err := moverScript.Run(c.hctx, c.b.rdb, []string{u.delayed, u.stream, u.dead}, now.UnixMilli(), 100, c.b.cfg.DeadMaxLen).Slice()
		if err == nil && len(res) != 2 {
			err = errors.New("mover: bad reply")
		}
		latch.report(c.log, "move "+u.delayed, err)
		if err != nil {
			wait = latch.delay()
			continue
		}
		moved, _ := res[0].(int64)
		next, _ := strconv.ParseInt(toString(res[1]), 10, 64)
		wait = c.b.cfg.MoverInterval
		switch {
		case moved == 100:
			wait = 0
		case next >= 0:
			if d := time.UnixMilli(next).Sub(now); d < wait {
				wait = max(d, time.Millisecond)
			}
		}
	}
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return "-1"
}

// trimLoop trims the queue's streams and prunes long-silent consumers.
func trimLoop(c *Consumer, s QueueSpec) {
	var latch errLatch
	t := time.NewTicker(c.b.cfg.TrimInterval)
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
		_, err := c.b.Trim(c.hctx, s.Name)
		for _, key := range c.b.streamKeys(s) {
			if err != nil {
				break
			}
			err = c.pruneConsumers(c.hctx, key)
		}
		latch.report(c.log, "trim "+s.Name, err)
	}
}

var _ runner = (*unorderedSub)(nil)

// ackAndDelete acknowledges and deletes ids in one MULTI/EXEC round trip:
// two commands, where a script would turn every id into a Lua string and
// back twice (Redis charges about a microsecond per script argument).
func ackAndDelete(ctx context.Context, rdb *goredis.Client, stream, group string, ids []string) error {
	_, err := rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.XAck(ctx, stream, group, ids...)
		p.XDel(ctx, stream, ids...)
		return nil
	})
	return err
}
