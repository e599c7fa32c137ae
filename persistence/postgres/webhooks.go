package postgres

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vayvahq/vayva"
)

// Limits of the repository.
const (
	webhookSecretPrefix = "whsec_"
	sealedPrefix        = "sealed:v1:"
	maxAttemptsListed   = 100
)

// WebhooksConfig configures Webhooks.
type WebhooksConfig struct {
	// SecretKey, 32 bytes, seals endpoint secrets at rest with AES-256-GCM.
	// Nil stores them unsealed, readable only by the merchant and comm
	// roles. Secrets sealed under a key can only be read with that key.
	SecretKey []byte
}

// Webhooks is the repository of outbound webhooks: endpoints (merchant
// schema, written as vayva_merchant) and deliveries with their attempts
// (comm schema, written as vayva_comm). Every method taking a merchant id
// only sees that merchant's rows; another merchant's ids are not found.
type Webhooks struct {
	db   *DB
	aead cipher.AEAD
}

// NewWebhooks returns the repository over db.
func NewWebhooks(db *DB, cfg WebhooksConfig) (*Webhooks, error) {
	w := &Webhooks{db: db}
	if cfg.SecretKey != nil {
		if len(cfg.SecretKey) != 32 {
			return nil, errors.New("postgres: webhooks: SecretKey must be 32 bytes")
		}
		block, err := aes.NewCipher(cfg.SecretKey)
		if err != nil {
			return nil, fmt.Errorf("postgres: webhooks: %w", err)
		}
		if w.aead, err = cipher.NewGCM(block); err != nil {
			return nil, fmt.Errorf("postgres: webhooks: %w", err)
		}
	}
	return w, nil
}

// CreateEndpoint stores a new active endpoint for merchantID with the
// given whsec_ secret and returns it, secret included.
func (w *Webhooks) CreateEndpoint(ctx context.Context, merchantID, rawURL string, events []string, secret string) (vayva.WebhookEndpoint, error) {
	if err := vayva.ValidateWebhookEndpoint(rawURL, events); err != nil {
		return vayva.WebhookEndpoint{}, err
	}
	if !strings.HasPrefix(secret, webhookSecretPrefix) || len(secret) <= len(webhookSecretPrefix) {
		return vayva.WebhookEndpoint{}, errors.New("postgres: webhooks: create: the secret is not a whsec_ secret")
	}
	ep := vayva.WebhookEndpoint{
		ID: vayva.NewID("we"), MerchantID: merchantID, URL: rawURL, Events: uniqueStrings(events),
		Secret: secret, Status: vayva.WebhookActive,
	}
	stored, err := w.seal(ep.ID, secret)
	if err != nil {
		return vayva.WebhookEndpoint{}, err
	}
	err = w.db.InDomain(ctx, vayva.DomainMerchant, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `
			INSERT INTO merchant.webhook_endpoints (id, merchant_id, url, events, secret)
			VALUES ($1, $2, $3, $4, $5) RETURNING created_at`,
			ep.ID, merchantID, ep.URL, ep.Events, stored).Scan(&ep.CreatedAt)
	})
	if err != nil {
		return vayva.WebhookEndpoint{}, fmt.Errorf("postgres: webhooks: create: %w", err)
	}
	return ep, nil
}

const endpointColumns = `id, merchant_id, url, events, status, consecutive_failures, disabled_reason, created_at`

func scanEndpoint(row pgx.Row) (vayva.WebhookEndpoint, error) {
	var e vayva.WebhookEndpoint
	err := row.Scan(&e.ID, &e.MerchantID, &e.URL, &e.Events, &e.Status, &e.ConsecutiveFailures, &e.DisabledReason, &e.CreatedAt)
	return e, err
}

// GetEndpoint returns merchantID's endpoint id (without its secret).
func (w *Webhooks) GetEndpoint(ctx context.Context, merchantID, id string) (vayva.WebhookEndpoint, error) {
	var ep vayva.WebhookEndpoint
	err := w.db.InDomain(ctx, vayva.DomainMerchant, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		ep, err = scanEndpoint(tx.QueryRow(ctx, `SELECT `+endpointColumns+` FROM merchant.webhook_endpoints
			WHERE id = $1 AND merchant_id = $2 AND deleted_at IS NULL`, id, merchantID))
		return err
	})
	if err != nil {
		return vayva.WebhookEndpoint{}, fmt.Errorf("postgres: webhooks: get endpoint: %w", notFound(err, "webhook endpoint"))
	}
	return ep, nil
}

