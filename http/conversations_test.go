package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	nethttp "net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/integrations/whatsapp"
	"github.com/vayvahq/vayva/node/nodetest"
)

// waShop is a merchant whose store answers on a WhatsApp number and sells
// an Ankara dress (₦15,000, 4 in stock).
type waShop struct {
	merchant
	pnid    string
	variant string
}

func newWAShop(t testing.TB, n *nodetest.Node) waShop {
	t.Helper()
	m := signup(t, n.BaseURL, "Ada Styles "+vayva.NewID("x")[4:10])
	pnid := strconv.FormatInt(1e14+rand.Int64N(1e14), 10)
	apiCall(t, n.BaseURL, "PATCH", "/v1/store", m.token, map[string]any{"whatsapp_phone_number_id": pnid}).requireStatus(t, 200)
	p := apiCall(t, n.BaseURL, "POST", "/v1/products", m.token, map[string]any{
		"title": "Ankara Dress", "description": "Cotton wax print, made in Lagos.", "status": "active",
		"variants": []map[string]any{{"sku": "ANK-RED", "title": "Red", "price": 1500000, "inventory_quantity": 4}},
	}).requireStatus(t, 201)
	return waShop{merchant: m, pnid: pnid, variant: variantsOf(p.Body)[0]["id"].(string)}
}

// customerSays simulates a customer message through the sandbox.
func customerSays(t *testing.T, n *nodetest.Node, pnid, from, text string) {
	t.Helper()
	r := apiCall(t, n.BaseURL, "POST", "/sandbox/whatsapp/inbound", "", map[string]any{
		"phone_number_id": pnid, "from": from, "name": "Chidi Okafor", "text": text,
	}).requireStatus(t, 200)
	require.EqualValues(t, 200, r.Body["webhook_status"], "body %s", r.Raw)
}

// outbox returns the texts the sandbox's Meta received for a customer,
// oldest first.
func outbox(t *testing.T, n *nodetest.Node, to string) []string {
	t.Helper()
	r := apiCall(t, n.BaseURL, "GET", "/sandbox/whatsapp/outbox?to="+to, "", nil).requireStatus(t, 200)
	var out []string
	l := r.list()
	for i := len(l) - 1; i >= 0; i-- {
		out = append(out, l[i]["text"].(string))
	}
	return out
}

func conversationOf(t *testing.T, n *nodetest.Node, token, waID string) map[string]any {
	t.Helper()
	var found map[string]any
	require.Eventually(t, func() bool {
		for _, c := range apiCall(t, n.BaseURL, "GET", "/v1/conversations", token, nil).requireStatus(t, 200).list() {
			if c["customer"].(map[string]any)["wa_id"] == waID {
				found = c
				return true
			}
		}
		return false
	}, 20*time.Second, 20*time.Millisecond, "a conversation with %s appears", waID)
	return found
}

func messagesOf(t *testing.T, n *nodetest.Node, token, convID string) []map[string]any {
	t.Helper()
	var all []map[string]any
	cursor := ""
	for {
		path := "/v1/conversations/" + convID + "/messages?limit=200"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := apiCall(t, n.BaseURL, "GET", path, token, nil).requireStatus(t, 200)
		all = append(all, r.list()...)
		next, _ := r.Body["next_cursor"].(string)
		if next == "" {
			return all
		}
		cursor = next
	}
}

// inboundIdle waits until every whatsapp-inbound job has been handled.
func inboundIdle(t *testing.T, n *nodetest.Node) {
	t.Helper()
	require.Eventually(t, func() bool {
		stats, err := n.Queues.Stats(context.Background())
		require.NoError(t, err)
		for _, s := range stats {
			if s.Name == vayva.QueueWhatsAppInbound {
				return s.Length == 0 && s.Pending == 0
			}
		}
		return false
	}, 30*time.Second, 20*time.Millisecond)
}

func containsText(texts []string, parts ...string) bool {
	for _, s := range texts {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(s, p)
		}
		if ok {
			return true
		}
	}
	return false
}

