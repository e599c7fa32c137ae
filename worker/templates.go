package worker

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"strconv"
	"strings"
	texttemplate "text/template"

	"github.com/vayvahq/vayva"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

// requiredVars are the variables without which an email makes no sense.
var requiredVars = map[string][]string{
	vayva.EmailVerification:        {"verify_url"},
	vayva.EmailWelcome:             nil,
	vayva.EmailOrderConfirmation:   {"order_number"},
	vayva.EmailOrderReceived:       {"order_number"},
	vayva.EmailOrderRefunded:       {"order_number"},
	vayva.EmailDeliveryInTransit:   {"order_number"},
	vayva.EmailDeliveryDelivered:   {"order_number"},
	vayva.EmailInvitation:          {"accept_url"},
	vayva.EmailConversationHandoff: {"conversation_id"},
}

// Rendered is an email ready to send.
type Rendered struct {
	Subject string
	HTML    string
	Text    string
}

// Templates renders the transactional emails. Each template has a text
// file (subject and text body, text/template) and an HTML file
// (html/template, which escapes every variable for its context). Variables
// come from vayva.SendEmail.Vars; a missing one renders empty.
type Templates struct {
	text map[string]*texttemplate.Template
	html map[string]*htmltemplate.Template
}

// ErrTemplate wraps rendering failures: unknown template, missing variable.
// Such an email can never be sent.
var ErrTemplate = errors.New("worker: email template")

// NewTemplates parses the embedded templates.
func NewTemplates() (*Templates, error) {
	funcs := map[string]any{"total": totalVar}
	t := &Templates{text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{}}
	for name := range requiredVars {
		tt, err := texttemplate.New(name+".txt.tmpl").Funcs(funcs).Option("missingkey=zero").
			ParseFS(templateFS, "templates/"+name+".txt.tmpl")
		if err != nil {
			return nil, fmt.Errorf("worker: parse template %s: %w", name, err)
		}
		ht, err := htmltemplate.New(name+".html.tmpl").Funcs(funcs).Option("missingkey=zero").
			ParseFS(templateFS, "templates/"+name+".html.tmpl")
		if err != nil {
			return nil, fmt.Errorf("worker: parse template %s: %w", name, err)
		}
		t.text[name], t.html[name] = tt, ht
	}
	return t, nil
}

// Render renders template name with vars.
func (t *Templates) Render(name string, vars map[string]string) (Rendered, error) {
	required, ok := requiredVars[name]
	if !ok {
		return Rendered{}, fmt.Errorf("%w: unknown template %q", ErrTemplate, name)
	}
	for _, v := range required {
		if strings.TrimSpace(vars[v]) == "" {
			return Rendered{}, fmt.Errorf("%w %s: variable %q is required", ErrTemplate, name, v)
		}
	}
	if vars == nil {
		vars = map[string]string{}
	}
	var subject, text, html bytes.Buffer
	if err := t.text[name].ExecuteTemplate(&subject, "subject", vars); err != nil {
		return Rendered{}, fmt.Errorf("%w %s: subject: %w", ErrTemplate, name, err)
	}
	if err := t.text[name].ExecuteTemplate(&text, "text", vars); err != nil {
		return Rendered{}, fmt.Errorf("%w %s: text: %w", ErrTemplate, name, err)
	}
	if err := t.html[name].Execute(&html, vars); err != nil {
		return Rendered{}, fmt.Errorf("%w %s: html: %w", ErrTemplate, name, err)
	}
	return Rendered{
		// A header must stay on one line whatever the variables hold.
		Subject: strings.Join(strings.Fields(subject.String()), " "),
		HTML:    html.String(),
		Text:    strings.TrimLeft(text.String(), "\n"),
	}, nil
}

// totalVar is the order total to show: vars["total"] when set, else
// vars["amount"] (minor units) formatted in vars["currency"].
func totalVar(vars map[string]string) string {
	if t := strings.TrimSpace(vars["total"]); t != "" {
		return t
	}
	amount, err := strconv.ParseInt(vars["amount"], 10, 64)
	if err != nil {
		return ""
	}
	return formatMoney(amount, vars["currency"])
}

// formatMoney formats minor units of a two-decimal currency, e.g.
// formatMoney(250000, "NGN") = "NGN 2,500.00".
func formatMoney(amount int64, currency string) string { return vayva.FormatMoney(amount, currency) }
