package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	vhttp "github.com/vayvahq/vayva/http"
	"github.com/vayvahq/vayva/integrations/paystack"
	"github.com/vayvahq/vayva/integrations/whatsapp"
	"github.com/vayvahq/vayva/node/nodetest"
	"github.com/vayvahq/vayva/persistence/redis"
	"github.com/vayvahq/vayva/persistence/redis/queue"
	"github.com/vayvahq/vayva/persistence/redis/redistest"
)

// hookNode starts an edge node in sandbox mode that runs no queue
// consumers, so what the receivers enqueue stays in Redis to be counted.
func hookNode(t testing.TB, env map[string]string) *nodetest.Node {
	t.Helper()
	e := map[string]string{"VAYVA_ROLES": "edge,actors"}
	for k, v := range env {
		e[k] = v
	}
	return nodetest.Start(t, nodetest.Options{Env: e})
}

// hookClient bounds every call, so a stuck request fails the test instead
// of hanging it.
var hookClient = &nethttp.Client{Timeout: 30 * time.Second}

type hookResp struct {
	status int
	header nethttp.Header
	body   []byte
}

func hookDo(t testing.TB, method, url string, body []byte, headers ...string) hookResp {
	t.Helper()
	req, err := nethttp.NewRequest(method, url, bytes.NewReader(body))
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := hookClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	checkDocumented(t, req, body, res, b)
	return hookResp{status: res.StatusCode, header: res.Header, body: b}
}

func (r hookResp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body %s", r.body)
	return m
}

func (r hookResp) problem(t testing.TB, status int, code string) {
	t.Helper()
	require.Equal(t, status, r.status, "body %s", r.body)
	require.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
	require.Equal(t, code, r.json(t)["code"])
}

// entries returns the stream entries of an unordered queue.
func entries(t testing.TB, n *nodetest.Node, name string) []goredis.XMessage {
	t.Helper()
	msgs, err := n.Redis.Redis().XRange(context.Background(), n.Redis.Key("q", name), "-", "+").Result()
	require.NoError(t, err)
	return msgs
}

// partitionEntries returns the entries of the partition of a partitioned
// queue that key maps to.
func partitionEntries(t testing.TB, n *nodetest.Node, name, key string) []goredis.XMessage {
	t.Helper()
	spec, ok := n.Queues.Spec(name)
	require.True(t, ok)
	stream := n.Redis.Key("q", name, "p", strconv.Itoa(spec.Partition(key)))
	msgs, err := n.Redis.Redis().XRange(context.Background(), stream, "-", "+").Result()
	require.NoError(t, err)
	return msgs
}

func queueLength(t testing.TB, n *nodetest.Node, name string) int64 {
	t.Helper()
	stats, err := n.Queues.Stats(context.Background())
	require.NoError(t, err)
	for _, s := range stats {
		if s.Name == name {
			return s.Length
		}
	}
	t.Fatalf("no queue %s", name)
	return 0
}

func chargeSuccess(id int64, ref string) []byte {
	return []byte(fmt.Sprintf(`{"event":"charge.success","data":{"id":%d,"domain":"test","status":"success","reference":%q,"amount":250000,"currency":"NGN","paid_at":"2026-01-02T10:00:00.000Z","customer":{"email":"ada@example.com"}}}`, id, ref))
}

