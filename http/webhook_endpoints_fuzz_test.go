package http

import (
	"errors"
	"net/url"
	"testing"

	"github.com/vayvahq/vayva"
)

// FuzzDecodeCreateEndpoint feeds arbitrary bodies to the decoder of POST
// /v1/webhook-endpoints: it must refuse with a client error (400 or 422)
// or yield an http(s) URL of at most 2048 characters and a non-empty list
// of known event types. It never panics.
func FuzzDecodeCreateEndpoint(f *testing.F) {
	for _, seed := range []string{
		`{"url":"https://example.com/hooks","events":["order.paid"]}`,
		`{"url":"http://127.0.0.1:8080/x?y=1","events":["order.paid","order.created","order.paid"]}`,
		`{"url":"ftp://example.com","events":["order.paid"]}`,
		`{"url":"https://example.com","events":[]}`,
		`{"url":"https://example.com","events":["nope"]}`,
		`{"url":"https://example.com","events":"order.paid"}`,
		`{"url":42}`,
		`{"url":"https://user:pw@example.com/#frag","events":["payout.paid"]}`,
		`{"url":"https://example.com","events":["order.paid"],"extra":1}`,
		`{"url":"https://\u0000example.com","events":["order.paid"]}`,
		`[]`, `null`, `{`, ``, `{"url":null,"events":null}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		u, events, err := decodeCreateEndpoint(body)
		if err != nil {
			var e *vayva.Error
			if !errors.As(err, &e) {
				t.Fatalf("uncoded error %v", err)
			}
			if s := statusOf(err); s != 400 && s != 422 {
				t.Fatalf("status %d for %q: %v", s, body, err)
			}
			return
		}
		if len(u) == 0 || len(u) > vayva.MaxWebhookURLLength {
			t.Fatalf("accepted url of length %d", len(u))
		}
		parsed, perr := url.Parse(u)
		if perr != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
			t.Fatalf("accepted url %q", u)
		}
		if len(events) == 0 {
			t.Fatal("accepted no events")
		}
		for _, ev := range events {
			if !vayva.IsWebhookEventType(ev) {
				t.Fatalf("accepted event type %q", ev)
			}
		}
	})
}
