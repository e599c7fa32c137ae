package http

import (
	"encoding/json"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// The ring counts each second's requests, 4xx and 5xx and latency apart,
// forgets seconds older than its window and reads quantiles as bucket
// bounds capped by the maximum.
func TestRecentTrafficSeconds(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_767_348_000, 0)
	r := newRecentTraffic()
	r.now = func() time.Time { return now }

	for range 98 {
		r.observe(200, 3*time.Millisecond) // bucket (2.5, 5]
	}
	r.observe(404, 40*time.Millisecond) // (25, 50]
	r.observe(503, 700*time.Millisecond)
	now = now.Add(2 * time.Second)
	r.observe(200, 20*time.Second) // beyond the last bound

	_, secs := r.snapshot(3)
	require.Len(t, secs, 3)
	first := secs[0]
	require.Equal(t, timeJSON(time.Unix(1_767_348_000, 0)), first.At)
	require.Equal(t, int64(100), first.Requests)
	require.Equal(t, int64(1), first.ClientErrors)
	require.Equal(t, int64(1), first.ServerErrors)
	require.Equal(t, 5.0, first.LatencyP50)
	require.Equal(t, 50.0, first.LatencyP99)
	require.Equal(t, 700.0, first.LatencyMax)
	require.InDelta(t, (98*3+40+700)/100.0, first.LatencyMean, 0.001)
	require.Equal(t, trafficSecondJSON{At: timeJSON(time.Unix(1_767_348_001, 0))}, secs[1], "a quiet second is zero")
	require.Equal(t, int64(1), secs[2].Requests)
	require.Equal(t, 20000.0, secs[2].LatencyP99, "the unbounded bucket reads as the maximum")

	// A second's slot is reused a window later and starts from zero.
	now = now.Add(trafficWindow * time.Second)
	r.observe(200, time.Millisecond)
	_, secs = r.snapshot(trafficWindow)
	var total int64
	for _, s := range secs {
		total += s.Requests
	}
	require.Equal(t, int64(1), total, "only the newest second is left")
}

func TestCountedRoutes(t *testing.T) {
	t.Parallel()
	for route, want := range map[string]bool{
		"/healthz": true, "/v1/products": true, "unmatched": true, "/ops": false, "/ops/metrics": false,
		"/ops/cluster": false, "/metrics": false, "/opsx": true,
	} {
		require.Equal(t, want, counted(route), route)
	}
}

func TestPeerURL(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ http, cluster, want string }{
		{"127.0.0.1:8081", "10.0.0.5:7000", "http://127.0.0.1:8081"},
		{":8081", "10.0.0.5:7000", "http://10.0.0.5:8081"},
		{"0.0.0.0:8081", "node-b:7000", "http://node-b:8081"},
		{"[::]:8081", "[fd00::5]:7000", "http://[fd00::5]:8081"},
	} {
		got, err := peerURL(c.http, c.cluster)
		require.NoError(t, err, c.http)
		require.Equal(t, c.want, got, c.http)
	}
	for _, c := range [][2]string{{"", "10.0.0.5:7000"}, {"8081", "x:1"}, {":8081", ""}, {"host:", "x:1"}} {
		_, err := peerURL(c[0], c[1])
		require.Error(t, err, c)
	}
}

// A peer's answer is decoded only when it is the figures of the member
// asked, within the window.
func FuzzDecodeMemberMetrics(f *testing.F) {
	good, _ := json.Marshal(memberMetricsJSON{MemberID: "m1", At: "2026-01-02T10:00:00.000Z", IntervalSeconds: 1,
		Seconds: []trafficSecondJSON{{At: "2026-01-02T10:00:00.000Z", Requests: 3, LatencyP50: 1}}})
	f.Add(good, "m1")
	f.Add(good, "m2")
	f.Add([]byte(`{"member_id":"m1","seconds":null}`), "m1")
	f.Add([]byte(`{"member_id":1}`), "m1")
	f.Add([]byte(`[]`), "")
	f.Add([]byte(`not json`), "m1")
	f.Fuzz(func(t *testing.T, body []byte, want string) {
		m, err := decodeMemberMetrics(body, want)
		if err != nil {
			require.Nil(t, m)
			return
		}
		require.Equal(t, want, m.MemberID)
		require.LessOrEqual(t, len(m.Seconds), trafficWindow)
	})
}

// BenchmarkTrafficRing measures what the per-second traffic ring adds to
// each request the edge answers: the route's Prometheus histogram
// observation plus the ring's, from every core at once. The raw baseline is
// the histogram observation alone, what each request paid without the
// ring, in the same run.
func BenchmarkTrafficRing(b *testing.B) {
	m := newHTTPMetrics(prometheus.NewRegistry())
	r := newRecentTraffic()
	workers := runtime.GOMAXPROCS(0)
	const perWorker = 100_000
	run := func(f func()) time.Duration {
		var wg sync.WaitGroup
		start := time.Now()
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range perWorker {
					f()
				}
			}()
		}
		wg.Wait()
		return time.Since(start)
	}
	var ours, raw time.Duration
	rounds := 0
	for b.Loop() {
		raw += run(func() { m.observe("GET", "/healthz", 200, 3*time.Millisecond) })
		ours += run(func() {
			m.observe("GET", "/healthz", 200, 3*time.Millisecond)
			r.observe(200, 3*time.Millisecond)
		})
		rounds++
	}
	n := float64(rounds * workers * perWorker)
	b.ReportMetric(float64(ours.Nanoseconds())/n, "ns/req")
	b.ReportMetric(float64(raw.Nanoseconds())/n, "raw-ns/req")
	b.ReportMetric(float64(ours)/float64(raw), "ratio-to-raw")
}