func TestPaystackWebhookQueuesEachEventOnce(t *testing.T) {
	t.Parallel()
	n := hookNode(t, nil)
	secret := n.Sandbox.Config().PaystackSecret
	url := n.BaseURL + "/webhooks/paystack"
	body := chargeSuccess(4099260001, "ord_ref_1")

	r := hookDo(t, "POST", url, body, paystack.SignatureHeader, paystack.Sign(secret, body))
	require.Equal(t, 200, r.status, "body %s", r.body)
	require.Equal(t, map[string]any{"status": "ok"}, r.json(t))
	got := entries(t, n, vayva.QueuePaymentsInbound)
	require.Len(t, got, 1)
	require.Equal(t, vhttp.JobPaystackEvent, got[0].Values["type"])
	require.Equal(t, string(body), got[0].Values["data"], "the raw signed body is queued")
	require.Equal(t, "ord_ref_1", got[0].Values["key"])
	ev, err := paystack.ParseEvent([]byte(got[0].Values["data"].(string)))
	require.NoError(t, err)
	require.Equal(t, int64(250000), ev.Data.Amount)

	// A redelivery, byte for byte or re-serialised, is acknowledged and not
	// queued again; the uppercase hex of the signature is accepted too.
	r = hookDo(t, "POST", url, body, paystack.SignatureHeader, strings.ToUpper(paystack.Sign(secret, body)))
	require.Equal(t, 200, r.status, "body %s", r.body)
	require.Equal(t, map[string]any{"status": "ok", "duplicate": true}, r.json(t))
	spaced := append([]byte(" "), body...)
	r = hookDo(t, "POST", url, spaced, paystack.SignatureHeader, paystack.Sign(secret, spaced))
	require.Equal(t, true, r.json(t)["duplicate"])
	require.Len(t, entries(t, n, vayva.QueuePaymentsInbound), 1)

	// Bad, missing or wrongly keyed signatures are refused and queue nothing.
	other := chargeSuccess(4099260002, "ord_ref_2")
	hookDo(t, "POST", url, other, paystack.SignatureHeader, paystack.Sign(secret, body)).problem(t, 401, "unauthorized")
	hookDo(t, "POST", url, other).problem(t, 401, "unauthorized")
	hookDo(t, "POST", url, other, paystack.SignatureHeader, paystack.Sign("sk_test_other", other)).problem(t, 401, "unauthorized")
	hookDo(t, "POST", url, other, paystack.SignatureHeader, "sha512="+paystack.Sign(secret, other)).problem(t, 401, "unauthorized")

	// Signed but not an event: 400, nothing queued.
	for _, bad := range []string{`not json`, `{"event":"charge.success"}`, `{"data":{"id":1}}`, `[]`} {
		hookDo(t, "POST", url, []byte(bad), paystack.SignatureHeader, paystack.Sign(secret, []byte(bad))).problem(t, 400, "bad_request")
	}
	require.Equal(t, int64(1), queueLength(t, n, vayva.QueuePaymentsInbound))

	// A second event is its own entry, with its own stable job id.
	r = hookDo(t, "POST", url, other, paystack.SignatureHeader, paystack.Sign(secret, other))
	require.Equal(t, 200, r.status)
	got = entries(t, n, vayva.QueuePaymentsInbound)
	require.Len(t, got, 2)
	require.NotEqual(t, got[0].Values["id"], got[1].Values["id"])

	// An Idempotency-Key plays no part: deduplication is by event.
	third := chargeSuccess(4099260003, "ord_ref_3")
	for range 2 {
		r = hookDo(t, "POST", url, third, paystack.SignatureHeader, paystack.Sign(secret, third), "Idempotency-Key", "k1")
		require.Equal(t, 200, r.status, "body %s", r.body)
		require.Empty(t, r.header.Get("Idempotency-Replayed"))
	}
	require.Len(t, entries(t, n, vayva.QueuePaymentsInbound), 3)
}

func TestWhatsAppChallenge(t *testing.T) {
	t.Parallel()
	n := hookNode(t, nil)
	token := n.Sandbox.Config().WhatsAppVerifyToken
	q := func(mode, tok, challenge string) string {
		v := url.Values{}
		v.Set("hub.mode", mode)
		v.Set("hub.verify_token", tok)
		v.Set("hub.challenge", challenge)
		return n.BaseURL + "/webhooks/whatsapp?" + v.Encode()
	}
	r := hookDo(t, "GET", q("subscribe", token, "1158201444"), nil)
	require.Equal(t, 200, r.status)
	require.Equal(t, "1158201444", string(r.body))
	require.True(t, strings.HasPrefix(r.header.Get("Content-Type"), "text/plain"))

	hookDo(t, "GET", q("subscribe", "wrong", "1158201444"), nil).problem(t, 403, "forbidden")
	hookDo(t, "GET", q("unsubscribe", token, "1158201444"), nil).problem(t, 403, "forbidden")
	hookDo(t, "GET", q("subscribe", token, ""), nil).problem(t, 403, "forbidden")
	hookDo(t, "GET", n.BaseURL+"/webhooks/whatsapp", nil).problem(t, 403, "forbidden")

	// The sandbox's simulated handshake goes through the same route.
	r = hookDo(t, "POST", n.BaseURL+"/sandbox/whatsapp/subscribe", []byte(`{}`))
	require.Equal(t, 200, r.status, "body %s", r.body)
	require.Equal(t, true, r.json(t)["ok"], "body %s", r.body)
}

