package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/integrations/resend"
	"github.com/vayvahq/vayva/persistence/redis/queue"
)

// DefaultFrom is the sender of transactional email.
const DefaultFrom = "Vayva <no-reply@vayva.ng>"

// EmailSender sends one email with an idempotency key and returns the
// provider's id. Implemented by *resend.Client.
type EmailSender interface {
	Send(ctx context.Context, e resend.Email, idempotencyKey string) (string, error)
}

// EmailLogStore records transactional emails. Implemented by
// *postgres.EmailLogs.
type EmailLogStore interface {
	Begin(ctx context.Context, e vayva.EmailLog, lease time.Duration) (bool, error)
	MarkSent(ctx context.Context, eventID, providerID string) error
	MarkFailed(ctx context.Context, eventID, reason string, permanent bool) error
	RecordError(ctx context.Context, eventID, reason string) error
}

var _ EmailSender = (*resend.Client)(nil)

// EmailConfig configures the email worker.
type EmailConfig struct {
	// ConsumerName is the queue consumer's name, stable across restarts and
	// unique among live processes, e.g. "<host>-<addr>-email". Required.
	ConsumerName string
	// From is the sender address. Defaults to DefaultFrom.
	From string
	// Concurrency is how many emails are sent at once. Defaults to 4.
	Concurrency int
	// RateLimitWaits is how many provider rate limits one job waits out
	// in place before it goes back to the queue's backoff. Defaults to 3;
	// negative waits none.
	RateLimitWaits int
	// SendLease is how long one attempt may hold an email before a
	// duplicate job of the same event may send it (after a crash). It must
	// exceed a send with its rate-limit waits. Defaults to 2m.
	SendLease time.Duration
	// RetryScale multiplies the waits the provider asks for (env
	// VAYVA_RETRY_SCALE). Defaults to 1.
	RetryScale float64
	// Registerer receives the worker's metrics. Nil keeps them unregistered.
	Registerer prometheus.Registerer
	// Logger receives operational logs. The zero value discards them.
	Logger zerolog.Logger
}

// Email is the email worker (see the package documentation). It is a
// long-lived component with the semantics of package startstop.
type Email struct {
	*consumer

	cfg       EmailConfig
	store     EmailLogStore
	sender    EmailSender
	templates *Templates
	log       zerolog.Logger
	gate      rateGate

	sent        prometheus.Counter
	failed      *prometheus.CounterVec
	rateLimited prometheus.Counter
}

// NewEmail returns an email worker consuming broker's email queue.
func NewEmail(cfg EmailConfig, broker *queue.Broker, store EmailLogStore, sender EmailSender) (*Email, error) {
	if broker == nil || store == nil || sender == nil {
		return nil, errors.New("worker: email: a broker, a store and a sender are required")
	}
	if cfg.ConsumerName == "" {
		return nil, errors.New("worker: email: ConsumerName is required")
	}
	if cfg.From == "" {
		cfg.From = DefaultFrom
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 4
	}
	if cfg.RateLimitWaits == 0 {
		cfg.RateLimitWaits = 3
	}
	if cfg.RetryScale == 0 {
		cfg.RetryScale = 1
	}
	if cfg.SendLease == 0 {
		cfg.SendLease = 2 * time.Minute
	}
	if cfg.Concurrency < 0 || cfg.RetryScale < 0 {
		return nil, errors.New("worker: email: Concurrency and RetryScale must not be negative")
	}
	templates, err := NewTemplates()
	if err != nil {
		return nil, err
	}
	w := &Email{
		cfg: cfg, store: store, sender: sender, templates: templates,
		log: cfg.Logger.With().Str("component", "email-worker").Logger(),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vayva_email_sent_total", Help: "Transactional emails the provider accepted.",
		}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vayva_email_failed_total", Help: "Transactional emails given up, by reason (refused, template, exhausted).",
		}, []string{"reason"}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vayva_email_rate_limited_total", Help: "Sends the provider answered with 429.",
		}),
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{w.sent, w.failed, w.rateLimited} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("worker: email: register metrics: %w", err)
			}
		}
	}
	if w.consumer, err = newConsumer(cfg.ConsumerName, vayva.QueueEmail, broker, cfg.Concurrency, w.Handle); err != nil {
		return nil, err
	}
	return w, nil
}

