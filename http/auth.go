package http

import (
	"context"

	"github.com/valyala/fasthttp"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/auth"
)

// AuthService is what the account, session, API key and team routes and
// the pages of emailed links need. Implemented by *auth.Service.
type AuthService interface {
	Authenticator
	Signup(ctx context.Context, in auth.SignupInput, clientAddr string) (auth.Grant, error)
	Login(ctx context.Context, in auth.LoginInput, clientAddr string) (auth.Grant, error)
	Logout(ctx context.Context, t vayva.Tenant) error
	Me(ctx context.Context, t vayva.Tenant) (auth.Account, error)
	VerifyEmail(ctx context.Context, in auth.VerifyEmailInput) (auth.User, error)
	CreateAPIKey(ctx context.Context, t vayva.Tenant, in auth.APIKeyInput) (auth.APIKey, string, error)
	ListAPIKeys(ctx context.Context, t vayva.Tenant, limit int, cursor string) ([]auth.APIKey, string, error)
	DeleteAPIKey(ctx context.Context, t vayva.Tenant, id string) error
	ListMembers(ctx context.Context, t vayva.Tenant, limit int, cursor string) ([]auth.Member, string, error)
	InviteMember(ctx context.Context, t vayva.Tenant, in auth.MemberInput) (auth.Member, error)
	RemoveMember(ctx context.Context, t vayva.Tenant, id string) error
	Invitation(ctx context.Context, token string) (auth.InvitationDetails, error)
	AcceptInvitation(ctx context.Context, in auth.AcceptInvitationInput, caller *vayva.Tenant, clientAddr string) (auth.Grant, error)
}

var (
	_ AuthService   = (*auth.Service)(nil)
	_ Authenticator = (*auth.Service)(nil)
)

// AuthArea serves sign-up and sign-in, sessions, email verification, API
// keys, the store's team and its invitations (/v1/auth/*, /v1/me,
// /v1/api-keys, /v1/store/members, /v1/invitations/accept), and the pages
// the emailed links open (/verify-email, /accept-invitation).
type AuthArea struct {
	Service AuthService
}

// NewAuthArea returns the area over s.
func NewAuthArea(s AuthService) AuthArea { return AuthArea{Service: s} }

// Register adds the area's routes.
func (a AuthArea) Register(r *Routes) {
	r.Handle("POST", "/v1/auth/signup", Public, a.signup, SecretResponse())
	r.Handle("POST", "/v1/auth/login", Public, a.login, SecretResponse())
	r.Handle("POST", "/v1/auth/logout", Merchant, a.logout)
	r.Handle("POST", "/v1/auth/verify-email", Public, a.verifyEmail)
	r.Handle("GET", "/v1/me", Merchant, a.me)
	r.Handle("POST", "/v1/api-keys", Merchant, a.createAPIKey, SecretResponse())
	r.Handle("GET", "/v1/api-keys", Merchant, a.listAPIKeys)
	r.Handle("DELETE", "/v1/api-keys/{id}", Merchant, a.deleteAPIKey)
	r.Handle("GET", "/v1/store/members", Merchant, a.listMembers)
	r.Handle("POST", "/v1/store/members", Merchant, a.addMember)
	r.Handle("DELETE", "/v1/store/members/{id}", Merchant, a.removeMember)
	// Public: a signed-in caller sends a bearer token, anyone else the
	// password of the invited address's account.
	r.Handle("POST", "/v1/invitations/accept", Public, a.acceptInvitation, SecretResponse())
	a.registerPages(r)
}

// Request bodies.

type authSignupRequest struct {
	Email           string  `json:"email"`
	Password        string  `json:"password"`
	Name            string  `json:"name"`
	BusinessName    string  `json:"business_name"`
	StoreSlug       *string `json:"store_slug"`
	InvitationToken string  `json:"invitation_token"`
}

type authLoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	StoreID  string `json:"store_id"`
}

type authVerifyEmailRequest struct {
	Token string `json:"token"`
}

type authAcceptInvitationRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

type authAPIKeyRequest struct {
	Name string `json:"name"`
}

type teamMemberRequest struct {
	Email string `json:"email"`
	Role  string `json:"role"`
}

// decodeSignup parses and validates a sign-up body.
func decodeSignup(body []byte) (auth.SignupInput, error) {
	var req authSignupRequest
	if err := decodeJSONBytes(body, &req); err != nil {
		return auth.SignupInput{}, err
	}
	in := auth.SignupInput{Email: req.Email, Password: req.Password, Name: req.Name, BusinessName: req.BusinessName,
		StoreSlug: req.StoreSlug, InvitationToken: req.InvitationToken}
	return in, in.Normalize()
}

