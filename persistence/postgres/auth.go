package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/auth"
)

// Accounts is the repository of the auth and merchant domains: users,
// sessions, API keys and verification tokens (auth schema), merchants,
// business profiles, stores and teams (merchant schema). Writes run as the
// owning domain's role; a transaction that touches both switches roles
// between its statements. Reads are plain queries (both schemas are readable
// by every role). Every method taking a vayva.Tenant filters by the tenant's
// merchant and store.
type Accounts struct {
	db *DB
}

var _ auth.Repository = (*Accounts)(nil)

// NewAccounts returns the repository over db.
func NewAccounts(db *DB) *Accounts { return &Accounts{db: db} }

// slugAttempts bounds how many derived slugs a sign-up tries before it
// falls back to a random suffix.
const slugAttempts = 5

// setRole switches the rest of the transaction to domain d's role.
func setRole(ctx context.Context, tx pgx.Tx, d vayva.Domain) error {
	if _, err := tx.Exec(ctx, "SET LOCAL ROLE "+pgx.Identifier{d.Role()}.Sanitize()); err != nil {
		return fmt.Errorf("set role %s: %w", d.Role(), err)
	}
	return nil
}

func emailTaken() error {
	return &vayva.Error{Code: vayva.ECONFLICT, Message: "An account with this email address already exists.",
		Fields: []vayva.FieldError{{Field: "email", Message: "is already registered"}}}
}

// CreateAccount writes a sign-up in one transaction: the user (as
// vayva_auth), the merchant, business profile, store and owner membership
// (as vayva_merchant), then the session, verification token and outbox
// events (as vayva_auth again). A taken email, or a taken explicit slug, is
// ECONFLICT and writes nothing.
func (a *Accounts) CreateAccount(ctx context.Context, n auth.NewAccount) (auth.Account, error) {
	events, err := outboxRows(n.Events)
	if err != nil {
		return auth.Account{}, fmt.Errorf("postgres: create account: %w", err)
	}
	acct := auth.Account{
		User:     auth.User{ID: n.UserID, Email: n.Email, Name: n.Name},
		Merchant: auth.Merchant{ID: n.MerchantID, Name: n.BusinessName},
		Store:    auth.Store{ID: n.StoreID, Name: n.BusinessName, Currency: n.Currency},
		Role:     vayva.RoleOwner,
	}
	err = a.db.InDomain(ctx, vayva.DomainAuth, func(ctx context.Context, tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			INSERT INTO auth.users (id, email, name, password_hash) VALUES ($1, $2, $3, $4)
			ON CONFLICT ((lower(email))) DO NOTHING
			RETURNING created_at`,
			n.UserID, n.Email, n.Name, n.PasswordHash).Scan(&acct.User.CreatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return emailTaken()
		}
		if err != nil {
			return fmt.Errorf("insert user: %w", err)
		}

		if err := setRole(ctx, tx, vayva.DomainMerchant); err != nil {
			return err
		}
		var b pgx.Batch
		b.Queue(`INSERT INTO merchant.merchants (id, name, owner_user_id) VALUES ($1, $2, $3)`,
			n.MerchantID, n.BusinessName, n.UserID)
		b.Queue(`INSERT INTO merchant.business_profiles (merchant_id, legal_name) VALUES ($1, $2)`,
			n.MerchantID, n.BusinessName)
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			return fmt.Errorf("insert merchant: %w", err)
		}
		slug, err := insertStore(ctx, tx, n)
		if err != nil {
			return err
		}
		acct.Store.Slug = slug

		b = pgx.Batch{}
		b.Queue(`INSERT INTO merchant.team_members (id, merchant_id, store_id, user_id, role) VALUES ($1, $2, $3, $4, 'owner')`,
			n.MemberID, n.MerchantID, n.StoreID, n.UserID)
		b.Queue("SET LOCAL ROLE " + pgx.Identifier{vayva.DomainAuth.Role()}.Sanitize())
		s := n.Session
		b.Queue(`INSERT INTO auth.sessions (id, token_hash, user_id, merchant_id, store_id, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			s.ID, s.TokenHash[:], n.UserID, n.MerchantID, n.StoreID, s.ExpiresAt)
		v := n.Verification
		b.Queue(`INSERT INTO auth.verification_tokens (token_hash, user_id, purpose, expires_at) VALUES ($1, $2, $3, $4)`,
			v.TokenHash[:], n.UserID, v.Purpose, v.ExpiresAt)
		queueEvents(&b, "user", n.UserID, events)
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			return fmt.Errorf("insert owner and session: %w", err)
		}
		return nil
	})
	if err != nil {
		return auth.Account{}, fmt.Errorf("postgres: create account: %w", err)
	}
	return acct, nil
}

