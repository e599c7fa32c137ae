package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/internal/startstop"
)

// Repository persists accounts, credentials and teams. Every method that takes a
// vayva.Tenant confines itself to the tenant's merchant and store. Errors
// carry vayva codes: ENOTFOUND for missing or foreign records, ECONFLICT for
// duplicates, EUNAVAILABLE when the database is down. Implemented by
// *postgres.Accounts.
type Repository interface {
	// CreateAccount writes a sign-up in one transaction.
	CreateAccount(ctx context.Context, a NewAccount) (Account, error)
	// FindLogin looks up a user by email (compared case-insensitively) with
	// the membership a session would act as: the one in storeID when
	// given, else the user's own store, else the oldest. ENOTFOUND when no
	// user has the email.
	FindLogin(ctx context.Context, email, storeID string) (LoginRecord, error)
	// CreateSession stores a session.
	CreateSession(ctx context.Context, s NewSession) error
	// ResolveToken returns the tenant of a live (not revoked, not expired)
	// credential of kind "session" or "api_key" whose user still belongs to
	// the store, and when the credential expires (zero: never).
	ResolveToken(ctx context.Context, kind string, h TokenHash) (vayva.Tenant, time.Time, error)
	// RevokeCredential revokes the session or API key t authenticated with.
	RevokeCredential(ctx context.Context, t vayva.Tenant) error
	// Account returns the user, merchant and store of t.
	Account(ctx context.Context, t vayva.Tenant) (Account, error)
	// UseVerificationToken redeems an email verification token once and
	// marks the user's email verified.
	UseVerificationToken(ctx context.Context, h TokenHash) (User, error)
	// CreateAPIKey stores a key of t's store, created by t's user.
	CreateAPIKey(ctx context.Context, t vayva.Tenant, k NewAPIKey) (APIKey, error)
	// ListAPIKeys lists the live keys of t's store, newest first.
	ListAPIKeys(ctx context.Context, t vayva.Tenant, q PageQuery) ([]APIKey, error)
	// RevokeAPIKey revokes a live key of t's store.
	RevokeAPIKey(ctx context.Context, t vayva.Tenant, id string) error
	// ListMembers lists the team of t's store, members and pending
	// invitations together, oldest first.
	ListMembers(ctx context.Context, t vayva.Tenant, q PageQuery) ([]Member, error)
	// RemoveMember removes a member from the team of t's store and revokes
	// the user's sessions and API keys there. The owner cannot be removed.
	RemoveMember(ctx context.Context, t vayva.Tenant, id string) (Member, error)
	// InviteMember stores an invitation to the team of t's store and
	// appends its email to the outbox, in one transaction. When the
	// address has a pending invitation already, that one keeps its id and
	// gets n's token, role and expiry, so only the newest link works. A
	// member of the team with the address is ECONFLICT. Whether anyone
	// else has an account with the address plays no part.
	InviteMember(ctx context.Context, t vayva.Tenant, n NewInvitation) (Member, error)
	// RevokeInvitation revokes a pending invitation of t's store.
	RevokeInvitation(ctx context.Context, t vayva.Tenant, id string) error
	// FindInvitation returns the pending, unexpired invitation whose token
	// has hash h; ENOTFOUND for any other.
	FindInvitation(ctx context.Context, h TokenHash) (InvitationDetails, error)
	// AcceptInvitation redeems the invitation with token hash h for the
	// user userID, whose verified email must be the invitation's
	// (EFORBIDDEN otherwise), makes them a member of its store (a user
	// already there keeps their role) and opens session s there, in one
	// transaction. An invitation that is not pending or has expired is
	// ENOTFOUND.
	// memberID names the new membership.
	AcceptInvitation(ctx context.Context, h TokenHash, userID, memberID string, s NewSession) (Account, error)
	// CreateInvitedAccount writes a sign-up through an invitation in one
	// transaction. The invitation's refusals are AcceptInvitation's; a
	// taken email is ECONFLICT.
	CreateInvitedAccount(ctx context.Context, n NewInvitedAccount) (Account, error)
}

// Rate is an allowance of Max events per fixed Window.
type Rate struct {
	Max    int
	Window time.Duration
}

// Limit is a Rate applied to one counter, named by Key.
type Limit struct {
	Key string
	Rate
}

