package actors

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/messages"
)

// ConversationKind is the kind of the conversation actor; its identity is
// vayva.ConversationIdentity(store id, customer's WhatsApp id).
const ConversationKind = "conversation"

// ConversationIdleTimeout is how long a conversation activation stays
// without messages before it passivates.
const ConversationIdleTimeout = 10 * time.Minute

// Job and event types of the WhatsApp pipeline.
const (
	// EventWhatsAppSend asks the outbound worker to send a queued message;
	// its data is a WhatsAppSend.
	EventWhatsAppSend = "whatsapp.send"
)

// Limits of outbound messages (Meta's).
const (
	MaxReplyText     = 4096
	MaxReplyButtons  = 3
	MaxButtonTitle   = 20
	MaxButtonID      = 256
	maxNameLength    = 256
	maxHandoffReason = 200
	maxInboundText   = 8192
)

var templateName = regexp.MustCompile(`^[a-z0-9_]{1,512}$`)
var templateLanguage = regexp.MustCompile(`^[a-z]{2,3}(_[A-Z]{2})?$`)

// WhatsAppSend is the data of an EventWhatsAppSend event: which message of
// which conversation to send. The content stays with the actor.
type WhatsAppSend struct {
	Conversation string `json:"conversation"`
	MessageID    string `json:"message_id"`
}

// ConversationActor is the conversation actor: the single writer of one
// WhatsApp thread. It stores every message in order with its delivery
// status, keeps the customer service window and the mode, and queues
// replies for the outbound worker through the outbox.
type ConversationActor struct {
	*Processor
	repo ConversationRepository
	now  func() time.Time

	storeID, waID string
	store         ConversationStore
	conv          *Conversation
	recent        []*ChatMessage
	pending       map[string]*ChatMessage
}

// NewConversationProducer returns a producer of conversation actors that
// commit through j and load their state from repo.
func NewConversationProducer(j Journal, repo ConversationRepository, log zerolog.Logger) actor.Producer {
	return Producer(j, log, func(p *Processor) Behavior {
		return &ConversationActor{Processor: p, repo: repo, now: storeNow}
	})
}

// Load reads the thread, its recent messages and the outbound messages
// still to send.
func (c *ConversationActor) Load(ctx context.Context, a *Activation) error {
	storeID, waID, ok := vayva.ParseConversationIdentity(a.Identity)
	if !ok {
		return vayva.Errorf(vayva.ENOTFOUND, "No conversation %q.", a.Identity)
	}
	st, err := c.repo.LoadConversation(ctx, storeID, waID)
	if err != nil {
		return err
	}
	c.storeID, c.waID = storeID, waID
	c.store, c.conv, c.recent = st.Store, st.Conversation, st.Recent
	c.pending = make(map[string]*ChatMessage, len(st.Pending))
	for _, m := range st.Pending {
		c.pending[m.ID] = m
	}
	return nil
}

// Receive handles one command.
func (c *ConversationActor) Receive(ctx actor.Context, msg any) {
	switch msg := msg.(type) {
	case *messages.ReceiveMessage:
		c.receiveMessage(ctx, msg)
	case *messages.HandOff:
		c.handOff(ctx, msg)
	case *messages.SetMode:
		c.setMode(ctx, msg)
	case *messages.SendReply:
		c.sendReply(ctx, msg)
	case *messages.GetOutbound:
		c.getOutbound(ctx, msg)
	case *messages.RecordSent:
		c.recordSent(ctx, msg)
	case *messages.RecordSendFailed:
		c.recordSendFailed(ctx, msg)
	case *messages.ApplyStatus:
		c.applyStatus(ctx, msg)
	case *messages.GetConversation:
		if c.conv == nil {
			c.Fail(ctx, errNoConversation())
			return
		}
		ctx.Respond(conversationProto(c.conv))
	default:
		c.Unhandled(ctx, msg)
	}
}

func errNoConversation() error {
	return vayva.Errorf(vayva.ENOTFOUND, "No such conversation.")
}

// inboundTypes are the message types a ReceiveMessage may carry.
var inboundTypes = map[string]bool{
	vayva.MessageText: true, vayva.MessageInteractive: true, vayva.MessageImage: true, vayva.MessageDocument: true,
	vayva.MessageAudio: true, vayva.MessageVideo: true, vayva.MessageSticker: true, vayva.MessageUnsupported: true,
}

