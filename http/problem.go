package http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/vayvahq/vayva"
)

// problem is an RFC 9457 problem document.
type problem struct {
	Type      string             `json:"type"`
	Title     string             `json:"title"`
	Status    int                `json:"status"`
	Detail    string             `json:"detail"`
	Code      string             `json:"code"`
	Errors    []vayva.FieldError `json:"errors,omitempty"`
	RequestID string             `json:"request_id,omitempty"`
}

// statuses maps error codes to HTTP statuses; it is the only such table.
var statuses = map[string]int{
	vayva.EBADREQUEST:           fasthttp.StatusBadRequest,
	vayva.EINVALID:              fasthttp.StatusUnprocessableEntity,
	vayva.EIDEMPOTENCYREUSED:    fasthttp.StatusUnprocessableEntity,
	vayva.EINSUFFICIENTFUNDS:    fasthttp.StatusUnprocessableEntity,
	vayva.EUNAUTHORIZED:         fasthttp.StatusUnauthorized,
	vayva.EFORBIDDEN:            fasthttp.StatusForbidden,
	vayva.ENOTFOUND:             fasthttp.StatusNotFound,
	vayva.EMETHODNOTALLOWED:     fasthttp.StatusMethodNotAllowed,
	vayva.ECONFLICT:             fasthttp.StatusConflict,
	vayva.EINSUFFICIENTSTOCK:    fasthttp.StatusConflict,
	vayva.ETOOLARGE:             fasthttp.StatusRequestEntityTooLarge,
	vayva.EUNSUPPORTEDMEDIATYPE: fasthttp.StatusUnsupportedMediaType,
	vayva.EHEADERSTOOLARGE:      fasthttp.StatusRequestHeaderFieldsTooLarge,
	vayva.ERATELIMITED:          fasthttp.StatusTooManyRequests,
	vayva.EUNAVAILABLE:          fasthttp.StatusServiceUnavailable,
	vayva.EINTERNAL:             fasthttp.StatusInternalServerError,
}

// statusOf returns the HTTP status for err's code; unknown codes are 400 if
// they come from a *vayva.Error (a refusal we named) and 500 otherwise.
func statusOf(err error) int {
	code := vayva.ErrorCode(err)
	if s, ok := statuses[code]; ok {
		return s
	}
	var e *vayva.Error
	if errors.As(err, &e) {
		return fasthttp.StatusBadRequest
	}
	return fasthttp.StatusInternalServerError
}

// coded gives an error without a vayva code the code the edge answers it
// with. A request that ran out of time waiting for a dependency is
// unavailable (503 with Retry-After), not an internal error; storage
// adapters translate their own timeouts, this covers the rest.
func coded(err error) error {
	var e *vayva.Error
	if err == nil || errors.As(err, &e) || !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: %w", vayva.Errorf(vayva.EUNAVAILABLE, "The request did not finish in time; retry."), err)
}

// retryAfter is the Retry-After value (seconds) sent with 503 and 429
// answers that did not set their own.
const retryAfter = 1

// writeProblem writes err as problem+json.
func writeProblem(rc *fasthttp.RequestCtx, err error) {
	status := statusOf(err)
	code := vayva.ErrorCode(err)
	detail := vayva.ErrorMessage(err)
	var fields []vayva.FieldError
	var e *vayva.Error
	if errors.As(err, &e) {
		// However the error was built, the answer lists a bounded number
		// of fields.
		e = vayva.CapFields(e)
		fields, detail = e.Fields, e.Message
	}
	if setRateLimitRetryAfter(rc, err) {
		status, code, detail = fasthttp.StatusTooManyRequests, vayva.ERATELIMITED, "Too many requests; retry later."
	}
	if status == fasthttp.StatusServiceUnavailable || status == fasthttp.StatusTooManyRequests {
		setRetryAfter(rc)
	}
	p := problem{
		Type:      vayva.ProblemType(code),
		Title:     fasthttp.StatusMessage(status),
		Status:    status,
		Detail:    detail,
		Code:      code,
		Errors:    fields,
		RequestID: string(rc.Response.Header.Peek(requestIDHeader)),
	}
	body, _ := json.Marshal(p)
	rc.Response.SetStatusCode(status)
	rc.Response.Header.SetContentType("application/problem+json")
	rc.Response.SetBodyRaw(body)
}

// setRetryAfter gives a 503 or 429 answer the default Retry-After unless
// it has its own.
func setRetryAfter(rc *fasthttp.RequestCtx) {
	if len(rc.Response.Header.Peek("Retry-After")) == 0 {
		rc.Response.Header.Set("Retry-After", strconv.Itoa(retryAfter))
	}
}

// setRateLimitRetryAfter gives the answer to a *vayva.RateLimitedError
// (whichever package refused) the Retry-After it asked for and reports
// whether err is one. Problem documents and pages both answer through it.
func setRateLimitRetryAfter(rc *fasthttp.RequestCtx, err error) bool {
	var rl *vayva.RateLimitedError
	if !errors.As(err, &rl) {
		return false
	}
	rc.Response.Header.Set("Retry-After", strconv.Itoa(rl.RetryAfterSeconds()))
	return true
}
