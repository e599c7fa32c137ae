package whatsapp_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva/integrations/whatsapp"
)

// batched carries two entries: messages and a status in the first, a
// non-message field and a list reply in the second.
const batched = `{"object":"whatsapp_business_account","entry":[
 {"id":"WABA1","changes":[
  {"field":"messages","value":{"messaging_product":"whatsapp",
   "metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},
   "contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"},{"profile":{"name":"Kai"},"wa_id":"16505550000"}],
   "messages":[
    {"from":"16505551234","id":"wamid.A","timestamp":"1739321024","type":"text","text":{"body":"Hi"}},
    {"from":"16505550000","id":"wamid.B","timestamp":"1739321025","type":"image","image":{"caption":"this one","id":"img"}}]}},
  {"field":"messages","value":{"messaging_product":"whatsapp",
   "metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},
   "statuses":[{"id":"wamid.OUT","status":"failed","timestamp":"1739321030","recipient_id":"16505551234",
     "errors":[{"code":131047,"title":"Re-engagement message","message":"Re-engagement message","error_data":{"details":"more than 24 hours"}}]}]}}]},
 {"id":"WABA2","changes":[
  {"field":"account_update","value":{"event":"VERIFIED_ACCOUNT"}},
  {"field":"messages","value":{"messaging_product":"whatsapp",
   "metadata":{"display_phone_number":"15550000001","phone_number_id":"222"},
   "contacts":[{"profile":{"name":"Obi"},"wa_id":"2348030000000"}],
   "messages":[{"from":"2348030000000","id":"wamid.C","timestamp":"not a time","type":"interactive",
     "context":{"from":"15550000001","id":"wamid.MENU"},
     "interactive":{"type":"list_reply","list_reply":{"id":"size-42","title":"42","description":"In stock"}}}]}}]}]}`

func TestParseWebhookBatched(t *testing.T) {
	t.Parallel()
	msgs, statuses, err := whatsapp.ParseWebhook([]byte(batched))
	require.NoError(t, err)
	require.Len(t, msgs, 3)
	require.Equal(t, whatsapp.InboundMessage{
		PhoneNumberID: "106540352242922", DisplayPhoneNumber: "15550783881", From: "16505551234", Name: "Sheena Nelson",
		WAMID: "wamid.A", Timestamp: time.Unix(1739321024, 0).UTC(), Type: "text", Text: "Hi",
	}, msgs[0])
	require.Equal(t, "Kai", msgs[1].Name)
	require.Equal(t, "this one", msgs[1].Text)
	require.Equal(t, "222", msgs[2].PhoneNumberID)
	require.Equal(t, "size-42", msgs[2].InteractiveReplyID)
	require.Equal(t, "42", msgs[2].Text)
	require.Equal(t, "wamid.MENU", msgs[2].ContextWAMID)
	require.True(t, msgs[2].Timestamp.IsZero(), "an odd timestamp does not drop the message")

	require.Len(t, statuses, 1)
	require.Equal(t, "wamid.OUT", statuses[0].WAMID)
	require.Equal(t, "failed", statuses[0].Status)
	require.Equal(t, []whatsapp.StatusError{{Code: 131047, Title: "Re-engagement message", Message: "Re-engagement message", Details: "more than 24 hours"}}, statuses[0].Errors)
}

func TestParseWebhookRefusesOtherShapes(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{
		``, `[]`, `{"object":"page","entry":[]}`, `{"entry":[]}`,
		`{"object":"whatsapp_business_account","entry":{}}`,
		`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"type":"text"}]}}]}]}`,
		`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"statuses":[{"id":"x"}]}}]}]}`,
	} {
		_, _, err := whatsapp.ParseWebhook([]byte(bad))
		require.ErrorIs(t, err, whatsapp.ErrInvalidPayload, bad)
	}
	msgs, statuses, err := whatsapp.ParseWebhook([]byte(`{"object":"whatsapp_business_account","entry":[]}`))
	require.NoError(t, err)
	require.Empty(t, msgs)
	require.Empty(t, statuses)
}

