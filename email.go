package vayva

import "time"

// Email log statuses.
const (
	EmailQueued = "queued"
	EmailSent   = "sent"
	EmailFailed = "failed"
)

// EmailLog is one transactional email as the email log records it: one
// per email.send event, so a redelivered job never sends twice.
type EmailLog struct {
	ID         string
	MerchantID string
	// EventID is the email.send event the email belongs to; one email per
	// event.
	EventID  string
	Template string
	To       string
	Subject  string
	Provider string
	// ProviderID is the provider's id for the sent email.
	ProviderID string
	// Status is EmailQueued, EmailSent or EmailFailed.
	Status string
	// Permanent marks a failure that no retry can fix (the provider refused
	// the email, or it could not be rendered).
	Permanent bool
	Error     string
	Attempts  int
	CreatedAt time.Time
	SentAt    *time.Time
}
