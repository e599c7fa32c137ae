package worker_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/integrations/resend"
	"github.com/vayvahq/vayva/integrations/sandbox"
	"github.com/vayvahq/vayva/persistence/postgres"
	"github.com/vayvahq/vayva/persistence/postgres/pgtest"
	"github.com/vayvahq/vayva/persistence/redis"
	"github.com/vayvahq/vayva/persistence/redis/queue"
	"github.com/vayvahq/vayva/persistence/redis/redistest"
	"github.com/vayvahq/vayva/worker"
)

// env is one test's world: its own database, Redis prefix, queues and
// sandbox providers.
type env struct {
	db     *postgres.DB
	dbURL  string
	rc     *redis.Client
	broker *queue.Broker
	sb     *sandbox.Sandbox
	sbURL  string
	log    zerolog.Logger
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db, dbURL := pgtest.New(t)
	rc := redistest.New(t)
	b, err := queue.New(rc, queue.Config{
		RetryScale:      0.001,
		LeaseTTL:        2 * time.Second,
		ClaimMinIdle:    time.Second,
		JanitorInterval: 200 * time.Millisecond,
		BlockTimeout:    200 * time.Millisecond,
		MoverInterval:   20 * time.Millisecond,
		TrimInterval:    time.Second,
		Registerer:      prometheus.NewRegistry(),
	})
	require.NoError(t, err)
	sb := sandbox.New(sandbox.Config{RetryScale: 0.001})
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(srv.Close)
	return &env{db: db, dbURL: dbURL, rc: rc, broker: b, sb: sb, sbURL: srv.URL, log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)}
}

// appendEvent writes e to the outbox as aggregate (kind, id) caused it.
func (e *env) appendEvent(t *testing.T, kind, id string, ev vayva.Event) vayva.Event {
	t.Helper()
	if ev.ID == "" {
		ev.ID = vayva.NewID("evt")
	}
	require.NoError(t, e.db.InDomain(context.Background(), vayva.DomainRuntime, func(ctx context.Context, tx pgx.Tx) error {
		return postgres.AppendOutbox(ctx, tx, kind, id, ev)
	}))
	return ev
}

// emailEvent is an email.send event for the verification template.
func emailEvent(t *testing.T, to, merchantID string) vayva.Event {
	t.Helper()
	data, err := json.Marshal(vayva.SendEmail{
		Template: vayva.EmailVerification, To: to, MerchantID: merchantID,
		Vars: map[string]string{"name": "Ada", "verify_url": "https://app.vayva.ng/verify-email?token=vvt_abc", "store_name": "Ada's Shop"},
	})
	require.NoError(t, err)
	return vayva.Event{ID: vayva.NewID("evt"), Type: vayva.EventSendEmail, Queue: vayva.QueueEmail, MerchantID: merchantID, Data: data}
}

func (e *env) startRelay(t *testing.T, cfg worker.RelayConfig, configure func(r *worker.Relay)) *worker.Relay {
	t.Helper()
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 20 * time.Millisecond
	}
	if cfg.LeaderRetry == 0 {
		cfg.LeaderRetry = 50 * time.Millisecond
	}
	cfg.Logger = e.log
	r, err := worker.NewRelay(cfg, worker.LeadWith(postgres.NewOutbox(e.db).Lead), e.broker)
	require.NoError(t, err)
	if configure != nil {
		configure(r)
	}
	require.NoError(t, r.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, r.Stop(ctx))
	})
	return r
}

func (e *env) resendClient(t *testing.T) *resend.Client {
	t.Helper()
	c, err := resend.New(resend.Config{APIKey: sandbox.DefaultResendAPIKey, BaseURL: e.sbURL + sandbox.ResendAPIPrefix, RetryScale: 0.001})
	require.NoError(t, err)
	return c
}

func (e *env) startEmail(t *testing.T, cfg worker.EmailConfig) *worker.Email {
	t.Helper()
	if cfg.ConsumerName == "" {
		cfg.ConsumerName = "test-email"
	}
	if cfg.RetryScale == 0 {
		cfg.RetryScale = 0.001
	}
	cfg.Logger = e.log
	w, err := worker.NewEmail(cfg, e.broker, postgres.NewEmailLogs(e.db), e.resendClient(t))
	require.NoError(t, err)
	require.NoError(t, w.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, w.Stop(ctx))
	})
	return w
}

func (e *env) webhooks(t *testing.T) *postgres.Webhooks {
	t.Helper()
	w, err := postgres.NewWebhooks(e.db, postgres.WebhooksConfig{})
	require.NoError(t, err)
	return w
}

