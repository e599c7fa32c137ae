package sandbox

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/vayvahq/vayva"
)

// serviceWindow is WhatsApp's customer service window: outside it only
// templates are delivered.
const serviceWindow = 24 * time.Hour

// sandboxWABAID is the WhatsApp Business Account id in fake webhooks.
const sandboxWABAID = "100000000000000"

// OutboxMessage is a message sent through the fake Cloud API.
type OutboxMessage struct {
	WAMID         string          `json:"id"`
	PhoneNumberID string          `json:"phone_number_id"`
	To            string          `json:"to"`
	Type          string          `json:"type"`
	Text          string          `json:"text,omitempty"`
	Status        string          `json:"status"`
	Request       json.RawMessage `json:"request"`
	CreatedAt     time.Time       `json:"created_at"`
}

// whatsappFake is the fake Cloud API, its outbox and the inbound simulator.
type whatsappFake struct {
	cfg      Config
	webhooks *webhookLog

	mu          sync.Mutex // guards everything below
	outbox      *store[*OutboxMessage]
	lastInbound *store[time.Time] // by phone_number_id + "/" + customer
}

func newWhatsAppFake(cfg Config, wl *webhookLog) *whatsappFake {
	return &whatsappFake{
		cfg: cfg, webhooks: wl,
		outbox:      newStore[*OutboxMessage](cfg.MaxRecords),
		lastInbound: newStore[time.Time](cfg.MaxRecords),
	}
}

func (f *whatsappFake) routes(mux *routeMux) {
	mux.HandleFunc("POST "+WhatsAppAPIPrefix+"/{version}/{phone_number_id}/messages", f.handleSend)
	mux.HandleFunc("GET /sandbox/whatsapp/outbox", f.handleOutbox)
	mux.HandleFunc("POST /sandbox/whatsapp/inbound", f.handleInbound)
	mux.HandleFunc("POST /sandbox/whatsapp/subscribe", f.handleSubscribe)
}

// Outbox returns the messages sent through the fake Cloud API, newest
// first; when to is set, only those sent to it.
func (s *Sandbox) Outbox(to string) []OutboxMessage {
	return s.whatsapp.list(to, "", s.cfg.MaxRecords)
}

func (f *whatsappFake) list(to, phoneNumberID string, limit int) []OutboxMessage {
	to = strings.TrimPrefix(to, "+")
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []OutboxMessage{}
	for _, m := range f.outbox.newest(limit, func(m *OutboxMessage) bool {
		return (to == "" || strings.TrimPrefix(m.To, "+") == to) && (phoneNumberID == "" || m.PhoneNumberID == phoneNumberID)
	}) {
		out = append(out, *m)
	}
	return out
}

func graphError(w http.ResponseWriter, status, code int, typ, msg, details string) {
	e := map[string]any{"message": msg, "type": typ, "code": code, "fbtrace_id": randomBase64(12)}
	if details != "" {
		e["error_data"] = map[string]any{"messaging_product": "whatsapp", "details": details}
	}
	writeJSON(w, status, map[string]any{"error": e})
}

func invalidParam(w http.ResponseWriter, details string) {
	graphError(w, http.StatusBadRequest, 100, "OAuthException", "(#100) Invalid parameter", details)
}

func newWAMID() string { return "wamid.HBgL" + randomBase64(30) }

