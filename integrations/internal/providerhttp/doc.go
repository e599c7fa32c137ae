// Package providerhttp is the transport the provider clients (Paystack,
// Resend, WhatsApp, Kwik) share: it sends JSON requests with a timeout per
// attempt, reads bounded answers, repeats failed calls with jittered
// exponential backoff scaled for tests, honours Retry-After, and checks the
// hex HMAC signatures providers put on webhooks.
//
// What a provider's answers mean stays with its client: the client parses
// error bodies into its own error type, says which calls are idempotent and
// decides, through the hook it passes to Client.Retry, which failures may be
// repeated. MayRetry is the decision the clients share once throttling is
// ruled out.
package providerhttp
