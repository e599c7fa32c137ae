package auth

import (
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vayvahq/vayva"
)

// Limits on what clients send. Field names in validation errors are the
// JSON names of the API.
const (
	MaxEmailLen   = 254 // RFC 5321 path limit
	maxLocalLen   = 64
	MaxNameLen    = 100
	MaxKeyNameLen = 100
	MinSlugLen    = 3
	MaxSlugLen    = 48
	// maxDerivedSlugLen leaves room for a "-<suffix>" that makes a derived
	// slug unique.
	maxDerivedSlugLen = 40
	maxTokenLen       = 200
)

// DefaultCurrency is the currency of new stores.
const DefaultCurrency = "NGN"

var slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*[a-z0-9]$`)

// SignupInput is a sign-up request.
type SignupInput struct {
	Email        string
	Password     string
	Name         string
	BusinessName string
	// StoreSlug is optional; nil derives the slug from BusinessName.
	StoreSlug *string
	// InvitationToken, when set, signs up to join the team that sent the
	// invitation instead of opening a business: BusinessName and StoreSlug
	// must then be absent, and Email may be (it is the invitation's).
	InvitationToken string
}

// Normalize trims the text fields and validates every field, returning one
// EINVALID error naming each bad field.
func (in *SignupInput) Normalize() error {
	var v vayva.Validation
	in.Email = strings.TrimSpace(in.Email)
	in.InvitationToken = strings.TrimSpace(in.InvitationToken)
	invited := in.InvitationToken != ""
	if invited {
		checkInvitationToken(&v, "invitation_token", in.InvitationToken)
	}
	if !invited || in.Email != "" {
		checkEmail(&v, "email", in.Email)
	}
	checkNewPassword(&v, "password", in.Password)
	in.Name = strings.TrimSpace(in.Name)
	checkText(&v, "name", in.Name, MaxNameLen)
	in.BusinessName = strings.TrimSpace(in.BusinessName)
	switch {
	case !invited:
		checkText(&v, "business_name", in.BusinessName, MaxNameLen)
	case in.BusinessName != "":
		v.Add("business_name", "must be absent when joining a team through an invitation")
	}
	if in.StoreSlug != nil {
		s := strings.TrimSpace(*in.StoreSlug)
		in.StoreSlug = &s
		if invited {
			v.Add("store_slug", "must be absent when joining a team through an invitation")
		} else {
			checkSlug(&v, "store_slug", s)
		}
	}
	return v.Err()
}

// LoginInput is a sign-in request.
type LoginInput struct {
	Email    string
	Password string
	// StoreID optionally picks which of the user's stores the session acts
	// in; empty picks the store the user owns, else the oldest membership.
	StoreID string
}

// Normalize validates the request. Only the shape is checked (no password
// rules), so that the answer says nothing about any account.
func (in *LoginInput) Normalize() error {
	var v vayva.Validation
	in.Email = strings.TrimSpace(in.Email)
	checkEmail(&v, "email", in.Email)
	switch {
	case in.Password == "":
		v.Add("password", "is required")
	case utf8.RuneCountInString(in.Password) > MaxPasswordLen:
		v.Add("password", "must be at most %d characters", MaxPasswordLen)
	}
	in.StoreID = strings.TrimSpace(in.StoreID)
	if in.StoreID != "" && !vayva.HasIDPrefix(in.StoreID, "sto") {
		v.Add("store_id", "is not a store id")
	}
	return v.Err()
}

// VerifyEmailInput redeems an email verification token.
type VerifyEmailInput struct {
	Token string
}

// Normalize validates the request.
func (in *VerifyEmailInput) Normalize() error {
	var v vayva.Validation
	in.Token = strings.TrimSpace(in.Token)
	switch {
	case in.Token == "":
		v.Add("token", "is required")
	case len(in.Token) > maxTokenLen || !validVerificationToken(in.Token):
		v.Add("token", "is invalid or has expired")
	}
	return v.Err()
}

// AcceptInvitationInput accepts an invitation to a store's team.
type AcceptInvitationInput struct {
	Token string
	// Password signs in as the account of the invitation's address, for a
	// caller without a bearer token; it must be absent when the caller is
	// signed in.
	Password string
}

// Normalize validates the request's shape. No password rules apply: the
// password is checked against an existing account.
func (in *AcceptInvitationInput) Normalize() error {
	var v vayva.Validation
	in.Token = strings.TrimSpace(in.Token)
	checkInvitationToken(&v, "token", in.Token)
	if utf8.RuneCountInString(in.Password) > MaxPasswordLen {
		v.Add("password", "must be at most %d characters", MaxPasswordLen)
	}
	return v.Err()
}

// APIKeyInput creates an API key.
type APIKeyInput struct {
	Name string
}

// Normalize validates the request.
func (in *APIKeyInput) Normalize() error {
	var v vayva.Validation
	in.Name = strings.TrimSpace(in.Name)
	checkText(&v, "name", in.Name, MaxKeyNameLen)
	return v.Err()
}

// MemberInput invites someone to the store's team.
type MemberInput struct {
	Email string
	Role  vayva.Role
}

// Normalize validates the request. Only admin and staff may be granted: a
// store has exactly one owner.
func (in *MemberInput) Normalize() error {
	var v vayva.Validation
	in.Email = strings.TrimSpace(in.Email)
	checkEmail(&v, "email", in.Email)
	switch in.Role {
	case vayva.RoleAdmin, vayva.RoleStaff:
	case "":
		v.Add("role", "is required")
	default:
		v.Add("role", "must be admin or staff")
	}
	return v.Err()
}

func checkInvitationToken(v *vayva.Validation, field, s string) {
	switch {
	case s == "":
		v.Add(field, "is required")
	case len(s) > maxTokenLen || !validInvitationToken(s):
		v.Add(field, "is invalid or has expired")
	}
}

func checkEmail(v *vayva.Validation, field, s string) {
	switch {
	case s == "":
		v.Add(field, "is required")
	case len(s) > MaxEmailLen:
		v.Add(field, "must be at most %d characters", MaxEmailLen)
	case !ValidEmail(s):
		v.Add(field, "is not a valid email address")
	}
}

func checkNewPassword(v *vayva.Validation, field, s string) {
	n := utf8.RuneCountInString(s)
	switch {
	case s == "":
		v.Add(field, "is required")
	case n < MinPasswordLen:
		v.Add(field, "must be at least %d characters", MinPasswordLen)
	case n > MaxPasswordLen:
		v.Add(field, "must be at most %d characters", MaxPasswordLen)
	}
}

func checkText(v *vayva.Validation, field, s string, max int) {
	switch {
	case s == "":
		v.Add(field, "is required")
	case !utf8.ValidString(s):
		v.Add(field, "must be valid UTF-8")
	case utf8.RuneCountInString(s) > max:
		v.Add(field, "must be at most %d characters", max)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		v.Add(field, "must not contain control characters")
	}
}

func checkSlug(v *vayva.Validation, field, s string) {
	switch {
	case s == "":
		v.Add(field, "must not be empty")
	case !ValidSlug(s):
		v.Add(field, "must be %d to %d characters of a-z, 0-9 and '-', starting and ending with a letter or digit", MinSlugLen, MaxSlugLen)
	}
}

// ValidSlug reports whether s may be a store slug: 3 to 48 characters of
// lowercase ASCII letters, digits and hyphens, starting and ending with a
// letter or digit (the store's address, so it stays readable in a URL).
func ValidSlug(s string) bool {
	return len(s) >= MinSlugLen && len(s) <= MaxSlugLen && slugPattern.MatchString(s)
}

// ValidEmail reports whether s is an email address the runtime accepts: a
// dot-atom local part of at most 64 characters, "@", and a domain name of at
// least two labels (letters, digits and inner hyphens; an internationalised
// domain in its xn-- form). Quoted local parts, comments, address literals
// and display names are refused: they are legal but serve only to smuggle.
func ValidEmail(s string) bool {
	if len(s) > MaxEmailLen {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	if at < 1 || at > maxLocalLen || at == len(s)-1 {
		return false
	}
	local, domain := s[:at], s[at+1:]
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return false
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		if !isAlnum(c) && !strings.ContainsRune(".!#$%&'*+/=?^_`{|}~-", rune(c)) {
			return false
		}
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			if !isAlnum(l[i]) && l[i] != '-' {
				return false
			}
		}
	}
	tld := labels[len(labels)-1]
	return strings.IndexFunc(tld, func(r rune) bool { return r < '0' || r > '9' }) >= 0
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// normalizedEmail is the form emails are compared in: lower case. The
// stored address keeps the case the user typed.
func normalizedEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// DeriveSlug turns a business name into a store slug: lower-case ASCII
// letters and digits, every other run of characters becoming one hyphen, at
// most 40 characters so that a uniqueness suffix fits. Names with too few
// usable characters get "store" added.
func DeriveSlug(name string) string {
	var b strings.Builder
	hyphen := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			if hyphen && b.Len() > 0 {
				b.WriteByte('-')
			}
			hyphen = false
			b.WriteRune(r)
		case unicode.Is(unicode.Mn, r):
			// A combining accent belongs to the letter before it.
			continue
		default:
			if f, ok := foldLatin(r); ok {
				if hyphen && b.Len() > 0 {
					b.WriteByte('-')
				}
				hyphen = false
				b.WriteString(f)
				continue
			}
			hyphen = true
		}
		if b.Len() >= maxDerivedSlugLen {
			break
		}
	}
	s := strings.Trim(b.String(), "-")
	if len(s) > maxDerivedSlugLen {
		s = strings.TrimRight(s[:maxDerivedSlugLen], "-")
	}
	switch {
	case s == "":
		return "store"
	case len(s) < MinSlugLen:
		return s + "-store"
	}
	return s
}

