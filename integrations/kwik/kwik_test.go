package kwik_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/integrations/kwik"
	"github.com/vayvahq/vayva/integrations/sandbox"
)

type env struct {
	sb     *sandbox.Sandbox
	srv    *httptest.Server
	client *kwik.Client
	logins atomic.Int64
	// loseCreate, when set, makes the next booking's answer get lost after
	// the fake has booked it.
	loseCreate atomic.Bool
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{}
	mux := http.NewServeMux()
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	e.sb = sandbox.New(sandbox.Config{PublicURL: e.srv.URL, KwikPassword: vayva.NewSecret("pw_")})
	inner := e.sb.Handler()
	mux.Handle("/sandbox/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/vendor_login"):
			e.logins.Add(1)
		case strings.HasSuffix(r.URL.Path, "/create_task_via_vendor") && e.loseCreate.CompareAndSwap(true, false):
			inner.ServeHTTP(httptest.NewRecorder(), r) // booked, but the answer never arrives
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	cfg := e.sb.Config()
	c, err := kwik.New(kwik.Config{
		BaseURL: e.sb.BaseURLs().Kwik, DomainName: cfg.KwikDomainName, Email: cfg.KwikEmail, Password: cfg.KwikPassword,
		RetryScale: 0.001,
	}, kwik.WithHTTPClient(e.srv.Client()))
	require.NoError(t, err)
	e.client = c
	return e
}

var (
	lekki = kwik.Stop{Address: "12 Admiralty Way, Lekki, Lagos", Name: "Ada Stores", Phone: "+2348030000001", Latitude: 6.4474, Longitude: 3.4723}
	yaba  = kwik.Stop{Address: "5 Herbert Macaulay Way, Yaba, Lagos", Name: "Bo", Phone: "+2348030000002", Email: "bo@example.com", Latitude: 6.5095, Longitude: 3.3711}
)

func (e *env) advance(t *testing.T, jobID string, body string) int {
	t.Helper()
	resp, err := e.srv.Client().Post(e.sb.BaseURLs().Kwik+"/tasks/"+jobID+"/advance", "application/json", bytes.NewBufferString(body))
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func TestQuoteBookAndTrack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	route := kwik.QuoteRequest{Pickup: lekki, Dropoff: yaba}
	q, err := e.client.Quote(ctx, route)
	require.NoError(t, err)
	require.Equal(t, "NGN", q.Currency)
	require.Greater(t, q.Amount, int64(100000), "base fare plus distance, in kobo")
	require.Zero(t, (q.Amount-100000)%1500, "the fake prices tenths of a kilometre at NGN 150/km")
	require.EqualValues(t, 5000, q.ServiceCharge)

	deliveryID := vayva.NewID("dlv")
	task, err := e.client.Book(ctx, kwik.BookRequest{DeliveryID: deliveryID, Request: route, Quote: q})
	require.NoError(t, err)
	require.Equal(t, deliveryID, task.DeliveryID)
	require.NotEmpty(t, task.JobID)
	require.Equal(t, kwik.StatusRequested, task.Status)

	booked := e.sb.KwikTasks(deliveryID)
	require.Len(t, booked, 1)
	require.Equal(t, task.JobID, strconv.FormatInt(booked[0].JobID, 10))
	require.Equal(t, yaba.Address, booked[0].Address)
	require.Equal(t, strconv.FormatInt(q.Amount/100, 10)+"."+twoDigits(q.Amount%100), booked[0].Amount)

	// Booking again is answered from Kwik's record: still one task.
	again, err := e.client.Book(ctx, kwik.BookRequest{DeliveryID: deliveryID, Request: route, Quote: q})
	require.NoError(t, err)
	require.Equal(t, task.JobID, again.JobID)
	require.Len(t, e.sb.KwikTasks(deliveryID), 1)

	for _, want := range []kwik.Status{kwik.StatusAssigned, kwik.StatusPickedUp, kwik.StatusInTransit, kwik.StatusDelivered} {
		require.Equal(t, http.StatusOK, e.advance(t, task.JobID, ""))
		got, err := e.client.TaskByDeliveryID(ctx, deliveryID)
		require.NoError(t, err)
		require.Equal(t, want, got.Status)
		require.Equal(t, task.JobID, got.JobID)
		require.NotEmpty(t, got.PickupJobID)
		require.Equal(t, "Sandbox Rider", got.RiderName)
	}
	require.Equal(t, http.StatusConflict, e.advance(t, task.JobID, ""))
	require.Error(t, e.client.Cancel(ctx, task.JobID), "a delivered task cannot be canceled")
	require.Equal(t, int64(1), e.logins.Load(), "the token is cached")
}

func twoDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	if len(s) < 2 {
		s = "0" + s
	}
	return s
}

func TestCancelAndFail(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	route := kwik.QuoteRequest{Pickup: lekki, Dropoff: yaba}
	q, err := e.client.Quote(ctx, route)
	require.NoError(t, err)

	a := vayva.NewID("dlv")
	ta, err := e.client.Book(ctx, kwik.BookRequest{DeliveryID: a, Request: route, Quote: q})
	require.NoError(t, err)
	require.NoError(t, e.client.Cancel(ctx, ta.JobID))
	require.NoError(t, e.client.Cancel(ctx, ta.JobID), "cancelling twice is harmless")
	got, err := e.client.TaskByDeliveryID(ctx, a)
	require.NoError(t, err)
	require.Equal(t, kwik.StatusCanceled, got.Status)
	require.Equal(t, kwik.JobCanceled, got.DeliveryCode)

	b := vayva.NewID("dlv")
	tb, err := e.client.Book(ctx, kwik.BookRequest{DeliveryID: b, Request: route, Quote: q})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, e.advance(t, tb.JobID, `{"status":"assigned"}`))
	require.Equal(t, http.StatusOK, e.advance(t, tb.JobID, `{"status":"failed"}`))
	got, err = e.client.TaskByDeliveryID(ctx, b)
	require.NoError(t, err)
	require.Equal(t, kwik.StatusFailed, got.Status)
}

func TestLostBookingAnswerIsFoundNotRebooked(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	route := kwik.QuoteRequest{Pickup: lekki, Dropoff: yaba}
	q, err := e.client.Quote(ctx, route)
	require.NoError(t, err)
	id := vayva.NewID("dlv")
	e.loseCreate.Store(true)
	task, err := e.client.Book(ctx, kwik.BookRequest{DeliveryID: id, Request: route, Quote: q})
	require.NoError(t, err)
	require.False(t, e.loseCreate.Load(), "the booking answer was lost")
	booked := e.sb.KwikTasks(id)
	require.Len(t, booked, 1)
	require.Equal(t, strconv.FormatInt(booked[0].JobID, 10), task.JobID)
}

func TestExpiredTokenIsRenewed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	_, err := e.client.Quote(ctx, kwik.QuoteRequest{Pickup: lekki, Dropoff: yaba})
	require.NoError(t, err)
	e.sb.ExpireKwikTokens()
	_, err = e.client.Quote(ctx, kwik.QuoteRequest{Pickup: lekki, Dropoff: yaba})
	require.NoError(t, err)
	require.EqualValues(t, 2, e.logins.Load())
}

func TestErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()

	_, err := e.client.TaskByDeliveryID(ctx, "dlv_unknown")
	require.ErrorIs(t, err, kwik.ErrNotFound)
	require.Equal(t, vayva.ENOTFOUND, vayva.ErrorCode(err))

	_, err = e.client.Quote(ctx, kwik.QuoteRequest{Pickup: lekki, Dropoff: kwik.Stop{Address: "nowhere", Phone: "1"}})
	require.Equal(t, vayva.EINVALID, vayva.ErrorCode(err))

	cfg := e.sb.Config()
	bad, err := kwik.New(kwik.Config{BaseURL: e.sb.BaseURLs().Kwik, DomainName: cfg.KwikDomainName, Email: cfg.KwikEmail, Password: "wrong"},
		kwik.WithHTTPClient(e.srv.Client()))
	require.NoError(t, err)
	_, err = bad.Quote(ctx, kwik.QuoteRequest{Pickup: lekki, Dropoff: yaba})
	var ke *kwik.Error
	require.ErrorAs(t, err, &ke)
	require.Equal(t, 201, ke.Status)
	require.True(t, kwik.IsPermanent(err))
	require.EqualValues(t, 2, e.logins.Load(), "one failed login, no retries of a refusal")
}

