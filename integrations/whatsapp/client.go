package whatsapp

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

// DefaultBaseURL is the Graph API root, including the API version.
const DefaultBaseURL = "https://graph.facebook.com/v21.0"

const (
	maxResponseBody = 1 << 20
	retryBaseDelay  = 250 * time.Millisecond
	retryMaxDelay   = 8 * time.Second
	maxRetryAfter   = 30 * time.Second
)

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
	return func(c *Client) { c.http = hc }
}

// Client calls the WhatsApp Cloud API. It is safe for concurrent use.
type Client struct {
	cfg  Config
	http *http.Client
}

// New returns a Client for cfg.
func New(cfg Config, opts ...Option) (*Client, error) {
	if cfg.AccessToken == "" {
		return nil, errors.New("whatsapp: Config.AccessToken is required")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if !strings.HasPrefix(cfg.BaseURL, "http://") && !strings.HasPrefix(cfg.BaseURL, "https://") {
		return nil, fmt.Errorf("whatsapp: Config.BaseURL %q is not an http(s) URL", cfg.BaseURL)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 20 * time.Second
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
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
	}
	for attempt := 0; ; attempt++ {
		raw, retryAfter, err := c.once(ctx, method, path, body)
		if err == nil {
			if out == nil {
				return nil
			}
			if err := json.Unmarshal(raw, out); err != nil {
				return &Error{StatusCode: http.StatusOK, Message: "undecodable response", Err: err}
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

func (c *Client) once(ctx context.Context, method, path string, body []byte) ([]byte, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.cfg.BaseURL+path, rd)
	if err != nil {
		return nil, 0, &Error{Message: "build request", Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.AccessToken)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, &Error{Message: "request failed", Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	if err != nil {
		return nil, 0, &Error{StatusCode: resp.StatusCode, Message: "read response", Err: err}
	}
	if len(raw) > maxResponseBody {
		return nil, 0, &Error{StatusCode: resp.StatusCode, Message: "response too large"}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var g graphError
		_ = json.Unmarshal(raw, &g)
		e := &Error{
			StatusCode: resp.StatusCode, Code: g.Error.Code, Subcode: g.Error.ErrorSubcode, Type: g.Error.Type,
			Message: g.Error.Message, Details: g.Error.ErrorData.Details, FBTraceID: g.Error.FBTraceID,
		}
		if e.Message == "" {
			e.Message = http.StatusText(resp.StatusCode)
		}
		return nil, retryAfterOf(resp.Header), e
	}
	return raw, 0, nil
}

func retryable(err error, policy retryPolicy) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch {
	case e.rateLimited():
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

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

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
