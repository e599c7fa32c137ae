package vayva_test

import (
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vayvahq/vayva"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, c := range []struct {
		key int64
		id  string
	}{
		{1, "prod_abc"}, {42, "col_x"}, {-5, "x"}, {1 << 62, "id|with|bars"}, {0, "ünï"},
	} {
		key, id, err := vayva.DecodeCursor(vayva.EncodeCursor(c.key, c.id))
		if err != nil || key != c.key || id != c.id {
			t.Errorf("%d %q: got %d %q %v", c.key, c.id, key, id, err)
		}
	}
	at := time.Date(2025, 3, 1, 12, 0, 0, 123456000, time.FixedZone("WAT", 3600))
	got, id, err := vayva.DecodeTimeCursor(vayva.EncodeTimeCursor(at, "mem_abc"))
	if err != nil || !got.Equal(at) || id != "mem_abc" || got.Location() != time.UTC {
		t.Errorf("time cursor: got %v %q %v", got, id, err)
	}
}

// Every list has the same opaque format: base64url of "<key>|<id>".
func TestCursorFormat(t *testing.T) {
	c := vayva.EncodeCursor(17, "prod_1")
	if raw, err := base64.RawURLEncoding.DecodeString(c); err != nil || string(raw) != "17|prod_1" {
		t.Fatalf("cursor %q decodes to %q, %v", c, raw, err)
	}
	at := time.UnixMicro(1_700_000_000_123_456)
	if c := vayva.EncodeTimeCursor(at, "we_1"); c != vayva.EncodeCursor(1_700_000_000_123_456, "we_1") {
		t.Fatalf("a time cursor is its microseconds: %q", c)
	}
}

func TestFirstPageCursor(t *testing.T) {
	key, id, err := vayva.DecodeCursor("")
	if key != 0 || id != "" || err != nil {
		t.Fatalf("\"\" is the first page: %d %q %v", key, id, err)
	}
	at, id, err := vayva.DecodeTimeCursor("")
	if !at.IsZero() || id != "" || err != nil {
		t.Fatalf("\"\" is the first page: %v %q %v", at, id, err)
	}
}

func TestBadCursorsAreRefusedAsTheField(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, bad := range []string{
		"!!", "p17", "zz", "bm9kb3Q", enc("17"), enc("|id"), enc("17|"), enc("x|id"), enc("017|id"), enc("+17|id"),
		enc("1.5|id"), enc("99999999999999999999|id"), enc("17|\xff\xfe"), enc("17|a\x00b"), enc("17.mem_abc"),
		base64.StdEncoding.EncodeToString([]byte("17|id")) + "=", strings.Repeat("A", 600),
	} {
		_, _, err := vayva.DecodeCursor(bad)
		var e *vayva.Error
		if !errors.As(err, &e) || e.Code != vayva.EINVALID ||
			!reflect.DeepEqual(e.Fields, []vayva.FieldError{{Field: "cursor", Message: "is not a cursor from this list"}}) {
			t.Errorf("%q: got %v", bad, err)
		}
		if _, _, err := vayva.DecodeTimeCursor(bad); vayva.ErrorCode(err) != vayva.EINVALID {
			t.Errorf("%q as a time cursor: got %v", bad, err)
		}
	}
}

// Any bytes a client sends as a cursor either decode to a position that
// encodes back to the same cursor or are the one refusal.
func FuzzDecodeCursor(f *testing.F) {
	for _, s := range []string{"", vayva.EncodeCursor(17, "prod_1"), vayva.EncodeTimeCursor(time.Now(), "we_x"), "p17", "!!", "MTd8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cursor string) {
		key, id, err := vayva.DecodeCursor(cursor)
		if err != nil {
			if vayva.ErrorCode(err) != vayva.EINVALID {
				t.Fatalf("%q: refusal %v is not EINVALID", cursor, err)
			}
			return
		}
		if cursor == "" {
			return
		}
		if id == "" || !utf8.ValidString(id) || strings.ContainsRune(id, 0) {
			t.Fatalf("%q: decoded id %q", cursor, id)
		}
		if again := vayva.EncodeCursor(key, id); again != cursor {
			t.Fatalf("%q decodes to (%d, %q), which encodes to %q", cursor, key, id, again)
		}
	})
}