// A customer asks for a product and the AI answers with its price and
// availability; statuses come back and update the stored reply; asking for
// a person hands the thread to the merchant (webhook, email, inbox), the
// AI goes silent, the merchant's reply reaches the customer, and a second
// customer's thread goes on with the AI meanwhile. Another tenant sees
// none of it.
func TestWhatsAppConversationEndToEnd(t *testing.T) {
	t.Parallel()
	n := catalogNode(t, nodetest.Options{})
	shop := newWAShop(t, n)

	hooks := make(chan map[string]any, 10)
	endpoint := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		var body map[string]any
		raw, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(raw, &body)
		hooks <- body
	}))
	defer endpoint.Close()
	apiCall(t, n.BaseURL, "POST", "/v1/webhook-endpoints", shop.token, map[string]any{
		"url": endpoint.URL, "events": []string{"conversation.handoff"},
	}).requireStatus(t, 201)

	const chidi, bola = "2348031110001", "2348031110002"
	customerSays(t, n, shop.pnid, chidi, "Hello, do you have ankara dress?")
	require.Eventually(t, func() bool {
		return containsText(outbox(t, n, chidi), "Ankara Dress", "₦15,000", "4 available")
	}, 20*time.Second, 20*time.Millisecond, "the AI answers with price and availability: %v", outbox(t, n, chidi))

	conv := conversationOf(t, n, shop.token, chidi)
	id := conv["id"].(string)
	require.True(t, vayva.HasIDPrefix(id, "conv"))
	require.Equal(t, "ai", conv["mode"])
	require.Equal(t, true, conv["window"].(map[string]any)["open"])
	require.Equal(t, "Chidi Okafor", conv["customer"].(map[string]any)["name"])

	// The sandbox reports sent, delivered and read; the stored reply ends read.
	require.Eventually(t, func() bool {
		msgs := messagesOf(t, n, shop.token, id)
		return len(msgs) == 2 && msgs[1]["status"] == "read" && msgs[1]["wamid"] != nil
	}, 20*time.Second, 20*time.Millisecond)
	msgs := messagesOf(t, n, shop.token, id)
	require.Equal(t, "inbound", msgs[0]["direction"])
	require.Equal(t, "received", msgs[0]["status"])
	require.Equal(t, "outbound", msgs[1]["direction"])
	require.Equal(t, "ai", msgs[1]["origin"])
	require.Equal(t, "interactive", msgs[1]["type"], "the answer offers a Buy button")

	// Tapping Buy starts a checkout with a link to the prefilled page.
	r := apiCall(t, n.BaseURL, "POST", "/sandbox/whatsapp/inbound", "", map[string]any{
		"phone_number_id": shop.pnid, "from": chidi, "button_reply_id": "buy:" + shop.variant, "reply_title": "Buy Ankara Dress",
	}).requireStatus(t, 200)
	require.EqualValues(t, 200, r.Body["webhook_status"])
	link := n.BaseURL + "/checkout/" + shop.slug + "?items=" + shop.variant + ":1"
	require.Eventually(t, func() bool { return containsText(outbox(t, n, chidi), link) }, 20*time.Second, 20*time.Millisecond)
	page := apiCall(t, n.BaseURL, "GET", strings.TrimPrefix(link, n.BaseURL), "", nil).requireStatus(t, 200)
	require.Contains(t, string(page.Raw), "Ankara Dress (Red) × 1")
	require.Contains(t, string(page.Raw), "₦15,000")
	apiCall(t, n.BaseURL, "GET", "/checkout/"+shop.slug+"?items="+shop.variant+":9", "", nil).requireProblem(t, 409, vayva.EINSUFFICIENTSTOCK)
	apiCall(t, n.BaseURL, "GET", "/checkout/"+shop.slug+"?items=var_nope:1", "", nil).requireProblem(t, 404, vayva.ENOTFOUND)
	apiCall(t, n.BaseURL, "GET", "/checkout/"+shop.slug+"?items=oops", "", nil).requireProblem(t, 422, vayva.EINVALID)

	// A second customer talks to the AI while the first asks for a person.
	customerSays(t, n, shop.pnid, chidi, "I want to talk to a person")
	customerSays(t, n, shop.pnid, bola, "ankara dress price?")
	require.Eventually(t, func() bool { return containsText(outbox(t, n, chidi), "a person will reply here soon") }, 20*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool { return containsText(outbox(t, n, bola), "₦15,000") }, 20*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool {
		l := apiCall(t, n.BaseURL, "GET", "/v1/conversations?mode=human", shop.token, nil).requireStatus(t, 200).list()
		return len(l) == 1 && l[0]["id"] == id
	}, 20*time.Second, 20*time.Millisecond, "the thread is in the human inbox")
	ai := apiCall(t, n.BaseURL, "GET", "/v1/conversations?mode=ai", shop.token, nil).requireStatus(t, 200).list()
	require.Len(t, ai, 1)
	require.Equal(t, bola, ai[0]["customer"].(map[string]any)["wa_id"])

	select {
	case h := <-hooks:
		require.Equal(t, "conversation.handoff", h["type"])
		data := h["data"].(map[string]any)
		require.Equal(t, id, data["conversation_id"])
		require.Equal(t, chidi, data["customer"].(map[string]any)["wa_id"])
	case <-time.After(20 * time.Second):
		t.Fatal("no conversation.handoff webhook")
	}
	require.Eventually(t, func() bool {
		mails := apiCall(t, n.BaseURL, "GET", "/sandbox/mailbox", "", nil).requireStatus(t, 200).list()
		for _, m := range mails {
			if strings.Contains(fmt.Sprint(m["subject"]), "needs a person on WhatsApp") {
				return true
			}
		}
		return false
	}, 20*time.Second, 20*time.Millisecond, "the merchant gets the handoff email")

	// In human mode the AI stays silent.
	before := len(outbox(t, n, chidi))
	customerSays(t, n, shop.pnid, chidi, "hello? do you have ankara dress in blue")
	inboundIdle(t, n)
	msgs = messagesOf(t, n, shop.token, id)
	require.Equal(t, "hello? do you have ankara dress in blue", msgs[len(msgs)-1]["text"], "nothing answered the last message")
	require.Equal(t, before, len(outbox(t, n, chidi)))

	// The merchant replies through the API; the customer receives it.
	sent := apiCall(t, n.BaseURL, "POST", "/v1/conversations/"+id+"/messages", shop.token, map[string]any{"text": "Hi Chidi, Ada here. Blue is coming next week."}).requireStatus(t, 202)
	require.Equal(t, "agent", sent.str("origin"))
	require.Equal(t, "queued", sent.str("status"))
	require.Eventually(t, func() bool { return containsText(outbox(t, n, chidi), "Ada here") }, 20*time.Second, 20*time.Millisecond)
	apiCall(t, n.BaseURL, "POST", "/v1/conversations/"+id+"/messages", shop.token, map[string]any{"text": ""}).requireProblem(t, 422, vayva.EINVALID)
	apiCall(t, n.BaseURL, "POST", "/v1/conversations/"+id+"/messages", shop.token, map[string]any{"txt": "x"}).requireProblem(t, 422, vayva.EINVALID)
	apiCall(t, n.BaseURL, "POST", "/v1/conversations/"+id+"/mode", shop.token, map[string]any{"mode": "robot"}).requireProblem(t, 422, vayva.EINVALID)

	// Another tenant sees nothing of the thread.
	other := signup(t, n.BaseURL, "Other Shop")
	apiCall(t, n.BaseURL, "GET", "/v1/conversations/"+id+"/messages", other.token, nil).requireProblem(t, 404, vayva.ENOTFOUND)
	apiCall(t, n.BaseURL, "GET", "/v1/conversations/"+id, other.token, nil).requireProblem(t, 404, vayva.ENOTFOUND)
	apiCall(t, n.BaseURL, "POST", "/v1/conversations/"+id+"/messages", other.token, map[string]any{"text": "hi"}).requireProblem(t, 404, vayva.ENOTFOUND)
	apiCall(t, n.BaseURL, "POST", "/v1/conversations/"+id+"/mode", other.token, map[string]any{"mode": "ai"}).requireProblem(t, 404, vayva.ENOTFOUND)
	require.Empty(t, apiCall(t, n.BaseURL, "GET", "/v1/conversations", other.token, nil).requireStatus(t, 200).list())
	apiCall(t, n.BaseURL, "GET", "/v1/conversations", "", nil).requireProblem(t, 401, vayva.EUNAUTHORIZED)

	// Back to the AI: it answers again.
	back := apiCall(t, n.BaseURL, "POST", "/v1/conversations/"+id+"/mode", shop.token, map[string]any{"mode": "ai"}).requireStatus(t, 200)
	require.Equal(t, "ai", back.str("mode"))
	customerSays(t, n, shop.pnid, chidi, "where is my order?")
	require.Eventually(t, func() bool { return containsText(outbox(t, n, chidi), "could not find an order") }, 20*time.Second, 20*time.Millisecond)

	// An order placed with the same number written the local way is found.
	_, err := n.DB.Pool().Exec(context.Background(), `
		INSERT INTO orders.orders (id, store_id, merchant_id, number, status, payment_status, fulfillment_status, currency,
			subtotal, shipping_total, total, amount_paid, fee_bps, customer_email, customer_phone, token_hash,
			payment_reference, expires_at, paid_at, created_at, updated_at)
		SELECT 'ord_wa1', s.id, s.merchant_id, 1042, 'confirmed', 'paid', 'in_transit', 'NGN', 3000000, 0, 3000000, 3000000, 150,
			'chidi@example.com', '0803 111 0001', '\x00', 'ref_wa1', now(), now(), now(), now()
		FROM merchant.stores s WHERE s.id = $1`, shop.storeID)
	require.NoError(t, err)
	customerSays(t, n, shop.pnid, chidi, "has my order shipped?")
	require.Eventually(t, func() bool { return containsText(outbox(t, n, chidi), "Order #1042", "₦30,000", "on its way") }, 20*time.Second, 20*time.Millisecond,
		"%v", outbox(t, n, chidi))
}