func waNotification(pnid string, msgs []map[string]any, statuses []map[string]any) []byte {
	value := map[string]any{
		"messaging_product": "whatsapp",
		"metadata":          map[string]any{"display_phone_number": "2348000000000", "phone_number_id": pnid},
	}
	if msgs != nil {
		value["messages"] = msgs
		value["contacts"] = []any{map[string]any{"profile": map[string]any{"name": "Ada"}, "wa_id": msgs[0]["from"]}}
	}
	if statuses != nil {
		value["statuses"] = statuses
	}
	b, _ := json.Marshal(map[string]any{
		"object": "whatsapp_business_account",
		"entry":  []any{map[string]any{"id": "100000000000000", "changes": []any{map[string]any{"field": "messages", "value": value}}}},
	})
	return b
}

func TestWhatsAppWebhookSplitsTheBatchByConversation(t *testing.T) {
	t.Parallel()
	n := hookNode(t, nil)
	secret := n.Sandbox.Config().WhatsAppAppSecret
	url := n.BaseURL + "/webhooks/whatsapp"
	const pnid = "100000000000001"
	body := waNotification(pnid, []map[string]any{
		{"from": "2348011111111", "id": "wamid.AAA1", "timestamp": "1767348000", "type": "text", "text": map[string]any{"body": "Do you have the red dress in M?"}},
		{"from": "2348022222222", "id": "wamid.BBB1", "timestamp": "1767348001", "type": "text", "text": map[string]any{"body": "Where is my order?"}},
	}, nil)

	hookDo(t, "POST", url, body, whatsapp.SignatureHeader, whatsapp.Sign("other-secret", body)).problem(t, 401, "unauthorized")
	hookDo(t, "POST", url, body).problem(t, 401, "unauthorized")
	require.Equal(t, int64(0), queueLength(t, n, vayva.QueueWhatsAppInbound))

	r := hookDo(t, "POST", url, body, whatsapp.SignatureHeader, whatsapp.Sign(secret, body))
	require.Equal(t, 200, r.status, "body %s", r.body)
	require.Equal(t, float64(2), r.json(t)["queued"])
	require.Equal(t, int64(2), queueLength(t, n, vayva.QueueWhatsAppInbound))

	for _, c := range []struct{ from, wamid, text string }{
		{"2348011111111", "wamid.AAA1", "Do you have the red dress in M?"},
		{"2348022222222", "wamid.BBB1", "Where is my order?"},
	} {
		key := vhttp.ConversationKey(pnid, c.from)
		require.Equal(t, pnid+":"+c.from, key)
		got := partitionEntries(t, n, vayva.QueueWhatsAppInbound, key)
		var mine []goredis.XMessage
		for _, m := range got {
			if m.Values["key"] == key {
				mine = append(mine, m)
			}
		}
		require.Len(t, mine, 1, "one entry for %s in its partition", key)
		require.Equal(t, vhttp.JobWhatsAppMessage, mine[0].Values["type"])
		var msg whatsapp.InboundMessage
		require.NoError(t, json.Unmarshal([]byte(mine[0].Values["data"].(string)), &msg))
		require.Equal(t, c.wamid, msg.WAMID)
		require.Equal(t, c.text, msg.Text)
		require.Equal(t, pnid, msg.PhoneNumberID)
	}

	// Meta redelivers: nothing new.
	r = hookDo(t, "POST", url, body, whatsapp.SignatureHeader, whatsapp.Sign(secret, body))
	require.Equal(t, 200, r.status)
	require.Equal(t, float64(0), r.json(t)["queued"])
	require.Equal(t, int64(2), queueLength(t, n, vayva.QueueWhatsAppInbound))

	// Statuses are deduplicated by wamid and status: delivered after sent
	// is new, sent again is not.
	st := func(status string) map[string]any {
		return map[string]any{"id": "wamid.OUT1", "status": status, "timestamp": "1767348100", "recipient_id": "2348011111111"}
	}
	statuses := waNotification(pnid, nil, []map[string]any{st("sent"), st("delivered"), st("sent")})
	r = hookDo(t, "POST", url, statuses, whatsapp.SignatureHeader, whatsapp.Sign(secret, statuses))
	require.Equal(t, 200, r.status, "body %s", r.body)
	require.Equal(t, float64(2), r.json(t)["queued"])
	key := vhttp.ConversationKey(pnid, "2348011111111")
	var types []string
	for _, m := range partitionEntries(t, n, vayva.QueueWhatsAppInbound, key) {
		if m.Values["key"] == key {
			types = append(types, m.Values["type"].(string))
		}
	}
	require.Equal(t, []string{vhttp.JobWhatsAppMessage, vhttp.JobWhatsAppStatus, vhttp.JobWhatsAppStatus}, types,
		"a conversation's messages and statuses share its partition, in arrival order")

	// Signed but not a WhatsApp notification: 400.
	for _, bad := range []string{`{}`, `{"object":"page","entry":[]}`, `nope`} {
		hookDo(t, "POST", url, []byte(bad), whatsapp.SignatureHeader, whatsapp.Sign(secret, []byte(bad))).problem(t, 400, "bad_request")
	}
	require.Equal(t, int64(4), queueLength(t, n, vayva.QueueWhatsAppInbound))
}

