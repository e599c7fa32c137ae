package actors

import (
	"context"
	"time"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors/internal/seal"
	"github.com/vayvahq/vayva/messages"
)

// ConversationStore is what a conversation knows of its store: enough to
// route, notify the merchant and answer in the store's currency.
type ConversationStore struct {
	ID         string
	MerchantID string
	Name       string
	Slug       string
	Currency   string
	// PhoneNumberID is the WhatsApp number the store answers on; messages
	// for another number do not belong to this store.
	PhoneNumberID string
	// OwnerEmail receives handoff emails; empty sends none.
	OwnerEmail string
}

// Conversation is a thread of a store with one customer, as
// comm.conversations keeps it.
type Conversation struct {
	ID            string
	StoreID       string
	MerchantID    string
	WAID          string
	PhoneNumberID string
	CustomerName  string
	// Mode is vayva.ModeAI or vayva.ModeHuman.
	Mode          string
	HandoffReason string
	// LastInboundAt is when the customer last wrote; zero if never.
	LastInboundAt  time.Time
	LastMessageSeq int64
	LastMessageAt  time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// WindowExpiresAt is when the customer service window closes; zero when it
// never opened.
func (c *Conversation) WindowExpiresAt() time.Time {
	if c.LastInboundAt.IsZero() {
		return time.Time{}
	}
	return c.LastInboundAt.Add(vayva.CustomerServiceWindow)
}

// WindowOpen reports whether free-form messages may be sent at now.
func (c *Conversation) WindowOpen(now time.Time) bool {
	exp := c.WindowExpiresAt()
	return !exp.IsZero() && now.Before(exp)
}

// ReplyButton is a reply button of an outbound message.
type ReplyButton struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

// TemplateRef names an approved template message.
type TemplateRef struct {
	Name     string `json:"name"`
	Language string `json:"language"`
}

// ChatMessage is one stored message of a thread (comm.whatsapp_messages).
type ChatMessage struct {
	ID             string
	ConversationID string
	StoreID        string
	Seq            int64
	// Direction is vayva.DirectionInbound or DirectionOutbound; Origin is
	// vayva.OriginCustomer, OriginAI or OriginAgent.
	Direction    string
	Origin       string
	AuthorID     string
	WAMID        string
	Type         string
	OriginalType string
	Text         string
	ReplyID      string
	ContextWAMID string
	Media        *vayva.Media
	Buttons      []ReplyButton
	Template     *TemplateRef
	// Status is one of the vayva.Status* delivery statuses.
	Status    string
	Error     string
	SentAt    time.Time
	CreatedAt time.Time
}

// ConversationState is what a conversation activation loads.
type ConversationState struct {
	Store ConversationStore
	// Conversation is nil until the customer's first message is stored.
	Conversation *Conversation
	// Recent are the latest messages, oldest first (at most
	// ConversationHistory).
	Recent []*ChatMessage
	// Pending are the outbound messages not yet sent nor failed.
	Pending []*ChatMessage
}

// ConversationHistory is how many recent messages a conversation keeps in
// memory as the context of its replies.
const ConversationHistory = 12

// ConversationRepository reads what the conversation actor keeps in the
// comm tables, and its store. Writes go through the Journal as
// Commit.Changes. Implemented by persistence/postgres.
type ConversationRepository interface {
	// LoadConversation returns the thread of the store with the customer
	// waID, or a vayva.ENOTFOUND error when there is no such store.
	LoadConversation(ctx context.Context, storeID, waID string) (*ConversationState, error)
	// LoadConversationStore reads the store again, for a message that
	// arrived on a number the activation did not know.
	LoadConversationStore(ctx context.Context, storeID string) (ConversationStore, error)
}

// ConversationChanges are the change types the conversation kind commits.
var ConversationChanges = []Change{
	ConversationChange{}, ChatMessageChange{}, MessageSentChange{}, MessageFailedChange{}, MessageStatusChange{},
}

// IsChange marks ConversationChange as a Change.
func (ConversationChange) IsChange(seal.Token) {}

// IsChange marks ChatMessageChange as a Change.
func (ChatMessageChange) IsChange(seal.Token) {}

// IsChange marks MessageSentChange as a Change.
func (MessageSentChange) IsChange(seal.Token) {}

// IsChange marks MessageFailedChange as a Change.
func (MessageFailedChange) IsChange(seal.Token) {}

// IsChange marks MessageStatusChange as a Change.
func (MessageStatusChange) IsChange(seal.Token) {}

// ConversationChange inserts or updates a thread's row.
type ConversationChange struct {
	Conversation Conversation
}

// ChatMessageChange inserts a message of a thread.
type ChatMessageChange struct {
	Message ChatMessage
}

// MessageSentChange records the wamid the provider gave an outbound
// message; its status becomes the best one the provider already reported
// for that wamid, at least sent.
type MessageSentChange struct {
	MessageID string
	WAMID     string
	At        time.Time
}

// MessageFailedChange marks an outbound message the provider refused.
type MessageFailedChange struct {
	MessageID string
	Error     string
	At        time.Time
}

// MessageStatusChange records a delivery status of the message with WAMID
// and raises the message's status if it ranks higher.
type MessageStatusChange struct {
	ConversationID string
	WAMID          string
	Status         string
	At             time.Time
	ErrorCode      int
	ErrorTitle     string
}

func conversationProto(c *Conversation) *messages.Conversation {
	if c == nil {
		return &messages.Conversation{}
	}
	return &messages.Conversation{
		Id: c.ID, StoreId: c.StoreID, MerchantId: c.MerchantID, WaId: c.WAID, PhoneNumberId: c.PhoneNumberID,
		CustomerName: c.CustomerName, Mode: c.Mode, HandoffReason: c.HandoffReason,
		LastInboundAtUnixMs:   unixMs(c.LastInboundAt),
		WindowExpiresAtUnixMs: unixMs(c.WindowExpiresAt()),
		CreatedAtUnixMs:       unixMs(c.CreatedAt), UpdatedAtUnixMs: unixMs(c.UpdatedAt),
	}
}

func chatMessageProto(m *ChatMessage) *messages.ChatMessage {
	out := &messages.ChatMessage{
		Id: m.ID, Seq: m.Seq, Direction: m.Direction, Origin: m.Origin, Type: m.Type, Text: m.Text,
		ReplyId: m.ReplyID, Wamid: m.WAMID, Status: m.Status, CreatedAtUnixMs: unixMs(m.CreatedAt),
	}
	for _, b := range m.Buttons {
		out.Buttons = append(out.Buttons, &messages.ReplyButton{Id: b.ID, Title: b.Title})
	}
	if m.Template != nil {
		out.Template = &messages.TemplateRef{Name: m.Template.Name, Language: m.Template.Language}
	}
	return out
}

// ConversationSummary is a thread as the merchant inbox lists it: its
// state and its last message.
type ConversationSummary struct {
	Conversation Conversation
	// Last is nil for a thread without messages.
	Last *ChatMessage
}
