package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/node"
	"github.com/vayvahq/vayva/node/nodetest"
	"github.com/vayvahq/vayva/persistence/redis"
	"github.com/vayvahq/vayva/persistence/redis/redistest"
)

// pair is two node processes of one postgres cluster, with the default
// membership timing: a survivor and a victim the test kills or pauses.
type pair struct {
	survivor, victim *nodetest.Process
	db               *pgxpool.Pool
}

// startPair starts the two processes; env is added to both.
func startPair(t *testing.T, env map[string]string) pair {
	t.Helper()
	survivor := nodetest.StartProcess(t, nodetest.Options{ClusterProvider: "postgres", Env: env})
	venv := map[string]string{}
	for k, v := range env {
		venv[k] = v
	}
	victim := nodetest.StartProcess(t, nodetest.Options{
		ClusterProvider: "postgres", ClusterName: survivor.ClusterName, DatabaseURL: survivor.DatabaseURL, RedisPrefix: survivor.RedisPrefix,
		Env: venv,
	})
	waitMembers(t, survivor.BaseURL, survivor.OpsToken, 2)
	db, err := pgxpool.New(context.Background(), survivor.DatabaseURL)
	require.NoError(t, err)
	t.Cleanup(db.Close)
	return pair{survivor: survivor, victim: victim, db: db}
}

// merchant is a signed-up merchant whose store actor runs on a chosen
// member.
type merchant struct {
	token, storeID string
}

// storeOn signs merchants up through base until one's store actor is
// activated on the process with pid.
func storeOn(t *testing.T, a *api, db *pgxpool.Pool, base string, pid int) merchant {
	t.Helper()
	for i := 0; i < 40; i++ {
		su := a.do("POST", base+"/v1/auth/signup", "", map[string]any{
			"email": vayva.NewID("u") + "@example.com", "password": "correct horse battery", "name": "Owner", "business_name": "Failover",
		}).must(t, 201)
		m := merchant{token: su.str("token"), storeID: su.body["store"].(map[string]any)["id"].(string)}
		require.Eventually(t, func() bool {
			r := a.do("GET", base+"/v1/store", m.token, nil)
			if r.status != 200 {
				t.Logf("GET /v1/store: %d %s", r.status, r.raw)
			}
			return r.status == 200
		}, 30*time.Second, 50*time.Millisecond)
		if owner, _ := storeActor(t, db, m.storeID); strings.HasSuffix(owner, fmt.Sprintf(":%d", pid)) {
			return m
		}
	}
	t.Fatal("no store activated on the victim")
	return merchant{}
}

// storeActor is the owner and epoch of a store's actor row.
func storeActor(t *testing.T, db *pgxpool.Pool, storeID string) (owner string, epoch int64) {
	t.Helper()
	require.NoError(t, db.QueryRow(context.Background(),
		`SELECT owner, epoch FROM runtime.actors WHERE kind = 'store' AND identity = $1`, storeID).Scan(&owner, &epoch))
	return owner, epoch
}

// answersAfter asks for the merchant's store through base until it
// answers 200 and returns how long after since that was.
func answersAfter(t *testing.T, base string, m merchant, since time.Time) time.Duration {
	t.Helper()
	client := &nethttp.Client{Timeout: 15 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := nethttp.NewRequest("GET", base+"/v1/store", nil)
		req.Header.Set("Authorization", "Bearer "+m.token)
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return time.Since(since)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the store never answered from the survivor")
	return 0
}

// A member is killed with SIGKILL: its store answers from the survivor,
// activated there under a newer epoch. The time from the kill to the
// first answer is logged (failover_ms).
func TestFailoverAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes")
	}
	t.Parallel()
	a := newAPI(t)
	p := startPair(t, nil)
	m := storeOn(t, a, p.db, p.survivor.BaseURL, p.victim.Pid())
	_, before := storeActor(t, p.db, m.storeID)

	killed := time.Now()
	p.victim.Kill()
	took := answersAfter(t, p.survivor.BaseURL, m, killed)
	t.Logf("failover_ms after SIGKILL: %d", took.Milliseconds())

	owner, after := storeActor(t, p.db, m.storeID)
	require.True(t, strings.HasSuffix(owner, fmt.Sprintf(":%d", p.survivor.Pid())), "owner %s", owner)
	require.Greater(t, after, before)
}

