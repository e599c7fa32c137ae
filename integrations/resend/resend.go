package resend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/integrations/internal/providerhttp"
)

// DefaultBaseURL is Resend's API root.
const DefaultBaseURL = "https://api.resend.com"

// Limits Resend sets.
const (
	MaxRecipients        = 50
	MaxIdempotencyKeyLen = 256
)

// defaultRetryAfter is the delay a 429 without usable headers asks for.
const defaultRetryAfter = time.Second

// Config configures a Client.
type Config struct {
	// APIKey is the Resend API key (re_…), sent as a bearer token.
	// Required. Env: VAYVA_RESEND_API_KEY.
	APIKey string
	// BaseURL is the API root without a trailing slash. Defaults to
	// DefaultBaseURL. Env: VAYVA_RESEND_BASE_URL.
	BaseURL string
	// UserAgent is sent with every request; Resend refuses requests
	// without one. Defaults to "vayva".
	UserAgent string
	// Timeout bounds each attempt. Defaults to 15s.
	Timeout time.Duration
	// MaxRetries is how many times a server error or lost connection is
	// retried inside Send. Defaults to 3; negative disables retries.
	MaxRetries int
	// RetryScale multiplies every backoff delay. Defaults to 1.
	// Env: VAYVA_RETRY_SCALE.
	RetryScale float64
}

// Option sets an optional knob of a Client.
type Option func(*Client)

// WithHTTPClient makes the Client send through hc instead of a client of its
// own. Per-attempt timeouts still apply through the request context.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.api.HTTP = hc }
}

// Client sends email through Resend. It is safe for concurrent use.
type Client struct {
	cfg Config
	api *providerhttp.Client
}