func (c *ConversationActor) receiveMessage(ctx actor.Context, m *messages.ReceiveMessage) {
	var v vayva.Validation
	v.Check(m.GetWamid() != "" && len(m.GetWamid()) <= 512, "wamid", "is required (at most 512 bytes)")
	v.Check(inboundTypes[m.GetType()], "type", "is not a known message type")
	v.Check(utf8.ValidString(m.GetText()) && len(m.GetText()) <= maxInboundText, "text", "must be valid UTF-8 of at most %d bytes", maxInboundText)
	if err := v.Err(); err != nil {
		c.Refuse(ctx, m.GetCommandId(), &messages.Received{}, err)
		return
	}
	if m.GetPhoneNumberId() != c.store.PhoneNumberID {
		// The store may have changed its number since this activation
		// loaded it; read it again before refusing.
		cctx, cancel := context.WithTimeout(context.Background(), storageTimeout)
		st, err := c.repo.LoadConversationStore(cctx, c.storeID)
		cancel()
		if err != nil && vayva.ErrorCode(err) != vayva.ENOTFOUND {
			c.Refuse(ctx, m.GetCommandId(), &messages.Received{}, err)
			return
		}
		if err == nil {
			c.store = st
		}
		if err != nil || m.GetPhoneNumberId() != c.store.PhoneNumberID {
			c.Refuse(ctx, m.GetCommandId(), &messages.Received{}, vayva.Errorf(vayva.ENOTFOUND,
				"WhatsApp number %s does not route to store %s.", m.GetPhoneNumberId(), c.storeID))
			return
		}
	}
	now := c.now()
	conv := c.nextConversation(now)
	if name := cleanName(m.GetCustomerName()); name != "" {
		conv.CustomerName = name
	}
	// The window opens when the customer wrote, per the provider, unless
	// that time is implausible (the future, or unset).
	wrote := now
	if s := m.GetSentAtUnixMs(); s > 0 {
		if t := time.UnixMilli(s).UTC(); t.Before(now) {
			wrote = t.Truncate(time.Microsecond)
		}
	}
	if wrote.After(conv.LastInboundAt) {
		conv.LastInboundAt = wrote
	}
	msg := &ChatMessage{
		ID: vayva.NewID("wam"), ConversationID: conv.ID, StoreID: c.storeID, Seq: conv.LastMessageSeq + 1,
		Direction: vayva.DirectionInbound, Origin: vayva.OriginCustomer, WAMID: m.GetWamid(),
		Type: m.GetType(), OriginalType: m.GetOriginalType(), Text: m.GetText(), ReplyID: m.GetReplyId(),
		ContextWAMID: m.GetContextWamid(), Status: vayva.StatusReceived, SentAt: wrote, CreatedAt: now,
	}
	if md := m.GetMedia(); md != nil && md.GetId() != "" {
		msg.Media = &vayva.Media{ID: md.GetId(), MIMEType: md.GetMimeType(), SHA256: md.GetSha256(), Filename: md.GetFilename()}
	}
	conv.LastMessageSeq, conv.LastMessageAt = msg.Seq, now
	recent := appendRecent(c.recent, msg)
	reply := &messages.Received{Conversation: conversationProto(conv), Message: chatMessageProto(msg)}
	for _, r := range recent {
		reply.History = append(reply.History, chatMessageProto(r))
	}
	c.Apply(ctx, Commit{
		CommandID: m.GetCommandId(),
		Domain:    vayva.DomainComm,
		Changes:   []Change{ConversationChange{Conversation: *conv}, ChatMessageChange{Message: *msg}},
	}, reply, func() {
		c.conv, c.recent = conv, recent
	})
}

// nextConversation returns a copy of the thread to change, a new one when
// the customer has not written before.
func (c *ConversationActor) nextConversation(now time.Time) *Conversation {
	if c.conv != nil {
		cp := *c.conv
		cp.UpdatedAt = now
		return &cp
	}
	return &Conversation{
		ID: vayva.NewID("conv"), StoreID: c.storeID, MerchantID: c.store.MerchantID, WAID: c.waID,
		PhoneNumberID: c.store.PhoneNumberID, Mode: vayva.ModeAI, CreatedAt: now, UpdatedAt: now,
	}
}

func appendRecent(recent []*ChatMessage, m *ChatMessage) []*ChatMessage {
	out := make([]*ChatMessage, 0, ConversationHistory)
	if len(recent) >= ConversationHistory {
		recent = recent[len(recent)-ConversationHistory+1:]
	}
	out = append(out, recent...)
	return append(out, m)
}

func cleanName(s string) string {
	s = strings.TrimSpace(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s))
	if !utf8.ValidString(s) {
		return ""
	}
	if utf8.RuneCountInString(s) > maxNameLength {
		s = string([]rune(s)[:maxNameLength])
	}
	return s
}

