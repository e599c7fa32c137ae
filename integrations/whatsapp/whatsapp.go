package whatsapp

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"unicode/utf8"

	"github.com/vayvahq/vayva"
)

// Limits Meta sets on message content, in characters.
const (
	MaxTextBody        = 4096
	MaxInteractiveBody = 1024
	MaxHeaderText      = 60
	MaxFooterText      = 60
	MaxButtons         = 3
	MaxButtonTitle     = 20
	MaxButtonID        = 256
	MaxListButton      = 20
	MaxListSections    = 10
	MaxListRows        = 10
	MaxRowTitle        = 24
	MaxRowDescription  = 72
	MaxRowID           = 200
)

// Button is a reply button; a tap comes back as an inbound message whose
// InteractiveReplyID is ID.
type Button struct {
	ID    string
	Title string
}

// Row is one choice of a list message.
type Row struct {
	ID          string
	Title       string
	Description string
}

// Section groups rows of a list message.
type Section struct {
	Title string
	Rows  []Row
}

// List is the menu of a list message: Button opens it.
type List struct {
	Button   string
	Sections []Section
}

// Interactive is a reply-button message (Buttons set) or a list message
// (List set).
type Interactive struct {
	// Header is an optional text header.
	Header string
	// Body is required.
	Body    string
	Footer  string
	Buttons []Button
	List    *List
}

// Template is an approved message template, the only kind of message
// allowed outside the 24-hour customer service window.
type Template struct {
	Name string
	// Language is the template's language code, for example "en_US".
	Language   string
	Components []TemplateComponent
}

// TemplateComponent fills the parameters of one part of a template.
type TemplateComponent struct {
	// Type is "header", "body" or "button".
	Type string `json:"type"`
	// SubType ("quick_reply", "url") and Index apply to buttons.
	SubType    string              `json:"sub_type,omitempty"`
	Index      string              `json:"index,omitempty"`
	Parameters []TemplateParameter `json:"parameters,omitempty"`
}

// TemplateParameter is one value substituted into a template.
type TemplateParameter struct {
	// Type is "text" or "payload".
	Type    string `json:"type"`
	Text    string `json:"text,omitempty"`
	Payload string `json:"payload,omitempty"`
}

// sendResponse is the answer to a send.
type sendResponse struct {
	MessagingProduct string `json:"messaging_product"`
	Contacts         []struct {
		Input string `json:"input"`
		WAID  string `json:"wa_id"`
	} `json:"contacts"`
	Messages []struct {
		ID string `json:"id"`
	} `json:"messages"`
}

// SendText sends a text message from the business number phoneNumberID to
// the customer to, and returns its wamid.
func (c *Client) SendText(ctx context.Context, phoneNumberID, to, body string) (string, error) {
	var v vayva.Validation
	checkAddress(&v, phoneNumberID, to)
	v.Check(body != "", "body", "is required")
	v.Check(utf8.RuneCountInString(body) <= MaxTextBody, "body", "must be at most %d characters", MaxTextBody)
	if err := v.Err(); err != nil {
		return "", fmt.Errorf("whatsapp: send text: %w", err)
	}
	msg := map[string]any{
		"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "text",
		"text": map[string]any{"preview_url": false, "body": body},
	}
	id, err := c.send(ctx, phoneNumberID, msg)
	if err != nil {
		return "", fmt.Errorf("whatsapp: send text: %w", err)
	}
	return id, nil
}

// SendInteractive sends a reply-button or list message and returns its
// wamid.
func (c *Client) SendInteractive(ctx context.Context, phoneNumberID, to string, m Interactive) (string, error) {
	var v vayva.Validation
	checkAddress(&v, phoneNumberID, to)
	checkInteractive(&v, m)
	if err := v.Err(); err != nil {
		return "", fmt.Errorf("whatsapp: send interactive: %w", err)
	}
	inter := map[string]any{"body": map[string]string{"text": m.Body}}
	if m.Header != "" {
		inter["header"] = map[string]string{"type": "text", "text": m.Header}
	}
	if m.Footer != "" {
		inter["footer"] = map[string]string{"text": m.Footer}
	}
	if m.List != nil {
		inter["type"] = "list"
		sections := make([]map[string]any, 0, len(m.List.Sections))
		for _, s := range m.List.Sections {
			rows := make([]map[string]string, 0, len(s.Rows))
			for _, r := range s.Rows {
				row := map[string]string{"id": r.ID, "title": r.Title}
				if r.Description != "" {
					row["description"] = r.Description
				}
				rows = append(rows, row)
			}
			sec := map[string]any{"rows": rows}
			if s.Title != "" {
				sec["title"] = s.Title
			}
			sections = append(sections, sec)
		}
		inter["action"] = map[string]any{"button": m.List.Button, "sections": sections}
	} else {
		inter["type"] = "button"
		buttons := make([]map[string]any, 0, len(m.Buttons))
		for _, b := range m.Buttons {
			buttons = append(buttons, map[string]any{"type": "reply", "reply": map[string]string{"id": b.ID, "title": b.Title}})
		}
		inter["action"] = map[string]any{"buttons": buttons}
	}
	msg := map[string]any{
		"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "interactive",
		"interactive": inter,
	}
	id, err := c.send(ctx, phoneNumberID, msg)
	if err != nil {
		return "", fmt.Errorf("whatsapp: send interactive: %w", err)
	}
	return id, nil
}

