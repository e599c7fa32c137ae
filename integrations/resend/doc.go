// Package resend is a client of the Resend email API (POST /emails).
//
// Send carries the Idempotency-Key header, so Resend answers a repeated
// request with the first one's result. That makes retrying after a server
// error or a lost connection safe, and Send does so a bounded number of
// times with backoff (scaled by Config.RetryScale). A 429 is not retried
// inside Send: it returns a *RateLimitedError with the delay Resend asked
// for, so a queue worker can reschedule the job instead of holding it. Other
// 4xx answers are permanent (IsPermanent reports true) and must not be
// retried unchanged.
package resend
