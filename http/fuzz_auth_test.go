package http

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/auth"
)

// authRequireClientError fails unless err is nil or a refusal the client
// caused (400 or 422) whose fields, if any, are named.
func authRequireClientError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	switch vayva.ErrorCode(err) {
	case vayva.EBADREQUEST, vayva.EINVALID:
	default:
		t.Fatalf("refused with %v, want a client error", err)
	}
	if s := statusOf(err); s != 400 && s != 422 {
		t.Fatalf("status %d for %v", s, err)
	}
	var e *vayva.Error
	if errors.As(err, &e) && e.Code == vayva.EINVALID {
		if len(e.Fields) == 0 {
			t.Fatalf("validation error without fields: %v", err)
		}
		for _, f := range e.Fields {
			// An unknown field may itself be named "" ({"": 1}).
			if f.Message == "" || (f.Field == "" && f.Message != "is not a known field") {
				t.Fatalf("unnamed field error in %v", err)
			}
		}
	}
}

func authRequireText(t *testing.T, field, s string, max int) {
	t.Helper()
	if s == "" || s != strings.TrimSpace(s) || !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		t.Fatalf("accepted %s %q", field, s)
	}
}

// FuzzDecodeSignup checks that no sign-up body panics the decoder, that
// refusals are client errors naming fields, and that what is accepted
// satisfies every rule.
func FuzzDecodeSignup(f *testing.F) {
	for _, s := range []string{
		`{"email":"ada@example.com","password":"0123456789","name":"Ada","business_name":"Ada's Shoes"}`,
		`{"email":"ada@example.com","password":"0123456789","name":"Ada","business_name":"Ada","store_slug":"ada-shoes"}`,
		`{"email":"ada@example.com","password":"0123456789","name":"Ada","business_name":"Ada","store_slug":null}`,
		`{"email":" A@B.CO ","password":"ÿÿÿÿÿÿÿÿÿÿ","name":" x ","business_name":"\u00e9"}`,
		`{"email":"a@b","password":"short","name":"","business_name":"","store_slug":"-x-"}`,
		`{"email":1}`, `{"store_slug":5}`, `{"extra":true}`, `{"":""}`, `{`, `[]`, `null`, `""`, ``, `{} {}`,
		`{"password":"0123456789","name":"Sam","invitation_token":"` + vayva.NewSecret(auth.InvitationPrefix) + `"}`,
		`{"email":"sam@example.com","password":"0123456789","name":"Sam","invitation_token":"` + vayva.NewSecret(auth.InvitationPrefix) + `"}`,
		`{"password":"0123456789","name":"Sam","business_name":"X","invitation_token":"` + vayva.NewSecret(auth.InvitationPrefix) + `"}`,
		`{"password":"0123456789","name":"Sam","invitation_token":"vin_x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := decodeSignup(body)
		authRequireClientError(t, err)
		if err != nil {
			return
		}
		if n := utf8.RuneCountInString(in.Password); n < auth.MinPasswordLen || n > auth.MaxPasswordLen {
			t.Fatalf("accepted a password of %d characters", n)
		}
		authRequireText(t, "name", in.Name, auth.MaxNameLen)
		if in.InvitationToken != "" {
			if !strings.HasPrefix(in.InvitationToken, auth.InvitationPrefix) || len(in.InvitationToken) > 200 {
				t.Fatalf("accepted invitation token %q", in.InvitationToken)
			}
			if in.BusinessName != "" || in.StoreSlug != nil {
				t.Fatalf("accepted a business with an invitation: %+v", in)
			}
			if in.Email != "" && !auth.ValidEmail(in.Email) {
				t.Fatalf("accepted email %q", in.Email)
			}
			return
		}
		if !auth.ValidEmail(in.Email) {
			t.Fatalf("accepted email %q", in.Email)
		}
		authRequireText(t, "business_name", in.BusinessName, auth.MaxNameLen)
		if in.StoreSlug != nil && !auth.ValidSlug(*in.StoreSlug) {
			t.Fatalf("accepted slug %q", *in.StoreSlug)
		}
		if !auth.ValidSlug(auth.DeriveSlug(in.BusinessName)) {
			t.Fatalf("derived an invalid slug from %q", in.BusinessName)
		}
	})
}

// FuzzDecodeLogin checks the sign-in decoder the same way.
func FuzzDecodeLogin(f *testing.F) {
	for _, s := range []string{
		`{"email":"ada@example.com","password":"x"}`,
		`{"email":"ada@example.com","password":"x","store_id":"sto_0123456789abcdefghjkmnpqrstv"}`,
		`{"email":"ada@example.com","password":"x","store_id":"nope"}`,
		`{"email":"","password":""}`, `{"password":[]}`, `{"email":"a@b.co","password":"x","pin":1}`, `{"":""}`, `{`, `1`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := decodeLogin(body)
		authRequireClientError(t, err)
		if err != nil {
			return
		}
		if !auth.ValidEmail(in.Email) || in.Password == "" || utf8.RuneCountInString(in.Password) > auth.MaxPasswordLen {
			t.Fatalf("accepted %+v", in)
		}
		if in.StoreID != "" && !vayva.HasIDPrefix(in.StoreID, "sto") {
			t.Fatalf("accepted store_id %q", in.StoreID)
		}
	})
}

// FuzzDecodeMember checks the team member decoder the same way.
func FuzzDecodeMember(f *testing.F) {
	for _, s := range []string{
		`{"email":"sam@example.com","role":"staff"}`,
		`{"email":"sam@example.com","role":"admin","name":"Sam"}`,
		`{"email":"sam@example.com","role":"admin"}`,
		`{"email":"sam@example.com","role":"owner"}`,
		`{"email":"sam@example.com","role":"STAFF"}`,
		`{"email":"sam","role":""}`, `{"role":1}`, `{"email":"a@b.co","role":"staff","x":1}`, `{"":""}`, `{`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := decodeMember(body)
		authRequireClientError(t, err)
		if err != nil {
			return
		}
		if !auth.ValidEmail(in.Email) {
			t.Fatalf("accepted email %q", in.Email)
		}
		if in.Role != vayva.RoleAdmin && in.Role != vayva.RoleStaff {
			t.Fatalf("accepted role %q", in.Role)
		}
	})
}

// FuzzDecodeVerifyEmail checks the email verification decoder.
func FuzzDecodeVerifyEmail(f *testing.F) {
	for _, s := range []string{
		`{"token":"` + vayva.NewSecret(auth.VerificationPrefix) + `"}`,
		`{"token":"` + vayva.NewSecret(auth.VerificationPrefix) + `","password":"0123456789"}`,
		`{"token":"x"}`, `{"token":""}`, `{"token":1}`, `{"":""}0`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := decodeVerifyEmail(body)
		authRequireClientError(t, err)
		if err != nil {
			return
		}
		if !strings.HasPrefix(in.Token, auth.VerificationPrefix) || len(in.Token) > 200 {
			t.Fatalf("accepted token %q", in.Token)
		}
	})
}

// FuzzDecodeAcceptInvitation checks the invitation acceptance decoder.
func FuzzDecodeAcceptInvitation(f *testing.F) {
	for _, s := range []string{
		`{"token":"` + vayva.NewSecret(auth.InvitationPrefix) + `"}`,
		`{"token":"` + vayva.NewSecret(auth.InvitationPrefix) + `","password":"x"}`,
		`{"token":"` + vayva.NewSecret(auth.VerificationPrefix) + `"}`,
		`{"token":"vin_"}`, `{"token":""}`, `{"password":1}`, `{"token":"x","email":"a@b.co"}`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := decodeAcceptInvitation(body)
		authRequireClientError(t, err)
		if err != nil {
			return
		}
		if !strings.HasPrefix(in.Token, auth.InvitationPrefix) || len(in.Token) > 200 {
			t.Fatalf("accepted token %q", in.Token)
		}
		if utf8.RuneCountInString(in.Password) > auth.MaxPasswordLen {
			t.Fatalf("accepted a password of %d characters", utf8.RuneCountInString(in.Password))
		}
	})
}

// FuzzDecodePageForm checks the decoder of the emailed links' page forms:
// no body panics it, refusals are client errors, and what it accepts is
// what the body says.
func FuzzDecodePageForm(f *testing.F) {
	for _, s := range []string{
		"token=vin_abc&action=signin&password=secret+pass",
		"token=vvt_x", "token=a&token=b", "name=%ZZ", "a=1;b=2", "password=%E2%82%AC", "", "&&&=", "token",
	} {
		f.Add([]byte("application/x-www-form-urlencoded"), []byte(s))
	}
	f.Add([]byte("application/json"), []byte(`{"token":"x"}`))
	f.Add([]byte("APPLICATION/X-WWW-FORM-URLENCODED; charset=utf-8"), []byte("action=signup"))
	f.Fuzz(func(t *testing.T, contentType, body []byte) {
		form, err := decodePageForm(contentType, body)
		if err != nil {
			if c := vayva.ErrorCode(err); c != vayva.EBADREQUEST && c != vayva.EUNSUPPORTEDMEDIATYPE {
				t.Fatalf("refused with %v, want bad_request or unsupported_media_type", err)
			}
			return
		}
		values, perr := url.ParseQuery(string(body))
		if perr != nil {
			t.Fatalf("accepted a body url.ParseQuery refuses: %v", perr)
		}
		if form.Token != values.Get("token") || form.Action != values.Get("action") || form.Name != values.Get("name") || form.Password != values.Get("password") {
			t.Fatalf("decoded %+v from %q", form, body)
		}
	})
}

// FuzzDecodeAPIKey checks the API key decoder.
func FuzzDecodeAPIKey(f *testing.F) {
	for _, s := range []string{`{"name":"CI"}`, `{"name":""}`, `{"name":"  "}`, `{"name":"\u0000"}`, `{"name":2}`, `{"":""}`, `{`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := decodeAPIKey(body)
		authRequireClientError(t, err)
		if err == nil {
			authRequireText(t, "name", in.Name, auth.MaxKeyNameLen)
		}
	})
}
