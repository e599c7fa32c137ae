package http_test

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/integrations/paystack"
)

// BenchmarkIngestPaystack measures the whole webhook ingest path on
// loopback (fasthttp edge, HMAC-SHA512 verification, event parsing, the
// dedupe marker and XADD, coalesced with the other requests in flight into
// one Redis script call) for distinct signed events, against a bare
// fasthttp handler on loopback that reads the same bodies and answers the
// same bytes, with the same client and workers, in the same run; the two
// alternate (bare, ours, ours, bare) so both see the same machine load.
// It runs with two client counts: 4 per core, where the bare handler is
// bound by the clients' round trips rather than the CPU (about half the
// cores busy), and 32 per core, where both are CPU-bound, so the ratio is
// of the two peaks: what ingest costs over the raw limit of the machine.
// ratio-to-bare is the share of the bare handler's throughput the ingest
// path keeps. p50-ms and p99-ms are the ingest path's latencies under an
// open-loop load at 80% of the throughput it just reached (each request
// sent at its scheduled time and timed from it, so queueing counts);
// bare-p99-ms is the bare handler's p99 under the same paced load, what
// the machine itself gives that client at that rate.
// raw-xadd/s and ratio-to-xadd compare with pipelined XADD of the same
// payloads (batches of 64). ingest-batch is the mean number of events per
// Redis script run during the timed phase.
func BenchmarkIngestPaystack(b *testing.B) {
	n := hookNode(b, nil)
	secret := n.Sandbox.Config().PaystackSecret
	url := n.BaseURL + "/webhooks/paystack"

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	bare := &fasthttp.Server{Handler: func(rc *fasthttp.RequestCtx) {
		if len(rc.PostBody()) == 0 || len(rc.Request.Header.Peek(paystack.SignatureHeader)) == 0 {
			rc.SetStatusCode(fasthttp.StatusBadRequest)
			return
		}
		rc.Response.Header.SetContentType("application/json")
		rc.Response.SetBodyString(`{"status":"ok"}`)
	}}
	go func() { _ = bare.Serve(ln) }()
	b.Cleanup(func() { _ = bare.Shutdown() })
	bareURL := "http://" + ln.Addr().String() + "/webhooks/paystack"

	// events signs count distinct events, never sent before on this node.
	var nextID atomic.Int64
	nextID.Store(2_000_000_000)
	events := func(count int) (bodies [][]byte, sigs []string) {
		from := nextID.Add(int64(count)) - int64(count)
		for i := range int64(count) {
			body := chargeSuccess(from+i, fmt.Sprintf("ord-bench-%d", from+i))
			bodies = append(bodies, body)
			sigs = append(sigs, paystack.Sign(secret, body))
		}
		return bodies, sigs
	}
	for _, perCore := range []int{4, 32} {
		workers := perCore * runtime.GOMAXPROCS(0)
		b.Run(fmt.Sprintf("clients=%d", workers), func(b *testing.B) {
			queued := queueLength(b, n, vayva.QueuePaymentsInbound)
			warmBodies, warmSigs := events(200)
			postAll(b, url, warmBodies, warmSigs, workers)
			postAll(b, bareURL, warmBodies, warmSigs, workers)

			bodies, sigs := events(b.N)
			half := b.N / 2
			runs0, events0 := ingestBatches(b, n.BaseURL)
			b.ResetTimer()
			baseline := postAll(b, bareURL, bodies[:half], sigs[:half], workers)
			ingest := postAll(b, url, bodies[:half], sigs[:half], workers)
			ingest += postAll(b, url, bodies[half:], sigs[half:], workers)
			baseline += postAll(b, bareURL, bodies[half:], sigs[half:], workers)
			b.StopTimer()
			runs1, events1 := ingestBatches(b, n.BaseURL)
			ingestRate := float64(b.N) / ingest.Seconds()

			// Latency at 80% of the peak just measured, open loop.
			rate := 0.8 * ingestRate
			latBodies, latSigs := events(max(2000, min(b.N, int(2*rate))))
			lat := paced(b, url, latBodies, latSigs, rate, pacedSenders)
			bareLat := paced(b, bareURL, latBodies, latSigs, rate, pacedSenders)
			raw := xaddAll(b, n.Redis.Redis(), n.Redis.Key("bench", "raw"), bodies, workers, 64)

			if got, want := queueLength(b, n, vayva.QueuePaymentsInbound)-queued, int64(len(warmBodies)+b.N+len(latBodies)); got != want {
				b.Fatalf("payments-inbound gained %d entries, want %d", got, want)
			}
			rawRate := float64(b.N) / raw.Seconds()
			b.ReportMetric(ingestRate, "events/s")
			b.ReportMetric(float64(b.N)/baseline.Seconds(), "bare-req/s")
			b.ReportMetric(baseline.Seconds()/ingest.Seconds(), "ratio-to-bare")
			b.ReportMetric(quantile(lat, 0.50), "p50-ms")
			b.ReportMetric(quantile(lat, 0.99), "p99-ms")
			b.ReportMetric(quantile(bareLat, 0.99), "bare-p99-ms")
			b.ReportMetric(rawRate, "raw-xadd/s")
			b.ReportMetric(ingestRate/rawRate, "ratio-to-xadd")
			b.ReportMetric((events1-events0)/(runs1-runs0), "ingest-batch")
		})
	}
}

