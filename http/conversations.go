package http

import (
	"context"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
	"google.golang.org/protobuf/proto"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/cluster"
	"github.com/vayvahq/vayva/messages"
	"github.com/vayvahq/vayva/persistence/postgres"
)

// ConversationReader is the merchant inbox's read model of WhatsApp
// threads. Implemented by *postgres.Conversations.
type ConversationReader interface {
	ListConversations(ctx context.Context, storeID, mode string, limit int, cursor string) ([]actors.ConversationSummary, string, error)
	ConversationByID(ctx context.Context, storeID, id string) (actors.Conversation, error)
	ListMessages(ctx context.Context, conversationID string, limit int, cursor string) ([]*actors.ChatMessage, string, error)
}

var _ ConversationReader = (*postgres.Conversations)(nil)

// ConversationsArea is the merchant inbox: WhatsApp threads of the caller's
// store, their messages, a person's replies and the AI/human mode. Reads
// come from the comm read model; writes are commands to the conversation
// actor, whose identity the opaque conversation id maps to. Another
// store's conversation ids are not found.
type ConversationsArea struct {
	member *cluster.Member
	reader ConversationReader
}

// NewConversationsArea returns the area.
func NewConversationsArea(member *cluster.Member, reader ConversationReader) *ConversationsArea {
	return &ConversationsArea{member: member, reader: reader}
}

// Register adds the area's routes.
func (a *ConversationsArea) Register(r *Routes) {
	r.Handle("GET", "/v1/conversations", Merchant, a.list)
	r.Handle("GET", "/v1/conversations/{id}", Merchant, a.get)
	r.Handle("GET", "/v1/conversations/{id}/messages", Merchant, a.messages)
	r.Handle("POST", "/v1/conversations/{id}/messages", Merchant, a.send)
	r.Handle("POST", "/v1/conversations/{id}/mode", Merchant, a.setMode)
}

type conversationCustomerJSON struct {
	WAID  string `json:"wa_id"`
	Phone string `json:"phone"`
	Name  string `json:"name"`
}

type windowJSON struct {
	Open      bool    `json:"open"`
	ExpiresAt *string `json:"expires_at"`
}

type conversationJSON struct {
	ID            string                   `json:"id"`
	Customer      conversationCustomerJSON `json:"customer"`
	Mode          string                   `json:"mode"`
	HandoffReason string                   `json:"handoff_reason,omitempty"`
	Window        windowJSON               `json:"window"`
	LastMessage   *messageJSON             `json:"last_message"`
	LastMessageAt string                   `json:"last_message_at"`
	CreatedAt     string                   `json:"created_at"`
}

type buttonJSON struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

type templateJSON struct {
	Name     string `json:"name"`
	Language string `json:"language"`
}

type mediaJSON struct {
	ID       string `json:"id"`
	MIMEType string `json:"mime_type,omitempty"`
	Filename string `json:"filename,omitempty"`
}

type messageJSON struct {
	ID           string        `json:"id"`
	Seq          int64         `json:"seq"`
	Direction    string        `json:"direction"`
	Origin       string        `json:"origin"`
	Type         string        `json:"type"`
	OriginalType string        `json:"original_type,omitempty"`
	Text         string        `json:"text"`
	ReplyID      string        `json:"reply_id,omitempty"`
	Media        *mediaJSON    `json:"media,omitempty"`
	Buttons      []buttonJSON  `json:"buttons,omitempty"`
	Template     *templateJSON `json:"template,omitempty"`
	WAMID        *string       `json:"wamid"`
	Status       string        `json:"status"`
	Error        string        `json:"error,omitempty"`
	CreatedAt    string        `json:"created_at"`
}

func conversationView(c actors.Conversation, last *actors.ChatMessage, now time.Time) conversationJSON {
	out := conversationJSON{
		ID: c.ID, Customer: conversationCustomerJSON{WAID: c.WAID, Phone: "+" + c.WAID, Name: c.CustomerName},
		Mode: c.Mode, HandoffReason: c.HandoffReason, Window: windowJSON{Open: c.WindowOpen(now)},
		LastMessageAt: timeJSON(c.LastMessageAt), CreatedAt: timeJSON(c.CreatedAt),
	}
	if exp := c.WindowExpiresAt(); !exp.IsZero() {
		s := timeJSON(exp)
		out.Window.ExpiresAt = &s
	}
	if last != nil {
		m := messageView(last)
		out.LastMessage = &m
	}
	return out
}

