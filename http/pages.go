package http

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"html/template"
	"net/url"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/auth"
)

// The pages that links in emails open. Each is a small self-contained HTML
// page (no scripts, no external resources) whose form completes the action
// with a POST: link scanners and prefetchers that open a URL with GET never
// use up a single-use token. The token travels from the link's query into
// a hidden field, escaped by html/template, and only when it has the shape
// of one.

//go:embed pages.html
var pagesHTML string

var pageTemplate = template.Must(template.New("page").Parse(pagesHTML))

// pageCSP lets a page load nothing, run nothing and post forms only to this
// origin.
const pageCSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// maxPageFormLen bounds a page form body; the fields it may hold are short.
const maxPageFormLen = 4 << 10

// pageData fills pages.html.
type pageData struct {
	Title string
	// Page picks the body: verify, verified, invite, joined, or "" for
	// only the error.
	Page      string
	Token     string
	Error     string
	Problems  []string
	Email     string
	Store     string
	Role      string
	InvitedBy string
	ExpiresAt string
	// Order fills the order page.
	Order *pageOrder
}

// pageForm is what a page's form posts.
type pageForm struct {
	Token    string
	Action   string
	Name     string
	Password string
}

// decodePageForm parses a page's application/x-www-form-urlencoded body.
// Fields other than the form's are ignored; a field sent twice is refused,
// so that no value is silently dropped.
func decodePageForm(contentType, body []byte) (pageForm, error) {
	var f pageForm
	mediaType, _, _ := strings.Cut(string(contentType), ";")
	if !strings.EqualFold(strings.TrimSpace(mediaType), "application/x-www-form-urlencoded") {
		return f, vayva.Errorf(vayva.EUNSUPPORTEDMEDIATYPE, "The form must be sent as application/x-www-form-urlencoded.")
	}
	if len(body) > maxPageFormLen {
		return f, vayva.Errorf(vayva.EBADREQUEST, "The form is too long.")
	}
	values, err := url.ParseQuery(string(body))
	if err != nil {
		return f, vayva.Errorf(vayva.EBADREQUEST, "The form could not be read.")
	}
	for name, dst := range map[string]*string{"token": &f.Token, "action": &f.Action, "name": &f.Name, "password": &f.Password} {
		switch vs := values[name]; len(vs) {
		case 0:
		case 1:
			*dst = vs[0]
		default:
			return pageForm{}, vayva.Errorf(vayva.EBADREQUEST, "The form holds the field %q more than once.", name)
		}
	}
	return f, nil
}

func (a AuthArea) registerPages(r *Routes) {
	r.Handle("GET", "/verify-email", Public, a.verifyEmailPage)
	r.Handle("POST", "/verify-email", Public, a.verifyEmailForm, FormBody())
	r.Handle("GET", "/accept-invitation", Public, a.invitationPage)
	r.Handle("POST", "/accept-invitation", Public, a.invitationForm, FormBody())
}

func (a AuthArea) verifyEmailPage(_ context.Context, rc *fasthttp.RequestCtx) error {
	d := pageData{Title: "Verify your email"}
	in := auth.VerifyEmailInput{Token: string(rc.QueryArgs().Peek("token"))}
	if err := in.Normalize(); err != nil {
		return writePageError(rc, d, err)
	}
	d.Page, d.Token = "verify", in.Token
	return writePage(rc, fasthttp.StatusOK, d)
}

func (a AuthArea) verifyEmailForm(ctx context.Context, rc *fasthttp.RequestCtx) error {
	d := pageData{Title: "Verify your email"}
	f, err := decodePageForm(rc.Request.Header.ContentType(), rc.PostBody())
	if err != nil {
		return writePageError(rc, d, err)
	}
	u, err := a.Service.VerifyEmail(ctx, auth.VerifyEmailInput{Token: f.Token})
	if err != nil {
		return writePageError(rc, d, err)
	}
	d.Title, d.Page, d.Email = "Email verified", "verified", u.Email
	return writePage(rc, fasthttp.StatusOK, d)
}

