package resend

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/integrations/internal/providerhttp"
)

// Error is a failed send: either Resend answered with an error body
// {statusCode, name, message} (StatusCode set) or no usable answer arrived
// (StatusCode 0, Err set). It unwraps to a *vayva.Error whose code says
// what the failure means to the runtime, and to Err.
type Error struct {
	StatusCode int
	// Name is Resend's error name, for example "validation_error" or
	// "invalid_idempotent_request".
	Name    string
	Message string
	Err     error
}

// Error implements the error interface.
func (e *Error) Error() string {
	detail := e.Message
	if e.Name != "" {
		detail = e.Name + ": " + e.Message
	}
	return providerhttp.ErrorText(e.StatusCode, detail, e.Err)
}

// Unwrap exposes the runtime's coded error and the underlying failure.
func (e *Error) Unwrap() []error {
	return providerhttp.Unwrapped(e.vayvaCode(), "Resend: "+e.Message, e.Err)
}

// vayvaCode is the one translation of Resend failures into the runtime's
// error codes. Authentication failures are our misconfiguration and
// surface as unavailable.
func (e *Error) vayvaCode() string {
	switch {
	case e.StatusCode == 0 || e.StatusCode >= 500:
		return vayva.EUNAVAILABLE
	case e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden:
		return vayva.EUNAVAILABLE
	case e.Name == "invalid_idempotent_request":
		return vayva.EIDEMPOTENCYREUSED
	case e.Name == "concurrent_idempotent_requests" || e.StatusCode == http.StatusConflict:
		return vayva.ECONFLICT
	case e.StatusCode == http.StatusNotFound:
		return vayva.ENOTFOUND
	default:
		return vayva.EINVALID
	}
}

func (e *Error) permanent() bool {
	return e.StatusCode >= 400 && e.StatusCode < 500 && e.Name != "concurrent_idempotent_requests"
}

// RateLimitedError is a 429: Resend asks for RetryAfter to pass before the
// next request (its retry-after or ratelimit-reset header, unscaled).
type RateLimitedError struct {
	RetryAfter time.Duration
	// Name is Resend's error name: "rate_limit_exceeded", or a quota such
	// as "daily_quota_exceeded".
	Name    string
	Message string
}

// Error implements the error interface.
func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("rate limited (%s), retry after %s: %s", e.Name, e.RetryAfter, e.Message)
}

// Unwrap exposes the runtime's coded error.
func (e *RateLimitedError) Unwrap() error {
	return &vayva.Error{Code: vayva.ERATELIMITED, Message: "Resend: " + e.Message}
}

// IsPermanent reports whether err is a refusal that repeating the same
// request cannot fix: a 4xx other than 429 (and other than a concurrent
// request with the same idempotency key).
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.permanent()
}

// RetryAfter returns the delay a rate-limited err asks for, and whether err
// was rate limited.
func RetryAfter(err error) (time.Duration, bool) {
	var rl *RateLimitedError
	if errors.As(err, &rl) {
		return rl.RetryAfter, true
	}
	return 0, false
}
