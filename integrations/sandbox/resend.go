package sandbox

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// idempotencyTTL is how long Resend remembers an idempotency key.
const idempotencyTTL = 24 * time.Hour

// Email is an email the fake Resend accepted, as the mailbox lists it.
type Email struct {
	ID             string            `json:"id"`
	From           string            `json:"from"`
	To             []string          `json:"to"`
	Cc             []string          `json:"cc"`
	Bcc            []string          `json:"bcc"`
	ReplyTo        []string          `json:"reply_to"`
	Subject        string            `json:"subject"`
	HTML           string            `json:"html"`
	Text           string            `json:"text"`
	Headers        map[string]string `json:"headers,omitempty"`
	Tags           []EmailTag        `json:"tags"`
	IdempotencyKey string            `json:"idempotency_key,omitempty"`
	CreatedAt      time.Time         `json:"created_at"`
}

// EmailTag is a tag of an Email.
type EmailTag struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type idempotentSend struct {
	hash    [32]byte
	emailID string
	at      time.Time
}

// resendFake is the fake Resend API and its mailbox.
type resendFake struct {
	cfg Config

	mu             sync.Mutex // guards everything below
	emails         *store[*Email]
	keys           *store[idempotentSend]
	rateLimitNext  int
	rateLimitAfter time.Duration
	failNext       int
	failStatus     int
}

func newResendFake(cfg Config) *resendFake {
	return &resendFake{cfg: cfg, emails: newStore[*Email](cfg.MaxRecords), keys: newStore[idempotentSend](cfg.MaxRecords)}
}

func (f *resendFake) routes(mux *routeMux) {
	mux.HandleFunc("POST "+ResendAPIPrefix+"/emails", f.handleSend)
	mux.HandleFunc("GET "+ResendAPIPrefix+"/emails/{id}", f.handleGet)
	mux.HandleFunc("POST "+ResendAPIPrefix+"/faults", f.handleFaults)
	mux.HandleFunc("GET /sandbox/mailbox", f.handleMailbox)
}

// ResendRateLimitNext makes the fake Resend answer the next n sends with
// 429 and a retry-after of retryAfter (rounded up to whole seconds).
func (s *Sandbox) ResendRateLimitNext(n int, retryAfter time.Duration) {
	s.resend.mu.Lock()
	defer s.resend.mu.Unlock()
	s.resend.rateLimitNext, s.resend.rateLimitAfter = n, retryAfter
}

// ResendFailNext makes the fake Resend answer the next n sends with the
// given 5xx status, without sending.
func (s *Sandbox) ResendFailNext(n, status int) {
	s.resend.mu.Lock()
	defer s.resend.mu.Unlock()
	s.resend.failNext, s.resend.failStatus = n, status
}

// Mailbox returns the emails the fake Resend accepted, newest first;
// when to is set, only those addressed to it.
func (s *Sandbox) Mailbox(to string) []Email {
	return s.resend.mailbox(to, s.cfg.MaxRecords)
}

func (f *resendFake) mailbox(to string, limit int) []Email {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []Email{}
	for _, e := range f.emails.newest(limit, func(e *Email) bool { return to == "" || addressedTo(e, to) }) {
		out = append(out, *e)
	}
	return out
}

func addressedTo(e *Email, to string) bool {
	for _, list := range [][]string{e.To, e.Cc, e.Bcc} {
		for _, a := range list {
			if strings.EqualFold(bareAddress(a), bareAddress(to)) {
				return true
			}
		}
	}
	return false
}

// bareAddress turns "Name <a@b>" into "a@b".
func bareAddress(a string) string {
	if i := strings.LastIndexByte(a, '<'); i >= 0 {
		if j := strings.IndexByte(a[i:], '>'); j > 0 {
			return strings.TrimSpace(a[i+1 : i+j])
		}
	}
	return strings.TrimSpace(a)
}

func resendError(w http.ResponseWriter, status int, name, msg string) {
	writeJSON(w, status, map[string]any{"statusCode": status, "name": name, "message": msg})
}

// addresses is Resend's string-or-list address field.
type addresses []string

