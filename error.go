package vayva

import (
	"errors"
	"fmt"
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
)

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

// Validation collects field errors and turns them into one EINVALID *Error.
type Validation struct {
	fields []FieldError
}

// Add records that field is invalid for the given reason.
func (v *Validation) Add(field, format string, args ...any) {
	v.fields = append(v.fields, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Check records a field error when ok is false.
func (v *Validation) Check(ok bool, field, format string, args ...any) {
	if !ok {
		v.Add(field, format, args...)
	}
}

// Err returns nil when no field error was recorded, else an EINVALID *Error.
func (v *Validation) Err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return &Error{Code: EINVALID, Message: "The request has invalid fields.", Fields: v.fields}
}
