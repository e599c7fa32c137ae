package phone

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestE164Digits(t *testing.T) {
	for _, c := range []struct {
		raw, region, want string
		ok                bool
	}{
		{"+234 803 123 4567", "NG", "2348031234567", true},
		{"08031234567", "NG", "2348031234567", true},
		{"0803-123-4567", "", "2348031234567", true},
		{"2348031234567", "NG", "2348031234567", true},
		{"002348031234567", "GH", "2348031234567", true},
		{"024 123 4567", "GH", "233241234567", true},
		{"(415) 555-2671", "US", "14155552671", true},
		{"", "NG", "", false},
		{"not a number", "NG", "", false},
	} {
		got, ok := E164Digits(c.raw, c.region)
		require.Equal(t, c.ok, ok, c.raw)
		require.Equal(t, c.want, got, c.raw)
	}
	got, ok := WhatsAppID("2348031234567")
	require.True(t, ok)
	require.Equal(t, "2348031234567", got)
}

func FuzzE164Digits(f *testing.F) {
	f.Add("+234 803 123 4567", "NG")
	f.Add("0803", "")
	f.Fuzz(func(t *testing.T, raw, region string) {
		if out, ok := E164Digits(raw, region); ok {
			again, ok2 := E164Digits("+"+out, "")
			if !ok2 || again != out {
				t.Fatalf("%q -> %q, not stable (%q)", raw, out, again)
			}
		}
	})
}
