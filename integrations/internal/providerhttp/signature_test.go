package providerhttp_test

import (
	"crypto/sha256"
	"crypto/sha512"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva/integrations/internal/providerhttp"
)

// RFC 4231, test case 2.
const (
	rfcKey    = "Jefe"
	rfcData   = "what do ya want for nothing?"
	rfcSHA256 = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
	rfcSHA512 = "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
)

func TestSignHexMatchesReferenceVectors(t *testing.T) {
	t.Parallel()
	require.Equal(t, rfcSHA256, providerhttp.SignHex(sha256.New, rfcKey, []byte(rfcData)))
	require.Equal(t, rfcSHA512, providerhttp.SignHex(sha512.New, rfcKey, []byte(rfcData)))
}

func TestVerifyHex(t *testing.T) {
	t.Parallel()
	body := []byte(rfcData)
	require.True(t, providerhttp.VerifyHex(sha256.New, rfcKey, body, rfcSHA256))
	require.True(t, providerhttp.VerifyHex(sha256.New, rfcKey, body, strings.ToUpper(rfcSHA256)))
	require.True(t, providerhttp.VerifyHex(sha512.New, rfcKey, body, rfcSHA512))

	for name, sig := range map[string]string{
		"other hash":   rfcSHA512,
		"truncated":    rfcSHA256[:62],
		"not hex":      "zz" + rfcSHA256[2:],
		"flipped":      "4" + rfcSHA256[1:],
		"empty":        "",
		"with spacing": " " + rfcSHA256[1:],
	} {
		require.False(t, providerhttp.VerifyHex(sha256.New, rfcKey, body, sig), name)
	}
	require.False(t, providerhttp.VerifyHex(sha256.New, "other", body, rfcSHA256))
	require.False(t, providerhttp.VerifyHex(sha256.New, rfcKey, []byte(rfcData+"."), rfcSHA256))
}

func FuzzVerifyHex(f *testing.F) {
	f.Add(rfcKey, []byte(rfcData), rfcSHA256)
	f.Add(rfcKey, []byte(rfcData), strings.ToUpper(rfcSHA256))
	f.Add("", []byte{}, strings.Repeat("0", 64))
	f.Add("k", []byte("x"), strings.Repeat("zz", 32))
	f.Fuzz(func(t *testing.T, secret string, body []byte, sig string) {
		want := providerhttp.SignHex(sha256.New, secret, body)
		require.Equal(t, strings.EqualFold(sig, want), providerhttp.VerifyHex(sha256.New, secret, body, sig))
		require.True(t, providerhttp.VerifyHex(sha256.New, secret, body, want))
	})
}
