package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/persistence/postgres"
	"github.com/vayvahq/vayva/worker"
)

// queueIdle waits until queue has nothing waiting, in flight or delayed.
func (e *env) queueIdle(t *testing.T, name string) {
	t.Helper()
	require.Eventually(t, func() bool {
		st, err := e.broker.Stats(context.Background())
		require.NoError(t, err)
		for _, s := range st {
			if s.Name == name {
				return s.Length == 0 && s.Pending == 0 && s.Delayed == 0
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond)
}

func (e *env) emailLog(t *testing.T, eventID string) vayva.EmailLog {
	t.Helper()
	l, err := postgres.NewEmailLogs(e.db).Get(context.Background(), eventID)
	if vayva.ErrorCode(err) == vayva.ENOTFOUND {
		return vayva.EmailLog{} // not handled yet
	}
	require.NoError(t, err)
	return l
}

// An email.send row in the outbox travels through the relay, the email
// queue and the worker to the (sandbox) Resend mailbox, and is logged with
// the provider's id.
func TestEmailEndToEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startRelay(t, worker.RelayConfig{}, nil)
	e.startEmail(t, worker.EmailConfig{})
	ev := e.appendEvent(t, "user", "usr_1", emailEvent(t, "ada@example.com", "mer_1"))

	require.Eventually(t, func() bool { return len(e.sb.Mailbox("ada@example.com")) == 1 }, 10*time.Second, 20*time.Millisecond)
	m := e.sb.Mailbox("ada@example.com")[0]
	require.Equal(t, worker.DefaultFrom, m.From)
	require.Equal(t, []string{"ada@example.com"}, m.To)
	require.Equal(t, "Verify your email address for Vayva", m.Subject)
	require.Contains(t, m.Text, "https://app.vayva.ng/verify-email?token=vvt_abc")
	require.Contains(t, m.HTML, `href="https://app.vayva.ng/verify-email?token=vvt_abc"`)
	require.Contains(t, m.HTML, "Ada&#39;s Shop", "variables are HTML-escaped")
	require.Equal(t, ev.ID, m.IdempotencyKey, "the job id (= event id) is the idempotency key")

	require.Eventually(t, func() bool { return e.emailLog(t, ev.ID).Status == vayva.EmailSent }, 10*time.Second, 20*time.Millisecond)
	l := e.emailLog(t, ev.ID)
	require.Equal(t, m.ID, l.ProviderID)
	require.Equal(t, "mer_1", l.MerchantID)
	require.Equal(t, vayva.EmailVerification, l.Template)
	require.Equal(t, "ada@example.com", l.To)
	require.Equal(t, m.Subject, l.Subject)
	require.Equal(t, "resend", l.Provider)
	require.Equal(t, 1, l.Attempts)
	require.NotNil(t, l.SentAt)
}

// A 429 from Resend delays the email but it is still sent exactly once,
// whether the worker waits it out in place or the job goes back to the
// queue.
func TestEmailRateLimitedIsSentOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		limited int
		waits   int
	}{
		{"waited out in place", 1, 3},
		{"retried by the queue", 4, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			reg := prometheus.NewRegistry()
			e.sb.ResendRateLimitNext(tc.limited, time.Second)
			e.startEmail(t, worker.EmailConfig{RateLimitWaits: tc.waits, Registerer: reg})
			e.startRelay(t, worker.RelayConfig{}, nil)
			ev := e.appendEvent(t, "user", "usr_1", emailEvent(t, "bo@example.com", ""))

			require.Eventually(t, func() bool { return e.emailLog(t, ev.ID).Status == vayva.EmailSent }, 10*time.Second, 20*time.Millisecond)
			e.queueIdle(t, vayva.QueueEmail)
			require.Len(t, e.sb.Mailbox("bo@example.com"), 1)
			limited, _ := gaugeValue(t, reg, "vayva_email_rate_limited_total")
			require.Equal(t, float64(tc.limited), limited, "every 429 was seen")
			sent, _ := gaugeValue(t, reg, "vayva_email_sent_total")
			require.Equal(t, 1.0, sent)
		})
	}
}

// A permanent refusal (Resend's 422 for a bad sender) marks the email
// failed and is not retried.
func TestEmailPermanentRefusalIsNotRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startEmail(t, worker.EmailConfig{From: "no address here"})
	e.startRelay(t, worker.RelayConfig{}, nil)
	ev := e.appendEvent(t, "user", "usr_1", emailEvent(t, "cy@example.com", ""))

	require.Eventually(t, func() bool { return e.emailLog(t, ev.ID).Status == vayva.EmailFailed }, 10*time.Second, 20*time.Millisecond)
	e.queueIdle(t, vayva.QueueEmail)
	l := e.emailLog(t, ev.ID)
	require.True(t, l.Permanent)
	require.Contains(t, l.Error, "422")
	require.Equal(t, 1, l.Attempts)
	dead, err := e.broker.DeadLetters(context.Background(), vayva.QueueEmail, 10)
	require.NoError(t, err)
	require.Empty(t, dead)
	require.Empty(t, e.sb.Mailbox("cy@example.com"))
}