// A member is paused with SIGSTOP past its TTL: its store answers from the
// survivor (failover_ms logged). When it runs again it knows its lease
// lapsed: the request that waited for it is answered 503 with
// Retry-After, it exits with code 1 at once, and it writes nothing more:
// the store's epoch stays the survivor's, and no actor row was activated
// by the old member after it resumed.
func TestPausedMemberIsFencedOutAndExits(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes")
	}
	t.Parallel()
	a := newAPI(t)
	p := startPair(t, nil)
	m := storeOn(t, a, p.db, p.survivor.BaseURL, p.victim.Pid())
	victimOwner := fmt.Sprintf(":%d", p.victim.Pid())

	paused := time.Now()
	p.victim.Pause()
	took := answersAfter(t, p.survivor.BaseURL, m, paused)
	t.Logf("failover_ms after SIGSTOP: %d", took.Milliseconds())
	owner, epoch := storeActor(t, p.db, m.storeID)
	require.False(t, strings.HasSuffix(owner, victimOwner))
	var evicted string
	require.NoError(t, p.db.QueryRow(context.Background(), `SELECT status FROM runtime.members WHERE id = $1`, p.victim.MemberID).Scan(&evicted))
	require.Equal(t, "evicted", evicted)

	// Requests wait for the paused member: one for the store it owned, one
	// that would write to it.
	type result struct {
		status int
		ctype  string
		retry  string
		err    error
	}
	results := make(chan result, 2)
	client := &nethttp.Client{Timeout: 20 * time.Second}
	send := func(method, body string) {
		req, _ := nethttp.NewRequest(method, p.victim.BaseURL+"/v1/store", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+m.token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			results <- result{err: err}
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		results <- result{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), retry: resp.Header.Get("Retry-After")}
	}
	go send("GET", "")
	go send("PATCH", `{"name":"Written by the evicted member"}`)
	time.Sleep(200 * time.Millisecond) // the requests reach the paused process's socket
	var resumedAt time.Time
	require.NoError(t, p.db.QueryRow(context.Background(), `SELECT now()`).Scan(&resumedAt))
	p.victim.Resume()

	for range 2 {
		r := <-results
		if r.err != nil {
			// The process may exit before it reads a request; a refused or
			// reset connection is an answer as good as 503.
			t.Logf("request to the evicted member: %v", r.err)
			continue
		}
		require.Equal(t, 503, r.status)
		require.Equal(t, "application/problem+json", r.ctype)
		require.NotEmpty(t, r.retry)
	}
	code, ok := p.victim.Wait(30 * time.Second)
	require.True(t, ok, "the evicted member exits by itself:\n%s", p.victim.Log())
	require.Equal(t, 1, code)
	require.Contains(t, p.victim.Log(), "evicted from the cluster")

	owner2, epoch2 := storeActor(t, p.db, m.storeID)
	require.Equal(t, owner, owner2)
	require.Equal(t, epoch, epoch2, "the old member did not fence the new owner out")
	var reactivated int64
	require.NoError(t, p.db.QueryRow(context.Background(),
		`SELECT count(*) FROM runtime.actors WHERE owner LIKE '%' || $1 AND activated_at >= $2`, victimOwner, resumedAt).Scan(&reactivated))
	require.Zero(t, reactivated, "nothing activated by the evicted member after it resumed")
	var name string
	require.NoError(t, p.db.QueryRow(context.Background(), `SELECT name FROM merchant.stores WHERE id = $1`, m.storeID).Scan(&name))
	require.NotEqual(t, "Written by the evicted member", name)

	// Its id is never trusted again.
	var status string
	require.NoError(t, p.db.QueryRow(context.Background(), `SELECT status FROM runtime.members WHERE id = $1`, p.victim.MemberID).Scan(&status))
	require.Equal(t, "evicted", status)
}

