package http_test

import (
	"fmt"
	"net"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/vayvahq/vayva/node/nodetest"
)

// BenchmarkStorefrontProducts measures the storefront's first product page
// (20 products) through the whole read path on loopback: fasthttp edge,
// route middleware (request id, metrics), slug read model, the member's
// storefront snapshot and its encoded answer with ETag and Cache-Control.
// The raw baseline is a bare fasthttp handler on loopback that returns the
// same body bytes with no routing, middleware or lookup, served and driven
// by the same client in the same run: it is the limit because no storefront
// answer can cost less than fasthttp writing those bytes, and client,
// kernel and loopback costs are the same for both. The two alternate in
// rounds so that both see the same machine load. ratio-to-bare is the
// share of the bare server's throughput the real path keeps; p50/p99 are
// our per-request latencies as the client sees them.
func BenchmarkStorefrontProducts(b *testing.B) {
	n := catalogNode(b, nodetest.Options{})
	m := signup(b, n.BaseURL, "Bench Boutique")
	for i := range 20 {
		apiCall(b, n.BaseURL, "POST", "/v1/products", m.token,
			product(fmt.Sprintf("Product %d", i), "active", fmt.Sprintf("B%d-S", i), fmt.Sprintf("B%d-M", i))).requireStatus(b, 201)
	}
	url := n.BaseURL + "/v1/storefront/" + m.slug + "/products"
	first := apiCall(b, url, "GET", "", "", nil).requireStatus(b, 200)
	if len(first.list()) != 20 {
		b.Fatalf("listed %d products, want 20", len(first.list()))
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	bare := &fasthttp.Server{Handler: func(rc *fasthttp.RequestCtx) {
		rc.Response.Header.SetContentType("application/json")
		rc.Response.SetBodyRaw(first.Raw)
	}}
	go func() { _ = bare.Serve(ln) }()
	b.Cleanup(func() { _ = bare.Shutdown() })
	bareURL := "http://" + ln.Addr().String() + "/v1/storefront/" + m.slug + "/products"

	workers := 4 * runtime.GOMAXPROCS(0)
	hammer(b, bareURL, 200, workers, len(first.Raw)) // warm both paths
	hammer(b, url, 200, workers, len(first.Raw))

	const rounds = 50
	var full, baseline time.Duration
	var fullLat []time.Duration
	b.ResetTimer()
	for r := range rounds {
		count := b.N / rounds
		if r == 0 {
			count += b.N % rounds
		}
		took, lat := hammer(b, url, count, workers, len(first.Raw))
		full += took
		fullLat = append(fullLat, lat...)
		b.StopTimer()
		took, _ = hammer(b, bareURL, count, workers, len(first.Raw))
		baseline += took
		b.StartTimer()
	}
	b.StopTimer()

	fullRate := float64(b.N) / full.Seconds()
	bareRate := float64(b.N) / baseline.Seconds()
	b.ReportMetric(fullRate, "req/s")
	b.ReportMetric(bareRate, "bare-req/s")
	b.ReportMetric(fullRate/bareRate, "ratio-to-bare")
	b.ReportMetric(quantileMs(fullLat, 0.50), "p50-ms")
	b.ReportMetric(quantileMs(fullLat, 0.99), "p99-ms")
}

// quantileMs is the q-quantile of ds in milliseconds.
func quantileMs(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return float64(s[min(len(s)-1, int(q*float64(len(s))))].Microseconds()) / 1000
}

// hammer sends n GET requests to url from workers goroutines and returns
// how long they took and each one's latency. Every answer must be a 200 of
// the expected size.
func hammer(b *testing.B, url string, n, workers, size int) (time.Duration, []time.Duration) {
	b.Helper()
	client := &fasthttp.Client{MaxConnsPerHost: workers}
	var next atomic.Int64
	var mu sync.Mutex
	var all []time.Duration
	took := fanOut(b, "GET "+url, workers, func() error {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI(url)
		lat := make([]time.Duration, 0, n/workers+1)
		defer func() {
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}()
		for next.Add(1) <= int64(n) {
			start := time.Now()
			if err := client.Do(req, resp); err != nil {
				return err
			}
			lat = append(lat, time.Since(start))
			if resp.StatusCode() != 200 || len(resp.Body()) != size {
				return fmt.Errorf("status %d, %d bytes", resp.StatusCode(), len(resp.Body()))
			}
		}
		return nil
	})
	return took, all
}
