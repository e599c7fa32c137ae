package kwik

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/integrations/internal/providerhttp"
)

// ErrNotFound reports that Kwik has no task for a delivery id.
var ErrNotFound = errors.New("kwik: task not found")

// Error is a failed Kwik call: either Kwik answered with a non-200
// envelope status or HTTP status (StatusCode set), or no usable answer
// arrived (StatusCode 0, Err set). It unwraps to a *vayva.Error whose code
// says what the failure means to the runtime, and to Err.
type Error struct {
	// StatusCode is the HTTP status, 0 when there was no answer.
	StatusCode int
	// Status is the envelope's status code (100 parameter missing, 101
	// invalid key, 201 refused, 404 not found), 0 when absent.
	Status  int
	Message string
	Err     error
}

// Error implements the error interface.
func (e *Error) Error() string {
	detail := e.Message
	if e.Status != 0 && e.Status != codeOK {
		detail = fmt.Sprintf("kwik status %d: %s", e.Status, e.Message)
	}
	return providerhttp.ErrorText(e.StatusCode, detail, e.Err)
}

// Unwrap exposes the runtime's coded error and the underlying failure.
func (e *Error) Unwrap() []error {
	return providerhttp.Unwrapped(e.vayvaCode(), "Kwik: "+e.Message, e.Err)
}

func (e *Error) tokenRefused() bool {
	return e.Status == codeInvalidKey || e.StatusCode == http.StatusUnauthorized
}

// vayvaCode is the one translation of Kwik failures into the runtime's
// error codes.
func (e *Error) vayvaCode() string {
	switch {
	case e.StatusCode == 0 || e.StatusCode >= 500:
		return vayva.EUNAVAILABLE
	case e.StatusCode == http.StatusTooManyRequests:
		return vayva.ERATELIMITED
	case e.tokenRefused() || e.StatusCode == http.StatusForbidden:
		return vayva.EUNAVAILABLE
	case e.Status == codeNotFound || e.StatusCode == http.StatusNotFound:
		return vayva.ENOTFOUND
	default:
		return vayva.EINVALID
	}
}

// IsPermanent reports whether err is a refusal that repeating the same call
// cannot fix.
func IsPermanent(err error) bool {
	var e *Error
	if !errors.As(err, &e) || e.tokenRefused() || e.StatusCode == 0 {
		return false
	}
	if e.StatusCode >= 400 && e.StatusCode < 500 {
		return e.StatusCode != http.StatusTooManyRequests
	}
	return e.StatusCode < 300 && e.Status != codeOK
}
