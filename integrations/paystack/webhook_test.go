package paystack_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva/integrations/paystack"
)

const chargeSuccess = `{"event":"charge.success","data":{"id":302961,"domain":"live","status":"success","reference":"qTPrJoy9Bx","amount":10000,"message":null,"gateway_response":"Approved by Financial Institution","paid_at":"2016-09-30T21:10:19.000Z","created_at":"2016-09-30T21:09:56.000Z","channel":"card","currency":"NGN","ip_address":"41.242.49.37","metadata":0,"fees":null,"customer":{"id":68324,"first_name":"BoJack","last_name":"Horseman","email":"bojack@horsinaround.com","customer_code":"CUS_qo38as2hpsgk2r0","phone":null,"metadata":null,"risk_action":"default"},"authorization":{"authorization_code":"AUTH_f5rnfq9p","bin":"539999","last4":"8877","exp_month":"08","exp_year":"2020","card_type":"mastercard DEBIT","bank":"Guaranty Trust Bank","country_code":"NG","brand":"mastercard"}}}`

const refundProcessed = `{"event":"refund.processed","data":{"status":"processed","transaction_reference":"tx_1","refund_reference":null,"amount":"5000","currency":"NGN","processor":"card","customer":{"email":"a@b.c"},"integration":1,"domain":"test"}}`

func TestVerifySignature(t *testing.T) {
	t.Parallel()
	body := []byte(chargeSuccess)
	sig := paystack.Sign("sk_test_abc", body)
	require.Len(t, sig, 128)
	require.NoError(t, paystack.VerifySignature("sk_test_abc", body, sig))
	require.NoError(t, paystack.VerifySignature("sk_test_abc", body, strings.ToUpper(sig)))
	require.NoError(t, paystack.VerifySignature("sk_test_abc", body, " "+sig+" "))
	require.ErrorIs(t, paystack.VerifySignature("sk_test_abc", body, ""), paystack.ErrMissingSignature)
	require.ErrorIs(t, paystack.VerifySignature("sk_test_abd", body, sig), paystack.ErrInvalidSignature)
	require.ErrorIs(t, paystack.VerifySignature("", body, sig), paystack.ErrInvalidSignature)
	require.ErrorIs(t, paystack.VerifySignature("sk_test_abc", append([]byte(chargeSuccess), ' '), sig), paystack.ErrInvalidSignature)
	require.ErrorIs(t, paystack.VerifySignature("sk_test_abc", body, sig[:127]+"z"), paystack.ErrInvalidSignature)
	require.ErrorIs(t, paystack.VerifySignature("sk_test_abc", body, sig[:64]), paystack.ErrInvalidSignature)
}

func TestParseEvent(t *testing.T) {
	t.Parallel()
	ev, err := paystack.ParseEvent([]byte(chargeSuccess))
	require.NoError(t, err)
	require.Equal(t, "charge.success", ev.Event)
	require.EqualValues(t, 302961, ev.Data.ID)
	require.Equal(t, "qTPrJoy9Bx", ev.Data.Reference)
	require.EqualValues(t, 10000, ev.Data.Amount)
	require.Zero(t, ev.Data.Fees)
	require.Equal(t, "bojack@horsinaround.com", ev.Data.CustomerEmail)
	require.Equal(t, 2016, ev.Data.PaidAt.Year())
	require.Equal(t, "charge.success:id:302961", paystack.EventKey(ev))

	odd, err := paystack.ParseEvent([]byte(`{"event":"charge.success","data":{"reference":"r","paid_at":"yesterday"}}`))
	require.NoError(t, err, "an odd date does not lose a payment")
	require.True(t, odd.Data.PaidAt.IsZero())

	rf, err := paystack.ParseEvent([]byte(refundProcessed))
	require.NoError(t, err)
	require.EqualValues(t, 5000, rf.Data.Amount)
	require.Equal(t, "tx_1", rf.Data.TransactionReference)
	require.Equal(t, "refund.processed:refund:tx_1::5000", paystack.EventKey(rf))

	bare, err := paystack.ParseEvent([]byte(`{"event":"subscription.create","data":{"subscription_code":"SUB_1"}}`))
	require.NoError(t, err)
	key := paystack.EventKey(bare)
	require.True(t, strings.HasPrefix(key, "subscription.create:sha256:"))
	other, err := paystack.ParseEvent([]byte(`{"event":"subscription.create","data":{"subscription_code":"SUB_2"}}`))
	require.NoError(t, err)
	require.NotEqual(t, key, paystack.EventKey(other))

	// Paystack's body, not strict JSON: a repeated name takes the last
	// value, escaped names are names, and invalid UTF-8 does not lose a
	// payment.
	dup, err := paystack.ParseEvent([]byte(`{"event":"charge.success","data":{"reference":"a","\u0072eference":"b","amount":1,"amount":"2"}}`))
	require.NoError(t, err)
	require.Equal(t, "b", dup.Data.Reference)
	require.EqualValues(t, 2, dup.Data.Amount)
	require.Equal(t, `{"reference":"a","\u0072eference":"b","amount":1,"amount":"2"}`, string(dup.Data.Raw))
	utf, err := paystack.ParseEvent([]byte("{\"event\":\"charge.success\",\"data\":{\"reference\":\"r\xff\"}}"))
	require.NoError(t, err)
	require.Equal(t, "r\uFFFD", utf.Data.Reference)
	// An unreadable customer loses its email, not the event.
	cust, err := paystack.ParseEvent([]byte(`{"event":"charge.success","data":{"reference":"r","customer":{"id":1.5,"email":"a@b.c"}}}`))
	require.NoError(t, err)
	require.Empty(t, cust.Data.CustomerEmail)

	for _, bad := range []string{
		`{"event":"charge.success","data":{}} {}`, `{"event":"charge.success","data":{"reference":{}}}`,
		`{"event":"charge.success","data":{"recipient":{"name":[]}}}`, `{"event":"charge.success","data":{}`,
		``, `null`, `[]`, `{}`, `{"event":"charge.success"}`, `{"event":"","data":{}}`,
		`{"event":"charge.success","data":[]}`, `{"event":"charge.success","data":{"amount":10.5}}`,
		`{"event":"charge.success","data":{"id":{"x":1}}}`,
	} {
		_, err := paystack.ParseEvent([]byte(bad))
		require.ErrorIs(t, err, paystack.ErrInvalidEvent, bad)
	}
}