// insertStore inserts the sign-up's store and returns its slug. A derived
// slug that is taken becomes the first free of slug-2, slug-3, …; a taken
// explicit slug is ECONFLICT.
func insertStore(ctx context.Context, tx pgx.Tx, n auth.NewAccount) (string, error) {
	try := func(slug string) (bool, error) {
		tag, err := tx.Exec(ctx, `
			INSERT INTO merchant.stores (id, merchant_id, slug, name, currency) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (slug) DO NOTHING`,
			n.StoreID, n.MerchantID, slug, n.BusinessName, n.Currency)
		if err != nil {
			return false, fmt.Errorf("insert store: %w", err)
		}
		return tag.RowsAffected() == 1, nil
	}
	ok, err := try(n.Slug)
	if err != nil || ok {
		return n.Slug, err
	}
	if n.SlugExplicit {
		return "", &vayva.Error{Code: vayva.ECONFLICT, Message: fmt.Sprintf("The store slug %q is taken.", n.Slug),
			Fields: []vayva.FieldError{{Field: "store_slug", Message: "is taken"}}}
	}
	for range slugAttempts {
		// The highest numeric suffix in use, plus one. Slugs hold no LIKE
		// wildcards, so the pattern matches literally.
		rows, err := tx.Query(ctx, `SELECT slug FROM merchant.stores WHERE slug LIKE $1 || '-%'`, n.Slug)
		if err != nil {
			return "", fmt.Errorf("find free slug: %w", err)
		}
		taken, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return "", fmt.Errorf("find free slug: %w", err)
		}
		next := 2
		for _, s := range taken {
			if k, err := strconv.Atoi(strings.TrimPrefix(s, n.Slug+"-")); err == nil && k >= next {
				next = k + 1
			}
		}
		slug := n.Slug + "-" + strconv.Itoa(next)
		if len(slug) > auth.MaxSlugLen {
			break
		}
		if ok, err := try(slug); err != nil || ok {
			return slug, err
		}
	}
	// Crowded or racing: a random suffix is free with overwhelming
	// probability.
	slug := n.Slug + "-" + strings.TrimPrefix(vayva.NewID("x"), "x_")[:6]
	if ok, err := try(slug); err != nil || ok {
		return slug, err
	}
	return "", vayva.Errorf(vayva.EUNAVAILABLE, "Could not find a free store slug; retry.")
}

// FindLogin looks up a user by email with the membership a new session
// would act as.
func (a *Accounts) FindLogin(ctx context.Context, email, storeID string) (auth.LoginRecord, error) {
	var (
		r                                                      auth.LoginRecord
		merchantID, merchantName, sID, slug, sName, curr, role *string
	)
	err := a.db.pool.QueryRow(ctx, `
		SELECT u.id, u.email, u.name, u.email_verified_at IS NOT NULL, u.created_at, COALESCE(u.password_hash, ''),
			m.id, m.name, s.id, s.slug, s.name, s.currency, tm.role
		FROM auth.users u
		LEFT JOIN LATERAL (
			SELECT t.store_id, t.merchant_id, t.role FROM merchant.team_members t
			WHERE t.user_id = u.id AND ($2 = '' OR t.store_id = $2)
			ORDER BY t.role = 'owner' DESC, t.created_at, t.id
			LIMIT 1
		) tm ON true
		LEFT JOIN merchant.stores s ON s.id = tm.store_id
		LEFT JOIN merchant.merchants m ON m.id = tm.merchant_id
		WHERE lower(u.email) = lower($1)`,
		email, storeID,
	).Scan(&r.User.ID, &r.User.Email, &r.User.Name, &r.User.EmailVerified, &r.User.CreatedAt, &r.PasswordHash,
		&merchantID, &merchantName, &sID, &slug, &sName, &curr, &role)
	if err != nil {
		return auth.LoginRecord{}, fmt.Errorf("postgres: find login: %w", interpretError(err))
	}
	if sID != nil && merchantID != nil {
		r.Account = auth.Account{
			User:     r.User,
			Merchant: auth.Merchant{ID: *merchantID, Name: *merchantName},
			Store:    auth.Store{ID: *sID, Slug: *slug, Name: *sName, Currency: *curr},
			Role:     vayva.Role(*role),
		}
	}
	return r, nil
}