// RateLimiter counts attempts in shared counters, so that limits hold across
// every node. Implemented by *redis.RateLimiter.
type RateLimiter interface {
	// Take counts one attempt against every limit. It reports whether all
	// of them still allow it and, if not, how long until the refusing
	// windows have all reset.
	Take(ctx context.Context, limits ...Limit) (ok bool, retryAfter time.Duration, err error)
	// Refund gives one attempt back to every limit (a successful sign-in
	// should not count against the user).
	Refund(ctx context.Context, limits ...Limit) error
}

// Revocations spreads credential revocations to every node and counts them
// with a cluster-wide generation. Implemented by *redis.Revocations.
type Revocations interface {
	// Publish increments the generation and announces r with the new
	// value, atomically.
	Publish(ctx context.Context, r Revocation) error
	// Generation returns how many revocations have been published.
	Generation(ctx context.Context) (int64, error)
	// Subscribe delivers published revocations to l, in generation order,
	// until the subscription is closed.
	Subscribe(ctx context.Context, l RevocationListener) (Subscription, error)
}

// RevocationListener receives what a Revocations subscription hears. Calls
// come from one goroutine, in order.
type RevocationListener interface {
	// Revoked delivers a revocation published as generation gen.
	Revoked(gen int64, r Revocation)
	// Synced says the subscription is in place and gen revocations had
	// been published by then; messages from before may have been missed.
	Synced(gen int64)
	// Lost says the subscription broke; messages may be missed until the
	// next Synced.
	Lost()
}

// Subscription is a running subscription.
type Subscription interface {
	// Close ends the subscription and waits for its goroutine.
	Close() error
}

// Config configures the Service.
type Config struct {
	// PublicURL is the base of links in emails (VAYVA_PUBLIC_URL), e.g.
	// https://vayva.ng. Required.
	PublicURL string
	// Hash are the argon2id parameters of new password hashes. Zero fields
	// take the Default* constants.
	Hash HashParams
	// SessionTTL is how long a session token works. Defaults to 30 days.
	SessionTTL time.Duration
	// VerificationTTL is how long an email verification token works.
	// Defaults to 48 hours.
	VerificationTTL time.Duration
	// InviteTTL is how long an invitation works. Defaults to 7 days.
	InviteTTL time.Duration
	// LoginPerEmail limits sign-in attempts per email address. Defaults to
	// 10 a minute.
	LoginPerEmail Rate
	// LoginPerAddress limits sign-in attempts per client address. Defaults
	// to 50 a minute.
	LoginPerAddress Rate
	// SignupPerAddress limits sign-ups per client address. Defaults to 20
	// a minute: enough for a team or a test suite behind one address,
	// while one address opens at most 1,200 accounts an hour. A negative
	// Max disables the limit.
	SignupPerAddress Rate
	// InvitesPerStore limits the invitations a store sends, so a store's
	// team cannot use the platform to mail arbitrary addresses in bulk.
	// Defaults to 50 an hour; a negative Max disables the limit.
	InvitesPerStore Rate
	// CacheTTL bounds how long a resolved token stays in the in-process
	// cache. Defaults to 1 minute; a negative value disables the cache.
	CacheTTL time.Duration
	// CacheSize bounds the number of cached tokens. Defaults to 100000.
	CacheSize int
	// Registerer receives the service's metrics; nil registers none.
	Registerer prometheus.Registerer
}

func (c Config) withDefaults() (Config, error) {
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, fmt.Errorf("auth: PublicURL: %q is not an http(s) URL", c.PublicURL)
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if c.SessionTTL <= 0 {
		c.SessionTTL = 30 * 24 * time.Hour
	}
	if c.VerificationTTL <= 0 {
		c.VerificationTTL = 48 * time.Hour
	}
	if c.InviteTTL <= 0 {
		c.InviteTTL = 7 * 24 * time.Hour
	}
	if c.LoginPerEmail == (Rate{}) {
		c.LoginPerEmail = Rate{Max: 10, Window: time.Minute}
	}
	if c.LoginPerAddress == (Rate{}) {
		c.LoginPerAddress = Rate{Max: 50, Window: time.Minute}
	}
	if c.SignupPerAddress == (Rate{}) {
		c.SignupPerAddress = Rate{Max: 20, Window: time.Minute}
	}
	if c.InvitesPerStore == (Rate{}) {
		c.InvitesPerStore = Rate{Max: 50, Window: time.Hour}
	}
	for name, r := range map[string]Rate{"LoginPerEmail": c.LoginPerEmail, "LoginPerAddress": c.LoginPerAddress,
		"SignupPerAddress": c.SignupPerAddress, "InvitesPerStore": c.InvitesPerStore} {
		if r.Max > 0 && r.Window < time.Millisecond {
			return c, fmt.Errorf("auth: %s: window must be at least 1ms", name)
		}
	}
	if c.CacheTTL == 0 {
		c.CacheTTL = time.Minute
	}
	if c.CacheSize <= 0 {
		c.CacheSize = 100000
	}
	return c, nil
}

