package worker

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/integrations/whatsapp"
)

// ErrNotNormalisable marks an inbound job that can never become a message
// or status (no id, no sender, not JSON): it is dropped, not retried.
var ErrNotNormalisable = errors.New("worker: whatsapp job cannot be normalised")

// maxNormalisedText bounds the text kept of one message.
const maxNormalisedText = 4096

// mediaTypes are Meta's message types that carry a media reference.
var mediaTypes = map[string]string{
	"image": vayva.MessageImage, "document": vayva.MessageDocument, "audio": vayva.MessageAudio,
	"video": vayva.MessageVideo, "sticker": vayva.MessageSticker,
}

// NormalizeMessage turns a whatsapp.message job payload into the runtime's
// Message. Text, interactive replies (reply buttons, list rows, template
// quick replies) and media (as references) keep their meaning; any other
// type, or a media message without its reference, is kept as unsupported
// with Meta's type in OriginalType.
func NormalizeMessage(payload []byte) (vayva.Message, error) {
	var in whatsapp.InboundMessage
	if err := json.Unmarshal(payload, &in); err != nil {
		return vayva.Message{}, fmt.Errorf("%w: %w", ErrNotNormalisable, err)
	}
	from := strings.TrimPrefix(strings.TrimSpace(in.From), "+")
	if in.WAMID == "" || len(in.WAMID) > 512 || !isDigits(from, 32) || !isDigits(in.PhoneNumberID, 32) {
		return vayva.Message{}, fmt.Errorf("%w: message without a valid id, sender or business number", ErrNotNormalisable)
	}
	m := vayva.Message{
		WAMID: in.WAMID, PhoneNumberID: in.PhoneNumberID, From: from, CustomerName: cleanText(in.Name, 256),
		Text: cleanText(in.Text, maxNormalisedText), ContextWAMID: limit(in.ContextWAMID, 512), SentAt: in.Timestamp,
	}
	switch t := in.Type; {
	case t == "text" && m.Text != "":
		m.Type = vayva.MessageText
	case (t == "interactive" || t == "button") && in.InteractiveReplyID != "":
		m.Type, m.ReplyID = vayva.MessageInteractive, limit(in.InteractiveReplyID, 256)
	case mediaTypes[t] != "" && in.Media != nil && in.Media.ID != "":
		m.Type = mediaTypes[t]
		m.Media = &vayva.Media{ID: limit(in.Media.ID, 256), MIMEType: limit(in.Media.MIMEType, 128),
			SHA256: limit(in.Media.SHA256, 128), Filename: cleanText(in.Media.Filename, 256)}
	default:
		m.Type, m.OriginalType = vayva.MessageUnsupported, limit(cleanText(t, 64), 64)
		if m.OriginalType == "" {
			m.OriginalType = "unknown"
		}
	}
	return m, nil
}

// NormalizeStatus turns a whatsapp.status job payload into the runtime's
// MessageStatus; statuses other than sent, delivered, read and failed
// cannot be normalised.
func NormalizeStatus(payload []byte) (vayva.MessageStatus, error) {
	var in whatsapp.Status
	if err := json.Unmarshal(payload, &in); err != nil {
		return vayva.MessageStatus{}, fmt.Errorf("%w: %w", ErrNotNormalisable, err)
	}
	to := strings.TrimPrefix(strings.TrimSpace(in.RecipientID), "+")
	if in.WAMID == "" || len(in.WAMID) > 512 || !isDigits(to, 32) || !isDigits(in.PhoneNumberID, 32) {
		return vayva.MessageStatus{}, fmt.Errorf("%w: status without a valid id, recipient or business number", ErrNotNormalisable)
	}
	switch in.Status {
	case vayva.StatusSent, vayva.StatusDelivered, vayva.StatusRead, vayva.StatusFailed:
	default:
		return vayva.MessageStatus{}, fmt.Errorf("%w: unknown status %.40q", ErrNotNormalisable, in.Status)
	}
	s := vayva.MessageStatus{WAMID: in.WAMID, PhoneNumberID: in.PhoneNumberID, RecipientID: to, Status: in.Status, At: in.Timestamp}
	if len(in.Errors) > 0 {
		s.ErrorCode, s.ErrorTitle = in.Errors[0].Code, cleanText(in.Errors[0].Title, 500)
	}
	return s, nil
}

func isDigits(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// cleanText keeps valid UTF-8 without NUL and other control characters
// (newlines and tabs stay), cut to max runes.
func cleanText(s string, max int) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max])
	}
	return s
}

// limit cuts an identifier to max bytes at a rune boundary.
func limit(s string, max int) string {
	s = strings.ToValidUTF8(s, "")
	if len(s) <= max {
		return s
	}
	for max > 0 && s[max]&0xC0 == 0x80 {
		max--
	}
	return s[:max]
}
