package vayva

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewID returns a random opaque identifier with the given prefix, for
// example NewID("ord") = "ord_5k2m…". It carries 128 random bits.
func NewID(prefix string) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("vayva: crypto/rand failed: " + err.Error())
	}
	return prefix + "_" + idEncoding.EncodeToString(b[:])
}

// NewSecret returns a random string carrying 256 bits, suitable for tokens
// and API keys, with the given prefix.
func NewSecret(prefix string) string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("vayva: crypto/rand failed: " + err.Error())
	}
	return prefix + idEncoding.EncodeToString(b[:])
}

// HasIDPrefix reports whether id looks like an identifier made by NewID with
// the given prefix.
func HasIDPrefix(id, prefix string) bool {
	if !strings.HasPrefix(id, prefix+"_") || len(id) <= len(prefix)+1 || len(id) > len(prefix)+1+32 {
		return false
	}
	for _, c := range id[len(prefix)+1:] {
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

// DerivedID returns an identifier shaped like NewID's, derived from seed:
// the same seed always gives the same id. It makes the ids of things
// created by a command stable across the command's redeliveries.
func DerivedID(prefix, seed string) string {
	sum := sha256.Sum256([]byte(prefix + "\x00" + seed))
	return prefix + "_" + idEncoding.EncodeToString(sum[:16])
}