// Service is accounts, sessions, API keys and teams: sign-up and sign-in,
// the bearer-token authenticator of the HTTP edge, email verification and
// team management. It is a long-lived component with the semantics of
// package startstop: Start subscribes to revocations for the token cache,
// Stop ends that.
type Service struct {
	startstop.BaseStartStop

	cfg     Config
	repo    Repository
	limiter RateLimiter
	revs    Revocations
	hasher  *Hasher
	cache   *tokenCache // nil when disabled
	log     zerolog.Logger

	cacheLookups *prometheus.CounterVec
	logins       *prometheus.CounterVec
	hashes       *prometheus.CounterVec

	sub Subscription // set by Start when the cache is on
}

// NewService returns a service over repo, limiter and revs. Nothing runs
// until Start.
func NewService(cfg Config, repo Repository, limiter RateLimiter, revs Revocations, log zerolog.Logger) (*Service, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg: cfg, repo: repo, limiter: limiter, revs: revs,
		hasher: NewHasher(cfg.Hash),
		log:    log.With().Str("component", "auth").Logger(),
		cacheLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vayva_auth_token_cache_lookups_total",
			Help: "Bearer token lookups by result: hit (answered from the in-process cache), miss (database), bypass (cache unusable: disabled, out of sync or Redis unreachable).",
		}, []string{"result"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vayva_auth_logins_total",
			Help: "Sign-in attempts by result: ok, failed, rate_limited.",
		}, []string{"result"}),
		hashes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vayva_auth_password_hashes_total",
			Help: "Argon2id computations by operation: hash (a new password) or verify (a sign-in). Each costs the configured memory and time.",
		}, []string{"op"}),
	}
	if cfg.CacheTTL > 0 {
		s.cache = newTokenCache(cfg.CacheTTL, cfg.CacheSize)
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{s.cacheLookups, s.logins, s.hashes} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("auth: metrics: %w", err)
			}
		}
	}
	return s, nil
}

// Hasher returns the service's password hasher.
func (s *Service) Hasher() *Hasher { return s.hasher }

// Start subscribes the token cache to revocations. ctx bounds only the
// start.
func (s *Service) Start(ctx context.Context) (err error) {
	run, started, stopped, err := s.StartInit(ctx)
	if err != nil {
		return err
	}
	if s.cache == nil {
		started()
		return nil
	}
	sctx, cancel := startstop.StartupContext(ctx, run)
	defer cancel()
	sub, err := s.revs.Subscribe(sctx, s.cache)
	if err != nil {
		stopped()
		return fmt.Errorf("auth: subscribe to revocations: %w", err)
	}
	s.sub = sub
	started()
	return nil
}

// Stop ends the revocation subscription; the cache is no longer used.
func (s *Service) Stop(ctx context.Context) error {
	return s.StopWith(ctx, func(context.Context) error {
		if s.sub == nil {
			return nil
		}
		s.cache.Lost()
		return s.sub.Close()
	})
}

var (
	errBadCredentials = vayva.Errorf(vayva.EUNAUTHORIZED, "The email or password is incorrect.")
	errBadToken       = vayva.Errorf(vayva.EUNAUTHORIZED, "The bearer token is invalid, expired or revoked.")
	errNotManager     = vayva.Errorf(vayva.EFORBIDDEN, "Only the store's owner and admins may do this.")
)

// hash hashes a new password, counting the work.
func (s *Service) hash(ctx context.Context, password string) (string, error) {
	s.hashes.WithLabelValues("hash").Inc()
	return s.hasher.Hash(ctx, password)
}

// verify checks a password against a stored hash (a dummy one when empty),
// counting the work.
func (s *Service) verify(ctx context.Context, password, hash string) (bool, error) {
	s.hashes.WithLabelValues("verify").Inc()
	return s.hasher.Verify(ctx, password, hash)
}