func TestVerifySignature(t *testing.T) {
	t.Parallel()
	body := []byte(batched)
	sig := whatsapp.Sign("app-secret", body)
	require.True(t, strings.HasPrefix(sig, "sha256="))
	require.NoError(t, whatsapp.VerifySignature("app-secret", body, sig))
	require.ErrorIs(t, whatsapp.VerifySignature("app-secret", body, ""), whatsapp.ErrMissingSignature)
	require.ErrorIs(t, whatsapp.VerifySignature("other", body, sig), whatsapp.ErrInvalidSignature)
	require.ErrorIs(t, whatsapp.VerifySignature("", body, sig), whatsapp.ErrInvalidSignature)
	require.ErrorIs(t, whatsapp.VerifySignature("app-secret", body[1:], sig), whatsapp.ErrInvalidSignature)
	require.ErrorIs(t, whatsapp.VerifySignature("app-secret", body, "sha1="+sig[7:]), whatsapp.ErrInvalidSignature)
	require.ErrorIs(t, whatsapp.VerifySignature("app-secret", body, sig[7:]), whatsapp.ErrInvalidSignature)
}

func FuzzVerifySignature(f *testing.F) {
	body := []byte(batched)
	f.Add("app-secret", body, whatsapp.Sign("app-secret", body))
	f.Add("app-secret", body, "sha256=")
	f.Add("", []byte{}, "sha256="+strings.Repeat("0", 64))
	f.Add("s", []byte("x"), "sha256=="+strings.Repeat("g", 63))
	f.Fuzz(func(t *testing.T, secret string, body []byte, header string) {
		if whatsapp.VerifySignature(secret, body, header) == nil {
			require.True(t, strings.EqualFold(strings.TrimSpace(header), whatsapp.Sign(secret, body)))
		}
		if secret != "" {
			require.NoError(t, whatsapp.VerifySignature(secret, body, whatsapp.Sign(secret, body)))
		}
	})
}

func FuzzParseWebhook(f *testing.F) {
	f.Add([]byte(batched))
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"from":"1","id":"w","timestamp":1,"type":"button","button":{"payload":"p","text":"t"}}]}}]}]}`))
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"statuses":[{"id":"w","status":"read","timestamp":{}}]}}]}]}`))
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":null}`))
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"1"},"messages":[{"from":"2","id":"w","type":"image","image":{"id":"m1","mime_type":"image/jpeg","sha256":"x","caption":"c"}},{"from":"2","id":"v","type":"document","document":{"id":"d1","filename":"a.pdf"}},{"from":"2","id":"u","type":"location","location":{"latitude":1}}]}}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		msgs, statuses, err := whatsapp.ParseWebhook(body)
		if err != nil {
			require.ErrorIs(t, err, whatsapp.ErrInvalidPayload)
			require.Nil(t, msgs)
			require.Nil(t, statuses)
			return
		}
		for _, m := range msgs {
			require.NotEmpty(t, m.WAMID)
			require.NotEmpty(t, m.From)
			if m.Media != nil {
				require.NotEmpty(t, m.Media.ID)
			}
		}
		for _, s := range statuses {
			require.NotEmpty(t, s.WAMID)
			require.NotEmpty(t, s.Status)
		}
	})
}

// The keyed verifier answers as VerifySignature does.
func TestVerifierAgreesWithVerifySignature(t *testing.T) {
	body := []byte(`{"object":"whatsapp_business_account"}`)
	sig := whatsapp.Sign("app-secret", body)
	for _, secret := range []string{"app-secret", "other", ""} {
		v := whatsapp.NewVerifier(secret)
		for _, header := range []string{sig, " " + sig + " ", "", "sha1=" + sig[len("sha256="):], "sha256=", sig + "0", "nope"} {
			for _, b := range [][]byte{body, body[1:]} {
				want := whatsapp.VerifySignature(secret, b, header)
				require.Equal(t, want, v.Verify(b, header), "secret %q header %q", secret, header)
			}
		}
	}
}
