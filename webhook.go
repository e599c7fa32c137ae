package vayva

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// WebhookEventTypes are the event types merchants may subscribe a webhook
// endpoint to.
var WebhookEventTypes = []string{
	"order.created", "order.paid", "order.canceled", "order.refunded", "order.fulfilled",
	"delivery.updated", "payout.paid", "payout.failed", "conversation.handoff",
}

// EventWebhookTest is the type of the event that the test route sends to
// one endpoint, whatever it subscribed to.
const EventWebhookTest = "webhook.test"

// IsWebhookEventType reports whether t is one of WebhookEventTypes.
func IsWebhookEventType(t string) bool {
	for _, x := range WebhookEventTypes {
		if x == t {
			return true
		}
	}
	return false
}

// Webhook endpoint statuses.
const (
	WebhookActive   = "active"
	WebhookDisabled = "disabled"
)

// Webhook delivery statuses. A delivery is pending until it succeeds, fails
// for good (its endpoint went away or refused it) or exhausts its retries.
const (
	WebhookDeliveryPending   = "pending"
	WebhookDeliverySucceeded = "succeeded"
	WebhookDeliveryFailed    = "failed"
	WebhookDeliveryExhausted = "exhausted"
)

// Limits of webhook endpoints.
const (
	MaxWebhookURLLength = 2048
	// MaxWebhookEvents bounds the events list of an endpoint: room for
	// every event type, repeats included, but not for an unbounded list.
	MaxWebhookEvents = 50
)

// ValidateWebhookEndpoint checks a new endpoint's url (absolute http(s),
// at most MaxWebhookURLLength characters) and events (a non-empty list of
// at most MaxWebhookEvents WebhookEventTypes), naming each bad field. The
// edge checks a request with it before storing anything, and the store
// checks again, so no path stores an endpoint it would refuse.
func ValidateWebhookEndpoint(rawURL string, events []string) error {
	var v Validation
	switch {
	case rawURL == "":
		v.Add("url", "is required")
	case len(rawURL) > MaxWebhookURLLength:
		v.Add("url", "must be at most %d characters", MaxWebhookURLLength)
	default:
		u, err := url.Parse(rawURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
			v.Add("url", "must be an absolute http or https URL")
		} else if u.Fragment != "" || u.User != nil {
			v.Add("url", "must not carry credentials or a fragment")
		}
	}
	switch {
	case len(events) == 0:
		v.Add("events", "must list at least one event type")
	case len(events) > MaxWebhookEvents:
		// One error for the list, none per entry.
		v.Add("events", "must list at most %d event types", MaxWebhookEvents)
		events = nil
	}
	for i, e := range events {
		if !IsWebhookEventType(e) {
			v.Add(fmt.Sprintf("events[%d]", i), "is not a known event type (%s)", strings.Join(WebhookEventTypes, ", "))
		}
	}
	return v.Err()
}

// WebhookEndpoint is a merchant's webhook endpoint.
type WebhookEndpoint struct {
	ID         string
	MerchantID string
	URL        string
	Events     []string
	// Secret is the whsec_ signing secret; only the creation of the
	// endpoint returns it.
	Secret string
	// Status is WebhookActive or WebhookDisabled.
	Status              string
	ConsecutiveFailures int
	DisabledReason      string
	CreatedAt           time.Time
}

// WebhookDelivery is one event's delivery to one endpoint, with its
// attempts.
type WebhookDelivery struct {
	// ID is also the webhook-id header of every attempt.
	ID         string
	EndpointID string
	MerchantID string
	EventID    string
	EventType  string
	// Status is one of the WebhookDelivery* statuses.
	Status         string
	Attempts       int
	NextAttemptAt  *time.Time
	LastStatusCode *int
	LastError      string
	CreatedAt      time.Time
	CompletedAt    *time.Time
	// Log lists the attempts, oldest first (at most the last 100).
	Log []WebhookAttempt
}

// WebhookAttempt is one HTTP attempt of a delivery.
type WebhookAttempt struct {
	Attempt int
	// StatusCode is nil when no HTTP answer arrived.
	StatusCode *int
	Duration   time.Duration
	Error      string
	At         time.Time
}

// DueWebhookDelivery is a delivery a worker has claimed for one attempt,
// with what it needs to make it.
type DueWebhookDelivery struct {
	ID         string
	EndpointID string
	MerchantID string
	EventID    string
	EventType  string
	Payload    []byte
	// Attempt is the number of this attempt (1-based, counting every
	// attempt ever made); the attempt's result must carry it back.
	Attempt int
	// RetryBase is the attempt count when the retry schedule (re)started;
	// Attempt - RetryBase is this attempt's place in the schedule.
	RetryBase int
	URL       string
	Secret    string
	// SecretErr says why the endpoint's secret could not be read (sealed
	// under a key this node lacks); the attempt cannot be signed.
	SecretErr      error
	EndpointStatus string
	EndpointGone   bool
}

// WebhookAttemptResult is the outcome of one attempt, as the worker judged
// it.
type WebhookAttemptResult struct {
	DeliveryID string
	EndpointID string
	// Attempt is DueWebhookDelivery.Attempt; a result for an attempt that
	// is no longer the delivery's latest is logged but changes nothing
	// else.
	Attempt int
	// StatusCode is 0 when no HTTP answer arrived.
	StatusCode int
	Duration   time.Duration
	Error      string
	At         time.Time
	// Status is the delivery's new status: WebhookDeliverySucceeded,
	// WebhookDeliveryPending (retry at NextAttemptAt),
	// WebhookDeliveryExhausted or WebhookDeliveryFailed.
	Status        string
	NextAttemptAt time.Time
	// DisableReason, when set, disables the endpoint at once (410 Gone).
	DisableReason string
	// DisableAfter disables the endpoint when an exhausted delivery makes
	// this many in a row; 0 never does.
	DisableAfter int
}
