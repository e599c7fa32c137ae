package http

import (
	"testing"

	"github.com/vayvahq/vayva"
)

// FuzzDecodeJSON checks that no body makes the decoder panic and that every
// refusal is a client error.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"name":"a","count":1}`, `{"name":`, `[]`, `{"count":"x"}`, `{"extra":1}`, `null`, `{} {}`, ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v struct {
			Name  string `json:"name"`
			Count int    `json:"count"`
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
		}
		err := decodeJSONBytes(body, &v)
		if err == nil {
			return
		}
		switch vayva.ErrorCode(err) {
		case vayva.EBADREQUEST, vayva.EINVALID:
		default:
			t.Fatalf("decode refused with %v, want a client error", err)
		}
		if s := statusOf(err); s < 400 || s >= 500 {
			t.Fatalf("status %d for %v", s, err)
		}
	})
}
