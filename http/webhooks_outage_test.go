package http_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/integrations/paystack"
	"github.com/vayvahq/vayva/persistence/redis/redistest"
)

// Paystack deliveries arrive concurrently (each event twice) while the
// connection to Redis is cut in the middle of the load and restored later,
// with requests in flight and coalesced into shared Redis calls at the cut.
// Every answer is 200 or 503 with Retry-After; the provider retries each
// 503 after recovery; then every event is in the stream exactly once, no
// event was acknowledged as new twice, and every event acknowledged before
// or during the outage is among them.
func TestPaystackIngestSurvivesRedisOutage(t *testing.T) {
	t.Parallel()
	proxy, redisURL := redistest.NewProxy(t)
	n := hookNode(t, map[string]string{"VAYVA_REDIS_URL": redisURL})
	secret := n.Sandbox.Config().PaystackSecret
	url := n.BaseURL + "/webhooks/paystack"

	const events, workers = 200, 16
	bodies := make([][]byte, events)
	for i := range bodies {
		bodies[i] = chargeSuccess(7_000_000_000+int64(i), fmt.Sprintf("ord-outage-%d", i))
	}
	deliveries := make([]int, 0, 2*events)
	for i := range events {
		deliveries = append(deliveries, i, i)
	}
	rand.Shuffle(len(deliveries), func(i, j int) { deliveries[i], deliveries[j] = deliveries[j], deliveries[i] })

	var (
		mu       sync.Mutex
		fresh    = make([]int, events) // 200 answers with duplicate=false, per event
		acked    = make([]bool, events)
		retry    []int
		answered atomic.Int64
		refused  atomic.Int64
		next     atomic.Int64
	)
	// The cut comes after a quarter of the deliveries were answered and
	// lasts until another quarter were answered (refused, mostly).
	cutAt, restoreAt := int64(len(deliveries)/4), int64(len(deliveries)/2)
	var cutOnce, restoreOnce sync.Once
	deliver := func(i int) (status int) {
		body := bodies[i]
		r := hookDo(t, "POST", url, body, paystack.SignatureHeader, paystack.Sign(secret, body))
		mu.Lock()
		defer mu.Unlock()
		switch r.status {
		case 200:
			acked[i] = true
			if dup, _ := r.json(t)["duplicate"].(bool); !dup {
				fresh[i]++
			}
		case 503:
			secs, err := strconv.Atoi(r.header.Get("Retry-After"))
			require.NoError(t, err, "503 without a usable Retry-After: %q", r.header.Get("Retry-After"))
			require.Positive(t, secs)
			refused.Add(1)
		default:
			t.Errorf("delivery of event %d: status %d: %s", i, r.status, r.body)
		}
		return r.status
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				k := int(next.Add(1)) - 1
				if k >= len(deliveries) {
					return
				}
				i := deliveries[k]
				if deliver(i) == 503 {
					mu.Lock()
					retry = append(retry, i)
					mu.Unlock()
				}
				switch answered.Add(1) {
				case cutAt:
					cutOnce.Do(proxy.Cut)
				case restoreAt:
					restoreOnce.Do(proxy.Restore)
				}
			}
		})
	}
	wg.Wait()
	require.Positive(t, refused.Load(), "the outage refused nothing")
	ackedDuringLoad := append([]bool(nil), acked...)

	// The provider retries every refused delivery.
	for _, i := range retry {
		for attempt := 0; ; attempt++ {
			require.Less(t, attempt, 50, "event %d is still refused after recovery", i)
			if deliver(i) == 200 {
				break
			}
		}
	}

	msgs, err := n.Redis.Redis().XRange(context.Background(), n.Redis.Key("q", vayva.QueuePaymentsInbound), "-", "+").Result()
	require.NoError(t, err)
	inStream := map[string]int{}
	for _, m := range msgs {
		data, _ := m.Values["data"].(string)
		inStream[data]++
	}
	for i, body := range bodies {
		require.Equal(t, 1, inStream[string(body)], "event %d (acknowledged during the load: %v) is in the stream %d times", i, ackedDuringLoad[i], inStream[string(body)])
		require.True(t, acked[i], "event %d never acknowledged", i)
		require.LessOrEqual(t, fresh[i], 1, "event %d acknowledged as new %d times", i, fresh[i])
	}
	require.Len(t, msgs, events)
}
