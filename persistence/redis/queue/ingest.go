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

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/persistence/redis"
)

// IngestOnce is the webhook ingest step: it sets the marker
// <prefix>dedupe:<dedupeKey> with the given TTL and, only if the marker was
// new, appends job to queue (to the partition of job.Key on a partitioned
// queue), both in one Redis script. duplicate is true when the marker
// already existed and nothing was enqueued. The TTL must cover the
// provider's retry horizon and is rounded up to whole seconds.
//
// Concurrent calls share round trips, as a group commit does: a call that
// finds no write in flight (or fewer than IngestFlushes) sends at once,
// with every call that is waiting (up to IngestBatch), as one script run;
// calls arriving meanwhile wait for the next one. There is no batching
// window: a lone call goes out immediately. A call returns only once Redis
// has answered for its own event, so a nil error means the event is in the
// stream (as durable as Redis's appendfsync makes it). An error leaves the
// outcome unknown to the caller (the batch may have been written before
// the answer was lost); retrying is safe, the marker turns a retry of an
// event that was written into a duplicate.
func (b *Broker) IngestOnce(ctx context.Context, dedupeKey string, ttl time.Duration, queue string, job Job) (duplicate bool, err error) {
	if dedupeKey == "" || ttl < time.Second {
		return false, fmt.Errorf("queue: ingest: %w", vayva.Errorf(vayva.EINVALID, "a dedupe key and a TTL of at least 1s are required"))
	}
	s, stream, err := b.prepare("ingest", queue, &job)
	if err != nil {
		return false, err
	}
	req := &ingestReq{
		queue: s.Name, dedupe: b.rc.Key("dedupe", dedupeKey), stream: stream,
		ttl: int64(math.Ceil(ttl.Seconds())), fields: job.ingestValues(s.MaxAttempts), done: make(chan struct{}),
	}
	b.ingest.submit(b, req)
	select {
	case <-req.done:
	case <-ctx.Done():
		return false, fmt.Errorf("queue: ingest: %w", redis.Translate(ctx.Err()))
	}
	if req.err != nil {
		return false, fmt.Errorf("queue: ingest: %w", req.err)
	}
	return req.duplicate, nil
}

// ingestReq is one IngestOnce call waiting for its batch.
type ingestReq struct {
	queue, dedupe, stream string
	ttl                   int64
	fields                []any

	done      chan struct{} // closed when duplicate and err are set
	duplicate bool
	err       error
}

// ingestCoalescer gathers concurrent IngestOnce calls into batches.
type ingestCoalescer struct {
	mu       sync.Mutex
	waiting  []*ingestReq
	inFlight int
}

// submit queues r and, when fewer than IngestFlushes batches are in flight,
// sends batches from this goroutine until nothing waits. The caller's own
// request is in the first batch it sends or in one already on its way; a
// sender whose own request is answered hands the remaining waiters to a
// new goroutine, so no caller waits for other callers' batches.
func (g *ingestCoalescer) submit(b *Broker, r *ingestReq) {
	g.mu.Lock()
	g.waiting = append(g.waiting, r)
	if g.inFlight >= b.cfg.IngestFlushes {
		g.mu.Unlock()
		return
	}
	g.inFlight++
	batch := g.take(b.cfg.IngestBatch)
	g.mu.Unlock()
	b.flushIngest(batch)
	g.mu.Lock()
	if len(g.waiting) == 0 {
		g.inFlight--
		g.mu.Unlock()
		return
	}
	g.mu.Unlock()
	go g.drain(b)
}

// drain sends batches until nothing waits, then gives up its flush slot.
func (g *ingestCoalescer) drain(b *Broker) {
	for {
		g.mu.Lock()
		if len(g.waiting) == 0 {
			g.inFlight--
			g.mu.Unlock()
			return
		}
		batch := g.take(b.cfg.IngestBatch)
		g.mu.Unlock()
		b.flushIngest(batch)
	}
}

// take removes up to n waiting requests, oldest first; g.mu is held.
func (g *ingestCoalescer) take(n int) []*ingestReq {
	k := min(n, len(g.waiting))
	batch := g.waiting[:k:k]
	g.waiting = append([]*ingestReq(nil), g.waiting[k:]...)
	return batch
}

// flushIngest runs one batch as one script call and answers each request.
// The batch gets its own deadline: callers that stop waiting do not cancel
// the others' write.
func (b *Broker) flushIngest(batch []*ingestReq) {
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.IngestTimeout)
	defer cancel()
	keys := make([]string, 0, 2*len(batch))
	args := make([]any, 0, len(batch)*(2+len(batch[0].fields)))
	for _, r := range batch {
		keys = append(keys, r.dedupe, r.stream)
		args = append(args, r.ttl, len(r.fields))
		args = append(args, r.fields...)
	}
	b.metrics.ingestBatch.Observe(float64(len(batch)))
	res, err := ingestBatchScript.Run(ctx, b.rdb, keys, args...).Slice()
	if err == nil && len(res) != len(batch) {
		err = fmt.Errorf("ingest: %d answers for %d events", len(res), len(batch))
	}
	for i, r := range batch {
		switch {
		case err != nil:
			r.err = redis.Translate(err)
		default:
			r.duplicate, r.err = ingestAnswer(res[i])
			if r.err == nil && !r.duplicate {
				b.metrics.enqueued.WithLabelValues(r.queue).Inc()
			}
		}
		close(r.done)
	}
}

// ingestAnswer reads one event's answer: the new entry id, nil for a
// duplicate, or an error reply for an event that could not be appended
// (its marker was removed again).
func ingestAnswer(v any) (duplicate bool, err error) {
	switch x := v.(type) {
	case nil:
		return true, nil
	case string:
		if msg, ok := strings.CutPrefix(x, ingestErrPrefix); ok {
			return false, errors.New(msg)
		}
		return false, nil
	default:
		return false, fmt.Errorf("ingest: unexpected answer %v", strconv.Quote(fmt.Sprint(v)))
	}
}