// CreateSession stores a session, replacing the user's password hash in
// the same transaction when s.Rehash is set.
func (a *Accounts) CreateSession(ctx context.Context, s auth.NewSession) error {
	err := a.db.InDomain(ctx, vayva.DomainAuth, func(ctx context.Context, tx pgx.Tx) error {
		var b pgx.Batch
		if s.Rehash != "" {
			b.Queue(`UPDATE auth.users SET password_hash = $2 WHERE id = $1`, s.UserID, s.Rehash)
		}
		b.Queue(`INSERT INTO auth.sessions (id, token_hash, user_id, merchant_id, store_id, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			s.ID, s.TokenHash[:], s.UserID, s.MerchantID, s.StoreID, s.ExpiresAt)
		return tx.SendBatch(ctx, &b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: create session: %w", err)
	}
	return nil
}

// ResolveToken returns the tenant of a live credential. The join with the
// team makes a credential die with its user's membership.
func (a *Accounts) ResolveToken(ctx context.Context, kind string, h auth.TokenHash) (vayva.Tenant, time.Time, error) {
	var (
		t       vayva.Tenant
		role    string
		expires *time.Time
		q       string
	)
	switch kind {
	case "session":
		q = `
			SELECT c.id, c.user_id, c.merchant_id, c.store_id, tm.role, c.expires_at
			FROM auth.sessions c
			JOIN merchant.team_members tm ON tm.store_id = c.store_id AND tm.user_id = c.user_id AND tm.merchant_id = c.merchant_id
			WHERE c.token_hash = $1 AND c.revoked_at IS NULL AND c.expires_at > now()`
	case "api_key":
		q = `
			SELECT c.id, c.user_id, c.merchant_id, c.store_id, tm.role, NULL::timestamptz
			FROM auth.api_keys c
			JOIN merchant.team_members tm ON tm.store_id = c.store_id AND tm.user_id = c.user_id AND tm.merchant_id = c.merchant_id
			WHERE c.token_hash = $1 AND c.revoked_at IS NULL`
	default:
		return t, time.Time{}, vayva.Errorf(vayva.ENOTFOUND, "Unknown credential kind.")
	}
	err := a.db.pool.QueryRow(ctx, q, h[:]).Scan(&t.CredentialID, &t.UserID, &t.MerchantID, &t.StoreID, &role, &expires)
	if err != nil {
		return vayva.Tenant{}, time.Time{}, fmt.Errorf("postgres: resolve token: %w", interpretError(err))
	}
	t.Role = vayva.Role(role)
	if expires != nil {
		return t, *expires, nil
	}
	return t, time.Time{}, nil
}

// RevokeCredential revokes the session or API key t authenticated with. A
// credential already revoked stays revoked; that is not an error.
func (a *Accounts) RevokeCredential(ctx context.Context, t vayva.Tenant) error {
	var q string
	switch {
	case vayva.HasIDPrefix(t.CredentialID, "ses"):
		q = `UPDATE auth.sessions SET revoked_at = now() WHERE id = $1 AND store_id = $2 AND revoked_at IS NULL`
	case vayva.HasIDPrefix(t.CredentialID, "key"):
		q = `UPDATE auth.api_keys SET revoked_at = now() WHERE id = $1 AND store_id = $2 AND revoked_at IS NULL`
	default:
		return fmt.Errorf("postgres: revoke credential: unknown credential %q", t.CredentialID)
	}
	err := a.db.InDomain(ctx, vayva.DomainAuth, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, q, t.CredentialID, t.StoreID)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: revoke credential: %w", err)
	}
	return nil
}

// Account returns the user, merchant and store of t (Role is left to the
// caller, which has it from the credential).
func (a *Accounts) Account(ctx context.Context, t vayva.Tenant) (auth.Account, error) {
	var acct auth.Account
	err := a.db.pool.QueryRow(ctx, `
		SELECT u.id, u.email, u.name, u.email_verified_at IS NOT NULL, u.created_at,
			m.id, m.name, s.id, s.slug, s.name, s.currency
		FROM auth.users u
		CROSS JOIN merchant.stores s
		JOIN merchant.merchants m ON m.id = s.merchant_id
		WHERE u.id = $1 AND s.id = $2 AND s.merchant_id = $3`,
		t.UserID, t.StoreID, t.MerchantID,
	).Scan(&acct.User.ID, &acct.User.Email, &acct.User.Name, &acct.User.EmailVerified, &acct.User.CreatedAt,
		&acct.Merchant.ID, &acct.Merchant.Name, &acct.Store.ID, &acct.Store.Slug, &acct.Store.Name, &acct.Store.Currency)
	if err != nil {
		return auth.Account{}, fmt.Errorf("postgres: account: %w", interpretError(err))
	}
	acct.Role = t.Role
	return acct, nil
}

func badVerificationToken() error {
	return &vayva.Error{Code: vayva.EINVALID, Message: "The verification token is invalid, used or expired.",
		Fields: []vayva.FieldError{{Field: "token", Message: "is invalid or has expired"}}}
}

// UseVerificationToken redeems an email verification token once. A
// refused attempt changes nothing.
func (a *Accounts) UseVerificationToken(ctx context.Context, h auth.TokenHash) (auth.User, error) {
	var u auth.User
	err := a.db.InDomain(ctx, vayva.DomainAuth, func(ctx context.Context, tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			WITH used AS (
				UPDATE auth.verification_tokens SET used_at = now()
				WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now()
				RETURNING user_id
			)
			UPDATE auth.users u SET email_verified_at = COALESCE(u.email_verified_at, now())
			FROM used WHERE u.id = used.user_id
			RETURNING u.id, u.email, u.name, u.created_at`,
			h[:], auth.PurposeVerifyEmail).Scan(&u.ID, &u.Email, &u.Name, &u.CreatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return badVerificationToken()
		}
		if err != nil {
			return fmt.Errorf("redeem token: %w", err)
		}
		u.EmailVerified = true
		return nil
	})
	if err != nil {
		return auth.User{}, fmt.Errorf("postgres: use verification token: %w", err)
	}
	return u, nil
}

