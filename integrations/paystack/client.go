package paystack

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
	"strconv"
	"strings"
	"time"
)

// DefaultBaseURL is the root of Paystack's live and test API; the key
// decides which mode a call runs in.
const DefaultBaseURL = "https://api.paystack.co"

const (
	maxResponseBody = 1 << 20
	retryBaseDelay  = 250 * time.Millisecond
	retryMaxDelay   = 8 * time.Second
	// maxRetryAfter is the longest Retry-After the client waits for before
	// handing a rate-limited call back to its caller.
	maxRetryAfter = 30 * time.Second
)

// Config configures a Client.
type Config struct {
	// SecretKey is the secret API key (sk_test_… or sk_live_…), sent as a
	// bearer token; Paystack also signs webhooks with it. Required.
	// Env: VAYVA_PAYSTACK_SECRET_KEY.
	SecretKey string
	// BaseURL is the API root without a trailing slash. Defaults to
	// DefaultBaseURL. Env: VAYVA_PAYSTACK_BASE_URL.
	BaseURL string
	// Timeout bounds each attempt of a call. Defaults to 30s.
	Timeout time.Duration
	// MaxRetries is how many times a retryable failure is retried.
	// Defaults to 3; negative disables retries.
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
	return func(c *Client) { c.http = hc }
}

// Client calls the Paystack API. It is safe for concurrent use.
type Client struct {
	cfg  Config
	http *http.Client
}

// New returns a Client for cfg.
func New(cfg Config, opts ...Option) (*Client, error) {
	if cfg.SecretKey == "" {
		return nil, errors.New("paystack: Config.SecretKey is required")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if !strings.HasPrefix(cfg.BaseURL, "http://") && !strings.HasPrefix(cfg.BaseURL, "https://") {
		return nil, fmt.Errorf("paystack: Config.BaseURL %q is not an http(s) URL", cfg.BaseURL)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 3
	}
	if cfg.RetryScale <= 0 {
		cfg.RetryScale = 1
	}
	c := &Client{cfg: cfg, http: &http.Client{}}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// retryPolicy says which failures of a call may be retried.
type retryPolicy int

const (
	// retrySafe: the call cannot take effect twice (a read, or a write
	// Paystack deduplicates), so every transient failure is retried.
	retrySafe retryPolicy = iota
	// retryUnsafe: a repeated call could take effect twice, so only
	// failures where Paystack cannot have acted are retried.
	retryUnsafe
)

// envelope is the shape of every Paystack response.
type envelope struct {
	Status  bool            `json:"status"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
	Type    string          `json:"type"`
	Code    string          `json:"code"`
}

// call sends one API call and decodes its data into out, retrying as policy
// allows.
func (c *Client) call(ctx context.Context, method, path string, in, out any, policy retryPolicy) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
	}
	for attempt := 0; ; attempt++ {
		env, retryAfter, err := c.once(ctx, method, path, body)
		if err == nil {
			if out == nil || len(env.Data) == 0 || string(env.Data) == "null" {
				return nil
			}
			if err := json.Unmarshal(env.Data, out); err != nil {
				return &Error{StatusCode: http.StatusOK, Message: "undecodable response data", Err: err}
			}
			return nil
		}
		if attempt >= c.cfg.MaxRetries || !retryable(err, policy) || ctx.Err() != nil {
			return err
		}
		wait := c.backoff(attempt)
		if retryAfter > 0 {
			if retryAfter > maxRetryAfter {
				return err
			}
			wait = max(wait, time.Duration(float64(retryAfter)*c.cfg.RetryScale))
		}
		if err := sleep(ctx, wait); err != nil {
			return errors.Join(err, ctx.Err())
		}
	}
}

// once performs a single attempt.
func (c *Client) once(ctx context.Context, method, path string, body []byte) (envelope, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.cfg.BaseURL+path, rd)
	if err != nil {
		return envelope{}, 0, &Error{Message: "build request", Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.SecretKey)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return envelope{}, 0, &Error{Message: "request failed", Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	if err != nil {
		return envelope{}, 0, &Error{StatusCode: resp.StatusCode, Message: "read response", Err: err}
	}
	if len(raw) > maxResponseBody {
		return envelope{}, 0, &Error{StatusCode: resp.StatusCode, Message: "response too large"}
	}
	var env envelope
	decodeErr := json.Unmarshal(raw, &env)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &Error{StatusCode: resp.StatusCode, Message: env.Message, Type: env.Type, Code: env.Code}
		if e.Message == "" {
			e.Message = http.StatusText(resp.StatusCode)
		}
		return envelope{}, retryAfterOf(resp.Header), e
	}
	if decodeErr != nil {
		return envelope{}, 0, &Error{StatusCode: resp.StatusCode, Message: "undecodable response", Err: decodeErr}
	}
	if !env.Status {
		return envelope{}, 0, &Error{StatusCode: resp.StatusCode, Message: env.Message, Type: env.Type, Code: env.Code}
	}
	return env, 0, nil
}

// retryable reports whether err may be retried under policy.
func retryable(err error, policy retryPolicy) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch {
	case e.StatusCode == http.StatusTooManyRequests:
		return true
	case e.StatusCode == 0 && e.Err != nil:
		if errors.Is(e.Err, context.Canceled) {
			return false
		}
		return policy == retrySafe || isDialError(e.Err)
	case e.StatusCode >= 500:
		return policy == retrySafe
	}
	return false
}

// isDialError reports whether err happened before the request left, so the
// server cannot have seen it.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// backoff returns the delay before retry number attempt+1: exponential with
// jitter in [d/2, d], scaled by RetryScale.
func (c *Client) backoff(attempt int) time.Duration {
	d := retryBaseDelay << min(attempt, 10)
	d = min(d, retryMaxDelay)
	d = d/2 + rand.N(d/2+1)
	return time.Duration(float64(d) * c.cfg.RetryScale)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
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

// retryAfterOf reads a Retry-After header given in seconds or as an HTTP
// date.
func retryAfterOf(h http.Header) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(min(n, 86400)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
