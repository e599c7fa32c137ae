// Package kwik is a client of the Kwik delivery API (kwik.delivery), a
// Tookan-style vendor API.
//
// Kwik publishes no reference documentation; the endpoints, fields and
// codes here are reconstructed from public client libraries and must be
// confirmed with Kwik before going live. The client logs in with
// POST /vendor_login and caches the access token until TokenTTL passes or
// Kwik reports it invalid (envelope status 101), prices a delivery with
// POST /send_payment_for_task, books it with POST /create_task_via_vendor,
// reads it with GET /view_task_by_relationship_id and cancels it with
// POST /cancel_vendor_task. Every answer is an envelope
// {status, message, data}, where status 200 means success.
//
// Booking is idempotent on our side: the delivery id travels as
// unique_order_id, and Book looks the delivery up before every booking
// attempt, so a retried or repeated Book never creates a second task.
// Kwik's job status codes are kept verbatim and normalized to the runtime's
// delivery statuses by NormalizeStatus.
package kwik