// take counts one attempt against limits, refusing with a
// *vayva.RateLimitedError when one is exhausted. Limits with a negative Max are
// off.
func (s *Service) take(ctx context.Context, limits ...Limit) error {
	on := limits[:0:0]
	for _, l := range limits {
		if l.Max > 0 {
			on = append(on, l)
		}
	}
	if len(on) == 0 {
		return nil
	}
	ok, retry, err := s.limiter.Take(ctx, on...)
	if err != nil {
		return err
	}
	if !ok {
		return &vayva.RateLimitedError{RetryAfter: retry}
	}
	return nil
}

// loginLimits are the sign-in limits of an attempt for email from
// clientAddr.
func (s *Service) loginLimits(email, clientAddr string) []Limit {
	sum := sha256.Sum256([]byte(normalizedEmail(email)))
	limits := []Limit{{Key: "login:email:" + hex.EncodeToString(sum[:16]), Rate: s.cfg.LoginPerEmail}}
	if clientAddr != "" {
		limits = append(limits, Limit{Key: "login:addr:" + clientAddr, Rate: s.cfg.LoginPerAddress})
	}
	return limits
}

// badInvitation is the refusal of an invitation token that is unknown,
// used, revoked or expired, naming the request's field.
func badInvitation(field string) error {
	return &vayva.Error{Code: vayva.EINVALID, Message: "The invitation is invalid, used or expired.",
		Fields: []vayva.FieldError{{Field: field, Message: "is invalid or has expired"}}}
}

// invitationRefusal turns the repository's "no such pending invitation"
// into the validation refusal naming field.
func invitationRefusal(err error, field string) error {
	if vayva.ErrorCode(err) == vayva.ENOTFOUND {
		return badInvitation(field)
	}
	return err
}

// Signup creates a user, their merchant and store, makes them the store's
// owner, queues the verification email and opens a first session, all in
// one transaction. clientAddr is the caller's IP address, for the sign-up
// rate limit.
func (s *Service) Signup(ctx context.Context, in SignupInput, clientAddr string) (Grant, error) {
	if err := in.Normalize(); err != nil {
		return Grant{}, err
	}
	if clientAddr != "" {
		if err := s.take(ctx, Limit{Key: "signup:addr:" + clientAddr, Rate: s.cfg.SignupPerAddress}); err != nil {
			return Grant{}, err
		}
	}
	if in.InvitationToken != "" {
		return s.signupInvited(ctx, in)
	}
	hash, err := s.hash(ctx, in.Password)
	if err != nil {
		return Grant{}, err
	}
	now := time.Now().UTC()
	token, th := newToken(SessionPrefix)
	vtoken, vh := newToken(VerificationPrefix)
	a := NewAccount{
		UserID:       vayva.NewID("usr"),
		Email:        in.Email,
		Name:         in.Name,
		PasswordHash: hash,
		MerchantID:   vayva.NewID("mer"),
		BusinessName: in.BusinessName,
		StoreID:      vayva.NewID("sto"),
		Slug:         DeriveSlug(in.BusinessName),
		Currency:     DefaultCurrency,
		MemberID:     vayva.NewID("mem"),
		Verification: NewVerification{TokenHash: vh, Purpose: PurposeVerifyEmail, ExpiresAt: now.Add(s.cfg.VerificationTTL)},
	}
	if in.StoreSlug != nil {
		a.Slug, a.SlugExplicit = *in.StoreSlug, true
	}
	a.Session = NewSession{ID: vayva.NewID("ses"), UserID: a.UserID, MerchantID: a.MerchantID, StoreID: a.StoreID,
		TokenHash: th, ExpiresAt: now.Add(s.cfg.SessionTTL)}
	a.Events = []vayva.Event{emailEvent(now, a.MerchantID, vayva.SendEmail{
		Template: vayva.EmailVerification, To: a.Email, MerchantID: a.MerchantID,
		Vars: map[string]string{"name": a.Name, "verify_url": s.verifyURL(vtoken), "store_name": a.BusinessName},
	})}
	acct, err := s.repo.CreateAccount(ctx, a)
	if err != nil {
		return Grant{}, err
	}
	return Grant{Token: token, ExpiresAt: a.Session.ExpiresAt, Account: acct}, nil
}