// ListEndpoints returns a page of merchantID's endpoints, newest first,
// without secrets, and the cursor of the next page ("" on the last).
func (w *Webhooks) ListEndpoints(ctx context.Context, merchantID string, limit int, cursor string) ([]vayva.WebhookEndpoint, string, error) {
	at, after, err := decodePageCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	var out []vayva.WebhookEndpoint
	err = w.db.InDomain(ctx, vayva.DomainMerchant, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+endpointColumns+` FROM merchant.webhook_endpoints
			WHERE merchant_id = $1 AND deleted_at IS NULL
				AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::text))
			ORDER BY created_at DESC, id DESC LIMIT $4`, merchantID, at, after, limit+1)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (vayva.WebhookEndpoint, error) { return scanEndpoint(r) })
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("postgres: webhooks: list endpoints: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		last := out[len(out)-1]
		next = encodePageCursor(last.CreatedAt, last.ID)
	}
	return out, next, nil
}

// DeleteEndpoint deletes merchantID's endpoint id: it disappears from the
// API, its secret is wiped and its pending deliveries fail. Its delivery
// history stays.
func (w *Webhooks) DeleteEndpoint(ctx context.Context, merchantID, id string) error {
	err := w.db.InDomain(ctx, vayva.DomainMerchant, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			UPDATE merchant.webhook_endpoints
			SET status = 'disabled', disabled_reason = 'deleted', disabled_at = coalesce(disabled_at, now()),
				deleted_at = now(), secret = ''
			WHERE id = $1 AND merchant_id = $2 AND deleted_at IS NULL`, id, merchantID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return vayva.Errorf(vayva.ENOTFOUND, "No such webhook endpoint.")
		}
		return failPending(ctx, tx, id, "endpoint deleted")
	})
	if err != nil {
		return fmt.Errorf("postgres: webhooks: delete endpoint: %w", err)
	}
	return nil
}

// EnableEndpoint makes a disabled endpoint of merchantID active again, with
// its failure count reset.
func (w *Webhooks) EnableEndpoint(ctx context.Context, merchantID, id string) (vayva.WebhookEndpoint, error) {
	var ep vayva.WebhookEndpoint
	err := w.db.InDomain(ctx, vayva.DomainMerchant, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		ep, err = scanEndpoint(tx.QueryRow(ctx, `
			UPDATE merchant.webhook_endpoints
			SET status = 'active', disabled_reason = '', disabled_at = NULL, consecutive_failures = 0
			WHERE id = $1 AND merchant_id = $2 AND deleted_at IS NULL
			RETURNING `+endpointColumns, id, merchantID))
		return err
	})
	if err != nil {
		return vayva.WebhookEndpoint{}, fmt.Errorf("postgres: webhooks: enable endpoint: %w", notFound(err, "webhook endpoint"))
	}
	return ep, nil
}

// SendTest appends a webhook.test event for merchantID's endpoint id to the
// outbox; the delivery worker sends it to that endpoint only. It returns the
// event id. A disabled endpoint is a vayva.ECONFLICT.
func (w *Webhooks) SendTest(ctx context.Context, merchantID, id string) (string, error) {
	eventID := vayva.NewID("evt")
	err := w.db.InDomain(ctx, vayva.DomainMerchant, func(ctx context.Context, tx pgx.Tx) error {
		var status string
		if err := tx.QueryRow(ctx, `SELECT status FROM merchant.webhook_endpoints
			WHERE id = $1 AND merchant_id = $2 AND deleted_at IS NULL`, id, merchantID).Scan(&status); err != nil {
			return notFound(err, "webhook endpoint")
		}
		if status != vayva.WebhookActive {
			return vayva.Errorf(vayva.ECONFLICT, "The webhook endpoint is disabled; enable it first.")
		}
		data, err := json.Marshal(map[string]string{
			"endpoint_id": id, "message": "This is a test event from Vayva.",
		})
		if err != nil {
			return err
		}
		return AppendOutbox(ctx, tx, "webhook_endpoint", id, vayva.Event{
			ID: eventID, Type: vayva.EventWebhookTest, Queue: vayva.QueueWebhookDelivery, MerchantID: merchantID,
			OccurredAt: time.Now().UTC(), Data: data,
		})
	})
	if err != nil {
		return "", fmt.Errorf("postgres: webhooks: send test: %w", err)
	}
	return eventID, nil
}

// ListDeliveries returns a page of the deliveries of merchantID's endpoint,
// newest first, each with its attempts, and the next page's cursor.
func (w *Webhooks) ListDeliveries(ctx context.Context, merchantID, endpointID string, limit int, cursor string) ([]vayva.WebhookDelivery, string, error) {
	at, after, err := decodePageCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	var out []vayva.WebhookDelivery
	err = w.db.InDomain(ctx, vayva.DomainComm, func(ctx context.Context, tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM merchant.webhook_endpoints
			WHERE id = $1 AND merchant_id = $2 AND deleted_at IS NULL`, endpointID, merchantID).Scan(&one); err != nil {
			return notFound(err, "webhook endpoint")
		}
		rows, err := tx.Query(ctx, `
			SELECT id, endpoint_id, merchant_id, event_id, event_type, status, attempts, next_attempt_at,
				last_status_code, last_error, created_at, completed_at
			FROM comm.webhook_deliveries
			WHERE endpoint_id = $1 AND merchant_id = $2
				AND ($3::timestamptz IS NULL OR (created_at, id) < ($3::timestamptz, $4::text))
			ORDER BY created_at DESC, id DESC LIMIT $5`, endpointID, merchantID, at, after, limit+1)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (vayva.WebhookDelivery, error) {
			var d vayva.WebhookDelivery
			err := r.Scan(&d.ID, &d.EndpointID, &d.MerchantID, &d.EventID, &d.EventType, &d.Status, &d.Attempts,
				&d.NextAttemptAt, &d.LastStatusCode, &d.LastError, &d.CreatedAt, &d.CompletedAt)
			return d, err
		})
		if err != nil || len(out) == 0 {
			return err
		}
		ids := make([]string, len(out))
		index := make(map[string]int, len(out))
		for i, d := range out {
			ids[i], index[d.ID] = d.ID, i
		}
		rows, err = tx.Query(ctx, `
			SELECT delivery_id, attempt, status_code, duration_ms, error, at FROM (
				SELECT *, row_number() OVER (PARTITION BY delivery_id ORDER BY attempt DESC) AS n
				FROM comm.webhook_attempts WHERE delivery_id = ANY($1)) a
			WHERE n <= $2 ORDER BY delivery_id, attempt`, ids, maxAttemptsListed)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				id string
				a  vayva.WebhookAttempt
				ms int64
			)
			if err := rows.Scan(&id, &a.Attempt, &a.StatusCode, &ms, &a.Error, &a.At); err != nil {
				return err
			}
			a.Duration = time.Duration(ms) * time.Millisecond
			i := index[id]
			out[i].Log = append(out[i].Log, a)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, "", fmt.Errorf("postgres: webhooks: list deliveries: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		last := out[len(out)-1]
		next = encodePageCursor(last.CreatedAt, last.ID)
	}
	return out, next, nil
}