// handoffData is the data of a conversation.handoff webhook event.
type handoffData struct {
	ConversationID string `json:"conversation_id"`
	StoreID        string `json:"store_id"`
	Customer       struct {
		WAID string `json:"wa_id"`
		Name string `json:"name"`
	} `json:"customer"`
	Reason  string `json:"reason"`
	Message string `json:"message,omitempty"`
	At      string `json:"at"`
}

func (c *ConversationActor) handOff(ctx actor.Context, m *messages.HandOff) {
	if c.conv == nil {
		c.Refuse(ctx, m.GetCommandId(), &messages.Conversation{}, errNoConversation())
		return
	}
	if c.conv.Mode == vayva.ModeHuman {
		ctx.Respond(conversationProto(c.conv))
		return
	}
	now := c.now()
	conv := c.nextConversation(now)
	conv.Mode = vayva.ModeHuman
	conv.HandoffReason = truncateRunes(strings.TrimSpace(m.GetReason()), maxHandoffReason)
	d := handoffData{ConversationID: conv.ID, StoreID: conv.StoreID, Reason: conv.HandoffReason,
		Message: truncateRunes(m.GetTriggerText(), 500), At: now.Format(time.RFC3339)}
	d.Customer.WAID, d.Customer.Name = conv.WAID, conv.CustomerName
	data, err := json.Marshal(d)
	if err != nil {
		c.Fail(ctx, err)
		return
	}
	events := []vayva.Event{{
		Type: vayva.EventConversationHandoff, Queue: vayva.QueueWebhookDelivery, MerchantID: conv.MerchantID, Data: data,
	}}
	if c.store.OwnerEmail != "" {
		customer := conv.CustomerName
		if customer == "" {
			customer = "+" + conv.WAID
		}
		mail, err := json.Marshal(vayva.SendEmail{
			Template: vayva.EmailConversationHandoff, To: c.store.OwnerEmail, MerchantID: conv.MerchantID,
			Vars: map[string]string{
				"store_name": c.store.Name, "customer_name": customer, "customer_phone": "+" + conv.WAID,
				"reason": conv.HandoffReason, "message": d.Message, "conversation_id": conv.ID,
			},
		})
		if err != nil {
			c.Fail(ctx, err)
			return
		}
		events = append(events, vayva.Event{Type: vayva.EventSendEmail, Queue: vayva.QueueEmail, MerchantID: conv.MerchantID, Data: mail})
	}
	c.Apply(ctx, Commit{
		CommandID: m.GetCommandId(),
		Domain:    vayva.DomainComm,
		Changes:   []Change{ConversationChange{Conversation: *conv}},
		Events:    events,
	}, conversationProto(conv), func() { c.conv = conv })
}

func (c *ConversationActor) setMode(ctx actor.Context, m *messages.SetMode) {
	if m.GetMode() != vayva.ModeAI && m.GetMode() != vayva.ModeHuman {
		c.Refuse(ctx, m.GetCommandId(), &messages.Conversation{}, &vayva.Error{Code: vayva.EINVALID,
			Message: "The request has invalid fields.", Fields: []vayva.FieldError{{Field: "mode", Message: "must be ai or human"}}})
		return
	}
	if c.conv == nil {
		c.Refuse(ctx, m.GetCommandId(), &messages.Conversation{}, errNoConversation())
		return
	}
	if c.conv.Mode == m.GetMode() {
		ctx.Respond(conversationProto(c.conv))
		return
	}
	conv := c.nextConversation(c.now())
	conv.Mode = m.GetMode()
	if conv.Mode == vayva.ModeAI {
		conv.HandoffReason = ""
	} else {
		conv.HandoffReason = "set by a team member"
	}
	c.Apply(ctx, Commit{
		CommandID: m.GetCommandId(),
		Domain:    vayva.DomainComm,
		Changes:   []Change{ConversationChange{Conversation: *conv}},
	}, conversationProto(conv), func() { c.conv = conv })
}

