package whatsapp

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vayvahq/vayva/integrations/internal/providerhttp"
)

// SignatureHeader carries a webhook's signature.
const SignatureHeader = "X-Hub-Signature-256"

// Webhook errors.
var (
	ErrMissingSignature = errors.New("whatsapp: missing webhook signature")
	ErrInvalidSignature = errors.New("whatsapp: invalid webhook signature")
	ErrInvalidPayload   = errors.New("whatsapp: invalid webhook payload")
)

// Sign returns the X-Hub-Signature-256 value of body: "sha256=" and the
// lowercase hex HMAC-SHA256 keyed by the app secret.
func Sign(appSecret string, body []byte) string {
	return "sha256=" + providerhttp.SignHex(sha256.New, appSecret, body)
}

// VerifySignature checks an X-Hub-Signature-256 header against the raw
// body, in constant time.
func VerifySignature(appSecret string, body []byte, header string) error {
	header = strings.TrimSpace(header)
	if header == "" {
		return ErrMissingSignature
	}
	if appSecret == "" {
		return fmt.Errorf("%w: no app secret configured", ErrInvalidSignature)
	}
	algo, sig, ok := strings.Cut(header, "=")
	if !ok || algo != "sha256" || !providerhttp.VerifyHex(sha256.New, appSecret, body, sig) {
		return ErrInvalidSignature
	}
	return nil
}

// Verifier checks X-Hub-Signature-256 headers under one app secret, as
// VerifySignature does, without setting the key up on every call: the
// webhook edge keeps one.
type Verifier struct {
	configured bool
	hv         *providerhttp.HexVerifier
}

// NewVerifier returns the verifier of bodies signed with appSecret.
func NewVerifier(appSecret string) *Verifier {
	return &Verifier{configured: appSecret != "", hv: providerhttp.NewHexVerifier(sha256.New, appSecret)}
}

// Verify answers as VerifySignature(appSecret, body, header) does.
func (v *Verifier) Verify(body []byte, header string) error {
	header = strings.TrimSpace(header)
	if header == "" {
		return ErrMissingSignature
	}
	if !v.configured {
		return fmt.Errorf("%w: no app secret configured", ErrInvalidSignature)
	}
	algo, sig, ok := strings.Cut(header, "=")
	if !ok || algo != "sha256" || !v.hv.Verify(body, sig) {
		return ErrInvalidSignature
	}
	return nil
}

// VerifyChallenge answers Meta's subscription handshake (the hub.mode,
// hub.verify_token and hub.challenge query parameters): when mode is
// "subscribe" and token equals verifyToken it returns the challenge to echo
// with 200; otherwise ok is false and the endpoint answers 403.
func VerifyChallenge(mode, token, challenge, verifyToken string) (string, bool) {
	if mode != "subscribe" || verifyToken == "" || challenge == "" || len(challenge) > 256 {
		return "", false
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(verifyToken)) != 1 {
		return "", false
	}
	return challenge, true
}

// InboundMessage is one message a customer sent to a business number.
type InboundMessage struct {
	// PhoneNumberID is the business number it was sent to; it selects the
	// tenant.
	PhoneNumberID      string
	DisplayPhoneNumber string
	// From is the customer's WhatsApp id (phone number digits).
	From string
	// Name is the customer's profile name, if Meta sent it.
	Name string
	// WAMID is Meta's message id; deliveries are deduplicated on it.
	WAMID     string
	Timestamp time.Time
	// Type is Meta's message type: text, interactive, button, image, …
	Type string
	// Text is the text body, the title of a tapped button or list row, or a
	// media caption.
	Text string
	// InteractiveReplyID is the id of the tapped reply button or list row,
	// or the payload of a template quick-reply button.
	InteractiveReplyID string
	// ContextWAMID is the message the customer replied to, if any.
	ContextWAMID string
	// Media references the media object of an image, document, audio,
	// video or sticker message: Meta keeps the bytes, downloadable by id.
	Media *Media `json:",omitempty"`
}

// Media is the reference Meta sends for a media message.
type Media struct {
	ID       string
	MIMEType string `json:",omitempty"`
	SHA256   string `json:",omitempty"`
	Filename string `json:",omitempty"`
}

// Status is a delivery status of a message the business sent.
type Status struct {
	PhoneNumberID string
	WAMID         string
	// Status is sent, delivered, read or failed.
	Status      string
	RecipientID string
	Timestamp   time.Time
	Errors      []StatusError
}

// StatusError explains a failed delivery, for example code 131047 when the
// customer service window has closed.
type StatusError struct {
	Code    int
	Title   string
	Message string
	Details string
}

type webhookWire struct {
	Object string `json:"object"`
	Entry  []struct {
		ID      string `json:"id"`
		Changes []struct {
			Field string `json:"field"`
			Value struct {
				MessagingProduct string `json:"messaging_product"`
				Metadata         struct {
					DisplayPhoneNumber string `json:"display_phone_number"`
					PhoneNumberID      string `json:"phone_number_id"`
				} `json:"metadata"`
				Contacts []struct {
					Profile struct {
						Name string `json:"name"`
					} `json:"profile"`
					WAID string `json:"wa_id"`
				} `json:"contacts"`
				Messages []messageWire `json:"messages"`
				Statuses []struct {
					ID          string      `json:"id"`
					Status      string      `json:"status"`
					Timestamp   unixSeconds `json:"timestamp"`
					RecipientID string      `json:"recipient_id"`
					Errors      []errorWire `json:"errors"`
				} `json:"statuses"`
			} `json:"value"`
		} `json:"changes"`
	} `json:"entry"`
}