// A member killed with SIGKILL restarts at once under a new member id and
// new queue consumer names (no wait for its dead incarnation's name
// leases; restart_ms logged), and the entries its dead incarnation had
// pending are claimed by the survivor instead of waiting for the claim
// idle time.
func TestRestartAfterSIGKILLServesAtOnceAndItsPendingIsClaimed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes")
	}
	t.Parallel()
	p := startPair(t, nil)
	rc, err := redis.Open(context.Background(), redistest.URL(), p.survivor.RedisPrefix)
	require.NoError(t, err)
	t.Cleanup(func() { _ = rc.Close() })
	rdb := rc.Redis()
	stream := rc.Key("q", vayva.QueueEmail)
	dead := p.victim.MemberID + "-email"
	consumers := func() map[string]int64 {
		cs, err := rdb.XInfoConsumers(context.Background(), stream, "vayva").Result()
		require.NoError(t, err)
		out := map[string]int64{}
		for _, c := range cs {
			out[c.Name] = c.Pending
		}
		return out
	}
	// Consumer names are the member id and the role; each running one
	// holds a lease on its name (Redis 7.0 lists a consumer in the group
	// only once it has read an entry).
	named := func(name string) bool {
		return rdb.Exists(context.Background(), rc.Key("consumer", "vayva", name)).Val() == 1
	}
	require.True(t, named(dead), "consumers are named after the member id")
	// An email job the victim's consumer read and had not finished when it
	// died: added and read under its name in one script, so no live
	// consumer's blocking read takes it first (the queue's envelope
	// fields; the payload is not a valid email, which the survivor's
	// worker records however it ends).
	require.NoError(t, rdb.Eval(context.Background(), `
		redis.call('XADD', KEYS[1], '*', 'id', ARGV[2], 'type', 'email.send', 'attempt', '1', 'max', '3', 'at', ARGV[3], 'data', '{}')
		return redis.call('XREADGROUP', 'GROUP', 'vayva', ARGV[1], 'COUNT', 1, 'STREAMS', KEYS[1], '>')`,
		[]string{stream}, dead, vayva.NewID("job"), time.Now().UnixMilli()).Err())
	pending := func() []goredis.XPendingExt {
		pend, err := rdb.XPendingExt(context.Background(), &goredis.XPendingExtArgs{Stream: stream, Group: "vayva", Start: "-", End: "+", Count: 10}).Result()
		require.NoError(t, err)
		return pend
	}
	pend := pending()
	require.Len(t, pend, 1)
	require.Equal(t, dead, pend[0].Consumer)
	oldID := p.victim.MemberID

	p.victim.Kill()
	started := time.Now()
	p.victim.Restart(t)
	t.Logf("restart_ms to ready after SIGKILL: %d", time.Since(started).Milliseconds())
	require.NotEqual(t, oldID, p.victim.MemberID, "a restart is a new incarnation")
	require.True(t, named(p.victim.MemberID+"-email"), "the new incarnation consumes under its own name")

	// The dead incarnation's entry is claimed (ClaimMinIdle is a minute)
	// and its consumer leaves the group.
	require.Eventually(t, func() bool {
		_, still := consumers()[dead]
		return !still
	}, 20*time.Second, 20*time.Millisecond, "the dead consumer's entries were taken over")
	for _, e := range pending() {
		require.NotEqual(t, dead, e.Consumer)
	}
}

// gatedProxy forwards to a target set later and holds requests while
// closed; seen counts the requests that arrived. A held request whose
// caller went away is dropped, as a connection that died before the call
// was made.
type gatedProxy struct {
	target atomic.Pointer[url.URL]
	mu     sync.Mutex
	open   chan struct{}
	seen   chan struct{}
}

func newGatedProxy(t *testing.T) (*gatedProxy, string) {
	g := &gatedProxy{open: make(chan struct{}), seen: make(chan struct{}, 100)}
	close(g.open)
	srv := nethttp.Server{Handler: nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		// Read the body first: only then does the server notice, and
		// cancel the request's context, when the caller goes away.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		g.seen <- struct{}{}
		g.mu.Lock()
		open := g.open
		g.mu.Unlock()
		<-open
		if r.Context().Err() != nil {
			return // its caller died while it was held: Paystack never saw it
		}
		httputil.NewSingleHostReverseProxy(g.target.Load()).ServeHTTP(w, r)
	})}
	ln := listen(t)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return g, "http://" + ln.Addr().String()
}

func (g *gatedProxy) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = make(chan struct{})
}

func (g *gatedProxy) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.open)
}

