package auth

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
)

func TestValidEmail(t *testing.T) {
	for _, s := range []string{"ada@example.com", "Ada.Lovelace+shop@mail.example.ng", "a@b.co", "o'brien@x.io", "x@xn--80ak6aa92e.com"} {
		require.True(t, ValidEmail(s), s)
	}
	for _, s := range []string{"", "ada", "@example.com", "ada@", "ada@example", "ada@@example.com", "ada@exa mple.com",
		"ada@-example.com", "ada@example-.com", "ada@example..com", ".ada@example.com", "ada.@example.com", "a..da@example.com",
		"\"ada\"@example.com", "Ada <ada@example.com>", "ada@[127.0.0.1]", "ada@example.123", "adá@example.com",
		strings.Repeat("a", 65) + "@example.com", "a@" + strings.Repeat("b", 64) + ".com", "ada@example.com\n"} {
		require.False(t, ValidEmail(s), s)
	}
}

func TestValidSlug(t *testing.T) {
	for _, s := range []string{"abc", "ada-shoes", "a1b", "123", strings.Repeat("a", 48)} {
		require.True(t, ValidSlug(s), s)
	}
	for _, s := range []string{"", "ab", "-abc", "abc-", "Abc", "ab_c", "ab c", "abé", strings.Repeat("a", 49)} {
		require.False(t, ValidSlug(s), s)
	}
}

func TestDeriveSlug(t *testing.T) {
	for in, want := range map[string]string{
		"Ada's Shoes":                    "ada-s-shoes",
		"  Mama Put!!  Kitchen ":         "mama-put-kitchen",
		"Ọjà Ẹlẹ́wà":                     "oja-elewa",
		"Crème Brûlée & Co.":             "creme-brulee-co",
		"AB":                             "ab-store",
		"漢字":                             "store",
		"":                               "store",
		strings.Repeat("long name ", 10): "long-name-long-name-long-name-long-name",
	} {
		got := DeriveSlug(in)
		require.Equal(t, want, got, in)
		require.True(t, ValidSlug(got), got)
		require.LessOrEqual(t, len(got), maxDerivedSlugLen)
	}
}

func fieldsOf(t *testing.T, err error) map[string]string {
	t.Helper()
	require.Equal(t, vayva.EINVALID, vayva.ErrorCode(err), "%v", err)
	var e *vayva.Error
	require.ErrorAs(t, err, &e)
	out := map[string]string{}
	for _, f := range e.Fields {
		out[f.Field] = f.Message
	}
	return out
}

func TestSignupInputNamesEveryBadField(t *testing.T) {
	slug := "-bad"
	in := SignupInput{Email: "nope", Password: "short", Name: "", BusinessName: strings.Repeat("x", 101), StoreSlug: &slug}
	f := fieldsOf(t, in.Normalize())
	require.Len(t, f, 5)
	for _, k := range []string{"email", "password", "name", "business_name", "store_slug"} {
		require.Contains(t, f, k)
	}

	ok := SignupInput{Email: " Ada@Example.com ", Password: "0123456789", Name: " Ada ", BusinessName: "Ada Shoes"}
	require.NoError(t, ok.Normalize())
	require.Equal(t, "Ada@Example.com", ok.Email)
	require.Equal(t, "Ada", ok.Name)

	long := SignupInput{Email: "a@b.co", Password: strings.Repeat("p", MaxPasswordLen+1), Name: "A", BusinessName: "B\x00"}
	f = fieldsOf(t, long.Normalize())
	require.Contains(t, f, "password")
	require.Contains(t, f, "business_name")
}

func TestMemberInputRefusesOwner(t *testing.T) {
	in := MemberInput{Email: "staff@example.com", Role: vayva.RoleOwner}
	require.Contains(t, fieldsOf(t, in.Normalize()), "role")
	in = MemberInput{Email: "staff@example.com", Role: vayva.RoleStaff}
	require.NoError(t, in.Normalize())
}

func TestCursorRoundTrip(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 123456000, time.UTC)
	c := encodeCursor(at, "mem_abc")
	gotAt, gotID, ok := decodeCursor(c)
	require.True(t, ok)
	require.True(t, at.Equal(gotAt))
	require.Equal(t, "mem_abc", gotID)
	for _, bad := range []string{"", "!!", "bm9kb3Q", "eC5tZW0"} {
		_, _, ok := decodeCursor(bad)
		require.False(t, ok, bad)
	}
}
