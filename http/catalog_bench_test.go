package http_test

import (
	"fmt"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/vayvahq/vayva/node/nodetest"
)

// BenchmarkStorefrontProducts measures the storefront's product listing
// through the whole path (fasthttp edge, slug read model, cluster request
// to the store actor, JSON) on loopback, against a bare fasthttp handler
// on loopback that returns the same bytes, measured in the same run with
// the same client. ratio-to-bare is the share of the bare server's
// throughput the real path keeps.
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

	b.ResetTimer()
	full := hammer(b, url, b.N, workers, len(first.Raw))
	b.StopTimer()
	baseline := hammer(b, bareURL, b.N, workers, len(first.Raw))

	fullRate := float64(b.N) / full.Seconds()
	bareRate := float64(b.N) / baseline.Seconds()
	b.ReportMetric(fullRate, "req/s")
	b.ReportMetric(bareRate, "bare-req/s")
	b.ReportMetric(fullRate/bareRate, "ratio-to-bare")
}

// hammer sends n GET requests to url from workers goroutines and returns
// how long they took. Every answer must be a 200 of the expected size.
func hammer(b *testing.B, url string, n, workers, size int) time.Duration {
	b.Helper()
	client := &fasthttp.Client{MaxConnsPerHost: workers}
	var next atomic.Int64
	return fanOut(b, "GET "+url, workers, func() error {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI(url)
		for next.Add(1) <= int64(n) {
			if err := client.Do(req, resp); err != nil {
				return err
			}
			if resp.StatusCode() != 200 || len(resp.Body()) != size {
				return fmt.Errorf("status %d, %d bytes", resp.StatusCode(), len(resp.Body()))
			}
		}
		return nil
	})
}