func (c *ConversationActor) sendReply(ctx actor.Context, m *messages.SendReply) {
	if c.conv == nil {
		c.Refuse(ctx, m.GetCommandId(), &messages.Sent{}, errNoConversation())
		return
	}
	origin := m.GetOrigin()
	msg, err := planReply(m)
	if err != nil {
		c.Refuse(ctx, m.GetCommandId(), &messages.Sent{}, err)
		return
	}
	now := c.now()
	skip := ""
	switch {
	case origin == vayva.OriginAI && c.conv.Mode == vayva.ModeHuman:
		skip = "the conversation is in human mode; the AI stays silent"
	case msg.Template == nil && !c.conv.WindowOpen(now):
		if origin == vayva.OriginAI {
			skip = "the customer service window is closed"
			break
		}
		c.Refuse(ctx, m.GetCommandId(), &messages.Sent{}, windowClosed(c.conv))
		return
	}
	if skip != "" {
		// Recorded under the command id, so a retry is skipped alike even
		// if the mode has changed back since.
		c.Apply(ctx, Commit{CommandID: m.GetCommandId(), Domain: vayva.DomainComm},
			&messages.Sent{Skipped: true, SkipReason: skip, Conversation: conversationProto(c.conv)}, nil)
		return
	}
	conv := c.nextConversation(now)
	msg.ID, msg.ConversationID, msg.StoreID = vayva.NewID("wam"), conv.ID, c.storeID
	msg.Seq, msg.Origin, msg.AuthorID = conv.LastMessageSeq+1, origin, m.GetAuthorId()
	msg.Direction, msg.Status, msg.CreatedAt = vayva.DirectionOutbound, vayva.StatusQueued, now
	conv.LastMessageSeq, conv.LastMessageAt = msg.Seq, now
	data, err := json.Marshal(WhatsAppSend{Conversation: vayva.ConversationIdentity(c.storeID, c.waID), MessageID: msg.ID})
	if err != nil {
		c.Fail(ctx, err)
		return
	}
	recent := appendRecent(c.recent, msg)
	c.Apply(ctx, Commit{
		CommandID: m.GetCommandId(),
		Domain:    vayva.DomainComm,
		Changes:   []Change{ConversationChange{Conversation: *conv}, ChatMessageChange{Message: *msg}},
		Events: []vayva.Event{{
			Type: EventWhatsAppSend, Queue: vayva.QueueWhatsAppOutbound, MerchantID: conv.MerchantID,
			Key: vayva.ConversationKey(conv.PhoneNumberID, conv.WAID), Data: data,
		}},
	}, &messages.Sent{Message: chatMessageProto(msg), Conversation: conversationProto(conv)}, func() {
		c.conv, c.recent = conv, recent
		c.pending[msg.ID] = msg
	})
}

// windowClosed is the refusal of a free-form message outside the window.
func windowClosed(conv *Conversation) error {
	when := "The customer has not written yet"
	if exp := conv.WindowExpiresAt(); !exp.IsZero() {
		when = "The 24-hour customer service window closed at " + exp.UTC().Format(time.RFC3339)
	}
	return &vayva.Error{Code: vayva.ECONFLICT,
		Message: when + "; only a template message may be sent until the customer writes again.",
		Fields:  []vayva.FieldError{{Field: "text", Message: "is not allowed outside the customer service window; send a template"}}}
}

