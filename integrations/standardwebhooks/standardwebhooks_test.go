package standardwebhooks_test

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva/integrations/standardwebhooks"
)

// The signing vector of the reference Go library's TestWebhookSign.
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorMsgID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = 1614265330
	vectorPayload   = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func vectorHeaders() standardwebhooks.Headers {
	return standardwebhooks.Headers{ID: vectorMsgID, Timestamp: strconv.Itoa(vectorTimestamp), Signature: vectorSignature}
}

func TestSignMatchesReferenceVector(t *testing.T) {
	t.Parallel()
	sig, err := standardwebhooks.Sign(vectorSecret, vectorMsgID, time.Unix(vectorTimestamp, 0), []byte(vectorPayload))
	require.NoError(t, err)
	require.Equal(t, vectorSignature, sig)

	// The prefix is optional, as in the reference libraries.
	sig, err = standardwebhooks.Sign(strings.TrimPrefix(vectorSecret, "whsec_"), vectorMsgID, time.Unix(vectorTimestamp, 0), []byte(vectorPayload))
	require.NoError(t, err)
	require.Equal(t, vectorSignature, sig)
}

func TestVerifyReferenceVector(t *testing.T) {
	t.Parallel()
	now := time.Unix(vectorTimestamp, 0).Add(time.Minute)
	require.NoError(t, standardwebhooks.Verify(vectorSecret, vectorHeaders(), []byte(vectorPayload), now, 0))
}

func TestVerify(t *testing.T) {
	t.Parallel()
	now := time.Unix(vectorTimestamp, 0)
	other := standardwebhooks.NewSecret()
	otherSig, err := standardwebhooks.Sign(other, vectorMsgID, now, []byte(vectorPayload))
	require.NoError(t, err)

	cases := []struct {
		name    string
		secret  string
		modify  func(*standardwebhooks.Headers)
		payload string
		now     time.Time
		want    error
	}{
		{name: "valid", want: nil},
		{name: "missing id", modify: func(h *standardwebhooks.Headers) { h.ID = "" }, want: standardwebhooks.ErrMissingHeaders},
		{name: "missing timestamp", modify: func(h *standardwebhooks.Headers) { h.Timestamp = "" }, want: standardwebhooks.ErrMissingHeaders},
		{name: "missing signature", modify: func(h *standardwebhooks.Headers) { h.Signature = "" }, want: standardwebhooks.ErrMissingHeaders},
		{name: "tampered payload", payload: `{"test": 2432232315}`, want: standardwebhooks.ErrNoMatchingSignature},
		{name: "wrong secret", secret: other, want: standardwebhooks.ErrNoMatchingSignature},
		{name: "invalid signature", modify: func(h *standardwebhooks.Headers) {
			h.Signature = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
		}, want: standardwebhooks.ErrNoMatchingSignature},
		{name: "wrong version", modify: func(h *standardwebhooks.Headers) {
			h.Signature = "v2," + strings.TrimPrefix(vectorSignature, "v1,")
		}, want: standardwebhooks.ErrNoMatchingSignature},
		{name: "several signatures, one valid", modify: func(h *standardwebhooks.Headers) {
			h.Signature = strings.Join([]string{
				"v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=", "v1a,abc", "garbage", otherSig, vectorSignature,
			}, " ")
		}, want: nil},
		{name: "several signatures, none valid", modify: func(h *standardwebhooks.Headers) {
			h.Signature = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= " + otherSig
		}, want: standardwebhooks.ErrNoMatchingSignature},
		{name: "stale", now: now.Add(5*time.Minute + time.Second), want: standardwebhooks.ErrTimestampTooOld},
		{name: "future", now: now.Add(-5*time.Minute - time.Second), want: standardwebhooks.ErrTimestampTooNew},
		{name: "edge of window", now: now.Add(5 * time.Minute), want: nil},
		{name: "dot in id", modify: func(h *standardwebhooks.Headers) { h.ID = "msg.1" }, want: standardwebhooks.ErrInvalidHeaders},
		{name: "dot in timestamp", modify: func(h *standardwebhooks.Headers) { h.Timestamp += ".0" }, want: standardwebhooks.ErrInvalidHeaders},
		{name: "signed timestamp", modify: func(h *standardwebhooks.Headers) { h.Timestamp = "+" + h.Timestamp }, want: standardwebhooks.ErrInvalidHeaders},
		{name: "bad secret", secret: "whsec_!!!", want: standardwebhooks.ErrInvalidSecret},
		{name: "empty secret", secret: "whsec_", want: standardwebhooks.ErrInvalidSecret},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := vectorHeaders()
			if tc.modify != nil {
				tc.modify(&h)
			}
			secret := vectorSecret
			if tc.secret != "" {
				secret = tc.secret
			}
			payload := vectorPayload
			if tc.payload != "" {
				payload = tc.payload
			}
			at := now
			if !tc.now.IsZero() {
				at = tc.now
			}
			err := standardwebhooks.Verify(secret, h, []byte(payload), at, 5*time.Minute)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.want)
		})
	}
}

func TestNewSecretRoundTrip(t *testing.T) {
	t.Parallel()
	secret := standardwebhooks.NewSecret()
	require.True(t, strings.HasPrefix(secret, "whsec_"))
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	require.NoError(t, err)
	require.Len(t, key, 32)
	require.NotEqual(t, secret, standardwebhooks.NewSecret())

	now := time.Now()
	payload := []byte(`{"type":"order.paid","timestamp":"2026-01-01T00:00:00Z","data":{}}`)
	hs, err := standardwebhooks.SignHeaders(secret, "evt_1", now, payload)
	require.NoError(t, err)
	header := http.Header{}
	hs.Set(header)
	require.NoError(t, standardwebhooks.VerifyRequest(secret, header, payload, now, 0))
	require.ErrorIs(t, standardwebhooks.VerifyRequest(standardwebhooks.NewSecret(), header, payload, now, 0),
		standardwebhooks.ErrNoMatchingSignature)
}

func TestSignRefusesDotInID(t *testing.T) {
	t.Parallel()
	_, err := standardwebhooks.Sign(vectorSecret, "msg.1", time.Now(), nil)
	require.ErrorIs(t, err, standardwebhooks.ErrInvalidHeaders)
}

func FuzzVerify(f *testing.F) {
	f.Add(vectorMsgID, strconv.Itoa(vectorTimestamp), vectorSignature, []byte(vectorPayload))
	f.Add("msg.1", "1614265330", "v1,abc", []byte("{}"))
	f.Add("msg_1", "1614265330.5", "v1,"+strings.Repeat("A", 44), []byte(""))
	f.Add("msg_1", "-1", "v1, v1,,, v1a,x", []byte("x"))
	f.Add("m", "99999999999999999999", strings.Repeat("v1,x ", 100), []byte{0xff})
	f.Fuzz(func(t *testing.T, id, ts, sig string, payload []byte) {
		now := time.Unix(vectorTimestamp, 0)
		h := standardwebhooks.Headers{ID: id, Timestamp: ts, Signature: sig}
		err := standardwebhooks.Verify(vectorSecret, h, payload, now, 0)
		if err != nil {
			return
		}
		// Anything accepted must be exactly what the secret signs.
		n, perr := strconv.ParseInt(ts, 10, 64)
		require.NoError(t, perr)
		want, serr := standardwebhooks.Sign(vectorSecret, id, time.Unix(n, 0), payload)
		require.NoError(t, serr)
		require.Contains(t, strings.Fields(sig), want)
	})
}