func messageView(m *actors.ChatMessage) messageJSON {
	out := messageJSON{
		ID: m.ID, Seq: m.Seq, Direction: m.Direction, Origin: m.Origin, Type: m.Type, OriginalType: m.OriginalType,
		Text: m.Text, ReplyID: m.ReplyID, Status: m.Status, Error: m.Error, CreatedAt: timeJSON(m.CreatedAt),
	}
	if m.WAMID != "" {
		w := m.WAMID
		out.WAMID = &w
	}
	if m.Media != nil {
		out.Media = &mediaJSON{ID: m.Media.ID, MIMEType: m.Media.MIMEType, Filename: m.Media.Filename}
	}
	for _, b := range m.Buttons {
		out.Buttons = append(out.Buttons, buttonJSON(b))
	}
	if m.Template != nil {
		out.Template = &templateJSON{Name: m.Template.Name, Language: m.Template.Language}
	}
	return out
}

// conversationFromProto is the actor's view of a thread as the read model
// would have it.
func conversationFromProto(p *messages.Conversation) actors.Conversation {
	c := actors.Conversation{
		ID: p.GetId(), StoreID: p.GetStoreId(), WAID: p.GetWaId(), CustomerName: p.GetCustomerName(), Mode: p.GetMode(),
		HandoffReason: p.GetHandoffReason(), CreatedAt: time.UnixMilli(p.GetCreatedAtUnixMs()).UTC(),
		LastMessageAt: time.UnixMilli(p.GetUpdatedAtUnixMs()).UTC(),
	}
	if ms := p.GetLastInboundAtUnixMs(); ms > 0 {
		c.LastInboundAt = time.UnixMilli(ms).UTC()
	}
	return c
}

func (a *ConversationsArea) list(ctx context.Context, rc *fasthttp.RequestCtx) error {
	limit, cursor, err := pageParams(rc)
	if err != nil {
		return err
	}
	mode := string(rc.QueryArgs().Peek("mode"))
	if mode != "" && mode != vayva.ModeAI && mode != vayva.ModeHuman {
		return &vayva.Error{Code: vayva.EINVALID, Message: "The request has invalid fields.",
			Fields: []vayva.FieldError{{Field: "mode", Message: "must be ai or human"}}}
	}
	if a.reader == nil {
		return vayva.Errorf(vayva.EUNAVAILABLE, "Conversations are not available on this node.")
	}
	items, next, err := a.reader.ListConversations(ctx, tenantOf(ctx).StoreID, mode, limit, cursor)
	if err != nil {
		return err
	}
	now := time.Now()
	return writeJSON(rc, fasthttp.StatusOK, mapList(items, next, func(s actors.ConversationSummary) conversationJSON {
		return conversationView(s.Conversation, s.Last, now)
	}))
}

// lookup finds the caller's conversation named in the path.
func (a *ConversationsArea) lookup(ctx context.Context, rc *fasthttp.RequestCtx) (actors.Conversation, error) {
	if a.reader == nil {
		return actors.Conversation{}, vayva.Errorf(vayva.EUNAVAILABLE, "Conversations are not available on this node.")
	}
	id, _ := rc.UserValue("id").(string)
	return a.reader.ConversationByID(ctx, tenantOf(ctx).StoreID, id)
}

func (a *ConversationsArea) get(ctx context.Context, rc *fasthttp.RequestCtx) error {
	c, err := a.lookup(ctx, rc)
	if err != nil {
		return err
	}
	msgs, _, err := a.reader.ListMessages(ctx, c.ID, 1, lastCursor(c.LastMessageSeq))
	if err != nil {
		return err
	}
	var last *actors.ChatMessage
	if len(msgs) > 0 {
		last = msgs[0]
	}
	return writeJSON(rc, fasthttp.StatusOK, conversationView(c, last, time.Now()))
}

// lastCursor is the message cursor just before seq.
func lastCursor(seq int64) string {
	if seq <= 1 {
		return ""
	}
	return "m" + strconv.FormatInt(seq-1, 10)
}