// UnmarshalJSON implements json.Unmarshaler.
func (a *addresses) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = addresses{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("must be a string or a list of strings")
	}
	*a = l
	return nil
}

func (f *resendFake) handleSend(w http.ResponseWriter, r *http.Request) {
	key := bearer(r)
	switch {
	case key == "":
		resendError(w, http.StatusUnauthorized, "missing_api_key",
			"Missing API key in the authorization header. Include the following header 'Authorization: Bearer YOUR_API_KEY' in the request.")
		return
	case !hmac.Equal([]byte(key), []byte(f.cfg.ResendAPIKey)):
		resendError(w, http.StatusForbidden, "invalid_api_key", "API key is invalid")
		return
	case r.Header.Get("User-Agent") == "":
		resendError(w, http.StatusForbidden, "missing_user_agent", "A User-Agent header is required")
		return
	}
	f.mu.Lock()
	if f.rateLimitNext > 0 {
		f.rateLimitNext--
		after := int((f.rateLimitAfter + time.Second - 1) / time.Second)
		f.mu.Unlock()
		w.Header().Set("Retry-After", strconv.Itoa(after))
		w.Header().Set("Ratelimit-Limit", "5")
		w.Header().Set("Ratelimit-Remaining", "0")
		w.Header().Set("Ratelimit-Reset", strconv.Itoa(after))
		resendError(w, http.StatusTooManyRequests, "rate_limit_exceeded",
			"Too many requests. You can only make 5 requests per second. See rate limit response headers for more information.")
		return
	}
	if f.failNext > 0 {
		f.failNext--
		status := f.failStatus
		f.mu.Unlock()
		resendError(w, status, "internal_server_error", "An unexpected error occurred.")
		return
	}
	f.mu.Unlock()

	idem := r.Header.Get("Idempotency-Key")
	if len(idem) > 256 {
		resendError(w, http.StatusBadRequest, "invalid_idempotency_key", "The key must be between 1-256 chars.")
		return
	}
	var in struct {
		From    string            `json:"from"`
		To      addresses         `json:"to"`
		Cc      addresses         `json:"cc"`
		Bcc     addresses         `json:"bcc"`
		ReplyTo addresses         `json:"reply_to"`
		Subject string            `json:"subject"`
		HTML    string            `json:"html"`
		Text    string            `json:"text"`
		Headers map[string]string `json:"headers"`
		Tags    []EmailTag        `json:"tags"`
	}
	if err := readJSON(w, r, &in); err != nil {
		resendError(w, http.StatusUnprocessableEntity, "validation_error", err.Error())
		return
	}
	switch {
	case in.From == "":
		resendError(w, http.StatusUnprocessableEntity, "missing_required_field", "The `from` field is missing.")
		return
	case !strings.Contains(bareAddress(in.From), "@"):
		resendError(w, http.StatusUnprocessableEntity, "validation_error", "Invalid `from` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format.")
		return
	case len(in.To) == 0:
		resendError(w, http.StatusUnprocessableEntity, "missing_required_field", "The `to` field is missing.")
		return
	case len(in.To) > 50:
		resendError(w, http.StatusUnprocessableEntity, "validation_error", "Too many recipients in `to`. The maximum is 50.")
		return
	case in.Subject == "":
		resendError(w, http.StatusUnprocessableEntity, "missing_required_field", "The `subject` field is missing.")
		return
	case in.HTML == "" && in.Text == "":
		resendError(w, http.StatusUnprocessableEntity, "missing_required_field", "Either `html` or `text` must be provided.")
		return
	}
	for _, list := range [][]string{in.To, in.Cc, in.Bcc, in.ReplyTo} {
		for _, a := range list {
			if !strings.Contains(bareAddress(a), "@") {
				resendError(w, http.StatusUnprocessableEntity, "validation_error", fmt.Sprintf("Invalid email address %q.", a))
				return
			}
		}
	}
	for _, t := range in.Tags {
		if !tagPart(t.Name) || !tagPart(t.Value) {
			resendError(w, http.StatusUnprocessableEntity, "validation_error", "Tags should only contain ASCII letters, numbers, underscores, or dashes.")
			return
		}
	}
	canonical, _ := json.Marshal(in)
	hash := sha256.Sum256(canonical)
	now := f.cfg.Now().UTC()

	f.mu.Lock()
	defer f.mu.Unlock()
	if idem != "" {
		if prev, ok := f.keys.get(idem); ok && now.Sub(prev.at) < idempotencyTTL {
			if prev.hash != hash {
				resendError(w, http.StatusConflict, "invalid_idempotent_request",
					"Same idempotency key used with a different request payload. Change your idempotency key or payload.")
				return
			}
			writeJSON(w, http.StatusOK, map[string]string{"id": prev.emailID})
			return
		}
	}
	e := &Email{
		ID: uuid(), From: in.From, To: in.To, Cc: nonNil(in.Cc), Bcc: nonNil(in.Bcc), ReplyTo: nonNil(in.ReplyTo),
		Subject: in.Subject, HTML: in.HTML, Text: in.Text, Headers: in.Headers, Tags: in.Tags, IdempotencyKey: idem,
		CreatedAt: now,
	}
	if e.Tags == nil {
		e.Tags = []EmailTag{}
	}
	f.emails.put(e.ID, e)
	if idem != "" {
		f.keys.put(idem, idempotentSend{hash: hash, emailID: e.ID, at: now})
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": e.ID})
}

func nonNil(a []string) []string {
	if a == nil {
		return []string{}
	}
	return a
}

func tagPart(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func (f *resendFake) handleGet(w http.ResponseWriter, r *http.Request) {
	key := bearer(r)
	if key == "" || !hmac.Equal([]byte(key), []byte(f.cfg.ResendAPIKey)) {
		resendError(w, http.StatusUnauthorized, "invalid_api_key", "API key is invalid")
		return
	}
	f.mu.Lock()
	e, ok := f.emails.get(r.PathValue("id"))
	var out map[string]any
	if ok {
		out = map[string]any{
			"object": "email", "id": e.ID, "to": e.To, "from": e.From, "created_at": e.CreatedAt.Format(time.RFC3339Nano),
			"subject": e.Subject, "html": e.HTML, "text": e.Text, "cc": e.Cc, "bcc": e.Bcc, "reply_to": e.ReplyTo,
			"last_event": "delivered", "tags": e.Tags,
		}
	}
	f.mu.Unlock()
	if !ok {
		resendError(w, http.StatusNotFound, "not_found", "Email not found")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// handleFaults sets the fault knobs over HTTP, for drills:
// {"rate_limit_next": n, "retry_after_seconds": s, "fail_next": n, "fail_status": 503}.
func (f *resendFake) handleFaults(w http.ResponseWriter, r *http.Request) {
	var in struct {
		RateLimitNext     int `json:"rate_limit_next"`
		RetryAfterSeconds int `json:"retry_after_seconds"`
		FailNext          int `json:"fail_next"`
		FailStatus        int `json:"fail_status"`
	}
	if !readControlJSON(w, r, &in, false) {
		return
	}
	if in.FailStatus == 0 {
		in.FailStatus = http.StatusInternalServerError
	}
	switch {
	case in.FailStatus < 500 || in.FailStatus > 599:
		invalidField(w, "fail_status", "must be a 5xx status")
		return
	case in.RateLimitNext < 0:
		invalidField(w, "rate_limit_next", "must not be negative")
		return
	case in.FailNext < 0:
		invalidField(w, "fail_next", "must not be negative")
		return
	case in.RetryAfterSeconds < 0:
		invalidField(w, "retry_after_seconds", "must not be negative")
		return
	}
	f.mu.Lock()
	f.rateLimitNext, f.rateLimitAfter = in.RateLimitNext, time.Duration(in.RetryAfterSeconds)*time.Second
	f.failNext, f.failStatus = in.FailNext, in.FailStatus
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, in)
}

func (f *resendFake) handleMailbox(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"data":        f.mailbox(r.URL.Query().Get("to"), limitParam(r, f.cfg.MaxRecords)),
		"next_cursor": nil,
	})
}
