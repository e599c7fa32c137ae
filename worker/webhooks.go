package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/integrations/standardwebhooks"
	"github.com/vayvahq/vayva/internal/startstop"
	"github.com/vayvahq/vayva/persistence/redis/queue"
)

// DefaultWebhookSchedule is the wait before each retry of a failed
// delivery, after the first attempt, as in Standard Webhooks and Svix: eight
// attempts over about 28 hours.
var DefaultWebhookSchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// WebhookStore keeps endpoints, deliveries and attempts. Implemented by
// *postgres.Webhooks.
type WebhookStore interface {
	FanOut(ctx context.Context, e vayva.Event, body []byte, onlyEndpoint string) (int, error)
	ClaimDue(ctx context.Context, limit int, lease time.Duration) ([]vayva.DueWebhookDelivery, error)
	NextDue(ctx context.Context) (time.Time, bool, error)
	Abandon(ctx context.Context, id string, attempt int, reason string) error
	RecordAttempt(ctx context.Context, r vayva.WebhookAttemptResult) (bool, error)
}

// WebhooksConfig configures the webhook worker.
type WebhooksConfig struct {
	// ConsumerName is the queue consumer's name, stable across restarts and
	// unique among live processes. Required.
	ConsumerName string
	// FanOutConcurrency is how many webhook-delivery jobs are fanned out
	// at once. Defaults to 4.
	FanOutConcurrency int
	// Concurrency is how many delivery attempts run at once on this node.
	// Defaults to 16.
	Concurrency int
	// PollInterval is the longest the dispatcher waits before looking for
	// due deliveries (other nodes' replays, retries); it wakes earlier for
	// retries it knows about and for new deliveries of this node. Defaults
	// to 250ms.
	PollInterval time.Duration
	// Timeout bounds one HTTP attempt. Defaults to 15s.
	Timeout time.Duration
	// Lease is how long a claimed delivery waits before another worker may
	// claim it again, should this one die mid-attempt. Defaults to
	// 4·Timeout; must exceed Timeout.
	Lease time.Duration
	// Schedule are the waits before each retry. Defaults to
	// DefaultWebhookSchedule; a delivery gets len(Schedule)+1 attempts.
	Schedule []time.Duration
	// RetryScale multiplies every wait, Retry-After included (env
	// VAYVA_RETRY_SCALE). Defaults to 1.
	RetryScale float64
	// MaxRetryAfter caps the Retry-After honoured from an endpoint.
	// Defaults to 24h.
	MaxRetryAfter time.Duration
	// DisableAfter is how many deliveries in a row must exhaust their
	// retries before the endpoint is disabled. Defaults to 20; negative
	// never disables for that reason.
	DisableAfter int
	// HTTPClient sends the attempts. Defaults to a client that follows no
	// redirect and, unless AllowPrivateNetworks, refuses to connect to
	// loopback, private, link-local and other non-public addresses, checked
	// after name resolution (no SSRF into the node's own network, no DNS
	// rebinding). Its policies are left alone when set.
	HTTPClient *http.Client
	// AllowPrivateNetworks lets the default client reach non-public
	// addresses: for development and sandbox mode, where endpoints run on
	// the same machine.
	AllowPrivateNetworks bool
	// UserAgent is sent with every attempt. Defaults to "Vayva-Webhooks/1".
	UserAgent string
	// Registerer receives the worker's metrics. Nil keeps them unregistered.
	Registerer prometheus.Registerer
	// Logger receives operational logs. The zero value discards them.
	Logger zerolog.Logger
}

