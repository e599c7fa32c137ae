package whatsapp

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/integrations/internal/providerhttp"
)

// Graph API error codes the client treats specially.
const (
	// CodeReengagement: the 24-hour customer service window is closed; only
	// templates may be sent.
	CodeReengagement = 131047
	// CodeInvalidToken: the access token is invalid or expired.
	CodeInvalidToken = 190
)

// throttleCodes are Graph API codes meaning "slow down": the request was
// refused without effect.
var throttleCodes = map[int]bool{4: true, 17: true, 613: true, 80007: true, 130429: true, 131048: true, 131056: true}

// Error is a failed Cloud API call: either Meta answered with a Graph error
// object (StatusCode set) or no usable answer arrived (StatusCode 0, Err
// set). It unwraps to a *vayva.Error whose code says what the failure means
// to the runtime, and to Err.
type Error struct {
	StatusCode int
	// Code, Subcode and Type are the Graph error's code, error_subcode and
	// type (for example 100 "OAuthException").
	Code    int
	Subcode int
	Type    string
	Message string
	// Details is error_data.details, Meta's explanation for people.
	Details   string
	FBTraceID string
	Err       error
}

// Error implements the error interface.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Code != 0 {
		fmt.Fprintf(&b, "code %d: ", e.Code)
	}
	b.WriteString(e.Message)
	if e.Details != "" {
		b.WriteString(" (" + e.Details + ")")
	}
	return providerhttp.ErrorText(e.StatusCode, b.String(), e.Err)
}

// Unwrap exposes the runtime's coded error and the underlying failure.
func (e *Error) Unwrap() []error {
	return providerhttp.Unwrapped(e.vayvaCode(), "WhatsApp: "+e.Message, e.Err)
}

func (e *Error) rateLimited() bool {
	return e.StatusCode == http.StatusTooManyRequests || (e.StatusCode != 0 && throttleCodes[e.Code])
}

// vayvaCode is the one translation of Cloud API failures into the
// runtime's error codes.
func (e *Error) vayvaCode() string {
	switch {
	case e.rateLimited():
		return vayva.ERATELIMITED
	case e.StatusCode == 0 || e.StatusCode >= 500:
		return vayva.EUNAVAILABLE
	case e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden || e.Code == CodeInvalidToken:
		return vayva.EUNAVAILABLE
	case e.Code == CodeReengagement:
		return vayva.EFORBIDDEN
	case e.StatusCode == http.StatusNotFound:
		return vayva.ENOTFOUND
	default:
		return vayva.EINVALID
	}
}

// IsPermanent reports whether err is a refusal that repeating the same call
// cannot fix: a 4xx answer that is not throttling.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.StatusCode >= 400 && e.StatusCode < 500 && !e.rateLimited()
}