// signupInvited signs up to join the team whose invitation in carries. The
// invitation's email proves the address, so the user starts verified and
// no verification email is sent. The token is checked before the password
// is hashed: a bad token costs no argon2 work.
func (s *Service) signupInvited(ctx context.Context, in SignupInput) (Grant, error) {
	h := HashToken(in.InvitationToken)
	inv, err := s.repo.FindInvitation(ctx, h)
	if err != nil {
		return Grant{}, invitationRefusal(err, "invitation_token")
	}
	if in.Email != "" && normalizedEmail(in.Email) != normalizedEmail(inv.Email) {
		return Grant{}, wrongInvitationEmail()
	}
	hash, err := s.hash(ctx, in.Password)
	if err != nil {
		return Grant{}, err
	}
	token, th := newToken(SessionPrefix)
	n := NewInvitedAccount{
		InvitationHash: h, UserID: vayva.NewID("usr"), Email: in.Email, Name: in.Name, PasswordHash: hash,
		MemberID: vayva.NewID("mem"),
	}
	n.Session = NewSession{ID: vayva.NewID("ses"), UserID: n.UserID, TokenHash: th, ExpiresAt: time.Now().UTC().Add(s.cfg.SessionTTL)}
	acct, err := s.repo.CreateInvitedAccount(ctx, n)
	if err != nil {
		return Grant{}, invitationRefusal(err, "invitation_token")
	}
	return Grant{Token: token, ExpiresAt: n.Session.ExpiresAt, Account: acct}, nil
}

func wrongInvitationEmail() error {
	return &vayva.Error{Code: vayva.EINVALID, Message: "The invitation was sent to another email address.",
		Fields: []vayva.FieldError{{Field: "email", Message: "must be the address the invitation was sent to"}}}
}

// Invitation describes the pending invitation token leads to, for the page
// its link opens. It reads only: the token stays usable.
func (s *Service) Invitation(ctx context.Context, token string) (InvitationDetails, error) {
	var v vayva.Validation
	token = strings.TrimSpace(token)
	checkInvitationToken(&v, "token", token)
	if err := v.Err(); err != nil {
		return InvitationDetails{}, err
	}
	inv, err := s.repo.FindInvitation(ctx, HashToken(token))
	if err != nil {
		return InvitationDetails{}, invitationRefusal(err, "token")
	}
	return inv, nil
}

// AcceptInvitation joins the team an invitation leads to and opens a
// session in its store. A signed-in caller (caller non-nil) accepts as
// themselves; anyone else signs in with the password of the account of
// the invitation's address, under the sign-in rate limits. Either way the
// account's verified email must be the invitation's. The token is checked
// before any password work.
func (s *Service) AcceptInvitation(ctx context.Context, in AcceptInvitationInput, caller *vayva.Tenant, clientAddr string) (Grant, error) {
	if err := in.Normalize(); err != nil {
		return Grant{}, err
	}
	var v vayva.Validation
	switch {
	case caller != nil && in.Password != "":
		v.Add("password", "must be absent when the request is signed in")
	case caller == nil && in.Password == "":
		v.Add("password", "is required without a bearer token")
	}
	if err := v.Err(); err != nil {
		return Grant{}, err
	}
	h := HashToken(in.Token)
	inv, err := s.repo.FindInvitation(ctx, h)
	if err != nil {
		return Grant{}, invitationRefusal(err, "token")
	}
	var userID string
	if caller != nil {
		userID = caller.UserID
	} else {
		limits := s.loginLimits(inv.Email, clientAddr)
		if err := s.take(ctx, limits...); err != nil {
			s.logins.WithLabelValues("rate_limited").Inc()
			return Grant{}, err
		}
		rec, err := s.repo.FindLogin(ctx, normalizedEmail(inv.Email), "")
		if err != nil && vayva.ErrorCode(err) != vayva.ENOTFOUND {
			return Grant{}, err
		}
		good, err := s.verify(ctx, in.Password, rec.PasswordHash)
		if errors.Is(err, ErrMalformedHash) {
			s.log.Error().Err(err).Str("user_id", rec.User.ID).Msg("stored password hash is malformed")
			good, err = false, nil
		}
		if err != nil {
			return Grant{}, err
		}
		if !good {
			s.logins.WithLabelValues("failed").Inc()
			return Grant{}, errBadCredentials
		}
		s.logins.WithLabelValues("ok").Inc()
		if err := s.limiter.Refund(ctx, limits...); err != nil {
			s.log.Warn().Err(err).Msg("refunding sign-in attempt")
		}
		userID = rec.User.ID
	}
	token, th := newToken(SessionPrefix)
	ses := NewSession{ID: vayva.NewID("ses"), UserID: userID, TokenHash: th, ExpiresAt: time.Now().UTC().Add(s.cfg.SessionTTL)}
	acct, err := s.repo.AcceptInvitation(ctx, h, userID, vayva.NewID("mem"), ses)
	if err != nil {
		return Grant{}, invitationRefusal(err, "token")
	}
	return Grant{Token: token, ExpiresAt: ses.ExpiresAt, Account: acct}, nil
}