// redisServer runs a private redis-server on a free loopback port; stop
// kills it.
type redisServer struct {
	url  string
	cmd  *exec.Cmd
	done chan struct{}
}

func startRedisServer(t *testing.T) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	require.NoError(t, cmd.Start())
	s := &redisServer{url: fmt.Sprintf("redis://127.0.0.1:%d/0", port), cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(s.stop)
	require.Eventually(t, func() bool {
		c := goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
		defer c.Close()
		return c.Ping(context.Background()).Err() == nil
	}, 10*time.Second, 20*time.Millisecond, "redis-server did not come up")
	return s
}

func (s *redisServer) stop() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// webhookEdge serves only the webhook receivers, over a broker on rc.
func webhookEdge(t *testing.T, rc *redis.Client) (string, *queue.Broker) {
	t.Helper()
	b, err := queue.New(rc, queue.Config{})
	require.NoError(t, err)
	srv := vhttp.NewServer(vhttp.Config{Addr: "127.0.0.1:0"}, vhttp.Deps{Log: zerolog.Nop()},
		vhttp.NewWebhookArea(vhttp.WebhookConfig{PaystackSecretKey: "sk_test_edge", WhatsAppAppSecret: "app_secret_edge"}, b))
	require.NoError(t, srv.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Stop(ctx)
	})
	return "http://" + srv.Addr(), b
}

