package worker_test

import (
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/integrations/whatsapp"
	"github.com/vayvahq/vayva/worker"
)

const notification = `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{
 "messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001","phone_number_id":"106540352242922"},
 "contacts":[{"profile":{"name":"Sheena"},"wa_id":"16505551234"}],
 "messages":[
  {"from":"16505551234","id":"wamid.text","timestamp":"1739321024","type":"text","text":{"body":"Hi"}},
  {"from":"16505551234","id":"wamid.button","timestamp":"1739321025","type":"interactive","interactive":{"type":"button_reply","button_reply":{"id":"buy:var_1","title":"Buy"}}},
  {"from":"16505551234","id":"wamid.list","timestamp":"1739321026","type":"interactive","interactive":{"type":"list_reply","list_reply":{"id":"row_2","title":"Blue"}}},
  {"from":"16505551234","id":"wamid.image","timestamp":"1739321027","type":"image","image":{"id":"media.1","mime_type":"image/jpeg","sha256":"abc","caption":"this one"}},
  {"from":"16505551234","id":"wamid.doc","timestamp":"1739321028","type":"document","document":{"id":"media.2","mime_type":"application/pdf","filename":"invoice.pdf"}},
  {"from":"16505551234","id":"wamid.loc","timestamp":"1739321029","type":"location","location":{"latitude":6.5,"longitude":3.4}},
  {"from":"16505551234","id":"wamid.img0","timestamp":"1739321030","type":"image","image":{}}
 ],
 "statuses":[{"id":"wamid.out","status":"failed","timestamp":"1739321031","recipient_id":"16505551234","errors":[{"code":131047,"title":"Re-engagement message"}]}]}}]}]}`

func payloads(t *testing.T) ([][]byte, [][]byte) {
	t.Helper()
	msgs, statuses, err := whatsapp.ParseWebhook([]byte(notification))
	require.NoError(t, err)
	var m, s [][]byte
	for _, x := range msgs {
		b, err := json.Marshal(x)
		require.NoError(t, err)
		m = append(m, b)
	}
	for _, x := range statuses {
		b, err := json.Marshal(x)
		require.NoError(t, err)
		s = append(s, b)
	}
	return m, s
}

func TestNormalizeMessageTypes(t *testing.T) {
	msgs, statuses := payloads(t)
	want := []struct{ typ, text, reply, media, original string }{
		{vayva.MessageText, "Hi", "", "", ""},
		{vayva.MessageInteractive, "Buy", "buy:var_1", "", ""},
		{vayva.MessageInteractive, "Blue", "row_2", "", ""},
		{vayva.MessageImage, "this one", "", "media.1", ""},
		{vayva.MessageDocument, "", "", "media.2", ""},
		{vayva.MessageUnsupported, "", "", "", "location"},
		{vayva.MessageUnsupported, "", "", "", "image"},
	}
	require.Len(t, msgs, len(want))
	for i, w := range want {
		m, err := worker.NormalizeMessage(msgs[i])
		require.NoError(t, err)
		require.Equal(t, w.typ, m.Type, i)
		require.Equal(t, w.text, m.Text, i)
		require.Equal(t, w.reply, m.ReplyID, i)
		require.Equal(t, w.original, m.OriginalType, i)
		require.Equal(t, "16505551234", m.From)
		require.Equal(t, "106540352242922", m.PhoneNumberID)
		require.Equal(t, "Sheena", m.CustomerName)
		require.Equal(t, time.Unix(1739321024+int64(i), 0).UTC(), m.SentAt)
		if w.media != "" {
			require.Equal(t, w.media, m.Media.ID)
		} else {
			require.Nil(t, m.Media)
		}
	}
	d, _ := worker.NormalizeMessage(msgs[4])
	require.Equal(t, "invoice.pdf", d.Media.Filename)
	s, err := worker.NormalizeStatus(statuses[0])
	require.NoError(t, err)
	require.Equal(t, vayva.MessageStatus{WAMID: "wamid.out", PhoneNumberID: "106540352242922", RecipientID: "16505551234",
		Status: vayva.StatusFailed, At: time.Unix(1739321031, 0).UTC(), ErrorCode: 131047, ErrorTitle: "Re-engagement message"}, s)

	for _, bad := range []string{`not json`, `{}`, `{"WAMID":"w","From":"abc","PhoneNumberID":"1"}`, `{"WAMID":"w","From":"1","PhoneNumberID":"x"}`} {
		_, err := worker.NormalizeMessage([]byte(bad))
		require.ErrorIs(t, err, worker.ErrNotNormalisable, bad)
	}
	_, err = worker.NormalizeStatus([]byte(`{"WAMID":"w","RecipientID":"1","PhoneNumberID":"1","Status":"deleted"}`))
	require.ErrorIs(t, err, worker.ErrNotNormalisable)
}

func FuzzNormalizeMessage(f *testing.F) {
	f.Add([]byte(`{"PhoneNumberID":"1","From":"+2348031234567","WAMID":"w","Type":"text","Text":"hi"}`))
	f.Add([]byte(`{"PhoneNumberID":"1","From":"2","WAMID":"w","Type":"image","Media":{"ID":"m"}}`))
	f.Add([]byte(`{"PhoneNumberID":"1","From":"2","WAMID":"w","Type":"interactive","InteractiveReplyID":"x","Text":"\u0000"}`))
	f.Add([]byte(`{"PhoneNumberID":"1","From":"2","WAMID":"w","Type":"\xff\xfe"}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		m, err := worker.NormalizeMessage(payload)
		if err != nil {
			require.ErrorIs(t, err, worker.ErrNotNormalisable)
			return
		}
		require.NotEmpty(t, m.WAMID)
		require.NotEmpty(t, m.From)
		require.Contains(t, []string{vayva.MessageText, vayva.MessageInteractive, vayva.MessageImage, vayva.MessageDocument,
			vayva.MessageAudio, vayva.MessageVideo, vayva.MessageSticker, vayva.MessageUnsupported}, m.Type)
		require.True(t, utf8.ValidString(m.Text) && utf8.ValidString(m.CustomerName) && utf8.ValidString(m.OriginalType))
		require.NotContains(t, m.Text, "\x00")
		require.LessOrEqual(t, utf8.RuneCountInString(m.Text), 4096)
		if m.Type == vayva.MessageUnsupported {
			require.NotEmpty(t, m.OriginalType)
		}
	})
}

func FuzzNormalizeStatus(f *testing.F) {
	f.Add([]byte(`{"PhoneNumberID":"1","WAMID":"w","Status":"read","RecipientID":"2"}`))
	f.Add([]byte(`{"PhoneNumberID":"1","WAMID":"w","Status":"failed","RecipientID":"2","Errors":[{"Code":1,"Title":"\u0000x"}]}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		s, err := worker.NormalizeStatus(payload)
		if err != nil {
			require.ErrorIs(t, err, worker.ErrNotNormalisable)
			return
		}
		require.Positive(t, vayva.StatusRank(s.Status))
		require.True(t, utf8.ValidString(s.ErrorTitle))
	})
}
