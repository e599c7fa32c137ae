package queue

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
)

func TestIngestOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rc := newRC(t)
	reg := prometheus.NewRegistry()
	b := newBroker(t, rc, func(c *Config) { c.Registerer = reg })
	rdb := rc.Redis()

	job := Job{Type: "paystack.charge.success", Payload: []byte(`{"reference":"r1"}`)}
	dup, err := b.IngestOnce(ctx, "paystack:evt_1", 72*time.Hour, vayva.QueuePaymentsInbound, job)
	require.NoError(t, err)
	require.False(t, dup)
	dup, err = b.IngestOnce(ctx, "paystack:evt_1", 72*time.Hour, vayva.QueuePaymentsInbound, job)
	require.NoError(t, err)
	require.True(t, dup)

	stream := rc.Key("q", vayva.QueuePaymentsInbound)
	require.EqualValues(t, 1, rdb.XLen(ctx, stream).Val())
	ttl := rdb.TTL(ctx, rc.Key("dedupe", "paystack:evt_1")).Val()
	require.Greater(t, ttl, 71*time.Hour)
	require.LessOrEqual(t, ttl, 72*time.Hour)
	require.Equal(t, 1.0, counterValue(t, b.metrics.enqueued.WithLabelValues(vayva.QueuePaymentsInbound)))

	// Partitioned queue: the job lands in its key's partition.
	spec, _ := b.Spec(vayva.QueueWhatsAppInbound)
	in := Job{Type: "wa.message", Key: "m1:pn1:wa1", Payload: []byte("hi")}
	dup, err = b.IngestOnce(ctx, "wa:wamid.1", 7*24*time.Hour, vayva.QueueWhatsAppInbound, in)
	require.NoError(t, err)
	require.False(t, dup)
	part := rc.Key("q", vayva.QueueWhatsAppInbound, "p", itoa(int64(spec.Partition(in.Key))))
	msgs := rdb.XRange(ctx, part, "-", "+").Val()
	require.Len(t, msgs, 1)
	// The entry leaves out what it implies (first attempt, the queue's
	// limit, its id's time); read back, the job is whole.
	require.NotContains(t, msgs[0].Values, fieldAttempt)
	require.NotContains(t, msgs[0].Values, fieldMax)
	require.NotContains(t, msgs[0].Values, fieldAt)
	completeEntry(msgs[0].ID, msgs[0].Values, spec.MaxAttempts)
	got, err := decodeJob(vayva.QueueWhatsAppInbound, msgs[0].Values)
	require.NoError(t, err)
	require.Equal(t, "hi", string(got.Payload))
	require.Equal(t, 1, got.Attempt)
	require.Equal(t, spec.MaxAttempts, got.MaxAttempts)
	ms, _, _ := strings.Cut(msgs[0].ID, "-")
	require.Equal(t, ms, strconv.FormatInt(got.EnqueuedAt.UnixMilli(), 10), "enqueued when the entry was appended")
	require.WithinDuration(t, time.Now(), got.EnqueuedAt, time.Minute)

	// A limit other than the queue's is kept.
	_, err = b.IngestOnce(ctx, "wa:wamid.3", time.Hour, vayva.QueueWhatsAppInbound, Job{Type: "wa.message", Key: "m1:pn1:wa1", MaxAttempts: 2, Payload: []byte("x")})
	require.NoError(t, err)
	msgs = rdb.XRange(ctx, part, "-", "+").Val()
	require.Len(t, msgs, 2)
	require.Equal(t, "2", msgs[1].Values[fieldMax])

	// Invalid input enqueues nothing.
	_, err = b.IngestOnce(ctx, "wa:wamid.2", 7*24*time.Hour, vayva.QueueWhatsAppInbound, Job{Type: "wa.message"})
	require.Equal(t, vayva.EINVALID, vayva.ErrorCode(err))
	_, err = b.IngestOnce(ctx, "", time.Hour, vayva.QueueEmail, job)
	require.Equal(t, vayva.EINVALID, vayva.ErrorCode(err))
	_, err = b.IngestOnce(ctx, "x", time.Millisecond, vayva.QueueEmail, job)
	require.Equal(t, vayva.EINVALID, vayva.ErrorCode(err))
	require.EqualValues(t, 0, rdb.Exists(ctx, rc.Key("dedupe", "wa:wamid.2")).Val())

	// The ingested job is consumed.
	rec := &recorder{}
	startConsumer(t, b, "n1-0", vayva.QueuePaymentsInbound, func(ctx context.Context, j Job) error { rec.add(j); return nil }, 2)
	require.Eventually(t, func() bool { return rec.count() == 1 }, 20*time.Second, 5*time.Millisecond)
	require.Equal(t, `{"reference":"r1"}`, string(rec.jobs()[0].Payload))
	require.Eventually(t, func() bool { return rdb.XLen(ctx, stream).Val() == 0 }, 20*time.Second, 5*time.Millisecond)
}

