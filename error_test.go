package vayva_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vayvahq/vayva"
)

func TestValidationCapsItsFields(t *testing.T) {
	var v vayva.Validation
	if v.Err() != nil {
		t.Fatal("an empty validation is no error")
	}
	for i := range 100_000 {
		v.Add(fmt.Sprintf("variants[%d].sku", i), "is required")
	}
	var e *vayva.Error
	if !errors.As(v.Err(), &e) {
		t.Fatalf("got %v", v.Err())
	}
	if e.Code != vayva.EINVALID || len(e.Fields) != vayva.MaxFieldErrors {
		t.Fatalf("code %s, %d fields", e.Code, len(e.Fields))
	}
	if e.Fields[0].Field != "variants[0].sku" || e.Fields[49].Field != "variants[49].sku" {
		t.Fatalf("the first errors are kept: %v", e.Fields)
	}
	if !strings.Contains(e.Message, "99950 more") {
		t.Fatalf("message %q does not say how many were left out", e.Message)
	}
}

func TestValidationUnderTheCapKeepsEverything(t *testing.T) {
	var v vayva.Validation
	for i := range vayva.MaxFieldErrors {
		v.Check(false, fmt.Sprintf("f%d", i), "must be %d", i)
	}
	v.Check(true, "ok", "never recorded")
	var e *vayva.Error
	if !errors.As(v.Err(), &e) || len(e.Fields) != vayva.MaxFieldErrors || e.Message != "The request has invalid fields." {
		t.Fatalf("got %+v", v.Err())
	}
	if e.Fields[7].Message != "must be 7" {
		t.Fatalf("message %q", e.Fields[7].Message)
	}
}

func TestCapFields(t *testing.T) {
	short := &vayva.Error{Code: vayva.EINVALID, Message: "m", Fields: make([]vayva.FieldError, 3)}
	if vayva.CapFields(short) != short {
		t.Fatal("a short list is returned as it is")
	}
	long := &vayva.Error{Code: vayva.EINVALID, Message: "Bad.", Fields: make([]vayva.FieldError, 70)}
	got := vayva.CapFields(long)
	if len(got.Fields) != vayva.MaxFieldErrors || len(long.Fields) != 70 {
		t.Fatalf("capped %d, original %d", len(got.Fields), len(long.Fields))
	}
	if !strings.HasPrefix(got.Message, "Bad.") || !strings.Contains(got.Message, "20 more") {
		t.Fatalf("message %q", got.Message)
	}
	if vayva.CapFields(nil) != nil {
		t.Fatal("nil stays nil")
	}
}

func TestRateLimitedError(t *testing.T) {
	for _, c := range []struct {
		after time.Duration
		want  int
	}{
		{0, 1}, {time.Millisecond, 1}, {time.Second, 1}, {time.Second + time.Millisecond, 2}, {90 * time.Second, 90},
	} {
		e := &vayva.RateLimitedError{RetryAfter: c.after}
		if got := e.RetryAfterSeconds(); got != c.want {
			t.Errorf("RetryAfter %s: Retry-After %d, want %d", c.after, got, c.want)
		}
	}
	err := fmt.Errorf("login: %w", &vayva.RateLimitedError{RetryAfter: time.Minute})
	if code := vayva.ErrorCode(err); code != vayva.ERATELIMITED {
		t.Fatalf("code %q", code)
	}
	var rl *vayva.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter != time.Minute {
		t.Fatalf("the wrapped refusal is found: %v", err)
	}
}