func (a *ConversationsArea) messages(ctx context.Context, rc *fasthttp.RequestCtx) error {
	limit, cursor, err := pageParams(rc)
	if err != nil {
		return err
	}
	c, err := a.lookup(ctx, rc)
	if err != nil {
		return err
	}
	msgs, next, err := a.reader.ListMessages(ctx, c.ID, limit, cursor)
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusOK, mapList(msgs, next, messageView))
}

func conversationCall[T proto.Message](ctx context.Context, a *ConversationsArea, c actors.Conversation, msg proto.Message) (T, error) {
	if a.member == nil {
		var zero T
		return zero, vayva.Errorf(vayva.EUNAVAILABLE, "This node runs no cluster member.")
	}
	return cluster.Request[T](ctx, a.member, actors.ConversationKind, vayva.ConversationIdentity(c.StoreID, c.WAID), msg)
}

type sendMessageRequest struct {
	Text     *string `json:"text"`
	Template *struct {
		Name     *string `json:"name"`
		Language *string `json:"language"`
	} `json:"template"`
}

// send serves POST /v1/conversations/{id}/messages: a person's reply,
// queued for whatsapp-outbound. Free-form text needs the customer service
// window open; a template ({template: {name, language}}) does not.
func (a *ConversationsArea) send(ctx context.Context, rc *fasthttp.RequestCtx) error {
	var req sendMessageRequest
	if err := decodeJSON(rc, &req); err != nil {
		return err
	}
	var v vayva.Validation
	cmd := &messages.SendReply{Origin: vayva.OriginAgent, AuthorId: tenantOf(ctx).UserID}
	switch {
	case req.Template != nil && req.Text != nil:
		v.Add("template", "cannot be sent together with text")
	case req.Template != nil:
		v.Check(req.Template.Name != nil, "template.name", "is required")
		v.Check(req.Template.Language != nil, "template.language", "is required")
		if req.Template.Name != nil && req.Template.Language != nil {
			cmd.Template = &messages.TemplateRef{Name: *req.Template.Name, Language: *req.Template.Language}
		}
	case req.Text != nil:
		cmd.Text = *req.Text
	default:
		v.Add("text", "is required (or a template)")
	}
	if err := v.Err(); err != nil {
		return err
	}
	c, err := a.lookup(ctx, rc)
	if err != nil {
		return err
	}
	cmd.CommandId = commandID(rc, "conversations.send")
	sent, err := conversationCall[*messages.Sent](ctx, a, c, cmd)
	if err != nil {
		return err
	}
	m := sent.GetMessage()
	msg := &actors.ChatMessage{ID: m.GetId(), Seq: m.GetSeq(), Direction: m.GetDirection(), Origin: m.GetOrigin(),
		Type: m.GetType(), Text: m.GetText(), Status: m.GetStatus(), CreatedAt: time.UnixMilli(m.GetCreatedAtUnixMs()).UTC()}
	if t := m.GetTemplate(); t != nil {
		msg.Template = &actors.TemplateRef{Name: t.GetName(), Language: t.GetLanguage()}
	}
	return writeJSON(rc, fasthttp.StatusAccepted, messageView(msg))
}

type setModeRequest struct {
	Mode *string `json:"mode"`
}

func (a *ConversationsArea) setMode(ctx context.Context, rc *fasthttp.RequestCtx) error {
	var req setModeRequest
	if err := decodeJSON(rc, &req); err != nil {
		return err
	}
	if req.Mode == nil || (*req.Mode != vayva.ModeAI && *req.Mode != vayva.ModeHuman) {
		return &vayva.Error{Code: vayva.EINVALID, Message: "The request has invalid fields.",
			Fields: []vayva.FieldError{{Field: "mode", Message: "must be ai or human"}}}
	}
	c, err := a.lookup(ctx, rc)
	if err != nil {
		return err
	}
	p, err := conversationCall[*messages.Conversation](ctx, a, c, &messages.SetMode{
		CommandId: commandID(rc, "conversations.mode"), Mode: *req.Mode, AuthorId: tenantOf(ctx).UserID,
	})
	if err != nil {
		return err
	}
	cur := conversationFromProto(p)
	cur.LastMessageAt = c.LastMessageAt
	return writeJSON(rc, fasthttp.StatusOK, conversationView(cur, nil, time.Now()))
}