// CreateAPIKey stores an API key of t's store.
func (a *Accounts) CreateAPIKey(ctx context.Context, t vayva.Tenant, k auth.NewAPIKey) (auth.APIKey, error) {
	key := auth.APIKey{ID: k.ID, Name: k.Name, Last4: k.Last4, CreatedBy: t.UserID}
	err := a.db.InDomain(ctx, vayva.DomainAuth, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `
			INSERT INTO auth.api_keys (id, token_hash, merchant_id, store_id, user_id, name, last4)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			RETURNING created_at`,
			k.ID, k.TokenHash[:], t.MerchantID, t.StoreID, t.UserID, k.Name, k.Last4).Scan(&key.CreatedAt)
	})
	if err != nil {
		return auth.APIKey{}, fmt.Errorf("postgres: create api key: %w", err)
	}
	return key, nil
}

// ListAPIKeys lists the live keys of t's store, newest first.
func (a *Accounts) ListAPIKeys(ctx context.Context, t vayva.Tenant, q auth.PageQuery) ([]auth.APIKey, error) {
	rows, err := a.db.pool.Query(ctx, `
		SELECT id, name, last4, user_id, created_at FROM auth.api_keys
		WHERE store_id = $1 AND merchant_id = $2 AND revoked_at IS NULL
			AND ($3 = '' OR (created_at, id) < ($4, $3))
		ORDER BY created_at DESC, id DESC
		LIMIT $5`,
		t.StoreID, t.MerchantID, q.AfterID, q.AfterCreatedAt, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list api keys: %w", interpretError(err))
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (auth.APIKey, error) {
		var k auth.APIKey
		err := r.Scan(&k.ID, &k.Name, &k.Last4, &k.CreatedBy, &k.CreatedAt)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list api keys: %w", interpretError(err))
	}
	return keys, nil
}

// RevokeAPIKey revokes a live key of t's store; any other id is ENOTFOUND.
func (a *Accounts) RevokeAPIKey(ctx context.Context, t vayva.Tenant, id string) error {
	err := a.db.InDomain(ctx, vayva.DomainAuth, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			UPDATE auth.api_keys SET revoked_at = now()
			WHERE id = $1 AND store_id = $2 AND merchant_id = $3 AND revoked_at IS NULL`,
			id, t.StoreID, t.MerchantID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return vayva.Errorf(vayva.ENOTFOUND, "No API key %q.", id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: revoke api key: %w", err)
	}
	return nil
}

// ListMembers lists the team of t's store, oldest first: the members and
// the pending invitations, in one order.
func (a *Accounts) ListMembers(ctx context.Context, t vayva.Tenant, q auth.PageQuery) ([]auth.Member, error) {
	rows, err := a.db.pool.Query(ctx, `
		SELECT id, status, user_id, email, name, role, created_at, expires_at FROM (
			SELECT tm.id, 'active' AS status, tm.user_id, u.email, u.name, tm.role, tm.created_at, NULL::timestamptz AS expires_at
			FROM merchant.team_members tm JOIN auth.users u ON u.id = tm.user_id
			WHERE tm.store_id = $1 AND tm.merchant_id = $2
			UNION ALL
			SELECT i.id, CASE WHEN i.expires_at > now() THEN 'invited' ELSE 'expired' END, '', i.email, '', i.role, i.created_at, i.expires_at
			FROM merchant.invitations i
			WHERE i.store_id = $1 AND i.merchant_id = $2 AND i.accepted_at IS NULL AND i.revoked_at IS NULL
		) team
		WHERE $3 = '' OR (created_at, id) > ($4, $3)
		ORDER BY created_at, id
		LIMIT $5`,
		t.StoreID, t.MerchantID, q.AfterID, q.AfterCreatedAt, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list members: %w", interpretError(err))
	}
	ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (auth.Member, error) {
		var m auth.Member
		var role string
		var expires *time.Time
		err := r.Scan(&m.ID, &m.Status, &m.UserID, &m.Email, &m.Name, &role, &m.CreatedAt, &expires)
		m.Role = vayva.Role(role)
		if expires != nil {
			m.ExpiresAt = *expires
		}
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list members: %w", interpretError(err))
	}
	return ms, nil
}

func scanMember(r pgx.CollectableRow) (auth.Member, error) {
	m := auth.Member{Status: auth.StatusActive}
	var role string
	err := r.Scan(&m.ID, &m.UserID, &m.Email, &m.Name, &role, &m.CreatedAt)
	m.Role = vayva.Role(role)
	return m, err
}

// InviteMember stores an invitation (or renews the pending one of the
// same address) and its email, in one transaction as the merchant role.
// Only the team is consulted, never auth.users at large: the answer and
// the work are the same whether or not the address has an account.
func (a *Accounts) InviteMember(ctx context.Context, t vayva.Tenant, n auth.NewInvitation) (auth.Member, error) {
	events, err := outboxRows(n.Events)
	if err != nil {
		return auth.Member{}, fmt.Errorf("postgres: invite member: %w", err)
	}
	m := auth.Member{Status: auth.StatusInvited}
	err = a.db.InDomain(ctx, vayva.DomainMerchant, func(ctx context.Context, tx pgx.Tx) error {
		var member bool
		err := tx.QueryRow(ctx, `
			SELECT EXISTS (
				SELECT 1 FROM merchant.team_members tm JOIN auth.users u ON u.id = tm.user_id
				WHERE tm.store_id = $1 AND tm.merchant_id = $2 AND lower(u.email) = lower($3))`,
			t.StoreID, t.MerchantID, n.Email).Scan(&member)
		if err != nil {
			return fmt.Errorf("find member: %w", err)
		}
		if member {
			return &vayva.Error{Code: vayva.ECONFLICT, Message: "Someone with this email address is already a member of the store's team.",
				Fields: []vayva.FieldError{{Field: "email", Message: "is already a team member"}}}
		}
		var role string
		err = tx.QueryRow(ctx, `
			INSERT INTO merchant.invitations (id, merchant_id, store_id, email, role, token_hash, invited_by, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (store_id, lower(email)) WHERE accepted_at IS NULL AND revoked_at IS NULL
			DO UPDATE SET email = excluded.email, role = excluded.role, token_hash = excluded.token_hash,
				invited_by = excluded.invited_by, expires_at = excluded.expires_at, sent_at = now()
			RETURNING id, email, role, created_at, expires_at`,
			n.ID, t.MerchantID, t.StoreID, n.Email, string(n.Role), n.TokenHash[:], n.InvitedBy, n.ExpiresAt,
		).Scan(&m.ID, &m.Email, &role, &m.CreatedAt, &m.ExpiresAt)
		if err != nil {
			return fmt.Errorf("insert invitation: %w", err)
		}
		m.Role = vayva.Role(role)
		var b pgx.Batch
		queueEvents(&b, "invitation", m.ID, events)
		return tx.SendBatch(ctx, &b).Close()
	})
	if err != nil {
		return auth.Member{}, fmt.Errorf("postgres: invite member: %w", err)
	}
	return m, nil
}

// RevokeInvitation revokes a pending invitation of t's store; any other id
// is ENOTFOUND.
func (a *Accounts) RevokeInvitation(ctx context.Context, t vayva.Tenant, id string) error {
	err := a.db.InDomain(ctx, vayva.DomainMerchant, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			UPDATE merchant.invitations SET revoked_at = now()
			WHERE id = $1 AND store_id = $2 AND merchant_id = $3 AND accepted_at IS NULL AND revoked_at IS NULL`,
			id, t.StoreID, t.MerchantID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return vayva.Errorf(vayva.ENOTFOUND, "No team member %q.", id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: revoke invitation: %w", err)
	}
	return nil
}

func noInvitation() error {
	return vayva.Errorf(vayva.ENOTFOUND, "No pending invitation has this token.")
}

// FindInvitation returns the pending, unexpired invitation with token hash
// h.
func (a *Accounts) FindInvitation(ctx context.Context, h auth.TokenHash) (auth.InvitationDetails, error) {
	var d auth.InvitationDetails
	var role string
	err := a.db.pool.QueryRow(ctx, `
		SELECT i.id, i.email, i.role, i.expires_at, s.id, s.slug, s.name, s.currency, m.id, m.name, COALESCE(u.name, '')
		FROM merchant.invitations i
		JOIN merchant.stores s ON s.id = i.store_id
		JOIN merchant.merchants m ON m.id = i.merchant_id
		LEFT JOIN auth.users u ON u.id = i.invited_by
		WHERE i.token_hash = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > now()`,
		h[:]).Scan(&d.ID, &d.Email, &role, &d.ExpiresAt, &d.Store.ID, &d.Store.Slug, &d.Store.Name, &d.Store.Currency,
		&d.Merchant.ID, &d.Merchant.Name, &d.InvitedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, fmt.Errorf("postgres: find invitation: %w", noInvitation())
	}
	if err != nil {
		return d, fmt.Errorf("postgres: find invitation: %w", interpretError(err))
	}
	d.Role = vayva.Role(role)
	return d, nil
}

// pendingInvitation is an invitation locked for acceptance.
type pendingInvitation struct {
	id, merchantID, storeID, email, role string
}

// lockInvitation locks the pending, unexpired invitation with token hash h
// in tx, or answers ENOTFOUND.
func lockInvitation(ctx context.Context, tx pgx.Tx, h auth.TokenHash) (pendingInvitation, error) {
	var i pendingInvitation
	err := tx.QueryRow(ctx, `
		SELECT id, merchant_id, store_id, email, role FROM merchant.invitations
		WHERE token_hash = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now()
		FOR UPDATE`, h[:]).Scan(&i.id, &i.merchantID, &i.storeID, &i.email, &i.role)
	if errors.Is(err, pgx.ErrNoRows) {
		return i, noInvitation()
	}
	if err != nil {
		return i, fmt.Errorf("lock invitation: %w", err)
	}
	return i, nil
}

// joinTeam makes userID a member of the invitation's store (keeping the
// role of a user already there), marks the invitation accepted, and, as
// the auth role, opens session s in the store; it returns the role. tx
// runs as the merchant role on entry and as the auth role on return.
func joinTeam(ctx context.Context, tx pgx.Tx, inv pendingInvitation, userID, memberID string, s auth.NewSession) (vayva.Role, error) {
	var role string
	err := tx.QueryRow(ctx, `
		WITH added AS (
			INSERT INTO merchant.team_members (id, merchant_id, store_id, user_id, role) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (store_id, user_id) DO NOTHING
			RETURNING role
		)
		SELECT role FROM added
		UNION ALL
		SELECT role FROM merchant.team_members WHERE store_id = $3 AND user_id = $4
		LIMIT 1`,
		memberID, inv.merchantID, inv.storeID, userID, inv.role).Scan(&role)
	if err != nil {
		return "", fmt.Errorf("join team: %w", err)
	}
	var b pgx.Batch
	b.Queue(`UPDATE merchant.invitations SET accepted_at = now(), accepted_by = $2 WHERE id = $1`, inv.id, userID)
	b.Queue("SET LOCAL ROLE " + pgx.Identifier{vayva.DomainAuth.Role()}.Sanitize())
	b.Queue(`INSERT INTO auth.sessions (id, token_hash, user_id, merchant_id, store_id, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		s.ID, s.TokenHash[:], userID, inv.merchantID, inv.storeID, s.ExpiresAt)
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return "", fmt.Errorf("accept invitation: %w", err)
	}
	return vayva.Role(role), nil
}

// accountIn reads the account of userID in store storeID inside tx.
func accountIn(ctx context.Context, tx pgx.Tx, userID, storeID string, role vayva.Role) (auth.Account, error) {
	acct := auth.Account{Role: role}
	err := tx.QueryRow(ctx, `
		SELECT u.id, u.email, u.name, u.email_verified_at IS NOT NULL, u.created_at,
			m.id, m.name, s.id, s.slug, s.name, s.currency
		FROM auth.users u
		CROSS JOIN merchant.stores s
		JOIN merchant.merchants m ON m.id = s.merchant_id
		WHERE u.id = $1 AND s.id = $2`,
		userID, storeID,
	).Scan(&acct.User.ID, &acct.User.Email, &acct.User.Name, &acct.User.EmailVerified, &acct.User.CreatedAt,
		&acct.Merchant.ID, &acct.Merchant.Name, &acct.Store.ID, &acct.Store.Slug, &acct.Store.Name, &acct.Store.Currency)
	if err != nil {
		return acct, fmt.Errorf("read account: %w", err)
	}
	return acct, nil
}

// AcceptInvitation redeems an invitation for an existing user in one
// transaction. Every refusal rolls back and leaves the invitation pending.
func (a *Accounts) AcceptInvitation(ctx context.Context, h auth.TokenHash, userID, memberID string, s auth.NewSession) (auth.Account, error) {
	var acct auth.Account
	err := a.db.InDomain(ctx, vayva.DomainMerchant, func(ctx context.Context, tx pgx.Tx) error {
		inv, err := lockInvitation(ctx, tx, h)
		if err != nil {
			return err
		}
		var email string
		var verified bool
		err = tx.QueryRow(ctx, `SELECT email, email_verified_at IS NOT NULL FROM auth.users WHERE id = $1`, userID).Scan(&email, &verified)
		if err != nil {
			return fmt.Errorf("find user: %w", interpretError(err))
		}
		if !strings.EqualFold(email, inv.email) {
			return vayva.Errorf(vayva.EFORBIDDEN, "This invitation was sent to another email address; sign in with that address to accept it.")
		}
		if !verified {
			return vayva.Errorf(vayva.EFORBIDDEN, "Verify your email address (with the link of the verification email) before accepting the invitation.")
		}
		role, err := joinTeam(ctx, tx, inv, userID, memberID, s)
		if err != nil {
			return err
		}
		acct, err = accountIn(ctx, tx, userID, inv.storeID, role)
		return err
	})
	if err != nil {
		return auth.Account{}, fmt.Errorf("postgres: accept invitation: %w", err)
	}
	return acct, nil
}

// CreateInvitedAccount writes a sign-up through an invitation in one
// transaction: the user (as vayva_auth; their address verified, since the
// invitation reached it), the membership and accepted invitation (as
// vayva_merchant) and the first session (as vayva_auth).
func (a *Accounts) CreateInvitedAccount(ctx context.Context, n auth.NewInvitedAccount) (auth.Account, error) {
	var acct auth.Account
	err := a.db.InDomain(ctx, vayva.DomainMerchant, func(ctx context.Context, tx pgx.Tx) error {
		inv, err := lockInvitation(ctx, tx, n.InvitationHash)
		if err != nil {
			return err
		}
		if n.Email != "" && !strings.EqualFold(n.Email, inv.email) {
			return &vayva.Error{Code: vayva.EINVALID, Message: "The invitation was sent to another email address.",
				Fields: []vayva.FieldError{{Field: "email", Message: "must be the address the invitation was sent to"}}}
		}
		if err := setRole(ctx, tx, vayva.DomainAuth); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `
			INSERT INTO auth.users (id, email, name, password_hash, email_verified_at) VALUES ($1, $2, $3, $4, now())
			ON CONFLICT ((lower(email))) DO NOTHING`,
			n.UserID, inv.email, n.Name, n.PasswordHash)
		if err != nil {
			return fmt.Errorf("insert user: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return &vayva.Error{Code: vayva.ECONFLICT, Message: "An account with this email address already exists; sign in to accept the invitation.",
				Fields: []vayva.FieldError{{Field: "email", Message: "is already registered"}}}
		}
		if err := setRole(ctx, tx, vayva.DomainMerchant); err != nil {
			return err
		}
		role, err := joinTeam(ctx, tx, inv, n.UserID, n.MemberID, n.Session)
		if err != nil {
			return err
		}
		acct, err = accountIn(ctx, tx, n.UserID, inv.storeID, role)
		return err
	})
	if err != nil {
		return auth.Account{}, fmt.Errorf("postgres: create invited account: %w", err)
	}
	return acct, nil
}

// RemoveMember removes a member of t's store's team and revokes the user's
// sessions and API keys for the store, in one transaction. A member of
// another store is ENOTFOUND; the owner is EFORBIDDEN.
func (a *Accounts) RemoveMember(ctx context.Context, t vayva.Tenant, id string) (auth.Member, error) {
	var m auth.Member
	err := a.db.InDomain(ctx, vayva.DomainMerchant, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT tm.id, tm.user_id, u.email, u.name, tm.role, tm.created_at
			FROM merchant.team_members tm JOIN auth.users u ON u.id = tm.user_id
			WHERE tm.id = $1 AND tm.store_id = $2 AND tm.merchant_id = $3
			FOR UPDATE OF tm`,
			id, t.StoreID, t.MerchantID)
		if err != nil {
			return fmt.Errorf("find member: %w", err)
		}
		m, err = pgx.CollectExactlyOneRow(rows, scanMember)
		if errors.Is(err, pgx.ErrNoRows) {
			return vayva.Errorf(vayva.ENOTFOUND, "No team member %q.", id)
		}
		if err != nil {
			return fmt.Errorf("find member: %w", err)
		}
		if m.Role == vayva.RoleOwner {
			return vayva.Errorf(vayva.EFORBIDDEN, "The store's owner cannot be removed from its team.")
		}
		var b pgx.Batch
		b.Queue(`DELETE FROM merchant.team_members WHERE id = $1`, id)
		b.Queue("SET LOCAL ROLE " + pgx.Identifier{vayva.DomainAuth.Role()}.Sanitize())
		b.Queue(`UPDATE auth.sessions SET revoked_at = now() WHERE user_id = $1 AND store_id = $2 AND revoked_at IS NULL`, m.UserID, t.StoreID)
		b.Queue(`UPDATE auth.api_keys SET revoked_at = now() WHERE user_id = $1 AND store_id = $2 AND revoked_at IS NULL`, m.UserID, t.StoreID)
		return tx.SendBatch(ctx, &b).Close()
	})
	if err != nil {
		return auth.Member{}, fmt.Errorf("postgres: remove member: %w", err)
	}
	return m, nil
}