// decodeLogin parses and validates a sign-in body.
func decodeLogin(body []byte) (auth.LoginInput, error) {
	var req authLoginRequest
	if err := decodeJSONBytes(body, &req); err != nil {
		return auth.LoginInput{}, err
	}
	in := auth.LoginInput{Email: req.Email, Password: req.Password, StoreID: req.StoreID}
	return in, in.Normalize()
}

// decodeVerifyEmail parses and validates an email verification body.
func decodeVerifyEmail(body []byte) (auth.VerifyEmailInput, error) {
	var req authVerifyEmailRequest
	if err := decodeJSONBytes(body, &req); err != nil {
		return auth.VerifyEmailInput{}, err
	}
	in := auth.VerifyEmailInput{Token: req.Token}
	return in, in.Normalize()
}

// decodeAcceptInvitation parses and validates an invitation acceptance
// body.
func decodeAcceptInvitation(body []byte) (auth.AcceptInvitationInput, error) {
	var req authAcceptInvitationRequest
	if err := decodeJSONBytes(body, &req); err != nil {
		return auth.AcceptInvitationInput{}, err
	}
	in := auth.AcceptInvitationInput{Token: req.Token, Password: req.Password}
	return in, in.Normalize()
}

// decodeAPIKey parses and validates an API key creation body.
func decodeAPIKey(body []byte) (auth.APIKeyInput, error) {
	var req authAPIKeyRequest
	if err := decodeJSONBytes(body, &req); err != nil {
		return auth.APIKeyInput{}, err
	}
	in := auth.APIKeyInput{Name: req.Name}
	return in, in.Normalize()
}

// decodeMember parses and validates a team member body.
func decodeMember(body []byte) (auth.MemberInput, error) {
	var req teamMemberRequest
	if err := decodeJSONBytes(body, &req); err != nil {
		return auth.MemberInput{}, err
	}
	in := auth.MemberInput{Email: req.Email, Role: vayva.Role(req.Role)}
	return in, in.Normalize()
}

// Response bodies.

type authUserJSON struct {
	ID            string `json:"id"`
	Email         string `json:"email"`
	Name          string `json:"name"`
	EmailVerified bool   `json:"email_verified"`
}

type authMerchantJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type authStoreJSON struct {
	ID       string `json:"id"`
	Slug     string `json:"slug"`
	Name     string `json:"name"`
	Currency string `json:"currency"`
}

type authAccountJSON struct {
	User     authUserJSON     `json:"user"`
	Merchant authMerchantJSON `json:"merchant"`
	Store    authStoreJSON    `json:"store"`
	Role     vayva.Role       `json:"role"`
}

type authGrantJSON struct {
	Token     string `json:"token"`
	ExpiresAt string `json:"expires_at"`
	authAccountJSON
}

type authAPIKeyJSON struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Last4     string `json:"last4"`
	CreatedBy string `json:"created_by"`
	CreatedAt string `json:"created_at"`
}

type authNewAPIKeyJSON struct {
	authAPIKeyJSON
	Key string `json:"key"`
}

// teamMemberJSON is a member (status active, with the user) or an
// invitation (status invited or expired, with its expiry and no user).
type teamMemberJSON struct {
	ID        string     `json:"id"`
	Status    string     `json:"status"`
	UserID    string     `json:"user_id,omitempty"`
	Email     string     `json:"email"`
	Name      string     `json:"name,omitempty"`
	Role      vayva.Role `json:"role"`
	CreatedAt string     `json:"created_at"`
	ExpiresAt string     `json:"expires_at,omitempty"`
}

func authUser(u auth.User) authUserJSON {
	return authUserJSON{ID: u.ID, Email: u.Email, Name: u.Name, EmailVerified: u.EmailVerified}
}

func authAccount(a auth.Account) authAccountJSON {
	return authAccountJSON{
		User:     authUser(a.User),
		Merchant: authMerchantJSON{ID: a.Merchant.ID, Name: a.Merchant.Name},
		Store:    authStoreJSON{ID: a.Store.ID, Slug: a.Store.Slug, Name: a.Store.Name, Currency: a.Store.Currency},
		Role:     a.Role,
	}
}

func authGrant(g auth.Grant) authGrantJSON {
	return authGrantJSON{Token: g.Token, ExpiresAt: timeJSON(g.ExpiresAt), authAccountJSON: authAccount(g.Account)}
}

func authAPIKey(k auth.APIKey) authAPIKeyJSON {
	return authAPIKeyJSON{ID: k.ID, Name: k.Name, Last4: k.Last4, CreatedBy: k.CreatedBy, CreatedAt: timeJSON(k.CreatedAt)}
}

func teamMember(m auth.Member) teamMemberJSON {
	j := teamMemberJSON{ID: m.ID, Status: m.Status, UserID: m.UserID, Email: m.Email, Name: m.Name, Role: m.Role, CreatedAt: timeJSON(m.CreatedAt)}
	if !m.ExpiresAt.IsZero() {
		j.ExpiresAt = timeJSON(m.ExpiresAt)
	}
	return j
}