func (c *WebhooksConfig) setDefaults() error {
	if c.ConsumerName == "" {
		return errors.New("worker: webhooks: ConsumerName is required")
	}
	if c.FanOutConcurrency == 0 {
		c.FanOutConcurrency = 4
	}
	if c.Concurrency == 0 {
		c.Concurrency = 16
	}
	if c.PollInterval == 0 {
		c.PollInterval = 250 * time.Millisecond
	}
	if c.Timeout == 0 {
		c.Timeout = 15 * time.Second
	}
	if c.Lease == 0 {
		c.Lease = 4 * c.Timeout
	}
	if c.Schedule == nil {
		c.Schedule = DefaultWebhookSchedule
	}
	if c.RetryScale == 0 {
		c.RetryScale = 1
	}
	if c.MaxRetryAfter == 0 {
		c.MaxRetryAfter = 24 * time.Hour
	}
	if c.DisableAfter == 0 {
		c.DisableAfter = 20
	}
	if c.UserAgent == "" {
		c.UserAgent = "Vayva-Webhooks/1"
	}
	if c.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 4
		tr.Proxy = nil
		if !c.AllowPrivateNetworks {
			d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: refusePrivate}
			tr.DialContext = d.DialContext
		}
		c.HTTPClient = &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	switch {
	case c.FanOutConcurrency < 0 || c.Concurrency < 0:
		return errors.New("worker: webhooks: concurrencies must be positive")
	case c.PollInterval < 0 || c.Timeout < 0 || c.RetryScale < 0 || c.MaxRetryAfter < 0:
		return errors.New("worker: webhooks: PollInterval, Timeout, RetryScale and MaxRetryAfter must be positive")
	case c.Lease <= c.Timeout:
		return errors.New("worker: webhooks: Lease must exceed Timeout")
	}
	return nil
}

// Webhooks is the outbound webhook worker: fan-out from the
// webhook-delivery queue and the durable delivery dispatcher (see the
// package documentation). It is a long-lived component with the semantics
// of package startstop.
type Webhooks struct {
	startstop.BaseStartStop

	cfg        WebhooksConfig
	ownsClient bool
	broker     *queue.Broker
	store      WebhookStore
	log        zerolog.Logger
	m          webhookMetrics

	poke chan struct{}
	sem  chan struct{}

	consumer *queue.Consumer    // set by Start
	hcancel  context.CancelFunc // aborts attempts in flight
	loopDone chan struct{}      // closed when the dispatcher loop has returned
	inflight sync.WaitGroup
}

type webhookMetrics struct {
	created  prometheus.Counter
	attempts *prometheus.CounterVec
	duration prometheus.Histogram
	disabled prometheus.Counter
}

// NewWebhooks returns a webhook worker over store, consuming broker's
// webhook-delivery queue.
func NewWebhooks(cfg WebhooksConfig, broker *queue.Broker, store WebhookStore) (*Webhooks, error) {
	if broker == nil || store == nil {
		return nil, errors.New("worker: webhooks: a broker and a store are required")
	}
	ownsClient := cfg.HTTPClient == nil
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	w := &Webhooks{
		cfg: cfg, ownsClient: ownsClient, broker: broker, store: store,
		log:  cfg.Logger.With().Str("component", "webhook-worker").Logger(),
		poke: make(chan struct{}, 1),
		sem:  make(chan struct{}, cfg.Concurrency),
		m: webhookMetrics{
			created: prometheus.NewCounter(prometheus.CounterOpts{
				Name: "vayva_webhook_deliveries_created_total", Help: "Webhook deliveries created by fan-out (one per event and endpoint).",
			}),
			attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "vayva_webhook_attempts_total", Help: "Webhook delivery attempts by outcome (succeeded, retry, exhausted, failed).",
			}, []string{"outcome"}),
			duration: prometheus.NewHistogram(prometheus.HistogramOpts{
				Name: "vayva_webhook_attempt_duration_seconds", Help: "Duration of webhook delivery attempts.",
				Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 15, 30},
			}),
			disabled: prometheus.NewCounter(prometheus.CounterOpts{
				Name: "vayva_webhook_endpoints_disabled_total", Help: "Webhook endpoints disabled by the worker (410 Gone or too many failures).",
			}),
		},
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{w.m.created, w.m.attempts, w.m.duration, w.m.disabled} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("worker: webhooks: register metrics: %w", err)
			}
		}
	}
	return w, nil
}