// ReplayDelivery makes merchantID's delivery id due now, with a fresh retry
// schedule and the same webhook-id, whatever its status. A delivery whose
// endpoint is disabled is a vayva.ECONFLICT.
func (w *Webhooks) ReplayDelivery(ctx context.Context, merchantID, id string) error {
	err := w.db.InDomain(ctx, vayva.DomainComm, func(ctx context.Context, tx pgx.Tx) error {
		var status string
		var deleted bool
		err := tx.QueryRow(ctx, `
			SELECT e.status, e.deleted_at IS NOT NULL
			FROM comm.webhook_deliveries d JOIN merchant.webhook_endpoints e ON e.id = d.endpoint_id
			WHERE d.id = $1 AND d.merchant_id = $2 AND e.merchant_id = $2
			FOR UPDATE OF d`, id, merchantID).Scan(&status, &deleted)
		if err != nil || deleted {
			return notFound(orNoRows(err), "webhook delivery")
		}
		if status != vayva.WebhookActive {
			return vayva.Errorf(vayva.ECONFLICT, "The delivery's webhook endpoint is disabled; enable it first.")
		}
		_, err = tx.Exec(ctx, `
			UPDATE comm.webhook_deliveries
			SET status = 'pending', next_attempt_at = now(), retry_base = attempts, completed_at = NULL, updated_at = now()
			WHERE id = $1`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: webhooks: replay: %w", err)
	}
	return nil
}

// FanOut creates, for event e of a merchant, one pending delivery of body
// to every active endpoint of the merchant subscribed to e.Type, due now.
// A webhook.test event goes to the endpoint named by onlyEndpoint alone. It
// is idempotent per (endpoint, event) and returns how many deliveries it
// created.
func (w *Webhooks) FanOut(ctx context.Context, e vayva.Event, body []byte, onlyEndpoint string) (int, error) {
	created := 0
	err := w.db.InDomain(ctx, vayva.DomainComm, func(ctx context.Context, tx pgx.Tx) error {
		created = 0
		var rows pgx.Rows
		var err error
		if onlyEndpoint != "" {
			rows, err = tx.Query(ctx, `SELECT id FROM merchant.webhook_endpoints
				WHERE id = $1 AND merchant_id = $2 AND status = 'active' AND deleted_at IS NULL`, onlyEndpoint, e.MerchantID)
		} else {
			rows, err = tx.Query(ctx, `SELECT id FROM merchant.webhook_endpoints
				WHERE merchant_id = $1 AND status = 'active' AND deleted_at IS NULL AND $2 = ANY(events)
				ORDER BY created_at, id`, e.MerchantID, e.Type)
		}
		if err != nil {
			return err
		}
		endpoints, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, ep := range endpoints {
			tag, err := tx.Exec(ctx, `
				INSERT INTO comm.webhook_deliveries (id, endpoint_id, merchant_id, event_id, event_type, payload, next_attempt_at)
				VALUES ($1, $2, $3, $4, $5, $6, now())
				ON CONFLICT (endpoint_id, event_id) DO NOTHING`,
				vayva.NewID("msg"), ep, e.MerchantID, e.ID, e.Type, string(body))
			if err != nil {
				return err
			}
			created += int(tag.RowsAffected())
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: webhooks: fan out: %w", err)
	}
	return created, nil
}

// ClaimDue claims up to limit due deliveries for one attempt each: it
// counts the attempt and moves the delivery's next attempt lease into the
// future, so that if the claimer dies the delivery is due again then.
// Concurrent claimers never get the same delivery.
func (w *Webhooks) ClaimDue(ctx context.Context, limit int, lease time.Duration) ([]vayva.DueWebhookDelivery, error) {
	var out []vayva.DueWebhookDelivery
	err := w.db.InDomain(ctx, vayva.DomainComm, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			WITH due AS (
				SELECT id FROM comm.webhook_deliveries
				WHERE status = 'pending' AND next_attempt_at <= now()
				ORDER BY next_attempt_at LIMIT $1
				FOR UPDATE SKIP LOCKED
			)
			UPDATE comm.webhook_deliveries d
			SET attempts = d.attempts + 1, next_attempt_at = now() + $2::float8 * interval '1 millisecond', updated_at = now()
			FROM due, merchant.webhook_endpoints e
			WHERE d.id = due.id AND e.id = d.endpoint_id
			RETURNING d.id, d.endpoint_id, d.merchant_id, d.event_id, d.event_type, d.payload, d.attempts, d.retry_base,
				e.url, e.secret, e.status, e.deleted_at IS NOT NULL`, limit, float64(lease.Milliseconds()))
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (vayva.DueWebhookDelivery, error) {
			var d vayva.DueWebhookDelivery
			var payload string
			err := r.Scan(&d.ID, &d.EndpointID, &d.MerchantID, &d.EventID, &d.EventType, &payload, &d.Attempt,
				&d.RetryBase, &d.URL, &d.Secret, &d.EndpointStatus, &d.EndpointGone)
			d.Payload = []byte(payload)
			return d, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: webhooks: claim: %w", err)
	}
	for i := range out {
		if out[i].EndpointGone || out[i].Secret == "" {
			continue
		}
		if out[i].Secret, err = w.open(out[i].EndpointID, out[i].Secret); err != nil {
			out[i].Secret, out[i].SecretErr = "", err
		}
	}
	return out, nil
}

// NextDue returns when the earliest pending delivery is due, and false
// when none is pending.
func (w *Webhooks) NextDue(ctx context.Context) (time.Time, bool, error) {
	var at *time.Time
	err := w.db.InDomain(ctx, vayva.DomainComm, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT min(next_attempt_at) FROM comm.webhook_deliveries WHERE status = 'pending'`).Scan(&at)
	})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("postgres: webhooks: next due: %w", err)
	}
	if at == nil {
		return time.Time{}, false, nil
	}
	return *at, true, nil
}

// Abandon fails a claimed delivery without an attempt (its endpoint was
// disabled or deleted meanwhile), taking back the attempt the claim
// counted.
func (w *Webhooks) Abandon(ctx context.Context, id string, attempt int, reason string) error {
	err := w.db.InDomain(ctx, vayva.DomainComm, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			UPDATE comm.webhook_deliveries
			SET status = 'failed', attempts = attempts - 1, last_error = $3, next_attempt_at = NULL,
				completed_at = now(), updated_at = now()
			WHERE id = $1 AND attempts = $2 AND status = 'pending'`, id, attempt, truncate(reason, maxErrorLen))
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: webhooks: abandon: %w", err)
	}
	return nil
}

// RecordAttempt logs an attempt and applies its outcome in one transaction:
// the delivery's new status, and for the endpoint the reset of its failure
// count (success), its disabling (r.DisableReason, or r.DisableAfter
// exhausted deliveries in a row) and the failure of its other pending
// deliveries. It reports whether the endpoint was disabled. A result for an
// attempt that is no longer the delivery's latest (the delivery was claimed
// again after its lease ran out, or replayed) is logged only.
func (w *Webhooks) RecordAttempt(ctx context.Context, r vayva.WebhookAttemptResult) (disabled bool, err error) {
	err = w.db.InDomain(ctx, vayva.DomainComm, func(ctx context.Context, tx pgx.Tx) error {
		disabled = false
		var code *int
		if r.StatusCode != 0 {
			code = &r.StatusCode
		}
		errText := truncate(r.Error, maxErrorLen)
		if _, err := tx.Exec(ctx, `
			INSERT INTO comm.webhook_attempts (delivery_id, attempt, status_code, duration_ms, error, at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
			r.DeliveryID, r.Attempt, code, r.Duration.Milliseconds(), errText, r.At); err != nil {
			return err
		}
		var next *time.Time
		completed := true
		switch r.Status {
		case vayva.WebhookDeliveryPending:
			next, completed = &r.NextAttemptAt, false
		case vayva.WebhookDeliverySucceeded, vayva.WebhookDeliveryFailed, vayva.WebhookDeliveryExhausted:
		default:
			return fmt.Errorf("unknown delivery status %q", r.Status)
		}
		tag, err := tx.Exec(ctx, `
			UPDATE comm.webhook_deliveries
			SET status = $3, next_attempt_at = $4, last_status_code = $5, last_error = $6, updated_at = now(),
				completed_at = CASE WHEN $7::boolean THEN now() END
			WHERE id = $1 AND attempts = $2 AND status = 'pending'`,
			r.DeliveryID, r.Attempt, r.Status, next, code, errText, completed)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		reason := r.DisableReason
		switch r.Status {
		case vayva.WebhookDeliverySucceeded:
			if err := setRole(ctx, tx, vayva.DomainMerchant); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE merchant.webhook_endpoints SET consecutive_failures = 0
				WHERE id = $1 AND consecutive_failures <> 0`, r.EndpointID); err != nil {
				return err
			}
		case vayva.WebhookDeliveryExhausted:
			if err := setRole(ctx, tx, vayva.DomainMerchant); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRow(ctx, `UPDATE merchant.webhook_endpoints SET consecutive_failures = consecutive_failures + 1
				WHERE id = $1 RETURNING consecutive_failures`, r.EndpointID).Scan(&n); err != nil {
				return err
			}
			if reason == "" && r.DisableAfter > 0 && n >= r.DisableAfter {
				reason = strconv.Itoa(n) + " deliveries in a row exhausted their retries"
			}
		}
		if reason == "" {
			return nil
		}
		if err := setRole(ctx, tx, vayva.DomainMerchant); err != nil {
			return err
		}
		tag, err = tx.Exec(ctx, `
			UPDATE merchant.webhook_endpoints SET status = 'disabled', disabled_reason = $2, disabled_at = now()
			WHERE id = $1 AND status = 'active'`, r.EndpointID, truncate(reason, maxErrorLen))
		if err != nil {
			return err
		}
		disabled = tag.RowsAffected() == 1
		return failPending(ctx, tx, r.EndpointID, "endpoint disabled: "+reason)
	})
	if err != nil {
		return false, fmt.Errorf("postgres: webhooks: record attempt: %w", err)
	}
	return disabled, nil
}

// failPending fails every pending delivery of an endpoint, as vayva_comm.
func failPending(ctx context.Context, tx pgx.Tx, endpointID, reason string) error {
	if err := setRole(ctx, tx, vayva.DomainComm); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `
		UPDATE comm.webhook_deliveries
		SET status = 'failed', last_error = $2, next_attempt_at = NULL, completed_at = now(), updated_at = now()
		WHERE endpoint_id = $1 AND status = 'pending'`, endpointID, truncate(reason, maxErrorLen))
	return err
}

// seal encrypts secret for storage when a key is configured, bound to the
// endpoint id so a sealed secret copied to another row does not open.
func (w *Webhooks) seal(endpointID, secret string) (string, error) {
	if w.aead == nil {
		return secret, nil
	}
	nonce := make([]byte, w.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("postgres: webhooks: seal: %w", err)
	}
	sealed := w.aead.Seal(nonce, nonce, []byte(secret), []byte(endpointID))
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(sealed), nil
}

// open reverses seal; unsealed secrets pass through.
func (w *Webhooks) open(endpointID, stored string) (string, error) {
	if !strings.HasPrefix(stored, sealedPrefix) {
		return stored, nil
	}
	if w.aead == nil {
		return "", fmt.Errorf("postgres: webhooks: endpoint %s: the secret is sealed and no key is configured", endpointID)
	}
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(stored, sealedPrefix))
	if err != nil || len(raw) < w.aead.NonceSize() {
		return "", fmt.Errorf("postgres: webhooks: endpoint %s: malformed sealed secret", endpointID)
	}
	n := w.aead.NonceSize()
	plain, err := w.aead.Open(nil, raw[:n], raw[n:], []byte(endpointID))
	if err != nil {
		return "", fmt.Errorf("postgres: webhooks: endpoint %s: the secret does not open with the configured key", endpointID)
	}
	return string(plain), nil
}

// StoredSecret returns the secret column of endpoint id as stored, for
// checks that secrets are sealed at rest.
func (w *Webhooks) StoredSecret(ctx context.Context, id string) (string, error) {
	var s string
	err := w.db.InDomain(ctx, vayva.DomainMerchant, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT secret FROM merchant.webhook_endpoints WHERE id = $1`, id).Scan(&s)
	})
	if err != nil {
		return "", fmt.Errorf("postgres: webhooks: stored secret: %w", err)
	}
	return s, nil
}

// notFound turns a missing row into a vayva.ENOTFOUND error about what.
func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return vayva.Errorf(vayva.ENOTFOUND, "No such %s.", what)
	}
	return err
}

func orNoRows(err error) error {
	if err == nil {
		return pgx.ErrNoRows
	}
	return err
}

func uniqueStrings(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := make([]string, 0, len(in))
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// encodePageCursor encodes the position after the row (at, id) of a list
// ordered by (created_at, id) descending, in the API's one cursor format.
func encodePageCursor(at time.Time, id string) string { return vayva.EncodeTimeCursor(at, id) }

// decodePageCursor parses a cursor of encodePageCursor; "" is the first
// page (nil time). A cursor of another form is the API's 422 refusal.
func decodePageCursor(cursor string) (*time.Time, string, error) {
	at, id, err := vayva.DecodeTimeCursor(cursor)
	if err != nil || id == "" {
		return nil, "", err
	}
	return &at, id, nil
}
