package whatsapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/vayvahq/vayva/integrations/internal/providerhttp"
)

// DefaultBaseURL is the Graph API root, including the API version.
const DefaultBaseURL = "https://graph.facebook.com/v21.0"

// maxRetryAfter is the longest Retry-After the client waits for before
// handing a throttled call back to its caller.
const maxRetryAfter = 30 * time.Second

// Config configures a Client.
type Config struct {
	// AccessToken is the system-user token sent as a bearer token.
	// Required. Env: VAYVA_WHATSAPP_ACCESS_TOKEN.
	AccessToken string
	// BaseURL is the Graph API root including the version, without a
	// trailing slash. Defaults to DefaultBaseURL.
	// Env: VAYVA_WHATSAPP_BASE_URL.
	BaseURL string
	// Timeout bounds each attempt of a call. Defaults to 20s.
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

// Client calls the WhatsApp Cloud API. It is safe for concurrent use.
type Client struct {
	cfg Config
	api *providerhttp.Client
}

// New returns a Client for cfg.
func New(cfg Config, opts ...Option) (*Client, error) {
	if cfg.AccessToken == "" {
		return nil, errors.New("whatsapp: Config.AccessToken is required")
	}
	api, err := providerhttp.New(providerhttp.Settings{
		BaseURL: cfg.BaseURL, DefaultBaseURL: DefaultBaseURL,
		Timeout: cfg.Timeout, DefaultTimeout: 20 * time.Second,
		MaxRetries: cfg.MaxRetries, RetryScale: cfg.RetryScale, MaxRetryAfter: maxRetryAfter,
	})
	if err != nil {
		return nil, fmt.Errorf("whatsapp: %w", err)
	}
	c := &Client{cfg: cfg, api: api}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

type retryPolicy int

const (
	// retrySafe: repeating the call has no further effect.
	retrySafe retryPolicy = iota
	// retryUnsafe: repeating the call could send a message twice, so only
	// failures where Meta cannot have acted are retried.
	retryUnsafe
)

// graphError is the error object of a Graph API answer.
type graphError struct {
	Error struct {
		Message      string `json:"message"`
		Type         string `json:"type"`
		Code         int    `json:"code"`
		ErrorSubcode int    `json:"error_subcode"`
		FBTraceID    string `json:"fbtrace_id"`
		ErrorData    struct {
			Details string `json:"details"`
		} `json:"error_data"`
	} `json:"error"`
}

// call sends one API call and decodes the answer into out, retrying as
// policy allows.
func (c *Client) call(ctx context.Context, method, path string, in, out any, policy retryPolicy) error {
	body, err := providerhttp.EncodeJSON(in)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	req := providerhttp.Request{
		Method: method, Path: path, Body: body,
		Header: http.Header{"Authorization": {"Bearer " + c.cfg.AccessToken}},
	}
	var raw []byte
	err = c.api.Retry(ctx, func(err error) bool { return retryable(err, policy) },
		func(ctx context.Context) (retryAfter time.Duration, err error) {
			raw, retryAfter, err = c.once(ctx, req)
			return retryAfter, err
		})
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return &Error{StatusCode: http.StatusOK, Message: "undecodable response", Err: err}
	}
	return nil
}

// once performs a single attempt and returns, for a refusal, the delay Meta
// asked for.
func (c *Client) once(ctx context.Context, req providerhttp.Request) ([]byte, time.Duration, error) {
	resp, f := c.api.Send(ctx, req)
	if f != nil {
		return nil, 0, &Error{StatusCode: f.StatusCode, Message: f.Message, Err: f.Err}
	}
	if !resp.OK() {
		var g graphError
		_ = json.Unmarshal(resp.Body, &g)
		e := &Error{
			StatusCode: resp.StatusCode, Code: g.Error.Code, Subcode: g.Error.ErrorSubcode, Type: g.Error.Type,
			Message: g.Error.Message, Details: g.Error.ErrorData.Details, FBTraceID: g.Error.FBTraceID,
		}
		if e.Message == "" {
			e.Message = http.StatusText(resp.StatusCode)
		}
		return nil, providerhttp.RetryAfter(resp.Header), e
	}
	return resp.Body, 0, nil
}

// retryable reports whether err may be retried under policy: throttling
// always, other failures as providerhttp.MayRetry decides.
func retryable(err error, policy retryPolicy) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	if e.rateLimited() {
		return true
	}
	return providerhttp.MayRetry(e.StatusCode, e.Err, policy == retrySafe)
}