// invitationData shows a pending invitation with its forms.
func invitationData(inv auth.InvitationDetails, token string) pageData {
	return pageData{
		Title: "Join " + inv.Store.Name, Page: "invite", Token: token, Email: inv.Email, Store: inv.Store.Name,
		Role: string(inv.Role), InvitedBy: inv.InvitedBy, ExpiresAt: inv.ExpiresAt.UTC().Format("2 January 2006, 15:04 UTC"),
	}
}

func (a AuthArea) invitationPage(ctx context.Context, rc *fasthttp.RequestCtx) error {
	token := string(rc.QueryArgs().Peek("token"))
	inv, err := a.Service.Invitation(ctx, token)
	if err != nil {
		return writePageError(rc, pageData{Title: "Join a team"}, err)
	}
	return writePage(rc, fasthttp.StatusOK, invitationData(inv, strings.TrimSpace(token)))
}

func (a AuthArea) invitationForm(ctx context.Context, rc *fasthttp.RequestCtx) error {
	d := pageData{Title: "Join a team"}
	f, err := decodePageForm(rc.Request.Header.ContentType(), rc.PostBody())
	if err != nil {
		return writePageError(rc, d, err)
	}
	var g auth.Grant
	switch f.Action {
	case "signin":
		g, err = a.Service.AcceptInvitation(ctx, auth.AcceptInvitationInput{Token: f.Token, Password: f.Password}, nil, authClientAddr(rc))
	case "signup":
		g, err = a.Service.Signup(ctx, auth.SignupInput{InvitationToken: f.Token, Name: f.Name, Password: f.Password}, authClientAddr(rc))
	default:
		err = vayva.Errorf(vayva.EBADREQUEST, "The form's action must be signin or signup.")
	}
	if err != nil {
		// The forms again, with what went wrong, while the invitation
		// stands.
		if inv, ierr := a.Service.Invitation(ctx, f.Token); ierr == nil {
			d = invitationData(inv, strings.TrimSpace(f.Token))
		}
		return writePageError(rc, d, err)
	}
	// The session the service opened is not handed to the page: the
	// invitee signs in where they use Vayva.
	d = pageData{Title: "Welcome to " + g.Account.Store.Name, Page: "joined", Email: g.Account.User.Email,
		Store: g.Account.Store.Name, Role: string(g.Account.Role)}
	return writePage(rc, fasthttp.StatusOK, d)
}

// writePage renders d with the page's security headers.
func writePage(rc *fasthttp.RequestCtx, status int, d pageData) error {
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, d); err != nil {
		return err
	}
	h := &rc.Response.Header
	h.SetContentType("text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	rc.Response.SetStatusCode(status)
	rc.Response.SetBody(buf.Bytes())
	return nil
}

// pageFieldLabels name the fields of validation errors for people.
var pageFieldLabels = map[string]string{
	"token": "The link", "invitation_token": "The link", "password": "The password", "name": "The name", "email": "The email address",
}

// writePageError renders a refusal on page d with the status the API would
// give it. Server-side failures are returned instead, to be logged and
// answered as problems.
func writePageError(rc *fasthttp.RequestCtx, d pageData, err error) error {
	status := statusOf(err)
	if status >= 500 {
		return err
	}
	d.Error = vayva.ErrorMessage(err)
	var e *vayva.Error
	if errors.As(err, &e) {
		if e.Code == vayva.EINVALID && len(e.Fields) > 0 && d.Error == "The request has invalid fields." {
			d.Error = "Please check the following."
		}
		for _, f := range e.Fields {
			label, ok := pageFieldLabels[f.Field]
			if !ok {
				label = f.Field
			}
			d.Problems = append(d.Problems, label+" "+f.Message+".")
		}
	}
	setRateLimitRetryAfter(rc, err)
	return writePage(rc, status, d)
}