func digitsOnly(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

type waMessage struct {
	MessagingProduct string `json:"messaging_product"`
	RecipientType    string `json:"recipient_type"`
	To               string `json:"to"`
	Type             string `json:"type"`
	Status           string `json:"status"`
	MessageID        string `json:"message_id"`
	Text             *struct {
		Body       string `json:"body"`
		PreviewURL bool   `json:"preview_url"`
	} `json:"text"`
	Interactive *struct {
		Type string `json:"type"`
		Body struct {
			Text string `json:"text"`
		} `json:"body"`
		Header *struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"header"`
		Footer *struct {
			Text string `json:"text"`
		} `json:"footer"`
		Action struct {
			Button  string `json:"button"`
			Buttons []struct {
				Type  string `json:"type"`
				Reply struct {
					ID    string `json:"id"`
					Title string `json:"title"`
				} `json:"reply"`
			} `json:"buttons"`
			Sections []struct {
				Title string `json:"title"`
				Rows  []struct {
					ID          string `json:"id"`
					Title       string `json:"title"`
					Description string `json:"description"`
				} `json:"rows"`
			} `json:"sections"`
		} `json:"action"`
	} `json:"interactive"`
	Template *struct {
		Name     string `json:"name"`
		Language struct {
			Code string `json:"code"`
		} `json:"language"`
	} `json:"template"`
}

// check validates a send the way the Cloud API does and returns the text
// to show in the outbox.
func (m *waMessage) check() (string, string) {
	runes := utf8.RuneCountInString
	switch m.Type {
	case "text":
		if m.Text == nil || m.Text.Body == "" {
			return "", "text.body is required"
		}
		if runes(m.Text.Body) > 4096 {
			return "", "text.body is longer than 4096 characters"
		}
		return m.Text.Body, ""
	case "interactive":
		in := m.Interactive
		if in == nil || in.Body.Text == "" {
			return "", "interactive.body.text is required"
		}
		if runes(in.Body.Text) > 1024 {
			return "", "interactive.body.text is longer than 1024 characters"
		}
		if in.Header != nil && runes(in.Header.Text) > 60 || in.Footer != nil && runes(in.Footer.Text) > 60 {
			return "", "interactive header and footer are limited to 60 characters"
		}
		switch in.Type {
		case "button":
			bs := in.Action.Buttons
			if len(bs) < 1 || len(bs) > 3 {
				return "", "interactive.action.buttons must have 1 to 3 buttons"
			}
			seen := map[string]bool{}
			for _, b := range bs {
				if b.Type != "reply" || b.Reply.ID == "" || runes(b.Reply.ID) > 256 || b.Reply.Title == "" || runes(b.Reply.Title) > 20 {
					return "", "each button needs type reply, an id (at most 256 characters) and a title (at most 20)"
				}
				if seen[b.Reply.ID] || seen["title:"+b.Reply.Title] {
					return "", "button ids and titles must be unique"
				}
				seen[b.Reply.ID], seen["title:"+b.Reply.Title] = true, true
			}
		case "list":
			a := in.Action
			if a.Button == "" || runes(a.Button) > 20 {
				return "", "interactive.action.button must be 1 to 20 characters"
			}
			if len(a.Sections) < 1 || len(a.Sections) > 10 {
				return "", "interactive.action.sections must have 1 to 10 sections"
			}
			rows := 0
			for _, s := range a.Sections {
				if len(a.Sections) > 1 && s.Title == "" || runes(s.Title) > 24 {
					return "", "section titles are required with several sections and limited to 24 characters"
				}
				for _, r := range s.Rows {
					if r.ID == "" || runes(r.ID) > 200 || r.Title == "" || runes(r.Title) > 24 || runes(r.Description) > 72 {
						return "", "each row needs an id (at most 200 characters), a title (at most 24) and a description of at most 72"
					}
				}
				rows += len(s.Rows)
			}
			if rows < 1 || rows > 10 {
				return "", "a list must have 1 to 10 rows in total"
			}
		default:
			return "", "interactive.type must be button or list"
		}
		return in.Body.Text, ""
	case "template":
		if m.Template == nil || m.Template.Name == "" || m.Template.Language.Code == "" {
			return "", "template.name and template.language.code are required"
		}
		return "template:" + m.Template.Name, ""
	case "image", "video", "audio", "document", "sticker", "location", "contacts", "reaction":
		return "", ""
	case "":
		return "", "type is required"
	default:
		return "", "unsupported message type " + strconv.Quote(m.Type)
	}
}

func (f *whatsappFake) handleSend(w http.ResponseWriter, r *http.Request) {
	token := bearer(r)
	if token == "" || !hmac.Equal([]byte(token), []byte(f.cfg.WhatsAppAccessToken)) {
		graphError(w, http.StatusUnauthorized, 190, "OAuthException", "Invalid OAuth access token - Cannot parse access token", "")
		return
	}
	// Cloned: on the node's edge the path aliases a request buffer that is
	// reused once the handler returns, and the status webhooks outlive it.
	pnid := strings.Clone(r.PathValue("phone_number_id"))
	if !digitsOnly(pnid) {
		graphError(w, http.StatusBadRequest, 100, "GraphMethodException",
			fmt.Sprintf("Unsupported post request. Object with ID '%s' does not exist", pnid), "")
		return
	}
	var m waMessage
	raw := json.RawMessage{}
	if err := readJSON(w, r, &raw); err != nil {
		invalidParam(w, err.Error())
		return
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		invalidParam(w, err.Error())
		return
	}
	if m.MessagingProduct != "whatsapp" {
		invalidParam(w, "messaging_product must be whatsapp")
		return
	}
	if m.Status == "read" {
		if m.MessageID == "" {
			invalidParam(w, "message_id is required")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"success": true})
		return
	}
	to := strings.TrimPrefix(m.To, "+")
	if !digitsOnly(to) || len(to) < 5 || len(to) > 20 {
		invalidParam(w, "to must be a phone number")
		return
	}
	text, problem := m.check()
	if problem != "" {
		invalidParam(w, problem)
		return
	}
	now := f.cfg.Now().UTC()
	msg := &OutboxMessage{
		WAMID: newWAMID(), PhoneNumberID: pnid, To: to, Type: m.Type, Text: text, Status: "accepted",
		Request: raw, CreatedAt: now,
	}
	f.mu.Lock()
	last, seen := f.lastInbound.get(pnid + "/" + to)
	inWindow := seen && now.Sub(last) < serviceWindow
	f.outbox.put(msg.WAMID, msg)
	f.mu.Unlock()

	writeJSON(w, http.StatusOK, map[string]any{
		"messaging_product": "whatsapp",
		"contacts":          []map[string]string{{"input": m.To, "wa_id": to}},
		"messages":          []map[string]string{{"id": msg.WAMID}},
	})
	if f.cfg.DisableWhatsAppStatuses {
		return
	}
	// As a customer's phone would: the message is sent, delivered and read.
	statuses := []string{"sent", "delivered", "read"}
	if m.Type != "template" && !inWindow {
		statuses = []string{"failed"}
	}
	f.webhooks.spawn(func(ctx context.Context) {
		for _, st := range statuses {
			f.mu.Lock()
			msg.Status = st
			f.mu.Unlock()
			body := f.statusPayload(msg, st)
			d := f.webhooks.record("whatsapp", "status."+st, f.cfg.NodeURL+WhatsAppWebhookPath, body, f.signedHeader(body))
			f.webhooks.deliver(ctx, d)
			if ctx.Err() != nil {
				return
			}
		}
	})
}

// statusPayload builds the status notification of msg.
func (f *whatsappFake) statusPayload(msg *OutboxMessage, status string) []byte {
	s := map[string]any{
		"id": msg.WAMID, "status": status, "timestamp": strconv.FormatInt(f.cfg.Now().Unix(), 10),
		"recipient_id": msg.To,
	}
	if status == "failed" {
		s["errors"] = []map[string]any{{
			"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message",
			"error_data": map[string]any{"details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."},
		}}
	} else {
		s["pricing"] = map[string]any{"billable": true, "pricing_model": "PMP", "category": "service"}
	}
	return f.envelope(msg.PhoneNumberID, map[string]any{"statuses": []any{s}})
}

// envelope wraps a change value in Meta's notification envelope.
func (f *whatsappFake) envelope(phoneNumberID string, value map[string]any) []byte {
	value["messaging_product"] = "whatsapp"
	value["metadata"] = map[string]any{"display_phone_number": "1555" + lastDigits(phoneNumberID, 7), "phone_number_id": phoneNumberID}
	body, _ := json.Marshal(map[string]any{
		"object": "whatsapp_business_account",
		"entry":  []any{map[string]any{"id": sandboxWABAID, "changes": []any{map[string]any{"field": "messages", "value": value}}}},
	})
	return body
}

func lastDigits(s string, n int) string {
	if len(s) >= n {
		return s[len(s)-n:]
	}
	return strings.Repeat("0", n-len(s)) + s
}

func (f *whatsappFake) signedHeader(body []byte) http.Header {
	m := hmac.New(sha256.New, []byte(f.cfg.WhatsAppAppSecret))
	m.Write(body)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	h.Set("User-Agent", "facebookexternalua")
	return h
}

func (f *whatsappFake) handleOutbox(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	writeJSON(w, http.StatusOK, map[string]any{
		"data":        f.list(q.Get("to"), q.Get("phone_number_id"), limitParam(r, f.cfg.MaxRecords)),
		"next_cursor": nil,
	})
}

// handleInbound simulates a customer writing to a business number: it
// builds Meta's notification, signs it and posts it to the node.
func (f *whatsappFake) handleInbound(w http.ResponseWriter, r *http.Request) {
	var in struct {
		PhoneNumberID string `json:"phone_number_id"`
		From          string `json:"from"`
		Name          string `json:"name"`
		Text          string `json:"text"`
		// ButtonReplyID or ListReplyID simulate a tap on an interactive
		// message; ReplyTitle is the tapped title.
		ButtonReplyID string `json:"button_reply_id"`
		ListReplyID   string `json:"list_reply_id"`
		ReplyTitle    string `json:"reply_title"`
		ContextID     string `json:"context_id"`
	}
	if !readControlJSON(w, r, &in, false) {
		return
	}
	if in.PhoneNumberID == "" {
		in.PhoneNumberID = f.cfg.WhatsAppPhoneNumberID
	}
	in.From = strings.TrimPrefix(in.From, "+")
	switch {
	case !digitsOnly(in.PhoneNumberID):
		invalidField(w, "phone_number_id", "must be numeric")
		return
	case !digitsOnly(in.From) || len(in.From) < 5 || len(in.From) > 20:
		invalidField(w, "from", "must be a phone number")
		return
	case in.Text == "" && in.ButtonReplyID == "" && in.ListReplyID == "":
		invalidField(w, "text", "is required unless button_reply_id or list_reply_id is given")
		return
	case utf8.RuneCountInString(in.Text) > 4096:
		invalidField(w, "text", "must be at most 4096 characters")
		return
	case len(in.Name) > 256:
		invalidField(w, "name", "must be at most 256 bytes")
		return
	}
	if in.Name == "" {
		in.Name = "Sandbox Customer"
	}
	now := f.cfg.Now().UTC()
	wamid := newWAMID()
	msg := map[string]any{"from": in.From, "id": wamid, "timestamp": strconv.FormatInt(now.Unix(), 10)}
	switch {
	case in.ButtonReplyID != "":
		msg["type"] = "interactive"
		msg["interactive"] = map[string]any{"type": "button_reply", "button_reply": map[string]string{"id": in.ButtonReplyID, "title": firstNonEmpty(in.ReplyTitle, in.Text)}}
	case in.ListReplyID != "":
		msg["type"] = "interactive"
		msg["interactive"] = map[string]any{"type": "list_reply", "list_reply": map[string]string{"id": in.ListReplyID, "title": firstNonEmpty(in.ReplyTitle, in.Text)}}
	default:
		msg["type"] = "text"
		msg["text"] = map[string]string{"body": in.Text}
	}
	if in.ContextID != "" {
		msg["context"] = map[string]string{"from": in.PhoneNumberID, "id": in.ContextID}
	}
	body := f.envelope(in.PhoneNumberID, map[string]any{
		"contacts": []any{map[string]any{"profile": map[string]string{"name": in.Name}, "wa_id": in.From}},
		"messages": []any{msg},
	})
	f.mu.Lock()
	f.lastInbound.put(in.PhoneNumberID+"/"+in.From, now)
	f.mu.Unlock()

	d := f.webhooks.record("whatsapp", "messages", f.cfg.NodeURL+WhatsAppWebhookPath, body, f.signedHeader(body))
	status, err := f.webhooks.sendNow(r.Context(), d)
	out := map[string]any{"wamid": wamid, "webhook_status": status, "webhook_id": d.ID}
	if err != nil {
		out["webhook_error"] = err.Error()
	}
	writeJSON(w, http.StatusOK, out)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// handleSubscribe simulates Meta's subscription handshake against the
// node's GET /webhooks/whatsapp.
func (f *whatsappFake) handleSubscribe(w http.ResponseWriter, r *http.Request) {
	challenge := strconv.FormatInt(time.Now().UnixNano()%1_000_000_000, 10)
	q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {f.cfg.WhatsAppVerifyToken}, "hub.challenge": {challenge}}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, f.cfg.NodeURL+WhatsAppWebhookPath+"?"+q.Encode(), nil)
	if err != nil {
		writeProblem(w, vayva.EINTERNAL, "The subscription request could not be built.")
		return
	}
	resp, err := f.cfg.HTTPClient.Do(req)
	if err != nil {
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": err.Error()})
		return
	}
	defer resp.Body.Close()
	echoed, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	ok := resp.StatusCode == http.StatusOK && strings.TrimSpace(string(echoed)) == challenge
	writeJSON(w, http.StatusOK, map[string]any{"ok": ok, "status": resp.StatusCode})
}
