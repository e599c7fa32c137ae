package vayva

import (
	"strings"
	"time"
)

// Conversation modes: who answers the customer.
const (
	// ModeAI lets the store's AI responder answer.
	ModeAI = "ai"
	// ModeHuman keeps the AI silent: the thread is in the merchant's inbox
	// until a person sets the mode back to ai.
	ModeHuman = "human"
)

// Message directions.
const (
	DirectionInbound  = "inbound"
	DirectionOutbound = "outbound"
)

// Message types of a conversation. Media types carry a Media reference,
// never the bytes; anything the pipeline does not understand is kept as
// MessageUnsupported with the provider's type in OriginalType.
const (
	MessageText        = "text"
	MessageInteractive = "interactive"
	MessageImage       = "image"
	MessageDocument    = "document"
	MessageAudio       = "audio"
	MessageVideo       = "video"
	MessageSticker     = "sticker"
	MessageTemplate    = "template"
	MessageUnsupported = "unsupported"
)

// Delivery statuses of a stored message. Inbound messages are received;
// outbound ones are queued until the provider accepts them, then follow
// the provider's sent → delivered → read, or failed.
const (
	StatusReceived  = "received"
	StatusQueued    = "queued"
	StatusSent      = "sent"
	StatusDelivered = "delivered"
	StatusRead      = "read"
	StatusFailed    = "failed"
)

// Message origins: who wrote a stored message.
const (
	OriginCustomer = "customer"
	OriginAI       = "ai"
	OriginAgent    = "agent"
)

// CustomerServiceWindow is how long after a customer's last message a
// business may send free-form messages; outside it only templates.
const CustomerServiceWindow = 24 * time.Hour

// EventConversationHandoff is the merchant webhook event sent when a
// conversation is handed to a person.
const EventConversationHandoff = "conversation.handoff"

// EmailConversationHandoff is the email template telling the merchant a
// conversation needs a person.
const EmailConversationHandoff = "conversation_handoff"

// Message is one customer message in the runtime's own terms, normalised
// from the provider's webhook: no provider JSON travels past the
// normaliser.
type Message struct {
	// WAMID is the provider's message id; messages are deduplicated on it.
	WAMID string
	// PhoneNumberID is the business number the customer wrote to.
	PhoneNumberID string
	// From is the customer's WhatsApp id: E.164 digits without "+".
	From string
	// CustomerName is the customer's profile name, if the provider sent it.
	CustomerName string
	// Type is one of the Message* types.
	Type string
	// Text is the text body, the title of a tapped button or list row, or
	// a media caption.
	Text string
	// ReplyID is the id of the tapped reply button or list row.
	ReplyID string
	// Media references an image, document, audio, video or sticker.
	Media *Media
	// ContextWAMID is the message the customer replied to, if any.
	ContextWAMID string
	// OriginalType is the provider's type of an unsupported message.
	OriginalType string
	// SentAt is when the customer sent it, per the provider.
	SentAt time.Time
}

// Media is a reference to a media object held by the provider.
type Media struct {
	ID       string `json:"id"`
	MIMEType string `json:"mime_type,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
	Filename string `json:"filename,omitempty"`
}

// MessageStatus is a delivery status the provider reported for a message
// the business sent.
type MessageStatus struct {
	WAMID         string
	PhoneNumberID string
	// RecipientID is the customer's WhatsApp id.
	RecipientID string
	// Status is StatusSent, StatusDelivered, StatusRead or StatusFailed.
	Status     string
	At         time.Time
	ErrorCode  int
	ErrorTitle string
}

// StatusRank orders delivery statuses so that a late webhook never moves a
// message back (a read message stays read when its delivered status comes
// after). Failed outranks everything; unknown statuses rank 0.
func StatusRank(status string) int {
	switch status {
	case StatusReceived:
		return 1
	case StatusQueued:
		return 1
	case StatusSent:
		return 2
	case StatusDelivered:
		return 3
	case StatusRead:
		return 4
	case StatusFailed:
		return 5
	}
	return 0
}

// ConversationIdentity is the actor identity of the conversation of a
// store with a customer: "{store_id}:{wa_id}".
func ConversationIdentity(storeID, waID string) string {
	return storeID + ":" + waID
}

// ParseConversationIdentity splits a conversation identity into store id
// and WhatsApp id.
func ParseConversationIdentity(identity string) (storeID, waID string, ok bool) {
	storeID, waID, ok = strings.Cut(identity, ":")
	return storeID, waID, ok && storeID != "" && waID != ""
}

// ConversationKey is the key that orders a WhatsApp conversation's queue
// jobs: the business number's id and the customer's WhatsApp id, so that
// inbound messages, statuses and replies of one conversation share one
// partition. A leading "+" is dropped, so every spelling of the customer's
// number keys the same.
func ConversationKey(phoneNumberID, waID string) string {
	return phoneNumberID + ":" + strings.TrimPrefix(waID, "+")
}

// CustomerOrder is what a customer may be told about one of their orders
// when they ask where it is.
type CustomerOrder struct {
	ID                string
	Number            int64
	Status            string
	PaymentStatus     string
	FulfillmentStatus string
	Total             int64
	Currency          string
	CreatedAt         time.Time
}

// Types of the jobs on the whatsapp-inbound queue. The webhook receiver
// enqueues one job per message or status of a notification; the payload
// is the JSON of the provider package's parsed value, which the inbound
// worker normalises.
const (
	JobWhatsAppMessage = "whatsapp.message"
	JobWhatsAppStatus  = "whatsapp.status"
)