func FuzzVerifySignature(f *testing.F) {
	body := []byte(chargeSuccess)
	f.Add("sk_test_abc", body, paystack.Sign("sk_test_abc", body))
	f.Add("sk_test_abc", body, "")
	f.Add("", []byte{}, strings.Repeat("0", 128))
	f.Add("k", []byte("x"), strings.Repeat("zz", 64))
	f.Fuzz(func(t *testing.T, secret string, body []byte, header string) {
		err := paystack.VerifySignature(secret, body, header)
		if err == nil {
			require.True(t, strings.EqualFold(strings.TrimSpace(header), paystack.Sign(secret, body)))
		}
		// The reusable verifier answers the same.
		v := paystack.NewVerifier(secret)
		require.Equal(t, err, v.Verify(body, header))
		// The signature Sign makes always verifies.
		if secret != "" {
			require.NoError(t, paystack.VerifySignature(secret, body, paystack.Sign(secret, body)))
			require.NoError(t, v.Verify(body, paystack.Sign(secret, body)))
		}
	})
}

func FuzzParseEvent(f *testing.F) {
	f.Add([]byte(chargeSuccess))
	f.Add([]byte(refundProcessed))
	f.Add([]byte(`{"event":"transfer.success","data":{"id":"12","reference":"po_1","recipient":{"recipient_code":"RCP_1"},"transfer_code":"TRF_1"}}`))
	f.Add([]byte(`{"event":"x","data":{"amount":"9223372036854775808"}}`))
	f.Add([]byte(`{"event":"x","data":{"metadata":"","customer":null,"recipient":7}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := paystack.ParseEvent(body)
		if err != nil {
			require.ErrorIs(t, err, paystack.ErrInvalidEvent)
			return
		}
		require.NotEmpty(t, ev.Event)
		require.True(t, strings.HasPrefix(paystack.EventKey(ev), ev.Event+":"))
		require.True(t, json.Valid(ev.Data.Raw) && ev.Data.Raw[0] == '{', "data is the object's bytes: %q", ev.Data.Raw)
		// The same event re-serialised (whitespace changed) is the same
		// event, with the same key.
		var compact, indented bytes.Buffer
		require.NoError(t, json.Compact(&compact, body))
		require.NoError(t, json.Indent(&indented, body, " ", "\t"))
		for _, again := range [][]byte{compact.Bytes(), indented.Bytes()} {
			ev2, err := paystack.ParseEvent(again)
			require.NoError(t, err, "%q", again)
			require.Equal(t, paystack.EventKey(ev), paystack.EventKey(ev2))
			require.Equal(t, ev.Data.Reference, ev2.Data.Reference)
			require.Equal(t, ev.Data.Amount, ev2.Data.Amount)
		}
	})
}