func TestNormalizeStatus(t *testing.T) {
	t.Parallel()
	cases := []struct {
		pickup, delivery int
		want             kwik.Status
	}{
		{kwik.JobUnassigned, kwik.JobUnassigned, kwik.StatusRequested},
		{-1, kwik.JobUnassigned, kwik.StatusRequested},
		{kwik.JobDeclined, kwik.JobUnassigned, kwik.StatusRequested},
		{kwik.JobAccepted, kwik.JobUpcoming, kwik.StatusAssigned},
		{kwik.JobStarted, kwik.JobUpcoming, kwik.StatusAssigned},
		{kwik.JobArrived, kwik.JobUpcoming, kwik.StatusAssigned},
		{-1, kwik.JobAccepted, kwik.StatusAssigned},
		{kwik.JobEnded, kwik.JobUpcoming, kwik.StatusPickedUp},
		{kwik.JobEnded, kwik.JobStarted, kwik.StatusInTransit},
		{kwik.JobEnded, kwik.JobArrived, kwik.StatusInTransit},
		{-1, kwik.JobStarted, kwik.StatusInTransit},
		{kwik.JobEnded, kwik.JobEnded, kwik.StatusDelivered},
		{-1, kwik.JobEnded, kwik.StatusDelivered},
		{kwik.JobEnded, kwik.JobFailed, kwik.StatusFailed},
		{kwik.JobFailed, kwik.JobUpcoming, kwik.StatusFailed},
		{kwik.JobCanceled, kwik.JobCanceled, kwik.StatusCanceled},
		{kwik.JobUpcoming, kwik.JobDeleted, kwik.StatusCanceled},
	}
	for _, c := range cases {
		require.Equal(t, c.want, kwik.NormalizeStatus(c.pickup, c.delivery), "%d/%d", c.pickup, c.delivery)
	}
}

// adversary is a scripted Kwik: logins succeed, other calls answer as told.
func adversary(t *testing.T, answer func(n int64, w http.ResponseWriter, r *http.Request)) (*kwik.Client, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/vendor_login" {
			_, _ = io.WriteString(w, `{"status":200,"message":"ok","data":{"access_token":"tok","vendor_details":{"vendor_id":"5","user_id":6}}}`)
			return
		}
		var body map[string]any
		if r.Method == http.MethodPost {
			require.NoError(t, json.NewDecoder(r.Body).Decode(&body))
			require.Equal(t, "tok", body["access_token"])
			require.EqualValues(t, 5, body["vendor_id"])
		} else {
			require.Equal(t, "tok", r.URL.Query().Get("access_token"))
		}
		answer(n.Add(1), w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := kwik.New(kwik.Config{BaseURL: srv.URL, DomainName: "d", Email: "e", Password: "p", RetryScale: 0.001, MaxRetries: 2},
		kwik.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	return c, &n
}

func TestReadsAreRetried(t *testing.T) {
	t.Parallel()
	c, n := adversary(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
		if n < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, `{"status":200,"message":"ok","data":[{"job_id":"77","job_type":"1","job_status":"2","tracking_link":"https://t"}]}`)
	})
	task, err := c.TaskByDeliveryID(context.Background(), "dlv_1")
	require.NoError(t, err)
	require.EqualValues(t, 3, n.Load())
	require.Equal(t, "77", task.JobID)
	require.Equal(t, kwik.StatusDelivered, task.Status)
	require.Equal(t, -1, task.PickupCode)
	require.Equal(t, "https://t", task.TrackingURL)
}

func TestBookingFailureIsReturnedAfterRetries(t *testing.T) {
	t.Parallel()
	var creates atomic.Int64
	c, _ := adversary(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/view_task_by_relationship_id":
			_, _ = io.WriteString(w, `{"status":404,"message":"No task found","data":[]}`)
		case "/create_task_via_vendor":
			creates.Add(1)
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	_, err := c.Book(context.Background(), kwik.BookRequest{
		DeliveryID: "dlv_1", Request: kwik.QuoteRequest{Pickup: lekki, Dropoff: yaba}, Quote: kwik.Quote{Amount: 150000},
	})
	require.Error(t, err)
	require.Equal(t, vayva.EUNAVAILABLE, vayva.ErrorCode(err))
	require.EqualValues(t, 3, creates.Load(), "each attempt is preceded by a lookup")
}

func TestRefusedTokenLogsInOnce(t *testing.T) {
	t.Parallel()
	c, n := adversary(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"status":101,"message":"INVALID_KEY","data":{}}`)
	})
	err := c.Cancel(context.Background(), "77")
	var ke *kwik.Error
	require.True(t, errors.As(err, &ke))
	require.Equal(t, 101, ke.Status)
	require.EqualValues(t, 2, n.Load(), "one retry with a fresh token")
}
