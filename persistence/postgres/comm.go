package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vayvahq/vayva"
)

// maxErrorLen bounds stored error texts.
const maxErrorLen = 2000

// EmailLogs is the comm domain's email log. Every write runs as vayva_comm.
type EmailLogs struct {
	db *DB
}

// NewEmailLogs returns the email log over db.
func NewEmailLogs(db *DB) *EmailLogs { return &EmailLogs{db: db} }

// ErrEmailInFlight is returned by Begin while another worker holds the
// email's send lease; the job should be retried later.
var ErrEmailInFlight = &vayva.Error{Code: vayva.EUNAVAILABLE, Message: "Another worker is sending this email."}

// Begin records an attempt to send the email of e.EventID: it creates the
// log row when the event is new (with e's fields, status queued), counts the
// attempt and takes the send lease for lease. It reports false, and counts
// nothing, when the email needs no sending: it was sent already, or failed
// permanently. A failure that was not permanent (attempts ran out) is sent
// again, which is what replaying a dead letter asks for. While another
// worker holds the lease it returns ErrEmailInFlight. e.ID defaults to a new
// id.
func (l *EmailLogs) Begin(ctx context.Context, e vayva.EmailLog, lease time.Duration) (bool, error) {
	if e.ID == "" {
		e.ID = vayva.NewID("eml")
	}
	if e.Provider == "" {
		e.Provider = "resend"
	}
	var proceed, busy bool
	err := l.db.InDomain(ctx, vayva.DomainComm, func(ctx context.Context, tx pgx.Tx) error {
		proceed, busy = false, false
		if _, err := tx.Exec(ctx, `
			INSERT INTO comm.email_log (id, merchant_id, event_id, template, "to", subject, provider)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (event_id) DO NOTHING`,
			e.ID, e.MerchantID, e.EventID, e.Template, e.To, e.Subject, e.Provider); err != nil {
			return err
		}
		var status string
		var permanent, leased bool
		if err := tx.QueryRow(ctx, `
			SELECT status, permanent, coalesce(lease_until > now(), false)
			FROM comm.email_log WHERE event_id = $1 FOR UPDATE`, e.EventID).Scan(&status, &permanent, &leased); err != nil {
			return err
		}
		switch {
		case status == vayva.EmailSent || (status == vayva.EmailFailed && permanent):
			return nil
		case leased:
			busy = true
			return nil
		}
		proceed = true
		_, err := tx.Exec(ctx, `
			UPDATE comm.email_log
			SET attempts = attempts + 1, status = 'queued', lease_until = now() + $2::float8 * interval '1 millisecond'
			WHERE event_id = $1`, e.EventID, float64(lease.Milliseconds()))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("postgres: email log: begin: %w", err)
	}
	if busy {
		return false, ErrEmailInFlight
	}
	return proceed, nil
}

// MarkSent records that the provider accepted the email as providerID.
func (l *EmailLogs) MarkSent(ctx context.Context, eventID, providerID string) error {
	return l.update(ctx, "mark sent", `
		UPDATE comm.email_log
		SET status = 'sent', provider_id = $2, sent_at = now(), error = '', permanent = false, lease_until = NULL
		WHERE event_id = $1`, eventID, providerID)
}

// MarkFailed records that the email was given up, permanently (the provider
// refused it) or because its attempts ran out.
func (l *EmailLogs) MarkFailed(ctx context.Context, eventID, reason string, permanent bool) error {
	return l.update(ctx, "mark failed", `
		UPDATE comm.email_log SET status = 'failed', error = $2, permanent = $3, lease_until = NULL
		WHERE event_id = $1 AND status <> 'sent'`, eventID, truncate(reason, maxErrorLen), permanent)
}

// RecordError notes the error of an attempt that will be retried.
func (l *EmailLogs) RecordError(ctx context.Context, eventID, reason string) error {
	return l.update(ctx, "record error", `
		UPDATE comm.email_log SET error = $2, lease_until = NULL WHERE event_id = $1 AND status = 'queued'`,
		eventID, truncate(reason, maxErrorLen))
}

func (l *EmailLogs) update(ctx context.Context, op, sql string, args ...any) error {
	err := l.db.InDomain(ctx, vayva.DomainComm, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, sql, args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: email log: %s: %w", op, err)
	}
	return nil
}

// Get returns the log row of eventID, or a vayva.ENOTFOUND error.
func (l *EmailLogs) Get(ctx context.Context, eventID string) (vayva.EmailLog, error) {
	var e vayva.EmailLog
	err := l.db.InDomain(ctx, vayva.DomainComm, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `
			SELECT id, merchant_id, event_id, template, "to", subject, provider, coalesce(provider_id, ''),
				status, permanent, error, attempts, created_at, sent_at
			FROM comm.email_log WHERE event_id = $1`, eventID).Scan(
			&e.ID, &e.MerchantID, &e.EventID, &e.Template, &e.To, &e.Subject, &e.Provider, &e.ProviderID,
			&e.Status, &e.Permanent, &e.Error, &e.Attempts, &e.CreatedAt, &e.SentAt)
	})
	if err != nil {
		return vayva.EmailLog{}, fmt.Errorf("postgres: email log: get: %w", err)
	}
	return e, nil
}

// truncate cuts s to at most n bytes, at a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