// Login checks an email and password and opens a session. Unknown emails
// and wrong passwords fail alike, after the same hashing work. Attempts are
// limited per email and per client address (clientAddr, the caller's IP);
// a successful sign-in is not counted.
func (s *Service) Login(ctx context.Context, in LoginInput, clientAddr string) (Grant, error) {
	if err := in.Normalize(); err != nil {
		return Grant{}, err
	}
	email := normalizedEmail(in.Email)
	limits := s.loginLimits(email, clientAddr)
	if err := s.take(ctx, limits...); err != nil {
		if vayva.ErrorCode(err) == vayva.ERATELIMITED {
			s.logins.WithLabelValues("rate_limited").Inc()
		}
		return Grant{}, err
	}
	rec, err := s.repo.FindLogin(ctx, email, in.StoreID)
	if err != nil && vayva.ErrorCode(err) != vayva.ENOTFOUND {
		return Grant{}, err
	}
	// For an unknown email rec.PasswordHash is empty and Verify spends the
	// same work on a dummy hash.
	good, err := s.verify(ctx, in.Password, rec.PasswordHash)
	if errors.Is(err, ErrMalformedHash) {
		s.log.Error().Err(err).Str("user_id", rec.User.ID).Msg("stored password hash is malformed")
		good, err = false, nil
	}
	if err != nil {
		return Grant{}, err
	}
	if !good || rec.Account.Store.ID == "" {
		s.logins.WithLabelValues("failed").Inc()
		return Grant{}, errBadCredentials
	}
	if err := s.limiter.Refund(ctx, limits...); err != nil {
		s.log.Warn().Err(err).Msg("refunding sign-in attempt")
	}
	ses := NewSession{ID: vayva.NewID("ses"), UserID: rec.User.ID, MerchantID: rec.Account.Merchant.ID, StoreID: rec.Account.Store.ID,
		ExpiresAt: time.Now().UTC().Add(s.cfg.SessionTTL)}
	token, th := newToken(SessionPrefix)
	ses.TokenHash = th
	if s.hasher.NeedsRehash(rec.PasswordHash) {
		if ses.Rehash, err = s.hash(ctx, in.Password); err != nil {
			return Grant{}, err
		}
	}
	if err := s.repo.CreateSession(ctx, ses); err != nil {
		return Grant{}, err
	}
	s.logins.WithLabelValues("ok").Inc()
	acct := rec.Account
	acct.User = rec.User
	return Grant{Token: token, ExpiresAt: ses.ExpiresAt, Account: acct}, nil
}

// Authenticate resolves a bearer token (session token or API key) to its
// tenant. Unknown, expired and revoked tokens, and tokens of users no longer
// in the store's team, are vayva.EUNAUTHORIZED. It implements the HTTP
// edge's Authenticator.
func (s *Service) Authenticate(ctx context.Context, token string) (vayva.Tenant, error) {
	kind := tokenKind(token)
	if kind == "" {
		return vayva.Tenant{}, errBadToken
	}
	h := HashToken(token)
	var ticket cacheTicket
	result := "bypass"
	if s.cache != nil {
		if gen, err := s.revs.Generation(ctx); err == nil {
			t, hit, tk := s.cache.get(h, gen)
			if hit {
				s.cacheLookups.WithLabelValues("hit").Inc()
				return t, nil
			}
			ticket = tk
			if tk.ok {
				result = "miss"
			}
		}
	}
	s.cacheLookups.WithLabelValues(result).Inc()
	t, expires, err := s.repo.ResolveToken(ctx, kind, h)
	if err != nil {
		if vayva.ErrorCode(err) == vayva.ENOTFOUND {
			return vayva.Tenant{}, errBadToken
		}
		return vayva.Tenant{}, err
	}
	if s.cache != nil {
		s.cache.put(ticket, h, t, expires)
	}
	return t, nil
}

