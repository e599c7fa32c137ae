package standardwebhooks

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names of a Standard Webhooks delivery.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every serialized symmetric secret.
const SecretPrefix = "whsec_"

// DefaultTolerance is how far a timestamp may lie in the past or the future
// of the verifier's clock, as in the reference libraries.
const DefaultTolerance = 5 * time.Minute

// Limits that keep a hostile signature header from costing more than a few
// HMAC comparisons.
const (
	maxSignatureHeader = 4096
	maxSignatures      = 16
	maxIDLength        = 256
)

// Errors returned by Sign and Verify. Verify wraps them, so test them with
// errors.Is.
var (
	ErrInvalidSecret       = errors.New("standardwebhooks: invalid secret")
	ErrMissingHeaders      = errors.New("standardwebhooks: missing required headers")
	ErrInvalidHeaders      = errors.New("standardwebhooks: invalid headers")
	ErrTimestampTooOld     = errors.New("standardwebhooks: timestamp too old")
	ErrTimestampTooNew     = errors.New("standardwebhooks: timestamp too new")
	ErrNoMatchingSignature = errors.New("standardwebhooks: no matching signature")
)

// Headers are the three Standard Webhooks headers of one delivery attempt.
type Headers struct {
	// ID is the message id, stable across retries of one event, so
	// consumers can deduplicate on it.
	ID string
	// Timestamp is the attempt's time in Unix seconds, as sent.
	Timestamp string
	// Signature holds one or more space-separated "v1,<base64>" values.
	Signature string
}

// HeadersFrom reads the Standard Webhooks headers of an HTTP request.
func HeadersFrom(h http.Header) Headers {
	return Headers{
		ID:        h.Get(HeaderID),
		Timestamp: h.Get(HeaderTimestamp),
		Signature: h.Get(HeaderSignature),
	}
}

// Set writes the headers into h.
func (hs Headers) Set(h http.Header) {
	h.Set(HeaderID, hs.ID)
	h.Set(HeaderTimestamp, hs.Timestamp)
	h.Set(HeaderSignature, hs.Signature)
}

// NewSecret returns a fresh secret: "whsec_" followed by the base64 of 32
// random bytes.
func NewSecret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("standardwebhooks: crypto/rand failed: " + err.Error())
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b[:])
}

// Sign returns the webhook-signature value ("v1,<base64>") of payload sent
// as message msgID at ts.
func Sign(secret, msgID string, ts time.Time, payload []byte) (string, error) {
	key, err := decodeSecret(secret)
	if err != nil {
		return "", err
	}
	if err := checkID(msgID); err != nil {
		return "", err
	}
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, msgID, strconv.FormatInt(ts.Unix(), 10), payload)), nil
}

// SignHeaders returns the complete headers of a delivery of payload as
// message msgID at ts.
func SignHeaders(secret, msgID string, ts time.Time, payload []byte) (Headers, error) {
	sig, err := Sign(secret, msgID, ts, payload)
	if err != nil {
		return Headers{}, err
	}
	return Headers{ID: msgID, Timestamp: strconv.FormatInt(ts.Unix(), 10), Signature: sig}, nil
}

// Verify checks that h carries a valid "v1" signature of payload under
// secret and that its timestamp lies within tolerance of now (DefaultTolerance
// when tolerance is zero or negative). Any one of several space-separated
// signatures may match, which lets senders rotate secrets; other versions
// (for example "v1a" asymmetric signatures) are skipped.
func Verify(secret string, h Headers, payload []byte, now time.Time, tolerance time.Duration) error {
	key, err := decodeSecret(secret)
	if err != nil {
		return err
	}
	if h.ID == "" || h.Timestamp == "" || h.Signature == "" {
		return ErrMissingHeaders
	}
	if err := checkID(h.ID); err != nil {
		return err
	}
	ts, err := parseTimestamp(h.Timestamp)
	if err != nil {
		return err
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if now.Sub(ts) > tolerance {
		return ErrTimestampTooOld
	}
	if ts.Sub(now) > tolerance {
		return ErrTimestampTooNew
	}
	if len(h.Signature) > maxSignatureHeader {
		return fmt.Errorf("%w: signature header too long", ErrInvalidHeaders)
	}
	expected := mac(key, h.ID, h.Timestamp, payload)
	for i, candidate := range strings.Fields(h.Signature) {
		if i >= maxSignatures {
			break
		}
		version, sig, ok := strings.Cut(candidate, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			continue
		}
		if hmac.Equal(got, expected) {
			return nil
		}
	}
	return ErrNoMatchingSignature
}

// VerifyRequest is Verify over the headers of an HTTP request.
func VerifyRequest(secret string, header http.Header, payload []byte, now time.Time, tolerance time.Duration) error {
	return Verify(secret, HeadersFrom(header), payload, now, tolerance)
}

func mac(key []byte, id, ts string, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(payload)
	return m.Sum(nil)
}

func decodeSecret(secret string) ([]byte, error) {
	s := strings.TrimPrefix(secret, SecretPrefix)
	if s == "" {
		return nil, ErrInvalidSecret
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSecret, err)
	}
	if len(key) == 0 {
		return nil, ErrInvalidSecret
	}
	return key, nil
}

// checkID refuses ids that would make the signed content ambiguous: the
// specification forbids '.' in ids because it separates the signed parts.
func checkID(id string) error {
	if id == "" || len(id) > maxIDLength {
		return fmt.Errorf("%w: bad message id length", ErrInvalidHeaders)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c == '.' || c < 0x21 || c > 0x7e {
			return fmt.Errorf("%w: message id contains %q", ErrInvalidHeaders, c)
		}
	}
	return nil
}

// parseTimestamp accepts only plain decimal Unix seconds: no sign, no
// fraction, no '.', which keeps the signed content unambiguous.
func parseTimestamp(s string) (time.Time, error) {
	if len(s) > 12 {
		return time.Time{}, fmt.Errorf("%w: timestamp out of range", ErrInvalidHeaders)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return time.Time{}, fmt.Errorf("%w: timestamp is not Unix seconds", ErrInvalidHeaders)
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %w", ErrInvalidHeaders, err)
	}
	return time.Unix(n, 0), nil
}
