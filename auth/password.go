package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/vayvahq/vayva"
)

// The default argon2id parameters are the second recommended option of RFC
// 9106 (§4), meant for machines where 2 GiB per hash is too much: 3 passes
// over 64 MiB with 4 lanes, a 128-bit salt and a 256-bit tag. On a current
// server core one hash takes in the order of 50–100 ms, which is slow enough
// to make offline guessing of a leaked hash expensive and fast enough for an
// interactive sign-in. The memory cost is what makes GPU and ASIC guessing
// expensive; Hasher bounds how many hashes run at once so that it cannot
// exhaust the node's memory (Concurrency × 64 MiB).
const (
	// DefaultTime is the number of passes over the memory.
	DefaultTime = 3
	// DefaultMemoryKiB is the memory per hash in KiB (64 MiB).
	DefaultMemoryKiB = 64 * 1024
	// DefaultThreads is the number of lanes (the "p" parameter).
	DefaultThreads = 4
	// DefaultConcurrency is how many hashes a Hasher computes at once.
	DefaultConcurrency = 4

	saltLen = 16
	keyLen  = 32
)

// Bounds on the parameters Verify accepts from a stored hash, so that a
// corrupted or planted hash cannot make one sign-in allocate gigabytes or
// spin for minutes.
const (
	maxTime      = 64
	maxMemoryKiB = 1 << 20 // 1 GiB
	maxSaltLen   = 64
	maxKeyLen    = 128
)

// MaxPasswordLen is the longest password, in characters, that the runtime
// accepts; MinPasswordLen the shortest for a new password.
const (
	MinPasswordLen = 10
	MaxPasswordLen = 256
)

// ErrMalformedHash reports a stored password hash that is not an argon2id
// PHC string with sane parameters.
var ErrMalformedHash = errors.New("auth: malformed password hash")

// HashParams are the argon2id cost parameters of new hashes. Hashes made with
// other parameters still verify: each PHC string carries its own.
type HashParams struct {
	// Time is the number of passes. Defaults to DefaultTime.
	Time uint32
	// MemoryKiB is the memory per hash in KiB. Defaults to DefaultMemoryKiB.
	MemoryKiB uint32
	// Threads is the number of lanes. Defaults to DefaultThreads.
	Threads uint8
	// Concurrency bounds the hashes computed at once by one Hasher.
	// Defaults to DefaultConcurrency.
	Concurrency int
}

func (p HashParams) withDefaults() HashParams {
	if p.Time == 0 {
		p.Time = DefaultTime
	}
	if p.MemoryKiB == 0 {
		p.MemoryKiB = DefaultMemoryKiB
	}
	if p.Threads == 0 {
		p.Threads = DefaultThreads
	}
	if p.Concurrency <= 0 {
		p.Concurrency = DefaultConcurrency
	}
	return p
}

// TestHashParams make hashing nearly free, for tests that sign up and sign
// in a lot. Never use them in production: a hash made with them resists no
// guessing at all.
var TestHashParams = HashParams{Time: 1, MemoryKiB: 64, Threads: 1}

// Hasher hashes and verifies passwords with argon2id, encoding hashes as PHC
// strings: $argon2id$v=19$m=65536,t=3,p=4$<salt>$<key>, salt and key in
// unpadded standard base64. It is safe for concurrent use.
type Hasher struct {
	params HashParams
	sem    chan struct{}
	// dummy is a well-formed hash of no password, verified against when
	// there is no real hash to verify, so that the work done does not tell
	// whether an account exists.
	dummy string
}

// NewHasher returns a hasher whose new hashes use p (zero fields take their
// defaults).
func NewHasher(p HashParams) *Hasher {
	p = p.withDefaults()
	h := &Hasher{params: p, sem: make(chan struct{}, p.Concurrency)}
	h.dummy = encodeHash(p, randomBytes(saltLen), randomBytes(keyLen))
	return h
}

// Params returns the parameters of new hashes.
func (h *Hasher) Params() HashParams { return h.params }

// Hash returns the PHC string of password with a fresh random salt. It waits
// for a free hashing slot until ctx is done.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	salt := randomBytes(saltLen)
	key := argon2.IDKey([]byte(password), salt, h.params.Time, h.params.MemoryKiB, h.params.Threads, keyLen)
	return encodeHash(h.params, salt, key), nil
}

// Verify reports whether password matches the PHC string encoded. The
// comparison of the derived keys takes constant time. An empty encoded
// (an account without a usable password) verifies against a dummy hash with
// the current parameters and reports false, doing the same work as a real
// verification. A malformed hash is ErrMalformedHash.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (bool, error) {
	usable := encoded != ""
	if !usable {
		encoded = h.dummy
	}
	p, salt, key, err := decodeHash(encoded)
	if err != nil {
		return false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	got := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1 && usable, nil
}

// NeedsRehash reports whether encoded was made with parameters other than
// the hasher's, so that a successful sign-in should store a new hash.
func (h *Hasher) NeedsRehash(encoded string) bool {
	p, salt, key, err := decodeHash(encoded)
	if err != nil {
		return true
	}
	return p.Time != h.params.Time || p.MemoryKiB != h.params.MemoryKiB || p.Threads != h.params.Threads ||
		len(salt) != saltLen || len(key) != keyLen
}

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return vayva.Errorf(vayva.EUNAVAILABLE, "Too many sign-ins at once; retry.")
	}
}

func (h *Hasher) release() { <-h.sem }

var b64 = base64.RawStdEncoding

func encodeHash(p HashParams, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decodeHash parses an argon2id PHC string and checks its parameters against
// the bounds above.
func decodeHash(s string) (p HashParams, salt, key []byte, err error) {
	parts := strings.Split(s, "$")
	// "", "argon2id", "v=19", "m=…,t=…,p=…", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, ErrMalformedHash
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("%w: unsupported version %q", ErrMalformedHash, parts[2])
	}
	var seen [3]bool
	for _, kv := range strings.Split(parts[3], ",") {
		name, value, ok := strings.Cut(kv, "=")
		if !ok {
			return p, nil, nil, ErrMalformedHash
		}
		n, perr := strconv.ParseUint(value, 10, 32)
		if perr != nil {
			return p, nil, nil, fmt.Errorf("%w: parameter %q", ErrMalformedHash, name)
		}
		switch name {
		case "m":
			p.MemoryKiB, seen[0] = uint32(n), true
		case "t":
			p.Time, seen[1] = uint32(n), true
		case "p":
			if n > 255 {
				return p, nil, nil, fmt.Errorf("%w: parameter p", ErrMalformedHash)
			}
			p.Threads, seen[2] = uint8(n), true
		default:
			return p, nil, nil, fmt.Errorf("%w: unknown parameter %q", ErrMalformedHash, name)
		}
	}
	if !seen[0] || !seen[1] || !seen[2] {
		return p, nil, nil, fmt.Errorf("%w: missing parameter", ErrMalformedHash)
	}
	if p.Time < 1 || p.Time > maxTime || p.Threads < 1 || p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxMemoryKiB {
		return p, nil, nil, fmt.Errorf("%w: parameters out of range", ErrMalformedHash)
	}
	if salt, err = b64.DecodeString(parts[4]); err != nil || len(salt) < 8 || len(salt) > maxSaltLen {
		return p, nil, nil, fmt.Errorf("%w: salt", ErrMalformedHash)
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > maxKeyLen {
		return p, nil, nil, fmt.Errorf("%w: key", ErrMalformedHash)
	}
	return p, salt, key, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("auth: crypto/rand failed: " + err.Error())
	}
	return b
}