// Logout revokes the credential t authenticated with, on every node.
func (s *Service) Logout(ctx context.Context, t vayva.Tenant) error {
	if err := s.repo.RevokeCredential(ctx, t); err != nil {
		return err
	}
	s.revoke(ctx, Revocation{CredentialID: t.CredentialID})
	return nil
}

// Me returns the account t acts as.
func (s *Service) Me(ctx context.Context, t vayva.Tenant) (Account, error) {
	a, err := s.repo.Account(ctx, t)
	if err != nil {
		return Account{}, err
	}
	a.Role = t.Role
	return a, nil
}

// VerifyEmail redeems an email verification token. It costs one database
// round trip and no password work, whatever the token.
func (s *Service) VerifyEmail(ctx context.Context, in VerifyEmailInput) (User, error) {
	if err := in.Normalize(); err != nil {
		return User{}, err
	}
	return s.repo.UseVerificationToken(ctx, HashToken(in.Token))
}

// CreateAPIKey creates an API key for t's store and returns it with its
// secret, which is not kept anywhere.
func (s *Service) CreateAPIKey(ctx context.Context, t vayva.Tenant, in APIKeyInput) (APIKey, string, error) {
	if !t.Role.CanManageTeam() {
		return APIKey{}, "", errNotManager
	}
	if err := in.Normalize(); err != nil {
		return APIKey{}, "", err
	}
	secret, h := newToken(APIKeyPrefix)
	k, err := s.repo.CreateAPIKey(ctx, t, NewAPIKey{ID: vayva.NewID("key"), Name: in.Name, Last4: secret[len(secret)-4:], TokenHash: h})
	if err != nil {
		return APIKey{}, "", err
	}
	return k, secret, nil
}

// ListAPIKeys returns one page of t's store's live API keys, newest first,
// and the cursor of the next page ("" on the last).
func (s *Service) ListAPIKeys(ctx context.Context, t vayva.Tenant, limit int, cursor string) ([]APIKey, string, error) {
	if !t.Role.CanManageTeam() {
		return nil, "", errNotManager
	}
	q, err := pageQuery(limit, cursor)
	if err != nil {
		return nil, "", err
	}
	keys, err := s.repo.ListAPIKeys(ctx, t, q)
	if err != nil {
		return nil, "", err
	}
	if len(keys) <= limit {
		return keys, "", nil
	}
	keys = keys[:limit]
	last := keys[limit-1]
	return keys, encodeCursor(last.CreatedAt, last.ID), nil
}

// DeleteAPIKey revokes an API key of t's store on every node. A key of
// another store is ENOTFOUND.
func (s *Service) DeleteAPIKey(ctx context.Context, t vayva.Tenant, id string) error {
	if !t.Role.CanManageTeam() {
		return errNotManager
	}
	if !vayva.HasIDPrefix(id, "key") {
		return vayva.Errorf(vayva.ENOTFOUND, "No API key %q.", id)
	}
	if err := s.repo.RevokeAPIKey(ctx, t, id); err != nil {
		return err
	}
	s.revoke(ctx, Revocation{CredentialID: id})
	return nil
}

// ListMembers returns one page of the team of t's store, oldest first, and
// the cursor of the next page ("" on the last). Owners and admins only.
func (s *Service) ListMembers(ctx context.Context, t vayva.Tenant, limit int, cursor string) ([]Member, string, error) {
	if !t.Role.CanManageTeam() {
		return nil, "", errNotManager
	}
	q, err := pageQuery(limit, cursor)
	if err != nil {
		return nil, "", err
	}
	ms, err := s.repo.ListMembers(ctx, t, q)
	if err != nil {
		return nil, "", err
	}
	if len(ms) <= limit {
		return ms, "", nil
	}
	ms = ms[:limit]
	last := ms[limit-1]
	return ms, encodeCursor(last.CreatedAt, last.ID), nil
}