func authClientAddr(rc *fasthttp.RequestCtx) string { return rc.RemoteIP().String() }

// authRequireManager refuses roles that may not manage the team and API
// keys before their request body is even validated, so that they learn
// nothing from it. The service checks again.
func authRequireManager(t vayva.Tenant) error {
	if !t.Role.CanManageTeam() {
		return vayva.Errorf(vayva.EFORBIDDEN, "Only the store's owner and admins may do this.")
	}
	return nil
}

// Handlers.

func (a AuthArea) signup(ctx context.Context, rc *fasthttp.RequestCtx) error {
	in, err := decodeSignup(rc.PostBody())
	if err != nil {
		return err
	}
	g, err := a.Service.Signup(ctx, in, authClientAddr(rc))
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusCreated, authGrant(g))
}

func (a AuthArea) login(ctx context.Context, rc *fasthttp.RequestCtx) error {
	in, err := decodeLogin(rc.PostBody())
	if err != nil {
		return err
	}
	g, err := a.Service.Login(ctx, in, authClientAddr(rc))
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusOK, authGrant(g))
}

func (a AuthArea) logout(ctx context.Context, rc *fasthttp.RequestCtx) error {
	if err := a.Service.Logout(ctx, tenantOf(ctx)); err != nil {
		return err
	}
	rc.Response.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

func (a AuthArea) verifyEmail(ctx context.Context, rc *fasthttp.RequestCtx) error {
	in, err := decodeVerifyEmail(rc.PostBody())
	if err != nil {
		return err
	}
	u, err := a.Service.VerifyEmail(ctx, in)
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusOK, map[string]any{"user": authUser(u)})
}

func (a AuthArea) me(ctx context.Context, rc *fasthttp.RequestCtx) error {
	acct, err := a.Service.Me(ctx, tenantOf(ctx))
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusOK, authAccount(acct))
}

func (a AuthArea) createAPIKey(ctx context.Context, rc *fasthttp.RequestCtx) error {
	t := tenantOf(ctx)
	if err := authRequireManager(t); err != nil {
		return err
	}
	in, err := decodeAPIKey(rc.PostBody())
	if err != nil {
		return err
	}
	k, secret, err := a.Service.CreateAPIKey(ctx, t, in)
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusCreated, authNewAPIKeyJSON{authAPIKeyJSON: authAPIKey(k), Key: secret})
}

func (a AuthArea) listAPIKeys(ctx context.Context, rc *fasthttp.RequestCtx) error {
	limit, cursor, err := pageParams(rc)
	if err != nil {
		return err
	}
	keys, next, err := a.Service.ListAPIKeys(ctx, tenantOf(ctx), limit, cursor)
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusOK, mapList(keys, next, authAPIKey))
}

func (a AuthArea) deleteAPIKey(ctx context.Context, rc *fasthttp.RequestCtx) error {
	id, _ := rc.UserValue("id").(string)
	if err := a.Service.DeleteAPIKey(ctx, tenantOf(ctx), id); err != nil {
		return err
	}
	rc.Response.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

func (a AuthArea) listMembers(ctx context.Context, rc *fasthttp.RequestCtx) error {
	limit, cursor, err := pageParams(rc)
	if err != nil {
		return err
	}
	ms, next, err := a.Service.ListMembers(ctx, tenantOf(ctx), limit, cursor)
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusOK, mapList(ms, next, teamMember))
}

func (a AuthArea) addMember(ctx context.Context, rc *fasthttp.RequestCtx) error {
	t := tenantOf(ctx)
	if err := authRequireManager(t); err != nil {
		return err
	}
	in, err := decodeMember(rc.PostBody())
	if err != nil {
		return err
	}
	m, err := a.Service.InviteMember(ctx, t, in)
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusCreated, teamMember(m))
}

func (a AuthArea) removeMember(ctx context.Context, rc *fasthttp.RequestCtx) error {
	id, _ := rc.UserValue("id").(string)
	if err := a.Service.RemoveMember(ctx, tenantOf(ctx), id); err != nil {
		return err
	}
	rc.Response.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

func (a AuthArea) acceptInvitation(ctx context.Context, rc *fasthttp.RequestCtx) error {
	var caller *vayva.Tenant
	if len(rc.Request.Header.Peek("Authorization")) > 0 {
		token, ok := bearer(rc)
		if !ok {
			return vayva.Errorf(vayva.EUNAUTHORIZED, "The Authorization header must be a bearer token.")
		}
		t, err := a.Service.Authenticate(ctx, token)
		if err != nil {
			return err
		}
		caller = &t
	}
	in, err := decodeAcceptInvitation(rc.PostBody())
	if err != nil {
		return err
	}
	g, err := a.Service.AcceptInvitation(ctx, in, caller, authClientAddr(rc))
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusOK, authGrant(g))
}
