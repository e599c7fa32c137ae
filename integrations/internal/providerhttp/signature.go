package providerhttp

import (
	"crypto/hmac"
	"encoding/hex"
	"hash"
)

// SignHex returns the lowercase hex HMAC of body keyed by secret, using the
// hash newHash makes (sha256.New, sha512.New).
func SignHex(newHash func() hash.Hash, secret string, body []byte) string {
	m := hmac.New(newHash, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// VerifyHex reports whether sig is the hex HMAC of body keyed by secret,
// comparing in constant time. Hex of either case is accepted; a signature
// of the wrong length or not hex is refused before any HMAC is computed.
func VerifyHex(newHash func() hash.Hash, secret string, body []byte, sig string) bool {
	m := hmac.New(newHash, []byte(secret))
	if len(sig) != m.Size()*2 {
		return false
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}
