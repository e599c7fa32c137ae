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
	// UseVerificationToken redeems a verification or invitation token
	// once: it marks the user's email verified and, for an invitation, sets
	// the password from passwordHash (required then, refused otherwise).
	UseVerificationToken(ctx context.Context, h TokenHash, passwordHash string) (User, error)
	// CreateAPIKey stores a key of t's store, created by t's user.
	CreateAPIKey(ctx context.Context, t vayva.Tenant, k NewAPIKey) (APIKey, error)
	// ListAPIKeys lists the live keys of t's store, newest first.
	ListAPIKeys(ctx context.Context, t vayva.Tenant, q PageQuery) ([]APIKey, error)
	// RevokeAPIKey revokes a live key of t's store.
	RevokeAPIKey(ctx context.Context, t vayva.Tenant, id string) error
	// ListMembers lists the team of t's store, oldest first.
	ListMembers(ctx context.Context, t vayva.Tenant, q PageQuery) ([]Member, error)
	// AddMember adds a user to the team of t's store, creating the user
	// (with an invitation) if nobody has the email yet.
	AddMember(ctx context.Context, t vayva.Tenant, m NewMember) (Member, error)
	// RemoveMember removes a member from the team of t's store and revokes
	// the user's sessions and API keys there. The owner cannot be removed.
	RemoveMember(ctx context.Context, t vayva.Tenant, id string) (Member, error)
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

// RateLimitedError refuses an attempt that exceeded a rate limit. Its code
// is vayva.ERATELIMITED.
type RateLimitedError struct {
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("auth: rate limited; retry after %s", e.RetryAfter)
}

// Unwrap gives the error its vayva code.
func (e *RateLimitedError) Unwrap() error {
	return vayva.Errorf(vayva.ERATELIMITED, "Too many attempts; retry later.")
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
	// SignupPerAddress limits sign-ups per client address. Defaults to no
	// limit (zero Max).
	SignupPerAddress Rate
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
	for name, r := range map[string]Rate{"LoginPerEmail": c.LoginPerEmail, "LoginPerAddress": c.LoginPerAddress, "SignupPerAddress": c.SignupPerAddress} {
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
	}
	if cfg.CacheTTL > 0 {
		s.cache = newTokenCache(cfg.CacheTTL, cfg.CacheSize)
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{s.cacheLookups, s.logins} {
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

// Signup creates a user, their merchant and store, makes them the store's
// owner, queues the verification email and opens a first session, all in
// one transaction. clientAddr is the caller's IP address, for the sign-up
// rate limit.
func (s *Service) Signup(ctx context.Context, in SignupInput, clientAddr string) (Grant, error) {
	if err := in.Normalize(); err != nil {
		return Grant{}, err
	}
	if s.cfg.SignupPerAddress.Max > 0 && clientAddr != "" {
		ok, retry, err := s.limiter.Take(ctx, Limit{Key: "signup:addr:" + clientAddr, Rate: s.cfg.SignupPerAddress})
		if err != nil {
			return Grant{}, err
		}
		if !ok {
			return Grant{}, &RateLimitedError{RetryAfter: retry}
		}
	}
	hash, err := s.hasher.Hash(ctx, in.Password)
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

// Login checks an email and password and opens a session. Unknown emails
// and wrong passwords fail alike, after the same hashing work. Attempts are
// limited per email and per client address (clientAddr, the caller's IP);
// a successful sign-in is not counted.
func (s *Service) Login(ctx context.Context, in LoginInput, clientAddr string) (Grant, error) {
	if err := in.Normalize(); err != nil {
		return Grant{}, err
	}
	email := normalizedEmail(in.Email)
	sum := sha256.Sum256([]byte(email))
	limits := []Limit{{Key: "login:email:" + hex.EncodeToString(sum[:16]), Rate: s.cfg.LoginPerEmail}}
	if clientAddr != "" {
		limits = append(limits, Limit{Key: "login:addr:" + clientAddr, Rate: s.cfg.LoginPerAddress})
	}
	ok, retry, err := s.limiter.Take(ctx, limits...)
	if err != nil {
		return Grant{}, err
	}
	if !ok {
		s.logins.WithLabelValues("rate_limited").Inc()
		return Grant{}, &RateLimitedError{RetryAfter: retry}
	}
	rec, err := s.repo.FindLogin(ctx, email, in.StoreID)
	if err != nil && vayva.ErrorCode(err) != vayva.ENOTFOUND {
		return Grant{}, err
	}
	// For an unknown email rec.PasswordHash is empty and Verify spends the
	// same work on a dummy hash.
	good, err := s.hasher.Verify(ctx, in.Password, rec.PasswordHash)
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
		if ses.Rehash, err = s.hasher.Hash(ctx, in.Password); err != nil {
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

// VerifyEmail redeems an email verification token, or an invitation (which
// also sets the invited user's password).
func (s *Service) VerifyEmail(ctx context.Context, in VerifyEmailInput) (User, error) {
	if err := in.Normalize(); err != nil {
		return User{}, err
	}
	var hash string
	if in.Password != "" {
		var err error
		if hash, err = s.hasher.Hash(ctx, in.Password); err != nil {
			return User{}, err
		}
	}
	return s.repo.UseVerificationToken(ctx, HashToken(in.Token), hash)
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

// AddMember adds a user to the team of t's store. Someone without an
// account gets one without a usable password and an invitation email whose
// link sets the password. Owners and admins only.
func (s *Service) AddMember(ctx context.Context, t vayva.Tenant, in MemberInput) (Member, error) {
	if !t.Role.CanManageTeam() {
		return Member{}, errNotManager
	}
	if err := in.Normalize(); err != nil {
		return Member{}, err
	}
	inviter, err := s.repo.Account(ctx, t)
	if err != nil {
		return Member{}, err
	}
	name := in.Name
	if name == "" {
		name = in.Email[:strings.LastIndexByte(in.Email, '@')]
	}
	now := time.Now().UTC()
	token, h := newToken(VerificationPrefix)
	m := NewMember{
		ID: vayva.NewID("mem"), Email: in.Email, Name: name, Role: in.Role,
		NewUserID: vayva.NewID("usr"),
		Invite:    NewVerification{TokenHash: h, Purpose: PurposeInvite, ExpiresAt: now.Add(s.cfg.InviteTTL)},
		Events: []vayva.Event{emailEvent(now, t.MerchantID, vayva.SendEmail{
			Template: vayva.EmailVerification, To: in.Email, MerchantID: t.MerchantID,
			Vars: map[string]string{
				"name": name, "verify_url": s.verifyURL(token), "invite": "true",
				"store_name": inviter.Store.Name, "invited_by": inviter.User.Name, "role": string(in.Role),
			},
		})},
	}
	return s.repo.AddMember(ctx, t, m)
}

// RemoveMember removes a member from the team of t's store; their sessions
// and API keys for the store stop working on every node. The owner cannot
// be removed. Owners and admins only.
func (s *Service) RemoveMember(ctx context.Context, t vayva.Tenant, id string) error {
	if !t.Role.CanManageTeam() {
		return errNotManager
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

func (s *Service) verifyURL(token string) string {
	return s.cfg.PublicURL + "/verify-email?token=" + url.QueryEscape(token)
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
			return q, &vayva.Error{Code: vayva.EINVALID, Message: "The request has invalid fields.",
				Fields: []vayva.FieldError{{Field: "cursor", Message: "is not a cursor from this list"}}}
		}
		q.AfterCreatedAt, q.AfterID = at, id
	}
	return q, nil
}
