// Package whatsapp is a client of the Meta WhatsApp Cloud API (Graph API
// /{phone-number-id}/messages) and a verifier and parser of its webhooks.
//
// The Client sends text, interactive (reply buttons or list) and template
// messages with a system-user bearer token and returns the message's wamid.
// Meta offers no idempotency key for sends, so a send is repeated only when
// Meta cannot have delivered it (throttled, connection refused); the
// outbound queue owns deduplication. Reads such as MarkRead are retried
// after any transient failure, with backoff scaled by Config.RetryScale.
//
// Webhooks are signed with X-Hub-Signature-256: "sha256=" and the hex
// HMAC-SHA256 of the raw body keyed by the app secret. VerifyChallenge
// answers the subscription handshake; ParseWebhook flattens a batched
// notification into inbound messages and delivery statuses.
package whatsapp
