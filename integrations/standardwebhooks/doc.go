// Package standardwebhooks signs and verifies webhooks with the symmetric
// scheme of the Standard Webhooks specification (standardwebhooks.com): the
// headers webhook-id, webhook-timestamp and webhook-signature, where the
// signature is "v1," followed by the base64 HMAC-SHA256 of
// "<id>.<timestamp>.<payload>" keyed by the base64-decoded part of a
// "whsec_" secret.
//
// Vayva signs every outbound merchant webhook with it; merchants verify with
// any Standard Webhooks library. The header names and signature format match
// the reference libraries (and Svix, which Resend uses for its own webhooks).
package standardwebhooks
