package providerhttp

import (
	"fmt"
	"strings"

	"github.com/vayvahq/vayva"
)

// ErrorText formats a failed provider call the way every client's error
// reads: "status N: " when an answer arrived, then detail, then ": " and
// the cause when there is one.
func ErrorText(status int, detail string, cause error) string {
	var b strings.Builder
	if status != 0 {
		fmt.Fprintf(&b, "status %d: ", status)
	}
	b.WriteString(detail)
	if cause != nil {
		b.WriteString(": ")
		b.WriteString(cause.Error())
	}
	return b.String()
}

// Unwrapped returns what a client's error unwraps to: the runtime's coded
// error, which says what the failure means to callers, and the cause when
// there is one.
func Unwrapped(code, message string, cause error) []error {
	errs := []error{&vayva.Error{Code: code, Message: message}}
	if cause != nil {
		errs = append(errs, cause)
	}
	return errs
}