func (e *env) startWebhooks(t *testing.T, cfg worker.WebhooksConfig) *worker.Webhooks {
	t.Helper()
	if cfg.ConsumerName == "" {
		cfg.ConsumerName = "test-webhooks"
	}
	// Test endpoints listen on loopback.
	cfg.AllowPrivateNetworks = true
	if cfg.RetryScale == 0 {
		cfg.RetryScale = 0.001
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 20 * time.Millisecond
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	cfg.Logger = e.log
	w, err := worker.NewWebhooks(cfg, e.broker, e.webhooks(t))
	require.NoError(t, err)
	require.NoError(t, w.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, w.Stop(ctx))
	})
	return w
}

// newMerchant inserts a merchant row and returns its id.
func (e *env) newMerchant(t *testing.T) string {
	t.Helper()
	id := vayva.NewID("mer")
	require.NoError(t, e.db.InDomain(context.Background(), vayva.DomainMerchant, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO merchant.merchants (id, name, owner_user_id) VALUES ($1, 'Test merchant', $2)`, id, vayva.NewID("usr"))
		return err
	}))
	return id
}

func (e *env) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, e.db.Pool().QueryRow(context.Background(), query, args...).Scan(&n))
	return n
}

// streamEntry is a job as it sits in a queue's stream.
type streamEntry struct {
	ID, Type, Key string
	Payload       []byte
}

// stream returns the entries of an unordered queue's stream, in order.
func (e *env) stream(t *testing.T, name string) []streamEntry {
	t.Helper()
	msgs, err := e.rc.Redis().XRange(context.Background(), e.rc.Key("q", name), "-", "+").Result()
	require.NoError(t, err)
	out := make([]streamEntry, 0, len(msgs))
	for _, m := range msgs {
		s := func(k string) string { v, _ := m.Values[k].(string); return v }
		out = append(out, streamEntry{ID: s("id"), Type: s("type"), Key: s("key"), Payload: []byte(s("data"))})
	}
	return out
}

func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var sum float64
		for _, m := range mf.GetMetric() {
			sum += metricValue(m)
		}
		return sum, true
	}
	return 0, false
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	}
	return 0
}

// receiver is a merchant's webhook endpoint: it verifies every request
// with its own implementation of the Standard Webhooks scheme, written
// from the specification, and answers as told.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	secret string

	mu       sync.Mutex
	answer   func(n int, r *http.Request) (int, http.Header) // n counts requests from 1
	requests []received
	acked    map[string]int // webhook-id -> 2xx answers
}

type received struct {
	ID, Timestamp string
	Body          []byte
	Valid         bool
	Status        int
	At            time.Time
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{t: t, acked: map[string]int{}}
	r.answer = func(int, *http.Request) (int, http.Header) { return http.StatusOK, nil }
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) setSecret(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secret = s
}

func (r *receiver) setAnswer(f func(n int, req *http.Request) (int, http.Header)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answer = f
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	id, ts, sig := req.Header.Get("webhook-id"), req.Header.Get("webhook-timestamp"), req.Header.Get("webhook-signature")
	r.mu.Lock()
	valid := req.Method == http.MethodPost && req.Header.Get("Content-Type") == "application/json" &&
		verifyStandardWebhook(r.secret, id, ts, sig, body, time.Now())
	rec := received{ID: id, Timestamp: ts, Body: body, Valid: valid, At: time.Now()}
	status, header := r.answer(len(r.requests)+1, req)
	if !valid {
		status = http.StatusUnauthorized
	}
	rec.Status = status
	r.requests = append(r.requests, rec)
	if status >= 200 && status <= 299 {
		r.acked[id]++
	}
	r.mu.Unlock()
	for k, v := range header {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
}

func (r *receiver) received() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.requests...)
}

func (r *receiver) ackCounts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.acked))
	for k, v := range r.acked {
		out[k] = v
	}
	return out
}

// verifyStandardWebhook checks a delivery the way the Standard Webhooks
// specification describes, independently of integrations/standardwebhooks:
// the secret is "whsec_" + base64(key); the signed content is
// "<webhook-id>.<webhook-timestamp>.<body>"; the signature header holds
// space-separated "v1,<base64(HMAC-SHA256(key, content))>" values; the
// timestamp must be within five minutes.
func verifyStandardWebhook(secret, id, ts, sigHeader string, body []byte, now time.Time) bool {
	if id == "" || ts == "" || sigHeader == "" || !strings.HasPrefix(secret, "whsec_") {
		return false
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return false
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.", id, ts)
	mac.Write(body)
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, part := range strings.Split(sigHeader, " ") {
		version, sig, ok := strings.Cut(part, ",")
		if ok && version == "v1" && hmac.Equal([]byte(sig), []byte(want)) {
			return true
		}
	}
	return false
}

type queueJob = queue.Job
