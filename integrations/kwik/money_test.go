package kwik

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseNaira(t *testing.T) {
	t.Parallel()
	ok := map[string]int64{
		`1500`: 150000, `1500.5`: 150050, `"1500.50"`: 150050, `"1,500.05"`: 150005, `0.005`: 1, `0.004`: 0,
		`"12"`: 1200, `1234.999`: 123500,
	}
	for in, want := range ok {
		got, err := parseNaira(json.RawMessage(in))
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{``, `null`, `"abc"`, `-5`, `1e3`, `"1.2.3"`, `99999999999999999999`, `{}`, `"."`} {
		_, err := parseNaira(json.RawMessage(in))
		require.Error(t, err, in)
	}
	require.Equal(t, "1500.05", formatNaira(150005))
	require.Equal(t, "0.00", formatNaira(0))
}

func FuzzParseNaira(f *testing.F) {
	for _, s := range []string{`1500`, `"1,500.05"`, `0.005`, `"x"`, `1e3`, `99999999999999.999`, `999999999999999.997`, `""`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		kobo, err := parseNaira(raw)
		if err != nil {
			return
		}
		require.GreaterOrEqual(t, kobo, int64(0))
		again, err := parseNaira(json.RawMessage(formatNaira(kobo)))
		require.NoError(t, err)
		require.Equal(t, kobo, again)
	})
}