// ingestBatches reads the ingest batch histogram (script runs, events)
// from the node's /metrics.
func ingestBatches(b *testing.B, base string) (runs, events float64) {
	b.Helper()
	status, body, err := fasthttp.Get(nil, base+"/metrics")
	if err != nil || status != 200 {
		b.Fatalf("GET /metrics: %d %v", status, err)
	}
	for line := range strings.Lines(string(body)) {
		name, value, _ := strings.Cut(strings.TrimSpace(line), " ")
		v, _ := strconv.ParseFloat(value, 64)
		switch name {
		case "vayva_queue_ingest_batch_events_count":
			runs = v
		case "vayva_queue_ingest_batch_events_sum":
			events = v
		}
	}
	return runs, events
}

// pacedSenders is how many goroutines send an open-loop load: enough that
// one is free when a request is due at the rates measured here (a request
// late for want of a sender counts as queueing), few enough that their
// timers do not load the machine the measurement runs on.
const pacedSenders = 64

// paced posts the signed bodies to url at rate per second, open loop: the
// i-th request is due i/rate after the start, is sent by whichever of
// senders goroutines is free, and its latency is measured from when it was
// due. It returns the latencies in milliseconds; every answer must be a
// first-time 200.
func paced(b *testing.B, url string, bodies [][]byte, sigs []string, rate float64, senders int) []float64 {
	b.Helper()
	lat := make([]float64, len(bodies))
	post(b, url, bodies, sigs, senders, time.Duration(float64(time.Second)/rate), lat)
	return lat
}

// quantile returns the q-quantile of values (nearest rank).
func quantile(values []float64, q float64) float64 {
	v := slices.Clone(values)
	slices.Sort(v)
	return v[min(len(v)-1, int(q*float64(len(v))))]
}

// postAll posts every signed body to url from workers goroutines and
// returns how long it took; every answer must be a first-time 200.
func postAll(b *testing.B, url string, bodies [][]byte, sigs []string, workers int) time.Duration {
	b.Helper()
	return post(b, url, bodies, sigs, workers, 0, nil)
}

// post sends every signed body to url from workers goroutines, the i-th
// not before i*interval after the start; with lat, it records each one's
// latency from that time in milliseconds. It returns how long it all took;
// every answer must be a first-time 200.
func post(b *testing.B, url string, bodies [][]byte, sigs []string, workers int, interval time.Duration, lat []float64) time.Duration {
	b.Helper()
	client := &fasthttp.Client{MaxConnsPerHost: workers}
	var next atomic.Int64
	start := time.Now()
	return fanOut(b, "POST "+url, workers, func() error {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI(url)
		req.Header.SetMethod("POST")
		req.Header.SetContentType("application/json")
		for {
			i := int(next.Add(1)) - 1
			if i >= len(bodies) {
				return nil
			}
			due := start.Add(time.Duration(i) * interval)
			if interval > 0 {
				time.Sleep(time.Until(due))
			}
			req.Header.Set(paystack.SignatureHeader, sigs[i])
			req.SetBodyRaw(bodies[i])
			if err := client.Do(req, resp); err != nil {
				return err
			}
			if lat != nil {
				lat[i] = float64(time.Since(due)) / float64(time.Millisecond)
			}
			if resp.StatusCode() != 200 || len(resp.Body()) != len(`{"status":"ok"}`) {
				return fmt.Errorf("status %d: %s", resp.StatusCode(), resp.Body())
			}
		}
	})
}

// xaddAll appends every body to stream with XADDs pipelined batch at a
// time from workers goroutines and returns how long it took.
func xaddAll(b *testing.B, rdb *goredis.Client, stream string, bodies [][]byte, workers, batch int) time.Duration {
	b.Helper()
	ctx := context.Background()
	var next atomic.Int64
	return fanOut(b, "XADD", workers, func() error {
		for {
			from := int(next.Add(int64(batch))) - batch
			if from >= len(bodies) {
				return nil
			}
			pipe := rdb.Pipeline()
			for _, body := range bodies[from:min(from+batch, len(bodies))] {
				pipe.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []any{"type", "paystack.event", "data", body}})
			}
			if _, err := pipe.Exec(ctx); err != nil {
				return err
			}
		}
	})
}
