package providerhttp

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	retryBaseDelay = 250 * time.Millisecond
	retryMaxDelay  = 8 * time.Second
	// maxRetryAfterSeconds caps a Retry-After given in seconds at a day.
	maxRetryAfterSeconds = 86400
)

// Retry runs attempt until it succeeds, fails in a way mayRetry refuses,
// MaxRetries retries are spent or ctx ends, and returns attempt's last
// error. attempt reports the delay the provider asked for (its
// Retry-After), 0 for none: Retry then waits at least that long, scaled by
// RetryScale, and hands the failure back at once when the delay exceeds
// MaxRetryAfter.
func (c *Client) Retry(ctx context.Context, mayRetry func(error) bool, attempt func(context.Context) (time.Duration, error)) error {
	for n := 0; ; n++ {
		retryAfter, err := attempt(ctx)
		if err != nil && ctx.Err() != nil {
			// The answer may have arrived before the cancellation was seen:
			// the caller still learns that its context ended.
			return errors.Join(err, ctx.Err())
		}
		if err == nil || n >= c.MaxRetries || !mayRetry(err) {
			return err
		}
		wait := c.Backoff(n)
		if retryAfter > 0 {
			if c.MaxRetryAfter > 0 && retryAfter > c.MaxRetryAfter {
				return err
			}
			wait = max(wait, time.Duration(float64(retryAfter)*c.RetryScale))
		}
		if err := Sleep(ctx, wait); err != nil {
			return errors.Join(err, ctx.Err())
		}
	}
}

// Backoff returns the delay before retry number attempt+1: exponential from
// 250ms up to 8s, with jitter in [d/2, d], scaled by RetryScale.
func (c *Client) Backoff(attempt int) time.Duration {
	d := retryBaseDelay << min(attempt, 10)
	d = min(d, retryMaxDelay)
	d = d/2 + rand.N(d/2+1)
	return time.Duration(float64(d) * c.RetryScale)
}

// Sleep waits d, or returns ctx's error as soon as ctx ends.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// RetryAfter reads a Retry-After header given in whole seconds (at most a
// day) or as an HTTP date; it returns 0 when the header is absent,
// unreadable or in the past.
func RetryAfter(h http.Header) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(min(n, maxRetryAfterSeconds)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// MayRetry is the retry decision the clients share once throttling is ruled
// out. status is the HTTP status of the answer (0 when none arrived), cause
// the failure when no answer arrived, and idempotent whether repeating the
// call cannot take effect twice. A call that never reached the provider
// (the connection was refused) may always be repeated; a lost answer or a
// server error only when the call is idempotent; a canceled call never.
func MayRetry(status int, cause error, idempotent bool) bool {
	switch {
	case status == 0 && cause != nil:
		if errors.Is(cause, context.Canceled) {
			return false
		}
		return idempotent || dialFailed(cause)
	case status >= 500:
		return idempotent
	}
	return false
}

// dialFailed reports whether err happened before the request left, so the
// provider cannot have seen it.
func dialFailed(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
