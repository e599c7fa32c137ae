package node_test

import (
	"bytes"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/auth"
	"github.com/vayvahq/vayva/node"
	"github.com/vayvahq/vayva/node/nodetest"
)

// The worker node is killed while Kwik is booking: Kwik took the booking,
// the worker never heard. The worker that takes the job over finds the
// task under the delivery's id instead of booking again, and the order
// records that booking.
func TestWorkerKilledMidBookingBooksOnce(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	hash := func(n *node.Node) { n.AuthConfig.Hash = auth.TestHashParams }
	opts := nodetest.Options{ClusterProvider: "postgres", Configure: hash,
		Env: map[string]string{"VAYVA_ROLES": "edge,actors,ingestors,relay"}}
	first := nodetest.Start(t, opts)

	// Kwik as the workers reach it: the first booking is passed on, and its
	// answer held until the worker is gone.
	booked := make(chan struct{})
	var once sync.Once
	kwikAPI := first.BaseURL + "/sandbox/kwik"
	proxy := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		body, _ := io.ReadAll(r.Body)
		req, _ := nethttp.NewRequestWithContext(r.Context(), r.Method, kwikAPI+r.URL.RequestURI(), bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := nethttp.DefaultClient.Do(req)
		if err != nil {
			w.WriteHeader(nethttp.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		answer, _ := io.ReadAll(resp.Body)
		hold := false
		if strings.HasSuffix(r.URL.Path, "/create_task_via_vendor") {
			once.Do(func() { hold = true; close(booked) })
		}
		if hold {
			<-r.Context().Done() // the worker dies waiting
			return
		}
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(answer)
	}))
	t.Cleanup(proxy.Close)

	workers := opts
	workers.DatabaseURL, workers.RedisPrefix, workers.ClusterName = first.DatabaseURL, first.RedisPrefix, first.Config().ClusterName
	workers.Env = map[string]string{"VAYVA_ROLES": "edge,workers",
		"VAYVA_KWIK_BASE_URL": proxy.URL, "VAYVA_PAYSTACK_BASE_URL": first.BaseURL + "/sandbox/paystack/api"}
	victim := nodetest.Start(t, workers)
	waitMembers(t, first.BaseURL, first.OpsToken, 2)

	s := newSeller(t, a, first.BaseURL, 3)
	a.do("PUT", first.BaseURL+"/v1/store/delivery-settings", s.token, map[string]any{
		"pickup_address": map[string]any{"name": "Hot Drop", "line1": "5 Broad Street", "city": "Lagos", "state": "Lagos",
			"country": "NG", "phone": "+2348020000000"},
		"auto_book": true, "rules": []map[string]any{{"states": []string{"Lagos"}, "provider": "kwik", "fee": 200000}},
	}).must(t, 200)
	co := a.do("POST", first.BaseURL+"/v1/storefront/"+s.slug+"/checkout", "", map[string]any{
		"email": "fan@example.com", "phone": "+2348030000000",
		"items":            []map[string]any{{"variant_id": s.variant, "quantity": 1}},
		"shipping_address": map[string]any{"name": "Fan", "line1": "1 Allen Avenue", "city": "Ikeja", "state": "Lagos", "country": "NG"},
	}, "Idempotency-Key", "kill-mid-booking").must(t, 201)
	orderID := co.body["order"].(map[string]any)["id"].(string)
	a.do("POST", payURL(co), "", map[string]any{}).must(t, 200)

	select {
	case <-booked:
	case <-time.After(60 * time.Second):
		t.Fatal("the delivery was never booked")
	}
	victim.Kill()
	deliveryID := actors.DeliveryID(orderID, 1)
	require.Len(t, first.Sandbox.KwikTasks(deliveryID), 1, "Kwik has the booking")

	// The next worker claims the job once it sat idle for the queue's
	// claim time (a minute).
	nodetest.Start(t, workers)
	var o answer
	require.Eventually(t, func() bool {
		o = a.do("GET", first.BaseURL+"/v1/orders/"+orderID, s.token, nil).must(t, 200)
		d, _ := o.body["delivery"].(map[string]any)
		return d != nil && d["provider_reference"] != ""
	}, 150*time.Second, 100*time.Millisecond, "the booking recorded by the next worker")
	tasks := first.Sandbox.KwikTasks(deliveryID)
	require.Len(t, tasks, 1, "booked once")
	require.Equal(t, strconv.FormatInt(tasks[0].JobID, 10), o.body["delivery"].(map[string]any)["provider_reference"])
}
