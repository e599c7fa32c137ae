package providerhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// MaxResponseBody is the largest answer a Client reads; a longer one fails
// the attempt.
const MaxResponseBody = 1 << 20

// DefaultMaxRetries is how many times a retryable failure is retried when
// Settings.MaxRetries is zero.
const DefaultMaxRetries = 3

// Settings describe how a Client reaches one provider. New fills zero
// fields with the defaults each field names.
type Settings struct {
	// BaseURL is the API root; trailing slashes are dropped. It must be an
	// http(s) URL. Defaults to DefaultBaseURL.
	BaseURL string
	// DefaultBaseURL is the provider's public API root.
	DefaultBaseURL string
	// Timeout bounds each attempt of a call. Defaults to DefaultTimeout.
	Timeout time.Duration
	// DefaultTimeout is the provider client's documented default timeout.
	DefaultTimeout time.Duration
	// MaxRetries is how many times a retryable failure is retried.
	// Defaults to DefaultMaxRetries; negative disables retries.
	MaxRetries int
	// RetryScale multiplies every backoff delay and Retry-After. Defaults
	// to 1.
	RetryScale float64
	// MaxRetryAfter is the longest Retry-After a call waits for; a failure
	// asking for longer is handed back at once. Zero sets no bound.
	MaxRetryAfter time.Duration
}

// Client sends requests to one provider's API. Its fields hold the
// normalized Settings; it is safe for concurrent use once built.
type Client struct {
	// HTTP sends the requests. New gives the Client one of its own.
	HTTP *http.Client
	// BaseURL is the API root without a trailing slash.
	BaseURL string
	// Timeout bounds each attempt.
	Timeout time.Duration
	// MaxRetries is how many times Retry repeats a retryable failure.
	MaxRetries int
	// RetryScale multiplies every delay Retry waits.
	RetryScale float64
	// MaxRetryAfter is the longest Retry-After Retry waits for, 0 for any.
	MaxRetryAfter time.Duration
}

// New returns a Client for s, or an error naming the Config field that is
// wrong.
func New(s Settings) (*Client, error) {
	if s.BaseURL == "" {
		s.BaseURL = s.DefaultBaseURL
	}
	s.BaseURL = strings.TrimRight(s.BaseURL, "/")
	if !strings.HasPrefix(s.BaseURL, "http://") && !strings.HasPrefix(s.BaseURL, "https://") {
		return nil, fmt.Errorf("Config.BaseURL %q is not an http(s) URL", s.BaseURL)
	}
	if s.Timeout <= 0 {
		s.Timeout = s.DefaultTimeout
	}
	if s.MaxRetries == 0 {
		s.MaxRetries = DefaultMaxRetries
	}
	if s.RetryScale <= 0 {
		s.RetryScale = 1
	}
	return &Client{
		HTTP:          &http.Client{},
		BaseURL:       s.BaseURL,
		Timeout:       s.Timeout,
		MaxRetries:    s.MaxRetries,
		RetryScale:    s.RetryScale,
		MaxRetryAfter: s.MaxRetryAfter,
	}, nil
}

// Request is one attempt of a call.
type Request struct {
	// Method is the HTTP method.
	Method string
	// Path is appended to the Client's BaseURL; it may carry a query.
	Path string
	// Body is the JSON body, nil for none.
	Body []byte
	// Header holds the provider's own headers (authentication, idempotency
	// keys). Send adds Accept and, with a body, Content-Type, both
	// application/json.
	Header http.Header
}

// Response is an answer read in full.
type Response struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Header holds the answer's headers, Retry-After among them.
	Header http.Header
	// Body is the whole answer body.
	Body []byte
}

// OK reports whether the answer has a 2xx status.
func (r Response) OK() bool {
	return r.StatusCode >= 200 && r.StatusCode <= 299
}

// Failure says why an attempt got no usable answer. It is not an error on
// purpose: each client turns it into its own error type, which carries the
// provider's meaning of the failure.
type Failure struct {
	// StatusCode is the HTTP status of an answer that could not be read, 0
	// when no answer arrived.
	StatusCode int
	// Message is "build request", "request failed", "read response" or
	// "response too large".
	Message string
	// Err is the underlying failure, nil for "response too large".
	Err error
}

// Send performs one attempt of r within the Client's Timeout and reads the
// whole answer, at most MaxResponseBody bytes. Any status is a Response;
// a Failure means no usable answer arrived.
func (c *Client) Send(ctx context.Context, r Request) (Response, *Failure) {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	var rd io.Reader
	if r.Body != nil {
		rd = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, c.BaseURL+r.Path, rd)
	if err != nil {
		return Response{}, &Failure{Message: "build request", Err: err}
	}
	req.Header.Set("Accept", "application/json")
	if r.Body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range r.Header {
		req.Header.Del(k)
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return Response{}, &Failure{Message: "request failed", Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBody+1))
	if err != nil {
		return Response{}, &Failure{StatusCode: resp.StatusCode, Message: "read response", Err: err}
	}
	if len(raw) > MaxResponseBody {
		return Response{}, &Failure{StatusCode: resp.StatusCode, Message: "response too large"}
	}
	return Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: raw}, nil
}

// EncodeJSON returns the JSON body of in, or nil when in is nil so that the
// request goes without a body.
func EncodeJSON(in any) ([]byte, error) {
	if in == nil {
		return nil, nil
	}
	return json.Marshal(in)
}
