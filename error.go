package vayva

import (
	"errors"
	"fmt"
	"time"
)

// Error codes. Each maps to the `code` of an API problem document and to one
// HTTP status in the edge's status table.
const (
	ECONFLICT          = "conflict"
	EFORBIDDEN         = "forbidden"
	EIDEMPOTENCYREUSED = "idempotency_key_reused"
	EINSUFFICIENTFUNDS = "insufficient_funds"
	EINSUFFICIENTSTOCK = "insufficient_stock"
	EINTERNAL          = "internal"
	EINVALID           = "validation_failed"
	EBADREQUEST        = "bad_request"
	ENOTFOUND          = "not_found"
	ERATELIMITED       = "rate_limited"
	EUNAUTHORIZED      = "unauthorized"
	EUNAVAILABLE       = "unavailable"
	ETOOLARGE          = "payload_too_large"
	EMETHODNOTALLOWED  = "method_not_allowed"
	// EUNSUPPORTEDMEDIATYPE refuses a request body that is not labelled
	// with a media type the route reads.
	EUNSUPPORTEDMEDIATYPE = "unsupported_media_type"
	// EHEADERSTOOLARGE refuses a request whose headers do not fit the
	// edge's read buffer.
	EHEADERSTOOLARGE = "headers_too_large"
)

// ProblemType returns the RFC 9457 "type" URI of the problem documents
// whose code is code; every problem the node answers uses it.
func ProblemType(code string) string {
	return "https://docs.vayva.ng/problems/" + code
}

// Error is the runtime's one coded error. Code is a stable snake_case word
// that clients may branch on; Message is meant for people. Fields lists the
// offending fields of a validation failure.
type Error struct {
	Code    string
	Message string
	Fields  []FieldError
}

// FieldError names one invalid field of a request and why it is invalid.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("vayva: %s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of the first *Error in err's chain, or a
// generic message that leaks nothing about internal failures.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// RateLimitedError refuses a request that exceeded a rate limit and says
// when to come back. Its code is ERATELIMITED; the edge answers it 429 with
// a Retry-After of RetryAfterSeconds, whoever refused.
type RateLimitedError struct {
	// RetryAfter is how long until the limit lets the request through.
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("vayva: rate limited; retry after %s", e.RetryAfter)
}

// Unwrap gives the error its code, so ErrorCode and ErrorMessage see it.
func (e *RateLimitedError) Unwrap() error {
	return Errorf(ERATELIMITED, "Too many attempts; retry later.")
}

// RetryAfterSeconds is RetryAfter in whole seconds, rounded up and at
// least 1, as an HTTP Retry-After header carries it.
func (e *RateLimitedError) RetryAfterSeconds() int {
	return max(int((e.RetryAfter+time.Second-1)/time.Second), 1)
}

// ErrStaleEpoch reports that an actor activation has been superseded by a
// newer activation of the same identity (see the fencing mechanism in
// persistence/postgres). The stale activation stops itself; callers retry and
// land on the current owner.
var ErrStaleEpoch = &Error{Code: EUNAVAILABLE, Message: "actor activation is stale; retry"}

// ErrCommitUncertain reports a commit whose outcome is unknown: the
// connection failed at or during COMMIT, so the transaction may or may not
// have been applied. The activation that made it stops, so that the next
// command reloads the identity from the database; the caller retries, and
// the idempotency inbox answers a retry of a command that did commit with
// its first reply.
var ErrCommitUncertain = &Error{Code: EUNAVAILABLE, Message: "the outcome of the commit is unknown; retry"}

// MaxFieldErrors bounds the field errors one Validation reports. A request
// with a huge list must not make the answer, or the work of building it,
// grow with the list: past the bound errors are only counted, and the
// message says how many were left out.
const MaxFieldErrors = 50

// Validation collects field errors and turns them into one EINVALID *Error.
// It keeps the first MaxFieldErrors errors and counts the rest.
type Validation struct {
	fields  []FieldError
	dropped int
}

// Add records that field is invalid for the given reason. Past
// MaxFieldErrors errors it only counts, without formatting anything.
func (v *Validation) Add(field, format string, args ...any) {
	if len(v.fields) >= MaxFieldErrors {
		v.dropped++
		return
	}
	v.fields = append(v.fields, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Check records a field error when ok is false.
func (v *Validation) Check(ok bool, field, format string, args ...any) {
	if !ok {
		v.Add(field, format, args...)
	}
}

// Err returns nil when no field error was recorded, else an EINVALID *Error
// listing at most MaxFieldErrors fields; when more were recorded its
// message says how many were left out.
func (v *Validation) Err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return &Error{Code: EINVALID, Message: invalidFieldsMessage(len(v.fields), v.dropped), Fields: v.fields}
}

// CapFields returns e with at most MaxFieldErrors field errors, for errors
// built without a Validation (decoded from another process, say); the
// message says how many were left out. e itself is not changed.
func CapFields(e *Error) *Error {
	if e == nil || len(e.Fields) <= MaxFieldErrors {
		return e
	}
	out := *e
	out.Fields = e.Fields[:MaxFieldErrors:MaxFieldErrors]
	out.Message = e.Message + leftOutNote(MaxFieldErrors, len(e.Fields)-MaxFieldErrors)
	return &out
}

func invalidFieldsMessage(listed, dropped int) string {
	msg := "The request has invalid fields."
	if dropped > 0 {
		msg += leftOutNote(listed, dropped)
	}
	return msg
}

func leftOutNote(listed, dropped int) string {
	return fmt.Sprintf(" The first %d are listed; %d more were left out.", listed, dropped)
}