// When the job store cannot be reached the receivers answer 503 with
// Retry-After, so the provider retries; once it is back, the retry lands.
func TestWebhookAnswers503WhenRedisIsDown(t *testing.T) {
	t.Parallel()
	body := chargeSuccess(4099260010, "ord_down")
	wa := waNotification("100000000000001", []map[string]any{
		{"from": "2348011111111", "id": "wamid.DOWN", "timestamp": "1767348000", "type": "text", "text": map[string]any{"body": "hi"}},
	}, nil)
	check := func(t *testing.T, base string) {
		r := hookDo(t, "POST", base+"/webhooks/paystack", body, paystack.SignatureHeader, paystack.Sign("sk_test_edge", body))
		r.problem(t, 503, "unavailable")
		require.NotEmpty(t, r.header.Get("Retry-After"))
		r = hookDo(t, "POST", base+"/webhooks/whatsapp", wa, whatsapp.SignatureHeader, whatsapp.Sign("app_secret_edge", wa))
		r.problem(t, 503, "unavailable")
		require.NotEmpty(t, r.header.Get("Retry-After"))
		// The signature is still checked first.
		hookDo(t, "POST", base+"/webhooks/paystack", body).problem(t, 401, "unauthorized")
	}

	t.Run("server stopped", func(t *testing.T) {
		rs := startRedisServer(t)
		// A private server: no "test:" prefix, so nothing is cleaned up
		// after it is gone.
		rc := redistest.Open(t, rs.url, "down:")
		base, b := webhookEdge(t, rc)
		r := hookDo(t, "POST", base+"/webhooks/paystack", body, paystack.SignatureHeader, paystack.Sign("sk_test_edge", body))
		require.Equal(t, 200, r.status, "body %s", r.body)
		rs.stop()
		_, err := b.Stats(context.Background())
		require.Error(t, err, "the broker really has no Redis")
		check(t, base)
	})

	t.Run("client closed", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rc, err := redis.Open(ctx, redistest.URL(), "down:"+strconv.FormatInt(time.Now().UnixNano(), 36)+":")
		require.NoError(t, err)
		base, b := webhookEdge(t, rc)
		require.NoError(t, rc.Close())
		_, err = b.Stats(context.Background())
		require.Error(t, err, "the broker really has no Redis")
		check(t, base)
	})
}

// A Redis that stops answering (its process paused) makes the receivers
// answer 503 with Retry-After once the command times out, whether it
// waited for the answer or for a connection.
func TestWebhookAnswers503WhenRedisTimesOut(t *testing.T) {
	t.Parallel()
	rs := startRedisServer(t)
	rc := redistest.Open(t, rs.url+"?read_timeout=500ms&write_timeout=500ms&pool_size=1&max_retries=-1", "slow:")
	b, err := queue.New(rc, queue.Config{})
	require.NoError(t, err)
	srv := vhttp.NewServer(vhttp.Config{Addr: "127.0.0.1:0", RequestTimeout: 300 * time.Millisecond}, vhttp.Deps{Log: zerolog.Nop()},
		vhttp.NewWebhookArea(vhttp.WebhookConfig{PaystackSecretKey: "sk_test_edge"}, b))
	require.NoError(t, srv.Start(context.Background()))
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	base := "http://" + srv.Addr()

	// post may run on other goroutines, so it reports instead of failing.
	post := func(id int64) hookResp {
		body := chargeSuccess(id, fmt.Sprintf("ord_slow_%d", id))
		req, err := nethttp.NewRequest("POST", base+"/webhooks/paystack", bytes.NewReader(body))
		if err != nil {
			return hookResp{body: []byte(err.Error())}
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(paystack.SignatureHeader, paystack.Sign("sk_test_edge", body))
		res, err := hookClient.Do(req)
		if err != nil {
			return hookResp{body: []byte(err.Error())}
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		return hookResp{status: res.StatusCode, header: res.Header, body: raw}
	}
	require.Equal(t, 200, post(4099260020).status)

	require.NoError(t, rs.cmd.Process.Signal(syscall.SIGSTOP))
	t.Cleanup(func() { _ = rs.cmd.Process.Signal(syscall.SIGCONT) })
	// Two at once: one holds the only connection waiting for an answer,
	// the other waits for the connection until the request's deadline.
	answers := make(chan hookResp, 2)
	for i := range 2 {
		go func() { answers <- post(4099260030 + int64(i)) }()
	}
	for range 2 {
		r := <-answers
		r.problem(t, 503, "unavailable")
		require.NotEmpty(t, r.header.Get("Retry-After"))
	}

	require.NoError(t, rs.cmd.Process.Signal(syscall.SIGCONT))
	require.Eventually(t, func() bool { return post(4099260040).status == 200 }, 10*time.Second, 50*time.Millisecond,
		"the receivers recover once Redis answers again")
}