// planReply validates a reply's content and returns the message to store.
func planReply(m *messages.SendReply) (*ChatMessage, error) {
	var v vayva.Validation
	origin := m.GetOrigin()
	v.Check(origin == vayva.OriginAI || origin == vayva.OriginAgent, "origin", "must be ai or agent")
	msg := &ChatMessage{}
	text := strings.TrimSpace(m.GetText())
	switch t := m.GetTemplate(); {
	case t != nil && (text != "" || len(m.GetButtons()) > 0):
		v.Add("template", "cannot be sent together with text")
	case t != nil:
		v.Check(templateName.MatchString(t.GetName()), "template.name", "must be the template's name: lower-case letters, digits and '_'")
		v.Check(templateLanguage.MatchString(t.GetLanguage()), "template.language", "must be a language code such as en or en_US")
		msg.Type, msg.Template = vayva.MessageTemplate, &TemplateRef{Name: t.GetName(), Language: t.GetLanguage()}
		msg.Text = "template:" + t.GetName()
	default:
		switch n := utf8.RuneCountInString(text); {
		case n == 0:
			v.Add("text", "must not be blank")
		case n > MaxReplyText:
			v.Add("text", "must be at most %d characters", MaxReplyText)
		case !utf8.ValidString(text) || strings.ContainsRune(text, 0):
			v.Add("text", "must be valid UTF-8 without NUL characters")
		}
		msg.Type, msg.Text = vayva.MessageText, text
		if len(m.GetButtons()) > 0 {
			msg.Type = vayva.MessageInteractive
			v.Check(len(m.GetButtons()) <= MaxReplyButtons, "buttons", "must number at most %d", MaxReplyButtons)
			v.Check(utf8.RuneCountInString(text) <= 1024, "text", "must be at most 1024 characters with buttons")
			for i, b := range m.GetButtons() {
				if i >= MaxReplyButtons {
					break
				}
				f := fmt.Sprintf("buttons[%d]", i)
				v.Check(b.GetId() != "" && len(b.GetId()) <= MaxButtonID, f+".id", "must be 1-%d bytes", MaxButtonID)
				v.Check(b.GetTitle() != "" && utf8.RuneCountInString(b.GetTitle()) <= MaxButtonTitle, f+".title", "must be 1-%d characters", MaxButtonTitle)
				msg.Buttons = append(msg.Buttons, ReplyButton{ID: b.GetId(), Title: b.GetTitle()})
			}
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return msg, nil
}

func (c *ConversationActor) getOutbound(ctx actor.Context, m *messages.GetOutbound) {
	msg, ok := c.pending[m.GetMessageId()]
	if !ok || c.conv == nil {
		ctx.Respond(&messages.OutboundMessage{Pending: false})
		return
	}
	ctx.Respond(&messages.OutboundMessage{Pending: true, Message: chatMessageProto(msg), To: c.conv.WAID, PhoneNumberId: c.conv.PhoneNumberID})
}

func (c *ConversationActor) recordSent(ctx actor.Context, m *messages.RecordSent) {
	msg, ok := c.pending[m.GetMessageId()]
	if !ok {
		ctx.Respond(&messages.Ack{})
		return
	}
	if m.GetWamid() == "" || len(m.GetWamid()) > 512 {
		c.Refuse(ctx, m.GetCommandId(), &messages.Ack{}, vayva.Errorf(vayva.EINVALID, "A wamid is required."))
		return
	}
	at := c.now()
	c.Apply(ctx, Commit{
		CommandID: m.GetCommandId(),
		Domain:    vayva.DomainComm,
		Changes:   []Change{MessageSentChange{MessageID: msg.ID, WAMID: m.GetWamid(), At: at}},
	}, &messages.Ack{}, func() {
		delete(c.pending, msg.ID)
		cp := *msg
		cp.WAMID, cp.Status = m.GetWamid(), vayva.StatusSent
		c.replaceRecent(&cp)
	})
}

func (c *ConversationActor) recordSendFailed(ctx actor.Context, m *messages.RecordSendFailed) {
	msg, ok := c.pending[m.GetMessageId()]
	if !ok {
		ctx.Respond(&messages.Ack{})
		return
	}
	reason := truncateRunes(m.GetError(), 2000)
	c.Apply(ctx, Commit{
		CommandID: m.GetCommandId(),
		Domain:    vayva.DomainComm,
		Changes:   []Change{MessageFailedChange{MessageID: msg.ID, Error: reason, At: c.now()}},
	}, &messages.Ack{}, func() {
		delete(c.pending, msg.ID)
		cp := *msg
		cp.Status, cp.Error = vayva.StatusFailed, reason
		c.replaceRecent(&cp)
	})
}

func (c *ConversationActor) applyStatus(ctx actor.Context, m *messages.ApplyStatus) {
	switch m.GetStatus() {
	case vayva.StatusSent, vayva.StatusDelivered, vayva.StatusRead, vayva.StatusFailed:
	default:
		c.Refuse(ctx, m.GetCommandId(), &messages.Ack{}, vayva.Errorf(vayva.EINVALID, "Unknown delivery status %.40q.", m.GetStatus()))
		return
	}
	if m.GetWamid() == "" || len(m.GetWamid()) > 512 || c.conv == nil {
		c.Refuse(ctx, m.GetCommandId(), &messages.Ack{}, vayva.Errorf(vayva.EINVALID, "The status names no message of this conversation."))
		return
	}
	at := c.now()
	if ms := m.GetAtUnixMs(); ms > 0 {
		at = time.UnixMilli(ms).UTC()
	}
	c.Apply(ctx, Commit{
		CommandID: m.GetCommandId(),
		Domain:    vayva.DomainComm,
		Changes: []Change{MessageStatusChange{ConversationID: c.conv.ID, WAMID: m.GetWamid(), Status: m.GetStatus(), At: at,
			ErrorCode: int(m.GetErrorCode()), ErrorTitle: truncateRunes(m.GetErrorTitle(), 500)}},
	}, &messages.Ack{}, func() {
		for i, r := range c.recent {
			if r.WAMID == m.GetWamid() && vayva.StatusRank(m.GetStatus()) > vayva.StatusRank(r.Status) {
				cp := *r
				cp.Status = m.GetStatus()
				c.recent[i] = &cp
			}
		}
	})
}

// replaceRecent installs a changed copy of a recent message.
func (c *ConversationActor) replaceRecent(m *ChatMessage) {
	for i, r := range c.recent {
		if r.ID == m.ID {
			c.recent[i] = m
		}
	}
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