// A checkout is in flight on a member (its Idempotency-Key claimed there,
// Paystack held) when the member is killed with SIGKILL. Once the member is
// evicted its claim is released, so the client's retry with the same key
// runs instead of answering 409, and the checkout happens exactly once.
func TestIdempotentRetryAfterOwnerSIGKILLRunsOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes")
	}
	t.Parallel()
	a := newAPI(t)
	g, proxyURL := newGatedProxy(t)
	p := startPair(t, map[string]string{"VAYVA_PAYSTACK_BASE_URL": proxyURL + "/api"})
	target, err := url.Parse(p.survivor.BaseURL + "/sandbox/paystack")
	require.NoError(t, err)
	g.target.Store(target)
	s := newSeller(t, a, p.survivor.BaseURL, 5)

	g.close()
	for len(g.seen) > 0 {
		<-g.seen
	}
	// The same body as seller.checkout's, so the retry is the same request.
	body, err := json.Marshal(map[string]any{
		"email":            "fan@example.com",
		"items":            []map[string]any{{"variant_id": s.variant, "quantity": 1}},
		"shipping_address": map[string]any{"name": "Fan", "line1": "1 Broad St", "city": "Lagos", "state": "Lagos", "country": "NG"},
	})
	require.NoError(t, err)
	go func() {
		client := &nethttp.Client{Timeout: 30 * time.Second}
		req, _ := nethttp.NewRequest("POST", p.victim.BaseURL+"/v1/storefront/"+s.slug+"/checkout", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "retry-me")
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case <-g.seen:
	case <-time.After(30 * time.Second):
		t.Fatal("the checkout never reached Paystack")
	}
	var owner string
	require.NoError(t, p.db.QueryRow(context.Background(),
		`SELECT owner FROM runtime.idempotency_keys WHERE key = 'retry-me' AND status = 0`).Scan(&owner))
	require.Equal(t, p.victim.MemberID, owner, "the claim is the victim's")
	p.victim.Kill()
	// Until the victim is evicted its claim holds: a retry is told the
	// request is still in progress.
	s.checkout(a, p.survivor.BaseURL, "retry-me").must(t, 409)
	require.Eventually(t, func() bool {
		return queryInt(t, p.db, `SELECT count(*) FROM runtime.idempotency_keys WHERE key = 'retry-me'`) == 0
	}, 20*time.Second, 20*time.Millisecond, "the dead member's claim is released at its eviction (a claim holds a minute)")
	// Paystack answers again; the victim's held call died with it.
	g.release()

	co := s.checkout(a, p.survivor.BaseURL, "retry-me")
	if co.status != 201 {
		t.Logf("survivor:\n%s", p.survivor.Log())
	}
	co.must(t, 201)
	again := s.checkout(a, p.survivor.BaseURL, "retry-me").must(t, 201)
	id := co.body["order"].(map[string]any)["id"].(string)
	require.Equal(t, id, again.body["order"].(map[string]any)["id"])
	require.EqualValues(t, 1, queryInt(t, p.db, `SELECT count(*) FROM orders.orders`), "one order for the key")
	require.EqualValues(t, 1, queryInt(t, p.db, `SELECT count(*) FROM catalog.reservations`), "one reservation")
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return ln
}

// The membership timing settings default to the cluster's defaults and are
// refused, naming the setting, when the TTL cannot cover two heartbeats.
func TestClusterTimingSettings(t *testing.T) {
	t.Parallel()
	load := func(env map[string]string) (node.Config, error) {
		return node.LoadConfig(func(k string) string { return env[k] })
	}
	cfg, err := load(nil)
	require.NoError(t, err)
	require.Equal(t, 250*time.Millisecond, cfg.ClusterHeartbeatInterval)
	require.Equal(t, 1500*time.Millisecond, cfg.ClusterMemberTTL)
	cfg, err = load(map[string]string{"VAYVA_CLUSTER_HEARTBEAT_INTERVAL": "1s", "VAYVA_CLUSTER_MEMBER_TTL": "5s"})
	require.NoError(t, err)
	require.Equal(t, time.Second, cfg.ClusterHeartbeatInterval)
	require.Equal(t, 5*time.Second, cfg.ClusterMemberTTL)
	_, err = load(map[string]string{"VAYVA_CLUSTER_MEMBER_TTL": "400ms"})
	require.ErrorContains(t, err, "VAYVA_CLUSTER_MEMBER_TTL")
	_, err = load(map[string]string{"VAYVA_CLUSTER_HEARTBEAT_INTERVAL": "soon"})
	require.ErrorContains(t, err, "VAYVA_CLUSTER_HEARTBEAT_INTERVAL")
}