// InviteMember invites someone to the team of t's store: it stores a
// pending invitation and queues the invitation email, whose link lets the
// invitee accept (signed in, or by signing up). The answer is the same
// whether or not the address has an account, and the work done is too:
// nothing about other accounts is looked up. Inviting an address with a
// pending invitation sends a new link (the old one stops working); a
// member of the team is ECONFLICT. Owners and admins only, and a store
// sends at most Config.InvitesPerStore invitations.
func (s *Service) InviteMember(ctx context.Context, t vayva.Tenant, in MemberInput) (Member, error) {
	if !t.Role.CanManageTeam() {
		return Member{}, errNotManager
	}
	if err := in.Normalize(); err != nil {
		return Member{}, err
	}
	if err := s.take(ctx, Limit{Key: "invite:store:" + t.StoreID, Rate: s.cfg.InvitesPerStore}); err != nil {
		return Member{}, err
	}
	inviter, err := s.repo.Account(ctx, t)
	if err != nil {
		return Member{}, err
	}
	now := time.Now().UTC()
	token, h := newToken(InvitationPrefix)
	n := NewInvitation{
		ID: vayva.NewID("inv"), Email: in.Email, Role: in.Role, InvitedBy: t.UserID,
		TokenHash: h, ExpiresAt: now.Add(s.cfg.InviteTTL),
	}
	n.Events = []vayva.Event{emailEvent(now, t.MerchantID, vayva.SendEmail{
		Template: vayva.EmailInvitation, To: in.Email, MerchantID: t.MerchantID,
		Vars: map[string]string{
			"accept_url": s.invitationURL(token), "store_name": inviter.Store.Name, "invited_by": inviter.User.Name,
			"role": string(in.Role), "expires_at": n.ExpiresAt.Format("2 January 2006"),
		},
	})}
	return s.repo.InviteMember(ctx, t, n)
}

// RemoveMember removes a member (mem_…) from the team of t's store, whose
// sessions and API keys for the store stop working on every node, or
// revokes a pending invitation (inv_…), whose link stops working. The
// owner cannot be removed. Owners and admins only.
func (s *Service) RemoveMember(ctx context.Context, t vayva.Tenant, id string) error {
	if !t.Role.CanManageTeam() {
		return errNotManager
	}
	if vayva.HasIDPrefix(id, "inv") {
		return s.repo.RevokeInvitation(ctx, t, id)
	}
	if !vayva.HasIDPrefix(id, "mem") {
		return vayva.Errorf(vayva.ENOTFOUND, "No team member %q.", id)
	}
	m, err := s.repo.RemoveMember(ctx, t, id)
	if err != nil {
		return err
	}
	s.revoke(ctx, Revocation{UserID: m.UserID, StoreID: t.StoreID})
	return nil
}

// revoke makes a revocation already committed to the database take effect
// in every node's cache: at once on this node, and through Revocations on
// the others. Failing to publish (after a few tries) is logged, not
// returned: the revocation stands in the database, and other nodes that
// cached the credential serve it until the entry's TTL (CacheTTL) ends.
func (s *Service) revoke(ctx context.Context, r Revocation) {
	if s.cache != nil {
		s.cache.forget(r)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = s.revs.Publish(ctx, r); err == nil {
			return
		}
		t := time.NewTimer(time.Duration(attempt+1) * 50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
	s.log.Error().Err(err).Str("credential_id", r.CredentialID).Str("user_id", r.UserID).Msg("publishing a revocation failed; other nodes may serve the credential from cache until its entry expires")
}

// The pages these links open are served by the edge (http/pages.go); they
// complete the action only on a POST, so a link prefetcher that opens the
// URL does not use up the single-use token.
func (s *Service) verifyURL(token string) string {
	return s.cfg.PublicURL + "/verify-email?token=" + url.QueryEscape(token)
}

func (s *Service) invitationURL(token string) string {
	return s.cfg.PublicURL + "/accept-invitation?token=" + url.QueryEscape(token)
}

// emailEvent wraps an email for the outbox.
func emailEvent(now time.Time, merchantID string, m vayva.SendEmail) vayva.Event {
	data, err := json.Marshal(m)
	if err != nil {
		panic("auth: encode email: " + err.Error()) // strings only; cannot fail
	}
	return vayva.Event{ID: vayva.NewID("evt"), Type: vayva.EventSendEmail, Queue: vayva.QueueEmail,
		MerchantID: merchantID, OccurredAt: now, Data: data}
}

// pageQuery turns a page size and cursor into a query for one more item
// than the page holds, which tells whether there is a next page.
func pageQuery(limit int, cursor string) (PageQuery, error) {
	q := PageQuery{Limit: limit + 1}
	if cursor != "" {
		at, id, ok := decodeCursor(cursor)
		if !ok {
			return q, vayva.BadCursor()
		}
		q.AfterCreatedAt, q.AfterID = at, id
	}
	return q, nil
}
