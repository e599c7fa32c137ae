package providerhttp

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"hash"
	"sync"
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

// HexVerifier checks hex HMAC signatures under one secret like VerifyHex,
// reusing keyed HMAC states: the key is absorbed once per state instead of
// on every call, and nothing is allocated per check. It is safe for
// concurrent use.
type HexVerifier struct {
	size int
	pool sync.Pool
}

// NewHexVerifier returns a verifier of newHash HMACs keyed by secret;
// hashes longer than SHA-512's are not supported.
func NewHexVerifier(newHash func() hash.Hash, secret string) *HexVerifier {
	key := []byte(secret)
	v := &HexVerifier{size: newHash().Size()}
	if v.size > sha512.Size {
		panic("providerhttp: NewHexVerifier: digest longer than SHA-512's")
	}
	v.pool.New = func() any { return hmac.New(newHash, key) }
	return v
}

// Verify reports whether sig is the hex HMAC of body, comparing in constant
// time; it answers as VerifyHex does with the verifier's hash and secret.
func (v *HexVerifier) Verify(body []byte, sig string) bool {
	var want, sum [sha512.Size]byte
	if len(sig) != v.size*2 {
		return false
	}
	for i := 0; i < v.size; i++ {
		hi, ok1 := fromHex(sig[2*i])
		lo, ok2 := fromHex(sig[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		want[i] = hi<<4 | lo
	}
	m := v.pool.Get().(hash.Hash)
	m.Reset()
	m.Write(body)
	ok := hmac.Equal(want[:v.size], m.Sum(sum[:0]))
	v.pool.Put(m)
	return ok
}

func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
