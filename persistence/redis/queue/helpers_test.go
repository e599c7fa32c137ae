package queue

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva/persistence/redis"
	"github.com/vayvahq/vayva/persistence/redis/redistest"
)

// testConfig is fast: tiny backoffs, short leases and idle times.
func testConfig() Config {
	cfg := Config{
		RetryScale:      0.001,
		LeaseTTL:        2 * time.Second,
		ClaimMinIdle:    500 * time.Millisecond,
		JanitorInterval: 100 * time.Millisecond,
		BlockTimeout:    200 * time.Millisecond,
		MoverInterval:   50 * time.Millisecond,
		TrimInterval:    200 * time.Millisecond,
		Registerer:      prometheus.NewRegistry(),
	}
	if os.Getenv("VAYVA_TEST_LOG") != "" {
		cfg.Logger = zerolog.New(zerolog.NewTestWriter(nil)).With().Timestamp().Logger()
	}
	return cfg
}

func newBroker(t testing.TB, rc *redis.Client, mutate func(*Config)) *Broker {
	t.Helper()
	cfg := testConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	if os.Getenv("VAYVA_TEST_LOG") != "" {
		cfg.Logger = zerolog.New(zerolog.NewTestWriter(t)).With().Timestamp().Logger()
	}
	b, err := New(rc, cfg)
	require.NoError(t, err)
	return b
}

// startConsumer starts a consumer of queue with h and stops it when the
// test ends.
func startConsumer(t testing.TB, b *Broker, name, queue string, h Handler, conc int) *Consumer {
	t.Helper()
	ctx := context.Background()
	c, err := b.NewConsumer(name)
	require.NoError(t, err)
	require.NoError(t, c.Consume(ctx, queue, h, ConsumeOptions{Concurrency: conc}))
	require.NoError(t, c.Start(ctx))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Stop(ctx)
	})
	return c
}

// recorder collects what handlers saw.
type recorder struct {
	mu   sync.Mutex
	seen []Job
}

func (r *recorder) add(job Job) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, job)
}

func (r *recorder) jobs() []Job {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Job(nil), r.seen...)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

// seqPayload is the payload "<key>#<seq>".
func seqPayload(key string, seq int) []byte { return []byte(key + "#" + strconv.Itoa(seq)) }

func parseSeq(t testing.TB, p []byte) (string, int) {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '#' {
			n, err := strconv.Atoi(string(p[i+1:]))
			require.NoError(t, err)
			return string(p[:i]), n
		}
	}
	t.Fatalf("bad payload %q", p)
	return "", 0
}

// checkPerKeyOrder asserts that for every key the completed sequence
// numbers go 1, 2, … perKey in order, allowing an immediate repeat (an
// at-least-once redelivery) but never a step back or a gap.
func checkPerKeyOrder(t testing.TB, jobs []Job, keys []string, perKey int) {
	t.Helper()
	got := map[string][]int{}
	for _, j := range jobs {
		k, n := parseSeq(t, j.Payload)
		require.Equal(t, j.Key, k)
		got[k] = append(got[k], n)
	}
	for _, k := range keys {
		seq := got[k]
		require.NotEmpty(t, seq, "key %s: nothing processed", k)
		require.Equal(t, 1, seq[0], "key %s starts at %d", k, seq[0])
		for i := 1; i < len(seq); i++ {
			require.Contains(t, []int{0, 1}, seq[i]-seq[i-1], "key %s out of order: %v", k, seq)
		}
		require.Equal(t, perKey, seq[len(seq)-1], "key %s: last %v", k, seq)
	}
}

func statsOf(t testing.TB, b *Broker, queue string) QueueStats {
	t.Helper()
	all, err := b.Stats(context.Background())
	require.NoError(t, err)
	for _, s := range all {
		if s.Name == queue {
			return s
		}
	}
	t.Fatalf("no stats for %s", queue)
	return QueueStats{}
}

func keysN(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%02d", prefix, i)
	}
	sort.Strings(out)
	return out
}

func newRC(t testing.TB) *redis.Client { return redistest.New(t) }

// counterValue reads a counter.
func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	require.NoError(t, c.Write(&m))
	return m.GetCounter().GetValue()
}

// gather returns metric family → queue label → value (counters, gauges).
func gather(t testing.TB, reg *prometheus.Registry) map[string]map[string]float64 {
	t.Helper()
	fams, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]map[string]float64{}
	for _, f := range fams {
		vals := map[string]float64{}
		for _, m := range f.GetMetric() {
			q := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "queue" {
					q = l.GetValue()
				}
			}
			switch {
			case m.Counter != nil:
				vals[q] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				vals[q] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				vals[q] = float64(m.GetHistogram().GetSampleCount())
			}
		}
		out[f.GetName()] = vals
	}
	return out
}