// Server errors are retried by the queue, the email goes out once, and an
// event that cannot be rendered fails for good without a send.
func TestEmailRetriesServerErrorsAndRefusesBadEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.sb.ResendFailNext(2, 503)
	e.startEmail(t, worker.EmailConfig{})
	e.startRelay(t, worker.RelayConfig{}, nil)
	ev := e.appendEvent(t, "user", "usr_1", emailEvent(t, "di@example.com", ""))

	bad, err := json.Marshal(vayva.SendEmail{Template: vayva.EmailVerification, To: "ed@example.com"}) // no verify_url
	require.NoError(t, err)
	badEv := e.appendEvent(t, "user", "usr_2", vayva.Event{Type: vayva.EventSendEmail, Queue: vayva.QueueEmail, Data: bad})

	require.Eventually(t, func() bool { return e.emailLog(t, ev.ID).Status == vayva.EmailSent }, 10*time.Second, 20*time.Millisecond)
	require.Len(t, e.sb.Mailbox("di@example.com"), 1)
	require.Eventually(t, func() bool { return e.emailLog(t, badEv.ID).Status == vayva.EmailFailed }, 10*time.Second, 20*time.Millisecond)
	l := e.emailLog(t, badEv.ID)
	require.True(t, l.Permanent)
	require.Contains(t, l.Error, "verify_url")
	require.Empty(t, e.sb.Mailbox("ed@example.com"))
}

func TestTemplatesRenderAndEscape(t *testing.T) {
	t.Parallel()
	tpl, err := worker.NewTemplates()
	require.NoError(t, err)

	r, err := tpl.Render(vayva.EmailVerification, map[string]string{
		"name": "<script>alert(1)</script>", "verify_url": "javascript:alert(1)", "store_name": "Shop\r\nBcc: evil@example.com",
	})
	require.NoError(t, err)
	require.NotContains(t, r.HTML, "<script>")
	require.Contains(t, r.HTML, "&lt;script&gt;")
	require.NotContains(t, r.HTML, `href="javascript:`)
	require.Contains(t, r.Text, "<script>alert(1)</script>", "the text body is plain text")
	require.NotContains(t, r.Subject, "\n")

	r, err = tpl.Render(vayva.EmailInvitation, map[string]string{
		"accept_url": "https://x.test/accept-invitation?token=vin_1", "store_name": "Ife <Wears>", "invited_by": "Ada", "role": "staff",
		"expires_at": "8 March 2026",
	})
	require.NoError(t, err)
	require.Equal(t, "You're invited to join Ife <Wears> on Vayva", r.Subject)
	require.Contains(t, r.Text, "Ada invited you to join Ife <Wears> on Vayva as staff.")
	require.Contains(t, r.Text, "https://x.test/accept-invitation?token=vin_1")
	require.Contains(t, r.Text, "expires on 8 March 2026")
	require.Contains(t, r.HTML, `href="https://x.test/accept-invitation?token=vin_1"`)
	require.Contains(t, r.HTML, "Ife &lt;Wears&gt;")
	_, err = tpl.Render(vayva.EmailInvitation, map[string]string{"store_name": "Ife Wears"})
	require.True(t, errors.Is(err, worker.ErrTemplate), "an invitation without its link cannot be sent")

	r, err = tpl.Render(vayva.EmailWelcome, map[string]string{"name": "Ife"})
	require.NoError(t, err)
	require.Equal(t, "Welcome to Vayva, Ife", r.Subject)

	r, err = tpl.Render(vayva.EmailOrderConfirmation, map[string]string{
		"name": "Chi", "order_number": "1042", "store_name": "Ife Wears", "amount": "250000", "currency": "NGN",
	})
	require.NoError(t, err)
	require.Equal(t, "Order 1042 confirmed at Ife Wears", r.Subject)
	require.Contains(t, r.Text, "Total: NGN 2,500.00")
	require.Contains(t, r.HTML, "NGN 2,500.00")

	_, err = tpl.Render(vayva.EmailOrderConfirmation, map[string]string{"name": "Chi"})
	require.True(t, errors.Is(err, worker.ErrTemplate))
	_, err = tpl.Render("nope", nil)
	require.True(t, errors.Is(err, worker.ErrTemplate))

	for in, want := range map[int64]string{0: "0.00", 5: "0.05", 250000: "2,500.00", 123456789: "1,234,567.89", -1050: "-10.50"} {
		require.Equal(t, "NGN "+want, worker.FormatMoney(in, "NGN"))
	}
	require.False(t, strings.Contains(worker.FormatMoney(100, ""), " "))
}

// logBuffer collects log lines from the worker's goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A failed send logs a warning with the job id and what failed, never the
// recipient, the variables (which hold single-use links) or the body.
func TestEmailFailuresLogTheJobAndNoSecrets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var logs logBuffer
	e.log = zerolog.New(&logs).Level(zerolog.WarnLevel)
	e.sb.ResendFailNext(4, 503)
	e.startEmail(t, worker.EmailConfig{})
	e.startRelay(t, worker.RelayConfig{}, nil)
	ev := e.appendEvent(t, "user", "usr_1", emailEvent(t, "fay@example.com", ""))
	require.Eventually(t, func() bool {
		s := e.emailLog(t, ev.ID).Status
		return s == vayva.EmailSent || s == vayva.EmailFailed
	}, 10*time.Second, 20*time.Millisecond)

	out := logs.String()
	var warned bool
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var entry map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &entry), line)
		if entry["job_id"] == ev.ID && entry["level"] == "warn" {
			warned = true
			require.EqualValues(t, 503, entry["status"], line)
			require.Equal(t, vayva.EmailVerification, entry["template"])
			require.NotNil(t, entry["attempt"])
		}
	}
	require.True(t, warned, "a warning names the job: %s", out)
	for _, secret := range []string{"fay@example.com", "vvt_abc", "verify-email", "Ada's Shop", "Hi Ada"} {
		require.NotContains(t, out, secret)
	}
}