// Handle processes one job of the email queue: an email.send event.
func (w *Email) Handle(ctx context.Context, job queue.Job) error {
	var ev vayva.Event
	if err := json.Unmarshal(job.Payload, &ev); err != nil {
		w.log.Error().Err(err).Str("job", job.ID).Msg("email job is not an event; dropped")
		return nil
	}
	if ev.Type != vayva.EventSendEmail {
		w.log.Error().Str("job", job.ID).Str("type", ev.Type).Msg("email queue got an event it does not handle; dropped")
		return nil
	}
	var m vayva.SendEmail
	if err := json.Unmarshal(ev.Data, &m); err != nil {
		w.log.Error().Err(err).Str("job", job.ID).Msg("email.send event without a valid SendEmail; dropped")
		return nil
	}
	eventID := ev.ID
	if eventID == "" {
		eventID = job.ID
	}
	merchantID := m.MerchantID
	if merchantID == "" {
		merchantID = ev.MerchantID
	}
	msg, renderErr := w.templates.Render(m.Template, m.Vars)
	to := strings.TrimSpace(m.To)
	if renderErr == nil && (to == "" || !strings.Contains(to, "@") || strings.ContainsAny(to, "\r\n")) {
		renderErr = fmt.Errorf("%w: the recipient is not an email address", ErrTemplate)
	}
	proceed, err := w.store.Begin(ctx, vayva.EmailLog{
		EventID: eventID, MerchantID: merchantID, Template: m.Template, To: to, Subject: msg.Subject, Provider: "resend",
	}, w.cfg.SendLease)
	if err != nil {
		return err
	}
	if !proceed {
		return nil // sent already, or refused for good
	}
	if renderErr != nil {
		w.failed.WithLabelValues("template").Inc()
		// Render errors name templates and variables, never their values.
		w.log.Error().Err(renderErr).Str("job_id", job.ID).Str("event_id", eventID).Str("template", m.Template).
			Msg("email cannot be rendered; marked failed")
		return w.record(ctx, func(ctx context.Context) error {
			return w.store.MarkFailed(ctx, eventID, renderErr.Error(), true)
		})
	}
	email := resend.Email{
		From: w.cfg.From, To: []string{to}, Subject: msg.Subject, HTML: msg.HTML, Text: msg.Text,
		Tags: []resend.Tag{{Name: "template", Value: tagValue(m.Template)}},
	}
	for waits := 0; ; waits++ {
		if err := w.gate.wait(ctx); err != nil {
			return err
		}
		id, err := w.sender.Send(ctx, email, job.ID)
		if err == nil {
			w.sent.Inc()
			return w.record(ctx, func(ctx context.Context) error { return w.store.MarkSent(ctx, eventID, id) })
		}
		if after, limited := resend.RetryAfter(err); limited {
			w.rateLimited.Inc()
			w.gate.hold(time.Duration(float64(after) * w.cfg.RetryScale))
			if waits < w.cfg.RateLimitWaits {
				continue
			}
		}
		if permanentSendError(err) {
			w.failed.WithLabelValues("refused").Inc()
			w.logSendFailure(job, eventID, m.Template, err).Msg("the provider refused an email; marked failed")
			return w.record(ctx, func(ctx context.Context) error {
				return w.store.MarkFailed(ctx, eventID, err.Error(), true)
			})
		}
		if job.Attempt >= job.MaxAttempts {
			w.failed.WithLabelValues("exhausted").Inc()
			w.logSendFailure(job, eventID, m.Template, err).Msg("sending an email failed on its last attempt; marked failed")
			if rerr := w.record(ctx, func(ctx context.Context) error {
				return w.store.MarkFailed(ctx, eventID, err.Error(), false)
			}); rerr != nil {
				return errors.Join(err, rerr)
			}
			return err
		}
		w.logSendFailure(job, eventID, m.Template, err).Msg("sending an email failed; the queue retries it")
		if rerr := w.record(ctx, func(ctx context.Context) error {
			return w.store.RecordError(ctx, eventID, err.Error())
		}); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
}

// logSendFailure starts the warning about a failed send: the job, event
// and template, the attempt, and what failed (the provider's status and
// error name, or the transport error when no answer came). It never logs
// the recipient, the variables or the body, which hold single-use links,
// nor the provider's free-text message, which may quote them.
func (w *Email) logSendFailure(job queue.Job, eventID, template string, err error) *zerolog.Event {
	e := w.log.Warn().Str("job_id", job.ID).Str("event_id", eventID).Str("template", template).
		Int("attempt", job.Attempt).Int("max_attempts", job.MaxAttempts)
	var rl *resend.RateLimitedError
	var re *resend.Error
	switch {
	case errors.As(err, &rl):
		e = e.Int("status", http.StatusTooManyRequests).Str("provider_error", rl.Name)
	case errors.As(err, &re):
		if re.StatusCode != 0 {
			e = e.Int("status", re.StatusCode)
		}
		if re.Name != "" {
			e = e.Str("provider_error", re.Name)
		}
		if re.Err != nil {
			e = e.Str("error", re.Err.Error())
		}
	default:
		e = e.Str("error_code", vayva.ErrorCode(err))
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			e = e.Str("error", err.Error())
		}
	}
	return e
}

// record writes an outcome even when the job's context ends meanwhile: an
// email that left must not be sent again for want of a log line.
func (w *Email) record(ctx context.Context, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return f(ctx)
}

// permanentSendError reports whether repeating the send cannot help: the
// provider refused the email (a 4xx other than 429). Authentication
// failures (401, 403) are our configuration, which an operator fixes; they
// are retried.
func permanentSendError(err error) bool {
	var re *resend.Error
	if errors.As(err, &re) {
		if re.StatusCode == http.StatusUnauthorized || re.StatusCode == http.StatusForbidden {
			return false
		}
		return resend.IsPermanent(err)
	}
	if _, limited := resend.RetryAfter(err); limited {
		return false
	}
	// The client refused the email before sending it.
	return vayva.ErrorCode(err) == vayva.EINVALID
}

// tagValue keeps a Resend tag value to the characters Resend accepts.
func tagValue(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "none"
	}
	if len(b) > 256 {
		b = b[:256]
	}
	return string(b)
}

// rateGate holds every send of a worker back until the provider's rate
// limit window has passed: the limit is per account, not per email.
type rateGate struct {
	mu    sync.Mutex
	until time.Time
}

func (g *rateGate) hold(d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t := time.Now().Add(d); t.After(g.until) {
		g.until = t
	}
}

func (g *rateGate) wait(ctx context.Context) error {
	g.mu.Lock()
	d := time.Until(g.until)
	g.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