// Start subscribes to the webhook-delivery queue and starts the
// dispatcher, until Stop. ctx bounds only the start.
func (w *Webhooks) Start(ctx context.Context) (err error) {
	run, started, stopped, err := w.StartInit(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			stopped()
		}
	}()
	sctx, cancel := startstop.StartupContext(ctx, run)
	defer cancel()
	c, err := w.broker.NewConsumer(w.cfg.ConsumerName)
	if err != nil {
		return fmt.Errorf("worker: webhooks: %w", err)
	}
	if err := c.Consume(sctx, vayva.QueueWebhookDelivery, w.FanOut, queue.ConsumeOptions{Concurrency: w.cfg.FanOutConcurrency}); err != nil {
		return fmt.Errorf("worker: webhooks: %w", err)
	}
	if err := c.Start(sctx); err != nil {
		return fmt.Errorf("worker: webhooks: %w", err)
	}
	w.consumer = c
	// The dispatcher stops claiming when the run context ends; attempts in
	// flight run under hctx, which only a hard stop cancels.
	hctx, hcancel := context.WithCancel(context.WithoutCancel(run))
	w.hcancel, w.loopDone = hcancel, make(chan struct{})
	go func() {
		defer close(w.loopDone)
		w.dispatch(run, hctx)
	}()
	started()
	return nil
}

// Stop stops fan-out and the dispatcher and waits for attempts in flight to
// finish and be recorded. If ctx ends first, they are aborted and left to
// their lease: another worker retries them.
func (w *Webhooks) Stop(ctx context.Context) error {
	return w.StopWith(ctx, func(ctx context.Context) error {
		cerr := w.consumer.Stop(ctx)
		<-w.loopDone
		done := make(chan struct{})
		go func() {
			w.inflight.Wait()
			close(done)
		}()
		var err error
		select {
		case <-done:
		case <-ctx.Done():
			w.hcancel()
			<-done
			err = fmt.Errorf("worker: webhooks: stop: %w", ctx.Err())
		}
		w.hcancel()
		if w.ownsClient {
			w.cfg.HTTPClient.CloseIdleConnections()
		}
		if cerr != nil {
			return errors.Join(fmt.Errorf("worker: webhooks: %w", cerr), err)
		}
		return err
	})
}

// Poke makes the dispatcher look for due deliveries now.
func (w *Webhooks) Poke() {
	select {
	case w.poke <- struct{}{}:
	default:
	}
}