func TestEnqueueValidates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rc := newRC(t)
	b := newBroker(t, rc, nil)
	_, err := b.Enqueue(ctx, "nope", Job{Type: "x"})
	require.Equal(t, vayva.EINVALID, vayva.ErrorCode(err))
	_, err = b.Enqueue(ctx, vayva.QueueEmail, Job{})
	require.Equal(t, vayva.EINVALID, vayva.ErrorCode(err))
	_, err = b.Enqueue(ctx, vayva.QueueWhatsAppOutbound, Job{Type: "x"})
	require.Equal(t, vayva.EINVALID, vayva.ErrorCode(err))
	id, err := b.Enqueue(ctx, vayva.QueueEmail, Job{Type: "email.send", Attempt: 7, LastError: "stale"})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(id, "job_"))
	msgs := rc.Redis().XRange(ctx, rc.Key("q", vayva.QueueEmail), "-", "+").Val()
	require.Len(t, msgs, 1)
	j, err := decodeJob(vayva.QueueEmail, msgs[0].Values)
	require.NoError(t, err)
	require.Equal(t, id, j.ID)
	require.Equal(t, 1, j.Attempt)
	require.Empty(t, j.LastError)
}

func TestTrimKeepsPending(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rc := newRC(t)
	b := newBroker(t, rc, nil)
	rdb := rc.Redis()
	stream := rc.Key("q", vayva.QueueEmail)

	// No group yet: nothing is trimmed.
	var ids []string
	for range 10 {
		id, err := b.Enqueue(ctx, vayva.QueueEmail, Job{Type: "t"})
		require.NoError(t, err)
		ids = append(ids, id)
	}
	n, err := b.Trim(ctx, vayva.QueueEmail)
	require.NoError(t, err)
	require.Zero(t, n)

	// A raw consumer takes 6 entries and acknowledges 1, 2 and 4 without
	// deleting them: 3, 5, 6 stay pending, 7..10 undelivered.
	require.NoError(t, b.ensureGroup(ctx, stream))
	res, err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "vayva", Consumer: "raw", Streams: []string{stream, ">"}, Count: 6}).Result()
	require.NoError(t, err)
	got := res[0].Messages
	require.Len(t, got, 6)
	require.NoError(t, rdb.XAck(ctx, stream, "vayva", got[0].ID, got[1].ID, got[3].ID).Err())

	n, err = b.Trim(ctx, vayva.QueueEmail)
	require.NoError(t, err)
	require.EqualValues(t, 2, n) // 1 and 2; 4 sits behind pending 3
	left := rdb.XRange(ctx, stream, "-", "+").Val()
	require.Len(t, left, 8)
	require.Equal(t, got[2].ID, left[0].ID)
	pend := rdb.XPendingExt(ctx, &goredis.XPendingExtArgs{Stream: stream, Group: "vayva", Start: "-", End: "+", Count: 10}).Val()
	require.Len(t, pend, 3)
	for _, p := range pend {
		require.NotEmpty(t, rdb.XRange(ctx, stream, p.ID, p.ID).Val(), "pending entry %s trimmed", p.ID)
	}

	// Once 3, 5 and 6 are acknowledged, everything delivered goes, the
	// undelivered tail stays.
	require.NoError(t, rdb.XAck(ctx, stream, "vayva", got[2].ID, got[4].ID, got[5].ID).Err())
	n, err = b.Trim(ctx, vayva.QueueEmail)
	require.NoError(t, err)
	require.EqualValues(t, 4, n)
	left = rdb.XRange(ctx, stream, "-", "+").Val()
	require.Len(t, left, 4)
	j, err := decodeJob(vayva.QueueEmail, left[0].Values)
	require.NoError(t, err)
	require.Equal(t, ids[6], j.ID)
}

