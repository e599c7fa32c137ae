package queue

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
)

const benchWorkers = 32

var benchPayload = []byte(`{"merchant_id":"mer_0123456789","to":"+2348000000000","template":"order_paid","vars":{"order":"ord_abcdefghijklmnop","amount":125000,"currency":"NGN"}}`)

// parallel runs f(i) for i in [0, n) on workers goroutines.
func parallel(b *testing.B, workers, n int, f func(i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// rawPipelinedXAdd appends n copies of values to stream with pipelines of
// 64 XADDs from one goroutine: the fastest a producer can go.
func rawPipelinedXAdd(b *testing.B, rdb *goredis.Client, stream string, n int, values func(i int) []any) time.Duration {
	ctx := context.Background()
	start := time.Now()
	for i := 0; i < n; {
		pipe := rdb.Pipeline()
		for j := 0; j < 64 && i < n; j++ {
			pipe.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: values(i)})
			i++
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}

// rawConcurrentXAdd appends n copies of values to stream with one XADD per
// call from benchWorkers goroutines: what Enqueue does, minus our code.
func rawConcurrentXAdd(b *testing.B, rdb *goredis.Client, stream string, n int, values func(i int) []any) time.Duration {
	ctx := context.Background()
	start := time.Now()
	parallel(b, benchWorkers, n, func(i int) error {
		return rdb.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: values(i)}).Err()
	})
	return time.Since(start)
}

func report(b *testing.B, n int, ours, rawPipelined, rawConcurrent time.Duration) {
	b.ReportMetric(float64(n)/ours.Seconds(), "msgs/s")
	b.ReportMetric(float64(n)/rawPipelined.Seconds(), "raw-msgs/s")
	b.ReportMetric(rawPipelined.Seconds()/ours.Seconds(), "ratio-to-raw")
	if rawConcurrent > 0 {
		b.ReportMetric(rawConcurrent.Seconds()/ours.Seconds(), "ratio-to-unpipelined")
	}
}

func benchJob(i int) Job {
	return Job{ID: "job_" + strconv.Itoa(i), Type: "email.send", Payload: benchPayload, Attempt: 1, MaxAttempts: 8, EnqueuedAt: time.UnixMilli(1_700_000_000_000)}
}

// BenchmarkEnqueue: Enqueue from benchWorkers goroutines against raw XADD
// of the same entries, pipelined (ratio) and one per call
// (ratio_vs_unpipelined), in the same run.
func BenchmarkEnqueue(b *testing.B) {
	ctx := context.Background()
	rc := newRC(b)
	br := newBroker(b, rc, nil)
	values := func(i int) []any { j := benchJob(i); return j.values() }
	n := b.N
	b.ResetTimer()
	start := time.Now()
	parallel(b, benchWorkers, n, func(i int) error {
		_, err := br.Enqueue(ctx, vayva.QueueEmail, Job{Type: "email.send", Payload: benchPayload})
		return err
	})
	ours := time.Since(start)
	rawP := rawPipelinedXAdd(b, rc.Redis(), rc.Key("raw", "p"), n, values)
	rawC := rawConcurrentXAdd(b, rc.Redis(), rc.Key("raw", "c"), n, values)
	b.StopTimer()
	report(b, n, ours, rawP, rawC)
}

// BenchmarkIngestOnce: the webhook ingest path (dedupe marker + XADD in one
// script) from benchWorkers goroutines against raw XADD of the same
// entries, in the same run.
func BenchmarkIngestOnce(b *testing.B) {
	ctx := context.Background()
	rc := newRC(b)
	br := newBroker(b, rc, nil)
	values := func(i int) []any { j := benchJob(i); return j.values() }
	n := b.N
	b.ResetTimer()
	start := time.Now()
	parallel(b, benchWorkers, n, func(i int) error {
		dup, err := br.IngestOnce(ctx, "bench:evt_"+strconv.Itoa(i), time.Hour, vayva.QueuePaymentsInbound, Job{Type: "paystack.event", Payload: benchPayload})
		if err == nil && dup {
			b.Errorf("event %d seen as duplicate", i)
		}
		return err
	})
	ours := time.Since(start)
	rawP := rawPipelinedXAdd(b, rc.Redis(), rc.Key("raw", "p"), n, values)
	rawC := rawConcurrentXAdd(b, rc.Redis(), rc.Key("raw", "c"), n, values)
	b.StopTimer()
	report(b, n, ours, rawP, rawC)
}

// BenchmarkConsume: our Consumer (no-op handler, 64 handlers) draining a
// prefilled queue against a raw XREADGROUP COUNT 256 + XACK loop draining
// the same entries, in the same run. Each drains half the entries twice,
// alternating (ours, raw, raw, ours), so both see the same machine load;
// ours runs a new consumer of the same group for its second half.
func BenchmarkConsume(b *testing.B) {
	ctx := context.Background()
	rc := newRC(b)
	br := newBroker(b, rc, func(c *Config) { c.ReadBatch = 256 })
	rdb := rc.Redis()
	values := func(i int) []any { j := benchJob(i); return j.values() }
	ourStream, rawStream := rc.Key("q", vayva.QueueEmail), rc.Key("raw", "s")
	b.StopTimer()
	require.NoError(b, br.ensureGroup(ctx, rawStream))

	// ours drains n prefilled entries with a new consumer.
	ours := func(name string, n int) time.Duration {
		rawPipelinedXAdd(b, rdb, ourStream, n, values)
		var got atomic.Int64
		done := make(chan struct{})
		c, err := br.NewConsumer(name)
		require.NoError(b, err)
		require.NoError(b, c.Consume(ctx, vayva.QueueEmail, func(ctx context.Context, j Job) error {
			if got.Add(1) == int64(n) {
				close(done)
			}
			return nil
		}, ConsumeOptions{Concurrency: 64}))
		b.StartTimer()
		start := time.Now()
		require.NoError(b, c.Start(ctx))
		<-done
		took := time.Since(start)
		b.StopTimer()
		require.NoError(b, c.Stop(ctx))
		require.Eventually(b, func() bool { return rdb.XLen(ctx, ourStream).Val() == 0 }, 30*time.Second, time.Millisecond)
		return took
	}
	// raw drains n prefilled entries.
	raw := func(n int) time.Duration {
		rawPipelinedXAdd(b, rdb, rawStream, n, values)
		b.StartTimer()
		start := time.Now()
		for seen := 0; seen < n; {
			res, err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "vayva", Consumer: "raw", Streams: []string{rawStream, ">"}, Count: 256, Block: time.Second}).Result()
			require.NoError(b, err)
			ids := make([]string, 0, 256)
			for _, m := range res[0].Messages {
				if _, err := decodeJob(vayva.QueueEmail, m.Values); err != nil {
					b.Fatal(err)
				}
				ids = append(ids, m.ID)
			}
			require.NoError(b, rdb.XAck(ctx, rawStream, "vayva", ids...).Err())
			seen += len(ids)
		}
		took := time.Since(start)
		b.StopTimer()
		return took
	}
	first := b.N / 2
	second := b.N - first
	var oursTook, rawTook time.Duration
	if first > 0 {
		oursTook += ours("bench-0", first)
		rawTook += raw(first)
	}
	rawTook += raw(second)
	oursTook += ours("bench-1", second)
	report(b, b.N, oursTook, rawTook, 0)
}
