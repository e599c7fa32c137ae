package auth

import (
	"time"

	"github.com/vayvahq/vayva"
)

// User is a person who signs in.
type User struct {
	ID            string
	Email         string
	Name          string
	EmailVerified bool
	CreatedAt     time.Time
}

// Merchant is a business, the tenant every store, order and ledger belongs
// to.
type Merchant struct {
	ID   string
	Name string
}

// Store is a merchant's shop as the account sees it. The store actor owns
// the rest of its profile.
type Store struct {
	ID       string
	Slug     string
	Name     string
	Currency string
}

// Account is a user acting in one store of one merchant, with a role there.
type Account struct {
	User     User
	Merchant Merchant
	Store    Store
	Role     vayva.Role
}

// Grant is a new session: the bearer token (shown to the client once, stored
// only as its hash) and the account it acts as.
type Grant struct {
	Token     string
	ExpiresAt time.Time
	Account   Account
}

// APIKey is a long-lived credential of a store. Its secret is shown only when
// it is created.
type APIKey struct {
	ID   string
	Name string
	// Last4 are the last four characters of the secret, to tell keys apart.
	Last4     string
	CreatedBy string
	CreatedAt time.Time
}

// Member is a user's membership of a store's team.
type Member struct {
	ID        string
	UserID    string
	Email     string
	Name      string
	Role      vayva.Role
	CreatedAt time.Time
}

// Revocation names credentials that stopped working: one session or API key
// (CredentialID), or every credential of a user in a store (UserID and
// StoreID, after the user left the store's team).
type Revocation struct {
	CredentialID string `json:"credential_id,omitempty"`
	UserID       string `json:"user_id,omitempty"`
	StoreID      string `json:"store_id,omitempty"`
}

// Verification purposes.
const (
	PurposeVerifyEmail = "verify_email"
	PurposeInvite      = "invite"
)

// NewVerification is a single-use token to be stored with a user.
type NewVerification struct {
	TokenHash TokenHash
	Purpose   string
	ExpiresAt time.Time
}

// NewSession is a session to be stored.
type NewSession struct {
	ID         string
	UserID     string
	MerchantID string
	StoreID    string
	TokenHash  TokenHash
	ExpiresAt  time.Time
	// Rehash, when set, replaces the user's password hash in the same
	// transaction (the stored one used outdated parameters).
	Rehash string
}

// NewAccount is everything a sign-up writes, in one transaction: the user,
// the merchant with its business profile, the store, the owner's team
// membership, the first session, the email verification token and the
// verification email.
type NewAccount struct {
	UserID       string
	Email        string
	Name         string
	PasswordHash string
	MerchantID   string
	BusinessName string
	StoreID      string
	// Slug is the store's slug. When SlugExplicit is false it was derived
	// from the business name and the store may take the first free variant
	// of it (slug-2, slug-3, …); otherwise a taken slug is a conflict.
	Slug         string
	SlugExplicit bool
	Currency     string
	MemberID     string
	Session      NewSession
	Verification NewVerification
	// Events are appended to the outbox (the verification email).
	Events []vayva.Event
}

// LoginRecord is what signing in needs to know about an email address.
type LoginRecord struct {
	User User
	// PasswordHash is empty for users without a usable password (invited
	// and not yet accepted).
	PasswordHash string
	// Account is the membership the session will act as; its Store.ID is
	// empty when the user belongs to no (matching) store.
	Account Account
}

// NewAPIKey is an API key to be stored.
type NewAPIKey struct {
	ID        string
	Name      string
	Last4     string
	TokenHash TokenHash
}

// NewMember is a team membership to be stored. When no user has Email yet,
// the store creates one (ID NewUserID, no usable password) together with
// the Invite token and appends Events (the invitation email); for an
// existing user both are ignored.
type NewMember struct {
	ID        string
	Email     string
	Name      string
	Role      vayva.Role
	NewUserID string
	Invite    NewVerification
	Events    []vayva.Event
}

// PageQuery selects one page of a list in its order: at most Limit items
// after the item (AfterCreatedAt, AfterID), or from the start when AfterID
// is empty.
type PageQuery struct {
	Limit          int
	AfterCreatedAt time.Time
	AfterID        string
}