func TestStatsAndDepthMetrics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rc := newRC(t)
	reg := prometheus.NewRegistry()
	b := newBroker(t, rc, func(c *Config) { c.Registerer = reg })
	for i := range 5 {
		_, err := b.Enqueue(ctx, vayva.QueueWhatsAppOutbound, Job{Type: "t", Key: keysN("c", 5)[i]})
		require.NoError(t, err)
	}
	_, err := b.Enqueue(ctx, vayva.QueueEmail, Job{Type: "t"})
	require.NoError(t, err)
	s := statsOf(t, b, vayva.QueueWhatsAppOutbound)
	require.Equal(t, QueueStats{Name: vayva.QueueWhatsAppOutbound, Length: 5}, s)
	require.EqualValues(t, 1, statsOf(t, b, vayva.QueueEmail).Length)
	require.EqualValues(t, 0, statsOf(t, b, vayva.QueueOrdersSync).Length)

	fams := gather(t, reg)
	require.Len(t, fams["vayva_queue_length"], len(DefaultSpecs()))
	require.Equal(t, 5.0, fams["vayva_queue_length"][vayva.QueueWhatsAppOutbound])
	require.Equal(t, 1.0, fams["vayva_queue_jobs_enqueued_total"][vayva.QueueEmail])
	require.Equal(t, 5.0, fams["vayva_queue_jobs_enqueued_total"][vayva.QueueWhatsAppOutbound])

	// A second broker on the same registry shares the collectors.
	b2 := newBroker(t, rc, func(c *Config) { c.Registerer = reg })
	_, err = b2.Enqueue(ctx, vayva.QueueEmail, Job{Type: "t"})
	require.NoError(t, err)
	require.Equal(t, 2.0, counterValue(t, b.metrics.enqueued.WithLabelValues(vayva.QueueEmail)))
}

// Concurrent IngestOnce calls share script runs: each key is enqueued once
// (on a partitioned and an unordered queue in the same batches), every
// other call with that key is told it is a duplicate, and fewer script runs
// than calls carried them.
func TestIngestOnceCoalescesConcurrentCalls(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	rc := newRC(t)
	reg := prometheus.NewRegistry()
	b := newBroker(t, rc, func(c *Config) { c.Registerer = reg; c.IngestBatch = 16 })

	const keys, copies, workers = 300, 3, 48
	var next atomic.Int64
	fresh := make([]atomic.Int32, keys)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				k := int(next.Add(1)) - 1
				if k >= keys*copies {
					return
				}
				i := k % keys
				q, job := vayva.QueuePaymentsInbound, Job{Type: "paystack.event", Payload: []byte(strconv.Itoa(i))}
				if i%2 == 1 {
					q, job.Key = vayva.QueueWhatsAppInbound, "conv-"+strconv.Itoa(i%7)
				}
				dup, err := b.IngestOnce(ctx, "evt:"+strconv.Itoa(i), time.Hour, q, job)
				if !assert.NoError(t, err) {
					return
				}
				if !dup {
					fresh[i].Add(1)
				}
			}
		})
	}
	wg.Wait()
	for i := range fresh {
		require.EqualValues(t, 1, fresh[i].Load(), "key %d enqueued as new %d times", i, fresh[i].Load())
	}
	stats, err := b.Stats(ctx)
	require.NoError(t, err)
	var length int64
	for _, s := range stats {
		length += s.Length
	}
	require.EqualValues(t, keys, length)

	families, err := reg.Gather()
	require.NoError(t, err)
	var runs, events uint64
	for _, f := range families {
		if f.GetName() == "vayva_queue_ingest_batch_events" {
			runs = f.GetMetric()[0].GetHistogram().GetSampleCount()
			events = uint64(f.GetMetric()[0].GetHistogram().GetSampleSum())
		}
	}
	require.EqualValues(t, keys*copies, events, "every call went through a batch")
	require.Less(t, runs, uint64(keys*copies), "no call shared a script run")
}