// metaNotification is a Meta webhook body with one text message.
func metaNotification(pnid, from, wamid, text string, sent time.Time) []byte {
	body, _ := json.Marshal(map[string]any{
		"object": "whatsapp_business_account",
		"entry": []any{map[string]any{"id": "1", "changes": []any{map[string]any{"field": "messages", "value": map[string]any{
			"messaging_product": "whatsapp",
			"metadata":          map[string]any{"display_phone_number": "15550000000", "phone_number_id": pnid},
			"contacts":          []any{map[string]any{"profile": map[string]any{"name": "Tolu"}, "wa_id": from}},
			"messages": []any{map[string]any{"from": from, "id": wamid, "timestamp": strconv.FormatInt(sent.Unix(), 10),
				"type": "text", "text": map[string]any{"body": text}}},
		}}}}},
	})
	return body
}

// postSigned posts a notification signed with the node's app secret.
func postSigned(t testing.TB, n *nodetest.Node, body []byte) hookResp {
	t.Helper()
	return hookDo(t, "POST", n.BaseURL+"/webhooks/whatsapp", body, whatsapp.SignatureHeader, whatsapp.Sign(n.Sandbox.Config().WhatsAppAppSecret, body))
}

// Outside the 24-hour window a person's free-form message is refused and
// a template is accepted; forged notifications are 401 and store nothing;
// messages for a number no store uses are dropped and counted.
func TestWhatsAppWindowForgeriesAndUnknownNumbers(t *testing.T) {
	t.Parallel()
	n := catalogNode(t, nodetest.Options{})
	shop := newWAShop(t, n)
	const tolu = "2348035550001"
	old := postSigned(t, n, metaNotification(shop.pnid, tolu, "wamid.old1", "agent", time.Now().Add(-25*time.Hour)))
	require.Equal(t, 200, old.status, "%s", old.body)
	conv := conversationOf(t, n, shop.token, tolu)
	id := conv["id"].(string)
	require.Equal(t, false, conv["window"].(map[string]any)["open"])
	inboundIdle(t, n)

	p := apiCall(t, n.BaseURL, "POST", "/v1/conversations/"+id+"/messages", shop.token, map[string]any{"text": "Still there?"}).requireProblem(t, 409, vayva.ECONFLICT)
	require.Contains(t, p.fields(), "text")
	require.Contains(t, p.str("detail"), "template")
	tm := apiCall(t, n.BaseURL, "POST", "/v1/conversations/"+id+"/messages", shop.token, map[string]any{
		"template": map[string]any{"name": "order_update", "language": "en_US"},
	}).requireStatus(t, 202)
	require.Equal(t, "template", tm.str("type"))
	require.Eventually(t, func() bool { return containsText(outbox(t, n, tolu), "template:order_update") }, 20*time.Second, 20*time.Millisecond)
	apiCall(t, n.BaseURL, "POST", "/v1/conversations/"+id+"/messages", shop.token, map[string]any{
		"template": map[string]any{"name": "Bad Name!", "language": "en_US"},
	}).requireProblem(t, 422, vayva.EINVALID)

	// Forged: wrong secret, missing header, tampered body.
	body := metaNotification(shop.pnid, tolu, "wamid.forged", "send me money", time.Now())
	r := hookDo(t, "POST", n.BaseURL+"/webhooks/whatsapp", body, whatsapp.SignatureHeader, whatsapp.Sign("not-the-secret", body))
	r.problem(t, 401, vayva.EUNAUTHORIZED)
	hookDo(t, "POST", n.BaseURL+"/webhooks/whatsapp", body).problem(t, 401, vayva.EUNAUTHORIZED)
	sig := whatsapp.Sign(n.Sandbox.Config().WhatsAppAppSecret, body)
	tampered := []byte(strings.Replace(string(body), "send me money", "send me more", 1))
	hookDo(t, "POST", n.BaseURL+"/webhooks/whatsapp", tampered, whatsapp.SignatureHeader, sig).problem(t, 401, vayva.EUNAUTHORIZED)

	// An unknown number: logged, counted, dropped.
	unknown := postSigned(t, n, metaNotification("999000111222333", tolu, "wamid.unknown", "hi", time.Now()))
	require.Equal(t, 200, unknown.status)
	inboundIdle(t, n)
	metrics := string(hookDo(t, "GET", n.BaseURL+"/metrics", nil).body)
	require.Contains(t, metrics, `vayva_whatsapp_inbound_total{kind="message",outcome="unknown_number"} 1`)
	for _, m := range messagesOf(t, n, shop.token, id) {
		require.NotEqual(t, "wamid.forged", m["wamid"])
		require.NotEqual(t, "send me more", m["text"])
	}
}

