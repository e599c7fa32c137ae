package worker

import (
	"time"

	"github.com/vayvahq/vayva"
)

// SetBeforeMark makes r run f after enqueueing a batch and before marking
// it published; an error abandons the round as a crash would. Set it before
// Start.
func SetBeforeMark(r *Relay, f func(published []vayva.OutboxEvent) error) { r.beforeMark = f }

// RetryDelay exposes the webhook retry policy.
func RetryDelay(w *Webhooks, n, status int, retryAfter time.Duration) time.Duration {
	return w.retryDelay(n, status, retryAfter)
}

// ParseRetryAfter exposes the Retry-After parser.
var ParseRetryAfter = parseRetryAfter

// FormatMoney exposes the money formatter of the templates.
var FormatMoney = formatMoney
