package kwik_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/integrations/kwik"
	"github.com/vayvahq/vayva/integrations/sandbox"
)

// A started sandbox advances a booked task by itself; each status lasts
// until it was read, so a client that polls sees every one of them, in
// order, up to delivered. The failing drop-off phone is refused.
func TestSandboxTaskAdvancesByItself(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	sb := sandbox.New(sandbox.Config{PublicURL: srv.URL, NodeURL: srv.URL, RetryScale: 0.001, KwikStepDelay: 10 * time.Second})
	mux.Handle("/sandbox/", sb.Handler())
	require.NoError(t, sb.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, sb.Stop(context.Background())) })
	cfg := sb.Config()
	c, err := kwik.New(kwik.Config{BaseURL: sb.BaseURLs().Kwik, DomainName: cfg.KwikDomainName, Email: cfg.KwikEmail,
		Password: cfg.KwikPassword, RetryScale: 0.001})
	require.NoError(t, err)
	ctx := context.Background()
	route := kwik.QuoteRequest{Pickup: lekki, Dropoff: yaba}
	q, err := c.Quote(ctx, route)
	require.NoError(t, err)
	id := vayva.NewID("dlv")
	task, err := c.Book(ctx, kwik.BookRequest{DeliveryID: id, Request: route, Quote: q})
	require.NoError(t, err)
	require.Equal(t, kwik.StatusRequested, task.Status)

	seen := []kwik.Status{task.Status}
	require.Eventually(t, func() bool {
		got, err := c.TaskByDeliveryID(ctx, id)
		require.NoError(t, err)
		if got.Status != seen[len(seen)-1] {
			seen = append(seen, got.Status)
		}
		return got.Status == kwik.StatusDelivered
	}, 10*time.Second, 2*time.Millisecond)
	require.Equal(t, []kwik.Status{kwik.StatusRequested, kwik.StatusAssigned, kwik.StatusPickedUp, kwik.StatusInTransit, kwik.StatusDelivered}, seen)

	refused := yaba
	refused.Phone = sandbox.FailingKwikPhone
	_, err = c.Book(ctx, kwik.BookRequest{DeliveryID: vayva.NewID("dlv"), Request: kwik.QuoteRequest{Pickup: lekki, Dropoff: refused}, Quote: q})
	require.Error(t, err)
	require.True(t, kwik.IsPermanent(err))
	require.Len(t, sb.KwikTasks(""), 1)
}