// 200 messages of one conversation, each delivered twice by concurrent
// webhooks, are stored once each and in the order they were accepted;
// statuses and replies of other threads do not get in the way.
func TestWhatsAppManyMessagesInOrderOnce(t *testing.T) {
	t.Parallel()
	n := catalogNode(t, nodetest.Options{})
	shop := newWAShop(t, n)
	const ngozi = "2348037770001"
	// A person answers this thread, so the AI does not reply 200 times.
	require.Equal(t, 200, postSigned(t, n, metaNotification(shop.pnid, ngozi, "wamid.first", "agent", time.Now())).status)
	conv := conversationOf(t, n, shop.token, ngozi)
	require.Eventually(t, func() bool {
		return apiCall(t, n.BaseURL, "GET", "/v1/conversations/"+conv["id"].(string), shop.token, nil).requireStatus(t, 200).str("mode") == "human"
	}, 20*time.Second, 20*time.Millisecond)

	const total = 200
	bodies := make([][]byte, total)
	for i := range bodies {
		bodies[i] = metaNotification(shop.pnid, ngozi, fmt.Sprintf("wamid.m%03d", i), fmt.Sprintf("m%03d", i), time.Now())
	}
	// Message i is first accepted before message i+1 is sent; each is sent
	// twice at once, and the copies race each other and the next message.
	accepted := make([]chan struct{}, total)
	for i := range accepted {
		accepted[i] = make(chan struct{})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*total)
	for i := range total {
		var once sync.Once
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if i > 0 {
					<-accepted[i-1]
				}
				r := postSigned(t, n, bodies[i])
				if r.status != 200 {
					errs <- fmt.Errorf("message %d: %d %s", i, r.status, r.body)
				}
				once.Do(func() { close(accepted[i]) })
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	var texts []string
	require.Eventually(t, func() bool {
		texts = texts[:0]
		for _, m := range messagesOf(t, n, shop.token, conv["id"].(string)) {
			if m["direction"] == "inbound" && strings.HasPrefix(m["text"].(string), "m") {
				texts = append(texts, m["text"].(string))
			}
		}
		return len(texts) >= total
	}, 60*time.Second, 50*time.Millisecond, "stored %d", len(texts))
	inboundIdle(t, n)
	var want []string
	for i := range total {
		want = append(want, fmt.Sprintf("m%03d", i))
	}
	require.Equal(t, want, texts, "every message once, in order")
	var count int
	require.NoError(t, n.DB.Pool().QueryRow(context.Background(), `SELECT count(*) FROM comm.whatsapp_messages WHERE wamid LIKE 'wamid.m%'`).Scan(&count))
	require.Equal(t, total, count)
}
