package http_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/integrations/paystack"
)

// BenchmarkIngestPaystack measures the whole webhook ingest path on
// loopback (fasthttp edge, HMAC-SHA512 verification, event parsing, one
// Lua call doing SET NX + XADD) for distinct signed events, against the
// rawest way to put the same payloads into Redis: pipelined XADD (batches
// of 64) from as many goroutines, measured in the same run.
// ratio-to-xadd is the share of raw XADD throughput the ingest path keeps;
// ratio-to-xadd-rt compares with one unpipelined XADD per event, the same
// one-round-trip-per-event shape as the ingest path.
func BenchmarkIngestPaystack(b *testing.B) {
	n := hookNode(b, nil)
	secret := n.Sandbox.Config().PaystackSecret
	url := n.BaseURL + "/webhooks/paystack"
	workers := 4 * runtime.GOMAXPROCS(0)

	events := func(base int64, count int) (bodies [][]byte, sigs []string) {
		for i := range count {
			body := chargeSuccess(base+int64(i), fmt.Sprintf("ord-bench-%d", base+int64(i)))
			bodies = append(bodies, body)
			sigs = append(sigs, paystack.Sign(secret, body))
		}
		return bodies, sigs
	}
	warmBodies, warmSigs := events(1_000_000_000, 200)
	postAll(b, url, warmBodies, warmSigs, workers)
	xaddAll(b, n.Redis.Redis(), n.Redis.Key("bench", "raw"), warmBodies, workers, 64)

	bodies, sigs := events(2_000_000_000, b.N)
	b.ResetTimer()
	ingest := postAll(b, url, bodies, sigs, workers)
	b.StopTimer()
	raw := xaddAll(b, n.Redis.Redis(), n.Redis.Key("bench", "raw"), bodies, workers, 64)
	rt := xaddAll(b, n.Redis.Redis(), n.Redis.Key("bench", "rt"), bodies, workers, 1)

	if got := queueLength(b, n, vayva.QueuePaymentsInbound); got != int64(len(warmBodies)+b.N) {
		b.Fatalf("payments-inbound holds %d entries, want %d", got, len(warmBodies)+b.N)
	}
	ingestRate := float64(b.N) / ingest.Seconds()
	rawRate := float64(b.N) / raw.Seconds()
	b.ReportMetric(ingestRate, "events/s")
	b.ReportMetric(rawRate, "raw-xadd/s")
	b.ReportMetric(ingestRate/rawRate, "ratio-to-xadd")
	b.ReportMetric(ingestRate/(float64(b.N)/rt.Seconds()), "ratio-to-xadd-rt")
}

// postAll posts every signed body to url from workers goroutines and
// returns how long it took; every answer must be a first-time 200.
func postAll(b *testing.B, url string, bodies [][]byte, sigs []string, workers int) time.Duration {
	b.Helper()
	client := &fasthttp.Client{MaxConnsPerHost: workers}
	var next atomic.Int64
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
			req.Header.Set(paystack.SignatureHeader, sigs[i])
			req.SetBodyRaw(bodies[i])
			if err := client.Do(req, resp); err != nil {
				return err
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
