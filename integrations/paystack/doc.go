// Package paystack is a client of the Paystack REST API (api.paystack.co)
// and a verifier of its webhooks.
//
// The Client initializes and verifies card transactions, refunds them, and
// pays merchants out through transfer recipients and transfers. Every call
// has a per-attempt timeout and is retried with exponential backoff (scaled by
// Config.RetryScale) only when that cannot charge or pay twice: reads and
// calls carrying a Paystack reference are retried after any transient
// failure, other writes only when Paystack cannot have acted (rate limited,
// connection refused). A transfer reference is Paystack's idempotency key:
// InitiateTransfer resolves a rejected retry by looking the reference up.
//
// Webhooks carry x-paystack-signature, the hex HMAC-SHA512 of the raw body
// keyed by the secret key; VerifySignature checks it in constant time and
// ParseEvent decodes the body. Paystack sends no event id, so EventKey
// derives the deduplication key from the event name and its data.
package paystack
