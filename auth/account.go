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

// Member statuses: a member of the team, or a pending invitation (still
// valid, or past its expiry and waiting to be sent again or revoked).
const (
	StatusActive  = "active"
	StatusInvited = "invited"
	StatusExpired = "expired"
)

// Member is one entry of a store's team: a membership (ID mem_…, Status
// active, with the user) or a pending invitation (ID inv_…, Status invited
// or expired, with only the address it was sent to and its expiry).
type Member struct {
	ID     string
	Status string
	// UserID and Name are empty for invitations.
	UserID    string
	Email     string
	Name      string
	Role      vayva.Role
	CreatedAt time.Time
	// ExpiresAt is when an invitation stops working; zero for members.
	ExpiresAt time.Time
}

// Revocation names credentials that stopped working: one session or API key
// (CredentialID), or every credential of a user in a store (UserID and
// StoreID, after the user left the store's team).
type Revocation struct {
	CredentialID string `json:"credential_id,omitempty"`
	UserID       string `json:"user_id,omitempty"`
	StoreID      string `json:"store_id,omitempty"`
}

// PurposeVerifyEmail is the purpose of email verification tokens.
const PurposeVerifyEmail = "verify_email"

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

// NewInvitation is an invitation to be stored, with the invitation email
// (Events) to append to the outbox in the same transaction.
type NewInvitation struct {
	ID        string
	Email     string
	Role      vayva.Role
	InvitedBy string
	TokenHash TokenHash
	ExpiresAt time.Time
	Events    []vayva.Event
}

// InvitationDetails describe a pending invitation to the person holding its
// token: where it leads and who sent it.
type InvitationDetails struct {
	ID        string
	Email     string
	Role      vayva.Role
	Store     Store
	Merchant  Merchant
	InvitedBy string
	ExpiresAt time.Time
}

// NewInvitedAccount is a sign-up through an invitation, in one
// transaction: the user (their address verified by the invitation), the
// membership the invitation grants, the invitation marked accepted and a
// first session in the invitation's store (Session's MerchantID and StoreID
// are filled in from the invitation).
type NewInvitedAccount struct {
	InvitationHash TokenHash
	UserID         string
	// Email, when set, must be the invitation's address (compared without
	// case); empty takes it.
	Email        string
	Name         string
	PasswordHash string
	MemberID     string
	Session      NewSession
}

// PageQuery selects one page of a list in its order: at most Limit items
// after the item (AfterCreatedAt, AfterID), or from the start when AfterID
// is empty.
type PageQuery struct {
	Limit          int
	AfterCreatedAt time.Time
	AfterID        string
}
