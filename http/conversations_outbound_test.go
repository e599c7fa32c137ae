package http_test

import (
	"encoding/json"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva/integrations/sandbox"
	"github.com/vayvahq/vayva/node/nodetest"
)

// The outbound worker retries a send Meta throttled (429) or failed (5xx)
// until it goes through, in order, and marks a message Meta refused (4xx)
// failed without sending it again.
func TestWhatsAppOutboundRetriesServerErrorsNotRefusals(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	calls := map[string]int{}
	meta := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer "+sandbox.DefaultWhatsAppAccessToken || !strings.HasSuffix(r.URL.Path, "/messages") {
			w.WriteHeader(401)
			_, _ = w.Write([]byte(`{"error":{"message":"Invalid OAuth access token","type":"OAuthException","code":190}}`))
			return
		}
		var m struct {
			To string `json:"to"`
		}
		_ = json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		calls[m.To]++
		n := calls[m.To]
		mu.Unlock()
		switch {
		case m.To == "2348030000500" && n <= 2:
			w.WriteHeader(500)
			_, _ = w.Write([]byte(`{"error":{"message":"An unknown error occurred","type":"OAuthException","code":1}}`))
		case m.To == "2348030000429" && n <= 1:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(429)
			_, _ = w.Write([]byte(`{"error":{"message":"Too many messages","type":"OAuthException","code":130429}}`))
		case m.To == "2348030000400":
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"error":{"message":"(#100) Invalid parameter","type":"OAuthException","code":100}}`))
		default:
			_, _ = w.Write([]byte(`{"messaging_product":"whatsapp","contacts":[{"input":"` + m.To + `","wa_id":"` + m.To + `"}],"messages":[{"id":"wamid.fake` + m.To + `"}]}`))
		}
	}))
	defer meta.Close()
	n := catalogNode(t, nodetest.Options{Env: map[string]string{"VAYVA_WHATSAPP_BASE_URL": meta.URL + "/v21.0"}})
	shop := newWAShop(t, n)

	statusOf := func(waID string) (string, any) {
		c := conversationOf(t, n, shop.token, waID)
		for _, m := range messagesOf(t, n, shop.token, c["id"].(string)) {
			if m["direction"] == "outbound" {
				return m["status"].(string), m["wamid"]
			}
		}
		return "", nil
	}
	for _, to := range []string{"2348030000500", "2348030000429", "2348030000400"} {
		// Asking for a person makes the AI answer once, then hand over.
		require.Equal(t, 200, postSigned(t, n, metaNotification(shop.pnid, to, "wamid.out"+to, "agent", time.Now())).status)
	}
	require.Eventually(t, func() bool { s, w := statusOf("2348030000500"); return s == "sent" && w == "wamid.fake2348030000500" },
		30*time.Second, 50*time.Millisecond)
	require.Eventually(t, func() bool { s, _ := statusOf("2348030000429"); return s == "sent" }, 30*time.Second, 50*time.Millisecond)
	require.Eventually(t, func() bool { s, _ := statusOf("2348030000400"); return s == "failed" }, 30*time.Second, 50*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, 3, calls["2348030000500"], "two server errors, then sent")
	require.Equal(t, 2, calls["2348030000429"], "throttled once, then sent")
	require.Equal(t, 1, calls["2348030000400"], "a refusal is not sent again")
}
