package paystack

import (
	"errors"
	"net/http"
	"strings"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/integrations/internal/providerhttp"
)

// Error is a failed Paystack call: either Paystack answered
// {"status": false, "message": …} (StatusCode set) or no usable answer
// arrived (StatusCode 0, Err set). It unwraps to a *vayva.Error whose code
// says what the failure means to the runtime, and to Err.
type Error struct {
	// StatusCode is the HTTP status of Paystack's answer, 0 when there was
	// none.
	StatusCode int
	// Message is Paystack's message, or what went wrong locally.
	Message string
	// Type and Code are the machine-readable fields newer Paystack errors
	// carry (for example "validation_error", "invalid_params"), if any.
	Type string
	Code string
	// Err is the transport or decoding failure, if any.
	Err error
}

// Error implements the error interface.
func (e *Error) Error() string {
	return providerhttp.ErrorText(e.StatusCode, e.Message, e.Err)
}

// Unwrap exposes the runtime's coded error and the underlying failure.
func (e *Error) Unwrap() []error {
	return providerhttp.Unwrapped(e.vayvaCode(), "Paystack: "+e.Message, e.Err)
}

// vayvaCode is the one translation of Paystack failures into the runtime's
// error codes. Paystack answers 400 for most refusals, including unknown
// references, so the message decides between not found, conflict and
// invalid. Authentication failures are our misconfiguration, not the
// caller's, and surface as unavailable.
func (e *Error) vayvaCode() string {
	msg := strings.ToLower(e.Message)
	switch {
	case e.StatusCode == 0 || e.StatusCode >= 500:
		return vayva.EUNAVAILABLE
	case e.StatusCode == http.StatusTooManyRequests:
		return vayva.ERATELIMITED
	case e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden:
		return vayva.EUNAVAILABLE
	case e.StatusCode == http.StatusNotFound || strings.Contains(msg, "not found"):
		return vayva.ENOTFOUND
	case e.StatusCode == http.StatusConflict || strings.Contains(msg, "duplicate") || strings.Contains(msg, "already"):
		return vayva.ECONFLICT
	default:
		return vayva.EINVALID
	}
}

// IsPermanent reports whether err is a refusal that repeating the same call
// cannot fix: a 4xx answer other than 429.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.StatusCode >= 400 && e.StatusCode < 500 && e.StatusCode != http.StatusTooManyRequests
}

// IsDuplicateReference reports whether err is Paystack refusing to open a
// transaction under a reference it already has ("Duplicate Transaction
// Reference", 400).
func IsDuplicateReference(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.StatusCode == http.StatusBadRequest &&
		strings.Contains(strings.ToLower(e.Message), "duplicate transaction reference")
}
