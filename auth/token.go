package auth

import (
	"crypto/sha256"
	"strings"

	"github.com/vayvahq/vayva"
)

// Prefixes of the secrets the runtime hands out. The prefix tells a session
// token from an API key before any lookup, and makes a leaked secret easy to
// recognise in logs and by secret scanners.
const (
	SessionPrefix      = "vst_"
	APIKeyPrefix       = "vsk_"
	VerificationPrefix = "vvt_"
	InvitationPrefix   = "vin_"
)

// secretBodyLen is the length of the random part of vayva.NewSecret: 256
// bits in unpadded base32.
const secretBodyLen = 52

// TokenHash is the SHA-256 of a secret. Only hashes are stored: a copy of
// the database does not let anyone act as a merchant. Plain SHA-256 (no
// salt, no stretching) is enough because the secrets carry 256 random bits;
// there is nothing to guess.
type TokenHash [sha256.Size]byte

// HashToken returns the hash under which a secret is stored.
func HashToken(secret string) TokenHash { return sha256.Sum256([]byte(secret)) }

// newToken returns a fresh secret with prefix and its hash.
func newToken(prefix string) (string, TokenHash) {
	s := vayva.NewSecret(prefix)
	return s, HashToken(s)
}

// tokenKind tells which credential a bearer token claims to be from its
// shape alone: "session", "api_key" or "" for something that cannot be one
// of ours.
func tokenKind(token string) string {
	switch {
	case len(token) == len(SessionPrefix)+secretBodyLen && strings.HasPrefix(token, SessionPrefix):
		return "session"
	case len(token) == len(APIKeyPrefix)+secretBodyLen && strings.HasPrefix(token, APIKeyPrefix):
		return "api_key"
	}
	return ""
}

// validVerificationToken reports whether s has the shape of a verification
// token.
func validVerificationToken(s string) bool {
	return len(s) == len(VerificationPrefix)+secretBodyLen && strings.HasPrefix(s, VerificationPrefix)
}

// validInvitationToken reports whether s has the shape of an invitation
// token.
func validInvitationToken(s string) bool {
	return len(s) == len(InvitationPrefix)+secretBodyLen && strings.HasPrefix(s, InvitationPrefix)
}