// webhookBody is the JSON body of every delivery.
type webhookBody struct {
	Type      string          `json:"type"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// FanOut handles one job of the webhook-delivery queue: a merchant-facing
// event becomes one delivery per subscribed active endpoint. Events that
// no merchant can receive are dropped.
func (w *Webhooks) FanOut(ctx context.Context, job queue.Job) error {
	var e vayva.Event
	if err := json.Unmarshal(job.Payload, &e); err != nil {
		w.log.Error().Err(err).Str("job", job.ID).Msg("webhook-delivery job is not an event; dropped")
		return nil
	}
	if e.ID == "" {
		e.ID = job.ID
	}
	if e.Type == "" {
		e.Type = job.Type
	}
	if e.MerchantID == "" {
		w.log.Warn().Str("event_id", e.ID).Str("type", e.Type).Msg("webhook event without a merchant; dropped")
		return nil
	}
	only := ""
	switch {
	case e.Type == vayva.EventWebhookTest:
		var d struct {
			EndpointID string `json:"endpoint_id"`
		}
		if err := json.Unmarshal(e.Data, &d); err != nil || d.EndpointID == "" {
			w.log.Error().Str("event_id", e.ID).Msg("webhook.test event without an endpoint; dropped")
			return nil
		}
		only = d.EndpointID
	case !vayva.IsWebhookEventType(e.Type):
		w.log.Warn().Str("event_id", e.ID).Str("type", e.Type).Msg("event type is not delivered to merchants; dropped")
		return nil
	}
	data := e.Data
	if len(bytes.TrimSpace(data)) == 0 || string(data) == "null" {
		data = json.RawMessage("{}")
	}
	at := e.OccurredAt
	if at.IsZero() {
		at = job.EnqueuedAt
	}
	body, err := json.Marshal(webhookBody{Type: e.Type, Timestamp: at.UTC().Format(time.RFC3339Nano), Data: data})
	if err != nil {
		w.log.Error().Err(err).Str("event_id", e.ID).Msg("webhook event data is not JSON; dropped")
		return nil
	}
	n, err := w.store.FanOut(ctx, e, body, only)
	if err != nil {
		return err
	}
	if n > 0 {
		w.m.created.Add(float64(n))
		w.Poke()
	}
	return nil
}

// dispatch claims due deliveries while slots are free and attempts them,
// until ctx ends. Attempts run under hctx.
func (w *Webhooks) dispatch(ctx, hctx context.Context) {
	var failing bool
	for ctx.Err() == nil {
		free := cap(w.sem) - len(w.sem)
		wait := w.cfg.PollInterval
		if free > 0 {
			due, err := w.store.ClaimDue(ctx, free, w.cfg.Lease)
			switch {
			case err != nil && ctx.Err() == nil:
				if !failing {
					w.log.Warn().Err(err).Msg("webhook dispatcher cannot claim deliveries; retrying")
				}
				failing = true
			case err == nil:
				if failing {
					w.log.Info().Msg("webhook dispatcher claims deliveries again")
				}
				failing = false
			}
			for _, d := range due {
				w.sem <- struct{}{}
				w.inflight.Add(1)
				go func(d vayva.DueWebhookDelivery) {
					defer w.inflight.Done()
					defer func() {
						<-w.sem
						w.Poke()
					}()
					w.attempt(hctx, d)
				}(d)
			}
			if err == nil && len(due) == free {
				continue // there may be more due; claim again as slots free up
			}
			if err == nil {
				if at, ok, err := w.store.NextDue(ctx); err == nil && ok {
					wait = min(wait, max(time.Until(at), time.Millisecond))
				}
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-w.poke:
		case <-t.C:
		}
		t.Stop()
	}
}

// attempt makes one delivery attempt and records its outcome.
func (w *Webhooks) attempt(ctx context.Context, d vayva.DueWebhookDelivery) {
	log := w.log.With().Str("delivery_id", d.ID).Str("endpoint_id", d.EndpointID).Int("attempt", d.Attempt).Logger()
	if d.EndpointGone || d.EndpointStatus != vayva.WebhookActive {
		reason := "endpoint disabled"
		if d.EndpointGone {
			reason = "endpoint deleted"
		}
		rctx, cancel := context.WithTimeout(ctx, recordTimeout)
		defer cancel()
		if err := w.store.Abandon(rctx, d.ID, d.Attempt, reason); err != nil {
			log.Warn().Err(err).Msg("could not abandon a delivery; it is retried after its lease")
		}
		return
	}
	start := time.Now()
	status, retryAfter, sendErr := w.send(ctx, d, start)
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		return // aborted by a hard stop: the lease brings it back
	}
	w.m.duration.Observe(elapsed.Seconds())
	r := vayva.WebhookAttemptResult{
		DeliveryID: d.ID, EndpointID: d.EndpointID, Attempt: d.Attempt, StatusCode: status,
		Duration: elapsed, At: start.UTC(), DisableAfter: max(w.cfg.DisableAfter, 0),
	}
	if sendErr != nil {
		r.Error = sendErr.Error()
	}
	outcome := ""
	switch {
	case sendErr == nil && status >= 200 && status <= 299:
		r.Status, outcome = vayva.WebhookDeliverySucceeded, "succeeded"
	case status == http.StatusGone:
		r.Status, outcome = vayva.WebhookDeliveryFailed, "failed"
		r.DisableReason = "the endpoint answered 410 Gone"
	case d.Attempt-d.RetryBase > len(w.cfg.Schedule):
		r.Status, outcome = vayva.WebhookDeliveryExhausted, "exhausted"
	default:
		r.Status, outcome = vayva.WebhookDeliveryPending, "retry"
		r.NextAttemptAt = time.Now().Add(w.retryDelay(d.Attempt-d.RetryBase, status, retryAfter)).UTC()
	}
	w.m.attempts.WithLabelValues(outcome).Inc()
	rctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	disabled, err := w.store.RecordAttempt(rctx, r)
	if err != nil {
		log.Warn().Err(err).Msg("could not record a webhook attempt; it is retried after its lease")
		return
	}
	if disabled {
		w.m.disabled.Inc()
		log.Warn().Int("status", status).Msg("webhook endpoint disabled")
	}
}

// recordTimeout bounds the recording of an outcome. A graceful stop waits
// for it; a hard stop (the attempt context cancelled) abandons it, and the
// lease brings the delivery back.
const recordTimeout = 10 * time.Second

// maxErrorBody is how much of a failed answer is kept for the attempt log.
const maxErrorBody = 256

// send POSTs the delivery once. It returns the HTTP status (0 when no
// answer arrived), the Retry-After the endpoint asked for, and an error
// describing a failure.
func (w *Webhooks) send(ctx context.Context, d vayva.DueWebhookDelivery, now time.Time) (int, time.Duration, error) {
	if d.SecretErr != nil {
		return 0, 0, d.SecretErr
	}
	headers, err := standardwebhooks.SignHeaders(d.Secret, d.ID, now, d.Payload)
	if err != nil {
		return 0, 0, fmt.Errorf("sign: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Payload))
	if err != nil {
		return 0, 0, fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", w.cfg.UserAgent)
	headers.Set(req.Header)
	resp, err := w.cfg.HTTPClient.Do(req)
	if err != nil {
		return 0, 0, errors.New(stripURL(err))
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return resp.StatusCode, 0, nil
	}
	msg := "HTTP " + strconv.Itoa(resp.StatusCode)
	if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
		msg += " (redirects are not followed)"
	}
	if s := strings.TrimSpace(strings.ToValidUTF8(string(snippet), "")); s != "" {
		msg += ": " + s
	}
	return resp.StatusCode, parseRetryAfter(resp.Header.Get("Retry-After"), now), errors.New(msg)
}

// stripURL renders a transport error without repeating the endpoint URL,
// which the merchant knows and which may carry a token in its query.
func stripURL(err error) string {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner.Error()
		}
	}
	return err.Error()
}

// retryDelay is the wait after the n-th attempt of the current schedule
// failed: the schedule's step with ±10% jitter, at least the Retry-After of
// a 429 or 503 (capped), all times RetryScale.
func (w *Webhooks) retryDelay(n, status int, retryAfter time.Duration) time.Duration {
	step := w.cfg.Schedule[min(max(n, 1), len(w.cfg.Schedule))-1]
	d := step - step/10 + time.Duration(rand.Int64N(int64(step/5)+1))
	if (status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable) && retryAfter > 0 {
		d = max(d, min(retryAfter, w.cfg.MaxRetryAfter))
	}
	return time.Duration(float64(d) * w.cfg.RetryScale)
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP
// date. Anything else is 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 || n > 7*24*3600 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// HTTPClient returns the client the worker delivers with.
func (w *Webhooks) HTTPClient() *http.Client { return w.cfg.HTTPClient }

// errPrivateAddress is the dial error for an endpoint that resolves to a
// non-public address.
var errPrivateAddress = errors.New("endpoint resolves to a non-public address")

// refusePrivate is a net.Dialer Control function: it runs after name
// resolution with the address about to be dialled.
func refusePrivate(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return err
	}
	ip = ip.Unmap()
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() ||
		cgnat.Contains(ip) || benchmarking.Contains(ip) {
		return errPrivateAddress
	}
	return nil
}

var (
	cgnat        = netip.MustParsePrefix("100.64.0.0/10")
	benchmarking = netip.MustParsePrefix("198.18.0.0/15")
)
