package kwik

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/vayvahq/vayva/integrations/internal/providerhttp"
)

// DefaultBaseURL is Kwik's staging API root (the live root differs per
// account).
const DefaultBaseURL = "https://staging-api-test.kwik.delivery"

// Envelope status codes.
const (
	codeOK               = 200
	codeParameterMissing = 100
	codeInvalidKey       = 101
	codeShowError        = 201
	codeNotFound         = 404
)

// Config configures a Client.
type Config struct {
	// BaseURL is the API root without a trailing slash. Defaults to
	// DefaultBaseURL. Env: VAYVA_KWIK_BASE_URL.
	BaseURL string
	// DomainName is the vendor's client panel domain, for example
	// "app.kwik.delivery". Required. Env: VAYVA_KWIK_DOMAIN_NAME.
	DomainName string
	// Email and Password are the vendor's login. Required.
	// Env: VAYVA_KWIK_EMAIL, VAYVA_KWIK_PASSWORD.
	Email    string
	Password string
	// TokenTTL is how long an access token is reused before logging in
	// again. Defaults to 55m.
	TokenTTL time.Duration
	// TimezoneOffset is the offset of pickup and delivery times from UTC,
	// in minutes. Defaults to 60 (West Africa Time).
	TimezoneOffset int
	// PaymentMethod is Kwik's code for how deliveries are paid. Defaults
	// to 131072 (wallet).
	PaymentMethod int
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

// Client calls the Kwik API. It is safe for concurrent use.
type Client struct {
	cfg  Config
	api  *providerhttp.Client
	zone *time.Location

	mu     sync.Mutex // guards cached; held while logging in
	cached vendorLogin
}

// vendorLogin is a cached login.
type vendorLogin struct {
	token    string
	vendorID int64
	userID   int64
	expires  time.Time
}

// New returns a Client for cfg.
func New(cfg Config, opts ...Option) (*Client, error) {
	if cfg.DomainName == "" || cfg.Email == "" || cfg.Password == "" {
		return nil, errors.New("kwik: Config.DomainName, Config.Email and Config.Password are required")
	}
	api, err := providerhttp.New(providerhttp.Settings{
		BaseURL: cfg.BaseURL, DefaultBaseURL: DefaultBaseURL,
		Timeout: cfg.Timeout, DefaultTimeout: 30 * time.Second,
		MaxRetries: cfg.MaxRetries, RetryScale: cfg.RetryScale,
	})
	if err != nil {
		return nil, fmt.Errorf("kwik: %w", err)
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = 55 * time.Minute
	}
	if cfg.TimezoneOffset == 0 {
		cfg.TimezoneOffset = 60
	}
	if cfg.PaymentMethod == 0 {
		cfg.PaymentMethod = 131072
	}
	c := &Client{
		cfg:  cfg,
		api:  api,
		zone: time.FixedZone(fmt.Sprintf("UTC%+d", cfg.TimezoneOffset/60), cfg.TimezoneOffset*60),
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

type retryPolicy int

const (
	retrySafe retryPolicy = iota
	retryUnsafe
)

// envelope is the shape of every Kwik answer.
type envelope struct {
	Status  int             `json:"status"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// login returns a valid login, logging in when the cached one is
// missing or expired. stale, when set, is a token Kwik just refused.
func (c *Client) login(ctx context.Context, stale string) (vendorLogin, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cached.token != "" && c.cached.token != stale && time.Now().Before(c.cached.expires) {
		return c.cached, nil
	}
	in := map[string]any{"domain_name": c.cfg.DomainName, "email": c.cfg.Email, "password": c.cfg.Password, "api_login": 1}
	var out struct {
		AccessToken   string `json:"access_token"`
		VendorDetails struct {
			VendorID flexID `json:"vendor_id"`
			UserID   flexID `json:"user_id"`
		} `json:"vendor_details"`
	}
	if err := c.retrying(ctx, retrySafe, func(ctx context.Context) error {
		return c.once(ctx, http.MethodPost, "/vendor_login", nil, in, &out)
	}); err != nil {
		c.cached = vendorLogin{}
		return vendorLogin{}, fmt.Errorf("login: %w", err)
	}
	if out.AccessToken == "" {
		return vendorLogin{}, &Error{StatusCode: http.StatusOK, Status: codeOK, Message: "login answer without access_token"}
	}
	c.cached = vendorLogin{
		token: out.AccessToken, vendorID: out.VendorDetails.VendorID.int(), userID: out.VendorDetails.UserID.int(),
		expires: time.Now().Add(c.cfg.TokenTTL),
	}
	return c.cached, nil
}

// call sends an authenticated call: the login's access_token, vendor_id,
// user_id and domain_name are added to the body (POST) or query (GET).
// When Kwik refuses the token, the client logs in again and repeats the
// call once.
func (c *Client) call(ctx context.Context, method, path string, params map[string]any, out any, policy retryPolicy) error {
	stale := ""
	for relogin := 0; ; relogin++ {
		s, err := c.login(ctx, stale)
		if err != nil {
			return err
		}
		err = c.retrying(ctx, policy, func(ctx context.Context) error {
			p := make(map[string]any, len(params)+4)
			for k, v := range params {
				p[k] = v
			}
			p["access_token"] = s.token
			p["domain_name"] = c.cfg.DomainName
			if method == http.MethodGet {
				return c.once(ctx, method, path, p, nil, out)
			}
			p["vendor_id"] = s.vendorID
			p["user_id"] = s.userID
			return c.once(ctx, method, path, nil, p, out)
		})
		var e *Error
		if relogin == 0 && errors.As(err, &e) && e.tokenRefused() {
			stale = s.token
			continue
		}
		return err
	}
}

// retrying runs attempt until it succeeds, fails in a way policy does not
// retry, or MaxRetries is spent. Kwik sends no Retry-After, so none is
// waited for.
func (c *Client) retrying(ctx context.Context, policy retryPolicy, attempt func(context.Context) error) error {
	return c.api.Retry(ctx, func(err error) bool { return retryable(err, policy) },
		func(ctx context.Context) (time.Duration, error) { return 0, attempt(ctx) })
}

// once performs a single attempt; query or body carries the parameters.
func (c *Client) once(ctx context.Context, method, path string, query, body map[string]any, out any) error {
	if query != nil {
		q := url.Values{}
		for k, v := range query {
			q.Set(k, fmt.Sprint(v))
		}
		path += "?" + q.Encode()
	}
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return &Error{Message: "encode request", Err: err}
		}
	}
	resp, f := c.api.Send(ctx, providerhttp.Request{Method: method, Path: path, Body: b})
	if f != nil {
		return &Error{StatusCode: f.StatusCode, Message: f.Message, Err: f.Err}
	}
	return decodeAnswer(resp.StatusCode, resp.OK(), resp.Body, out)
}

// decodeAnswer reads one of Kwik's answers: its envelope, and the data
// into out when the envelope says success.
func decodeAnswer(statusCode int, ok bool, body []byte, out any) error {
	var env envelope
	decodeErr := json.Unmarshal(body, &env)
	if !ok {
		msg := env.Message
		if msg == "" {
			msg = http.StatusText(statusCode)
		}
		return &Error{StatusCode: statusCode, Status: env.Status, Message: msg}
	}
	if decodeErr != nil {
		return &Error{StatusCode: statusCode, Message: "undecodable response", Err: decodeErr}
	}
	if env.Status != codeOK {
		return &Error{StatusCode: statusCode, Status: env.Status, Message: env.Message}
	}
	if out != nil && len(env.Data) > 0 && string(env.Data) != "null" {
		if err := json.Unmarshal(env.Data, out); err != nil {
			return &Error{StatusCode: statusCode, Status: env.Status, Message: "undecodable response data", Err: err}
		}
	}
	return nil
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