// latinFolds maps the accented Latin letters common in Nigerian and European
// business names (Yoruba and Igbo subdots, French, German…) to ASCII.
var latinFolds = func() map[rune]string {
	m := map[rune]string{'ß': "ss", 'æ': "ae", 'œ': "oe"}
	for to, from := range map[string]string{
		"a": "àáâãäåā", "e": "èéêëẹē", "i": "ìíîïịī", "o": "òóôõöọøō", "u": "ùúûüụū",
		"n": "ñńǹṅ", "y": "ýÿ", "s": "şșṣś", "c": "çč", "d": "đ", "l": "ł", "z": "źżž",
	} {
		for _, r := range from {
			m[r] = to
		}
	}
	return m
}()

func foldLatin(r rune) (string, bool) {
	s, ok := latinFolds[r]
	return s, ok
}

// encodeCursor makes the opaque list cursor that points after an item, in
// the API's one cursor format.
func encodeCursor(createdAt time.Time, id string) string {
	return vayva.EncodeTimeCursor(createdAt, id)
}

// decodeCursor parses a cursor made by encodeCursor; "" is not one.
func decodeCursor(s string) (time.Time, string, bool) {
	at, id, err := vayva.DecodeTimeCursor(s)
	if err != nil || id == "" {
		return time.Time{}, "", false
	}
	return at, id, true
}
