package vayva

import "context"

// Role is a team member's role in a store.
type Role string

// The roles a team member may hold.
const (
	RoleOwner Role = "owner"
	RoleAdmin Role = "admin"
	RoleStaff Role = "staff"
)

// CanManageTeam reports whether the role may add and remove team members.
func (r Role) CanManageTeam() bool { return r == RoleOwner || r == RoleAdmin }

// Tenant is the authenticated principal of a merchant request. The edge
// derives it from the bearer token, never from the URL or the body.
type Tenant struct {
	UserID     string
	MerchantID string
	StoreID    string
	Role       Role
	// CredentialID is the session or API key the request authenticated with.
	CredentialID string
}

type contextKey int

const (
	tenantKey contextKey = iota
	requestIDKey
)

// WithTenant returns a copy of ctx that carries t.
func WithTenant(ctx context.Context, t Tenant) context.Context {
	return context.WithValue(ctx, tenantKey, t)
}

// TenantFromContext returns the tenant ctx carries and whether it has one.
func TenantFromContext(ctx context.Context) (Tenant, bool) {
	t, ok := ctx.Value(tenantKey).(Tenant)
	return t, ok
}

// WithRequestID returns a copy of ctx that carries the request id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestIDFromContext returns the request id ctx carries, or "".
func RequestIDFromContext(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}