// SendTemplate sends a template message and returns its wamid.
func (c *Client) SendTemplate(ctx context.Context, phoneNumberID, to string, t Template) (string, error) {
	var v vayva.Validation
	checkAddress(&v, phoneNumberID, to)
	v.Check(t.Name != "", "template.name", "is required")
	v.Check(t.Language != "", "template.language", "is required")
	if err := v.Err(); err != nil {
		return "", fmt.Errorf("whatsapp: send template: %w", err)
	}
	tmpl := map[string]any{"name": t.Name, "language": map[string]string{"code": t.Language}}
	if len(t.Components) > 0 {
		tmpl["components"] = t.Components
	}
	msg := map[string]any{
		"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "template",
		"template": tmpl,
	}
	id, err := c.send(ctx, phoneNumberID, msg)
	if err != nil {
		return "", fmt.Errorf("whatsapp: send template: %w", err)
	}
	return id, nil
}

// MarkRead marks an inbound message as read (blue ticks). Repeating it is
// harmless, so it is retried after any transient failure.
func (c *Client) MarkRead(ctx context.Context, phoneNumberID, wamid string) error {
	if phoneNumberID == "" || wamid == "" {
		return fmt.Errorf("whatsapp: mark read: %w", vayva.Errorf(vayva.EINVALID, "phone number id and wamid are required"))
	}
	msg := map[string]any{"messaging_product": "whatsapp", "status": "read", "message_id": wamid}
	if err := c.call(ctx, http.MethodPost, "/"+url.PathEscape(phoneNumberID)+"/messages", msg, nil, retrySafe); err != nil {
		return fmt.Errorf("whatsapp: mark read: %w", err)
	}
	return nil
}

func (c *Client) send(ctx context.Context, phoneNumberID string, msg map[string]any) (string, error) {
	var out sendResponse
	if err := c.call(ctx, http.MethodPost, "/"+url.PathEscape(phoneNumberID)+"/messages", msg, &out, retryUnsafe); err != nil {
		return "", err
	}
	if len(out.Messages) == 0 || out.Messages[0].ID == "" {
		return "", &Error{StatusCode: http.StatusOK, Message: "answer without a message id"}
	}
	return out.Messages[0].ID, nil
}

func checkAddress(v *vayva.Validation, phoneNumberID, to string) {
	v.Check(phoneNumberID != "" && isDigits(phoneNumberID), "phone_number_id", "must be a numeric id")
	t := to
	if len(t) > 0 && t[0] == '+' {
		t = t[1:]
	}
	v.Check(len(t) >= 5 && len(t) <= 20 && isDigits(t), "to", "must be a phone number in international format")
}

func checkInteractive(v *vayva.Validation, m Interactive) {
	v.Check(m.Body != "", "interactive.body", "is required")
	v.Check(runes(m.Body) <= MaxInteractiveBody, "interactive.body", "must be at most %d characters", MaxInteractiveBody)
	v.Check(runes(m.Header) <= MaxHeaderText, "interactive.header", "must be at most %d characters", MaxHeaderText)
	v.Check(runes(m.Footer) <= MaxFooterText, "interactive.footer", "must be at most %d characters", MaxFooterText)
	switch {
	case m.List != nil && len(m.Buttons) > 0:
		v.Add("interactive", "must have buttons or a list, not both")
	case m.List != nil:
		l := m.List
		v.Check(l.Button != "" && runes(l.Button) <= MaxListButton, "interactive.list.button", "must be 1-%d characters", MaxListButton)
		v.Check(len(l.Sections) >= 1 && len(l.Sections) <= MaxListSections, "interactive.list.sections", "must number 1-%d", MaxListSections)
		rows := 0
		for i, s := range l.Sections {
			v.Check(runes(s.Title) <= MaxRowTitle, fmt.Sprintf("interactive.list.sections[%d].title", i), "must be at most %d characters", MaxRowTitle)
			v.Check(len(l.Sections) == 1 || s.Title != "", fmt.Sprintf("interactive.list.sections[%d].title", i), "is required when there are several sections")
			v.Check(len(s.Rows) > 0, fmt.Sprintf("interactive.list.sections[%d].rows", i), "must not be empty")
			for j, r := range s.Rows {
				f := fmt.Sprintf("interactive.list.sections[%d].rows[%d]", i, j)
				v.Check(r.ID != "" && runes(r.ID) <= MaxRowID, f+".id", "must be 1-%d characters", MaxRowID)
				v.Check(r.Title != "" && runes(r.Title) <= MaxRowTitle, f+".title", "must be 1-%d characters", MaxRowTitle)
				v.Check(runes(r.Description) <= MaxRowDescription, f+".description", "must be at most %d characters", MaxRowDescription)
			}
			rows += len(s.Rows)
		}
		v.Check(rows <= MaxListRows, "interactive.list", "must have at most %d rows", MaxListRows)
	default:
		v.Check(len(m.Buttons) >= 1 && len(m.Buttons) <= MaxButtons, "interactive.buttons", "must number 1-%d", MaxButtons)
		for i, b := range m.Buttons {
			f := fmt.Sprintf("interactive.buttons[%d]", i)
			v.Check(b.ID != "" && runes(b.ID) <= MaxButtonID, f+".id", "must be 1-%d characters", MaxButtonID)
			v.Check(b.Title != "" && runes(b.Title) <= MaxButtonTitle, f+".title", "must be 1-%d characters", MaxButtonTitle)
		}
	}
}

func runes(s string) int { return utf8.RuneCountInString(s) }

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
