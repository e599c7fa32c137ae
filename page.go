package vayva

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The bounds of a list page (?limit= on every list route): a page holds
// DefaultPageLimit items unless the caller asks for 1 to MaxPageLimit.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 200
)

// BadCursorMessage is the field message of a refused cursor; the field is
// always "cursor".
const BadCursorMessage = "is not a cursor from this list"

// maxCursorLen bounds the cursors DecodeCursor reads, so a forged one
// costs nothing to refuse.
const maxCursorLen = 512

// EncodeCursor returns the opaque cursor of the position after the item
// (key, id) of a list ordered by key, then id: the base64url (unpadded) of
// "<key>|<id>". Lists ordered by time use its microseconds since the epoch
// as key (EncodeTimeCursor), lists ordered by a sequence use the sequence.
// Every list of the API hands out cursors of this one format, and clients
// must treat them as opaque.
func EncodeCursor(key int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(key, 10) + "|" + id))
}

// DecodeCursor parses a cursor made by EncodeCursor. "" is the first page:
// it returns id "" and no error. Anything else that EncodeCursor could not
// have made (bad base64, no key, an empty id, an id that is not UTF-8 or
// holds NUL) is an EINVALID *Error naming the field "cursor", which the
// edge answers 422. It checks the form only; the list decides whether the
// position is one of its own (an id of the right kind, say).
func DecodeCursor(cursor string) (key int64, id string, err error) {
	if cursor == "" {
		return 0, "", nil
	}
	if len(cursor) > maxCursorLen {
		return 0, "", BadCursor()
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return 0, "", BadCursor()
	}
	k, id, ok := strings.Cut(string(raw), "|")
	if !ok || id == "" || !utf8.ValidString(id) || strings.ContainsRune(id, 0) {
		return 0, "", BadCursor()
	}
	key, err = strconv.ParseInt(k, 10, 64)
	// A position has one cursor: other spellings of it (a key with a sign
	// or leading zeros, base64 with line breaks or stray bits) are not ours.
	if err != nil || EncodeCursor(key, id) != cursor {
		return 0, "", BadCursor()
	}
	return key, id, nil
}

// EncodeTimeCursor returns the cursor of the position after the item
// (at, id) of a list ordered by time (to the microsecond, as PostgreSQL
// keeps it), then id.
func EncodeTimeCursor(at time.Time, id string) string {
	return EncodeCursor(at.UnixMicro(), id)
}

// DecodeTimeCursor parses a cursor made by EncodeTimeCursor, like
// DecodeCursor; the time is in UTC.
func DecodeTimeCursor(cursor string) (at time.Time, id string, err error) {
	us, id, err := DecodeCursor(cursor)
	if err != nil || id == "" {
		return time.Time{}, "", err
	}
	return time.UnixMicro(us).UTC(), id, nil
}

// BadCursor returns the refusal of a cursor that no list of ours made.
func BadCursor() *Error {
	return &Error{Code: EINVALID, Message: "The request has invalid fields.",
		Fields: []FieldError{{Field: "cursor", Message: BadCursorMessage}}}
}
