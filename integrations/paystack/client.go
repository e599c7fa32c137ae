package paystack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/vayvahq/vayva/integrations/internal/providerhttp"
)

// DefaultBaseURL is the root of Paystack's live and test API; the key
// decides which mode a call runs in.
const DefaultBaseURL = "https://api.paystack.co"

// maxRetryAfter is the longest Retry-After the client waits for before
// handing a rate-limited call back to its caller.
const maxRetryAfter = 30 * time.Second

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
	return func(c *Client) { c.api.HTTP = hc }
}

// Client calls the Paystack API. It is safe for concurrent use.
type Client struct {
	cfg Config
	api *providerhttp.Client
}

// New returns a Client for cfg.
func New(cfg Config, opts ...Option) (*Client, error) {
	if cfg.SecretKey == "" {
		return nil, errors.New("paystack: Config.SecretKey is required")
	}
	api, err := providerhttp.New(providerhttp.Settings{
		BaseURL: cfg.BaseURL, DefaultBaseURL: DefaultBaseURL,
		Timeout: cfg.Timeout, DefaultTimeout: 30 * time.Second,
		MaxRetries: cfg.MaxRetries, RetryScale: cfg.RetryScale, MaxRetryAfter: maxRetryAfter,
	})
	if err != nil {
		return nil, fmt.Errorf("paystack: %w", err)
	}
	c := &Client{cfg: cfg, api: api}
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
	body, err := providerhttp.EncodeJSON(in)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	req := providerhttp.Request{
		Method: method, Path: path, Body: body,
		Header: http.Header{"Authorization": {"Bearer " + c.cfg.SecretKey}},
	}
	var env envelope
	err = c.api.Retry(ctx, func(err error) bool { return retryable(err, policy) },
		func(ctx context.Context) (retryAfter time.Duration, err error) {
			env, retryAfter, err = c.once(ctx, req)
			return retryAfter, err
		})
	if err != nil {
		return err
	}
	if out == nil || len(env.Data) == 0 || string(env.Data) == "null" {
		return nil
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return &Error{StatusCode: http.StatusOK, Message: "undecodable response data", Err: err}
	}
	return nil
}

// once performs a single attempt and returns, for a refusal, the delay
// Paystack asked for.
func (c *Client) once(ctx context.Context, req providerhttp.Request) (envelope, time.Duration, error) {
	resp, f := c.api.Send(ctx, req)
	if f != nil {
		return envelope{}, 0, &Error{StatusCode: f.StatusCode, Message: f.Message, Err: f.Err}
	}
	var env envelope
	decodeErr := json.Unmarshal(resp.Body, &env)
	if !resp.OK() {
		e := &Error{StatusCode: resp.StatusCode, Message: env.Message, Type: env.Type, Code: env.Code}
		if e.Message == "" {
			e.Message = http.StatusText(resp.StatusCode)
		}
		return envelope{}, providerhttp.RetryAfter(resp.Header), e
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
	if e.StatusCode == http.StatusTooManyRequests {
		return true
	}
	return providerhttp.MayRetry(e.StatusCode, e.Err, policy == retrySafe)
}