type messageWire struct {
	From      string      `json:"from"`
	ID        string      `json:"id"`
	Timestamp unixSeconds `json:"timestamp"`
	Type      string      `json:"type"`
	Text      struct {
		Body string `json:"body"`
	} `json:"text"`
	Interactive struct {
		Type        string `json:"type"`
		ButtonReply struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		} `json:"button_reply"`
		ListReply struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		} `json:"list_reply"`
	} `json:"interactive"`
	Button struct {
		Payload string `json:"payload"`
		Text    string `json:"text"`
	} `json:"button"`
	Context struct {
		ID string `json:"id"`
	} `json:"context"`
	Image    *mediaWire `json:"image"`
	Video    *mediaWire `json:"video"`
	Document *mediaWire `json:"document"`
	Audio    *mediaWire `json:"audio"`
	Sticker  *mediaWire `json:"sticker"`
}

type mediaWire struct {
	ID       string `json:"id"`
	MIMEType string `json:"mime_type"`
	SHA256   string `json:"sha256"`
	Caption  string `json:"caption"`
	Filename string `json:"filename"`
}

// media returns the reference and caption of m, nil when Meta sent none.
func (m *mediaWire) media() (*Media, string) {
	if m == nil || m.ID == "" {
		return nil, ""
	}
	return &Media{ID: m.ID, MIMEType: m.MIMEType, SHA256: m.SHA256, Filename: m.Filename}, m.Caption
}

type errorWire struct {
	Code      int    `json:"code"`
	Title     string `json:"title"`
	Message   string `json:"message"`
	ErrorData struct {
		Details string `json:"details"`
	} `json:"error_data"`
}

// ParseWebhook flattens a notification, which may batch several entries
// and changes, into the inbound messages and the delivery statuses it
// carries. Changes of other fields are skipped. Verify the signature first.
func ParseWebhook(body []byte) ([]InboundMessage, []Status, error) {
	var w webhookWire
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrInvalidPayload, err)
	}
	if w.Object != "whatsapp_business_account" {
		return nil, nil, fmt.Errorf("%w: object %.40q", ErrInvalidPayload, w.Object)
	}
	var msgs []InboundMessage
	var statuses []Status
	for _, e := range w.Entry {
		for _, ch := range e.Changes {
			if ch.Field != "messages" {
				continue
			}
			v := ch.Value
			pnid := v.Metadata.PhoneNumberID
			for _, m := range v.Messages {
				if m.ID == "" || m.From == "" {
					return nil, nil, fmt.Errorf("%w: message without id or sender", ErrInvalidPayload)
				}
				in := InboundMessage{
					PhoneNumberID: pnid, DisplayPhoneNumber: v.Metadata.DisplayPhoneNumber,
					From: m.From, WAMID: m.ID, Timestamp: unixTime(m.Timestamp), Type: m.Type,
					ContextWAMID: m.Context.ID,
				}
				for i, c := range v.Contacts {
					if c.WAID == m.From || (i == 0 && in.Name == "") {
						in.Name = c.Profile.Name
					}
				}
				switch m.Type {
				case "text":
					in.Text = m.Text.Body
				case "interactive":
					switch m.Interactive.Type {
					case "button_reply":
						in.InteractiveReplyID, in.Text = m.Interactive.ButtonReply.ID, m.Interactive.ButtonReply.Title
					case "list_reply":
						in.InteractiveReplyID, in.Text = m.Interactive.ListReply.ID, m.Interactive.ListReply.Title
					}
				case "button":
					in.InteractiveReplyID, in.Text = m.Button.Payload, m.Button.Text
				case "image":
					in.Media, in.Text = m.Image.media()
				case "video":
					in.Media, in.Text = m.Video.media()
				case "document":
					in.Media, in.Text = m.Document.media()
				case "audio":
					in.Media, _ = m.Audio.media()
				case "sticker":
					in.Media, _ = m.Sticker.media()
				}
				msgs = append(msgs, in)
			}
			for _, s := range v.Statuses {
				if s.ID == "" || s.Status == "" {
					return nil, nil, fmt.Errorf("%w: status without id or status", ErrInvalidPayload)
				}
				st := Status{PhoneNumberID: pnid, WAMID: s.ID, Status: s.Status, RecipientID: s.RecipientID, Timestamp: unixTime(s.Timestamp)}
				for _, e := range s.Errors {
					st.Errors = append(st.Errors, StatusError{Code: e.Code, Title: e.Title, Message: e.Message, Details: e.ErrorData.Details})
				}
				statuses = append(statuses, st)
			}
		}
	}
	return msgs, statuses, nil
}

// unixSeconds is one of Meta's Unix-seconds timestamps, sent as strings.
// An unreadable scalar becomes the zero time rather than failing the batch.
type unixSeconds time.Time

// UnmarshalJSON implements json.Unmarshaler.
func (u *unixSeconds) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > 1<<40 {
		*u = unixSeconds{}
		return nil
	}
	*u = unixSeconds(time.Unix(n, 0).UTC())
	return nil
}

func unixTime(u unixSeconds) time.Time { return time.Time(u) }