// New returns a Client for cfg.
func New(cfg Config, opts ...Option) (*Client, error) {
	if cfg.APIKey == "" {
		return nil, errors.New("resend: Config.APIKey is required")
	}
	api, err := providerhttp.New(providerhttp.Settings{
		BaseURL: cfg.BaseURL, DefaultBaseURL: DefaultBaseURL,
		Timeout: cfg.Timeout, DefaultTimeout: 15 * time.Second,
		MaxRetries: cfg.MaxRetries, RetryScale: cfg.RetryScale,
	})
	if err != nil {
		return nil, fmt.Errorf("resend: %w", err)
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "vayva"
	}
	c := &Client{cfg: cfg, api: api}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Tag labels an email for Resend's webhooks and dashboard.
type Tag struct {
	// Name and Value may hold ASCII letters, digits, '_' and '-' (at most
	// 256 characters).
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Email is one message to send.
type Email struct {
	// From is "Name <address>" or a bare address on a verified domain.
	From string
	// To lists up to 50 recipients.
	To      []string
	Cc      []string
	Bcc     []string
	ReplyTo []string
	Subject string
	// HTML and Text are the bodies; at least one is required.
	HTML    string
	Text    string
	Headers map[string]string
	Tags    []Tag
}

type emailWire struct {
	From    string            `json:"from"`
	To      []string          `json:"to"`
	Cc      []string          `json:"cc,omitempty"`
	Bcc     []string          `json:"bcc,omitempty"`
	ReplyTo []string          `json:"reply_to,omitempty"`
	Subject string            `json:"subject"`
	HTML    string            `json:"html,omitempty"`
	Text    string            `json:"text,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Tags    []Tag             `json:"tags,omitempty"`
}

// Send sends e and returns Resend's email id. idempotencyKey, when set (it
// should be: the id of the job or event the email belongs to), makes
// repeated calls send one email, and lets Send retry server errors and lost
// connections; without it only failures where Resend cannot have acted are
// retried.
func (c *Client) Send(ctx context.Context, e Email, idempotencyKey string) (string, error) {
	if err := validate(e, idempotencyKey); err != nil {
		return "", fmt.Errorf("resend: send: %w", err)
	}
	body, err := json.Marshal(emailWire(e))
	if err != nil {
		return "", fmt.Errorf("resend: send: encode: %w", err)
	}
	req := providerhttp.Request{
		Method: http.MethodPost, Path: "/emails", Body: body,
		Header: http.Header{"Authorization": {"Bearer " + c.cfg.APIKey}, "User-Agent": {c.cfg.UserAgent}},
	}
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	var id string
	err = c.api.Retry(ctx, func(err error) bool { return retryable(err, idempotencyKey != "") },
		func(ctx context.Context) (time.Duration, error) {
			var err error
			id, err = c.once(ctx, req)
			return 0, err
		})
	if err != nil {
		return "", fmt.Errorf("resend: send: %w", err)
	}
	return id, nil
}

// once performs a single attempt. A 429 comes back as a *RateLimitedError,
// which Send does not retry: the delay it carries is the caller's to honour.
func (c *Client) once(ctx context.Context, req providerhttp.Request) (string, error) {
	resp, f := c.api.Send(ctx, req)
	if f != nil {
		return "", &Error{StatusCode: f.StatusCode, Message: f.Message, Err: f.Err}
	}
	if resp.OK() {
		var out struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(resp.Body, &out); err != nil || out.ID == "" {
			return "", &Error{StatusCode: resp.StatusCode, Message: "answer without an email id", Err: err}
		}
		return out.ID, nil
	}
	var eb struct {
		StatusCode int    `json:"statusCode"`
		Name       string `json:"name"`
		Message    string `json:"message"`
	}
	_ = json.Unmarshal(resp.Body, &eb)
	if eb.Message == "" {
		eb.Message = http.StatusText(resp.StatusCode)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		return "", &RateLimitedError{RetryAfter: rateLimitDelay(resp.Header), Name: eb.Name, Message: eb.Message}
	}
	return "", &Error{StatusCode: resp.StatusCode, Name: eb.Name, Message: eb.Message}
}

// retryable reports whether Send may repeat a failed attempt itself.
func retryable(err error, idempotent bool) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false // rate limits go back to the caller
	}
	if e.Name == "concurrent_idempotent_requests" {
		// The first request with this key is still running; its answer
		// will be replayed once it finishes.
		return true
	}
	return providerhttp.MayRetry(e.StatusCode, e.Err, idempotent)
}

// rateLimitDelay reads how long Resend asks the client to wait: the
// retry-after header (seconds or an HTTP date), else ratelimit-reset
// (seconds until the window resets), else a default.
func rateLimitDelay(h http.Header) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if n, err := strconv.ParseFloat(v, 64); err == nil && n >= 0 && n < 86400*7 {
			return time.Duration(n * float64(time.Second))
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(time.Until(t), 0)
		}
	}
	if v := strings.TrimSpace(h.Get("Ratelimit-Reset")); v != "" {
		if n, err := strconv.ParseFloat(v, 64); err == nil && n >= 0 && n < 86400*7 {
			return time.Duration(n * float64(time.Second))
		}
	}
	return defaultRetryAfter
}

func validate(e Email, key string) error {
	var v vayva.Validation
	v.Check(e.From != "", "from", "is required")
	v.Check(len(e.To) > 0, "to", "is required")
	v.Check(len(e.To) <= MaxRecipients, "to", "must list at most %d recipients", MaxRecipients)
	for i, to := range e.To {
		v.Check(strings.Contains(to, "@"), fmt.Sprintf("to[%d]", i), "is not an email address")
	}
	v.Check(e.Subject != "", "subject", "is required")
	v.Check(e.HTML != "" || e.Text != "", "html", "html or text is required")
	v.Check(len(key) <= MaxIdempotencyKeyLen, "idempotency_key", "must be at most %d characters", MaxIdempotencyKeyLen)
	for i, t := range e.Tags {
		v.Check(validTagPart(t.Name), fmt.Sprintf("tags[%d].name", i), "must be 1-256 ASCII letters, digits, '_' or '-'")
		v.Check(validTagPart(t.Value), fmt.Sprintf("tags[%d].value", i), "must be 1-256 ASCII letters, digits, '_' or '-'")
	}
	return v.Err()
}

func validTagPart(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
