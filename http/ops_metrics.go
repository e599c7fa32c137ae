package http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/vayvahq/vayva"
)

// trafficWindow is how many seconds of per-second traffic figures an edge
// keeps for GET /ops/metrics.
const trafficWindow = 120

// trafficDefaultSeconds is how many seconds GET /ops/metrics answers with
// when the request names none.
const trafficDefaultSeconds = 60

// trafficBounds are the upper bounds, in milliseconds, of the latency
// buckets each second keeps; the last bucket is unbounded. Quantiles are
// read as the bound of the bucket they fall in, capped by the second's
// slowest request.
var trafficBounds = [...]float64{0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000}

// trafficSecond is one second of an edge's traffic.
type trafficSecond struct {
	unix         int64
	requests     int64
	clientErrors int64
	serverErrors int64
	latencySum   time.Duration
	latencyMax   time.Duration
	buckets      [len(trafficBounds) + 1]int64
}

// recentTraffic is a ring of the last trafficWindow seconds of an edge's
// request figures: count, 4xx, 5xx and latency. Operator traffic (/ops
// routes and Prometheus scrapes of /metrics) is left out, so that watching
// the figures does not change them.
type recentTraffic struct {
	now  func() time.Time
	mu   sync.Mutex
	secs [trafficWindow]trafficSecond
}

func newRecentTraffic() *recentTraffic { return &recentTraffic{now: time.Now} }

// counted reports whether requests of route go into the figures.
func counted(route string) bool {
	return route != "/metrics" && route != "/ops" && !strings.HasPrefix(route, "/ops/")
}

func (r *recentTraffic) observe(status int, d time.Duration) {
	now := r.now().Unix()
	b := len(trafficBounds)
	ms := float64(d) / float64(time.Millisecond)
	for i, bound := range trafficBounds {
		if ms <= bound {
			b = i
			break
		}
	}
	r.mu.Lock()
	s := &r.secs[now%trafficWindow]
	if s.unix != now {
		*s = trafficSecond{unix: now}
	}
	s.requests++
	switch {
	case status >= 500:
		s.serverErrors++
	case status >= 400:
		s.clientErrors++
	}
	s.latencySum += d
	s.latencyMax = max(s.latencyMax, d)
	s.buckets[b]++
	r.mu.Unlock()
}

// trafficSecondJSON is one second of GET /ops/metrics.
type trafficSecondJSON struct {
	At           string  `json:"at"`
	Requests     int64   `json:"requests"`
	ClientErrors int64   `json:"client_errors"`
	ServerErrors int64   `json:"server_errors"`
	LatencyMean  float64 `json:"latency_mean_ms"`
	LatencyP50   float64 `json:"latency_p50_ms"`
	LatencyP99   float64 `json:"latency_p99_ms"`
	LatencyMax   float64 `json:"latency_max_ms"`
}

// memberMetricsJSON is GET /ops/metrics: one member's recent traffic,
// oldest second first, the current (incomplete) second last.
type memberMetricsJSON struct {
	MemberID        string              `json:"member_id"`
	At              string              `json:"at"`
	IntervalSeconds int                 `json:"interval_seconds"`
	Seconds         []trafficSecondJSON `json:"seconds"`
}

// snapshot returns the last n seconds up to and including the current one;
// seconds without requests are zero.
func (r *recentTraffic) snapshot(n int) (time.Time, []trafficSecondJSON) {
	now := r.now()
	end := now.Unix()
	out := make([]trafficSecondJSON, n)
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range n {
		sec := end - int64(n-1-i)
		j := trafficSecondJSON{At: timeJSON(time.Unix(sec, 0))}
		if s := &r.secs[sec%trafficWindow]; s.unix == sec && s.requests > 0 {
			j.Requests, j.ClientErrors, j.ServerErrors = s.requests, s.clientErrors, s.serverErrors
			j.LatencyMean = msRound(float64(s.latencySum) / float64(s.requests) / float64(time.Millisecond))
			j.LatencyMax = msRound(float64(s.latencyMax) / float64(time.Millisecond))
			j.LatencyP50 = min(s.quantile(0.5), j.LatencyMax)
			j.LatencyP99 = min(s.quantile(0.99), j.LatencyMax)
		}
		out[i] = j
	}
	return now, out
}

// quantile is the upper bound of the bucket holding the q-quantile; for
// the unbounded bucket, +Inf (the caller caps it by the maximum).
func (s *trafficSecond) quantile(q float64) float64 {
	rank := int64(math.Ceil(q * float64(s.requests)))
	var seen int64
	for i, c := range s.buckets {
		seen += c
		if seen >= rank && c > 0 {
			if i < len(trafficBounds) {
				return trafficBounds[i]
			}
			break
		}
	}
	return math.Inf(1)
}

func msRound(ms float64) float64 { return math.Round(ms*1000) / 1000 }

// memberMetrics is this edge's answer to GET /ops/metrics.
func (s *Server) memberMetrics(seconds int) memberMetricsJSON {
	at, secs := s.traffic.snapshot(seconds)
	return memberMetricsJSON{MemberID: s.cfg.MemberID, At: timeJSON(at), IntervalSeconds: 1, Seconds: secs}
}

// clusterMemberMetricsJSON is one member in GET /ops/cluster/metrics:
// its figures, or why they could not be had.
type clusterMemberMetricsJSON struct {
	ID      string             `json:"id"`
	Self    bool               `json:"self"`
	Status  string             `json:"status"`
	Metrics *memberMetricsJSON `json:"metrics,omitempty"`
	Error   string             `json:"error,omitempty"`
}

// peerMetricsTimeout bounds the call to one peer's GET /ops/metrics.
const peerMetricsTimeout = 2 * time.Second

// peerMetricsMaxBody bounds a peer's answer.
const peerMetricsMaxBody = 256 << 10

// peerURL is where the edge of a member listens: its HTTP address, with
// the host of its cluster address when the HTTP address names no host or
// an unspecified one (":8080", "0.0.0.0:8080").
func peerURL(httpAddr, clusterAddr string) (string, error) {
	host, port, err := net.SplitHostPort(httpAddr)
	if err != nil || port == "" {
		return "", errors.New("no usable HTTP address")
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		ch, _, err := net.SplitHostPort(clusterAddr)
		if err != nil || ch == "" {
			return "", errors.New("no usable HTTP address")
		}
		host = ch
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// decodeMemberMetrics reads a peer's answer to GET /ops/metrics and checks
// that it is the figures of the member asked.
func decodeMemberMetrics(body []byte, want string) (*memberMetricsJSON, error) {
	var m memberMetricsJSON
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, errors.New("the member's answer is not its metrics")
	}
	if m.MemberID != want {
		return nil, errors.New("another member answered at its address")
	}
	if len(m.Seconds) > trafficWindow {
		return nil, errors.New("the member's answer has too many seconds")
	}
	return &m, nil
}

// peerMetrics asks a peer's edge for its figures with the caller's ops
// token (members of one cluster share it).
func (s *Server) peerMetrics(ctx context.Context, id, base, token string, seconds int) (*memberMetricsJSON, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(base + "/ops/metrics?seconds=" + strconv.Itoa(seconds))
	req.Header.SetMethod(fasthttp.MethodGet)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set(requestIDHeader, vayva.RequestIDFromContext(ctx))
	deadline := time.Now().Add(peerMetricsTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := s.peers.DoDeadline(req, resp, deadline); err != nil {
		return nil, errors.New("the member's edge did not answer")
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		return nil, fmt.Errorf("the member's edge answered %d", resp.StatusCode())
	}
	return decodeMemberMetrics(resp.Body(), id)
}

// clusterMetrics gathers every live member's figures: this member's from
// its own ring, the others' from their edges, concurrently.
func (s *Server) clusterMetrics(ctx context.Context, token string, seconds int) ([]clusterMemberMetricsJSON, error) {
	members, err := s.deps.Cluster.Members(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]clusterMemberMetricsJSON, 0, len(members))
	var wg sync.WaitGroup
	for _, m := range members {
		if m.Status != string(vayva.MemberAlive) && m.Status != string(vayva.MemberDraining) {
			continue
		}
		out = append(out, clusterMemberMetricsJSON{ID: m.ID, Self: m.Self, Status: m.Status})
		e := &out[len(out)-1]
		if m.Self {
			mm := s.memberMetrics(seconds)
			e.Metrics = &mm
			continue
		}
		base, err := peerURL(m.HTTPAddr, m.Address)
		if err != nil {
			e.Error = "the member records no usable HTTP address"
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			mm, err := s.peerMetrics(ctx, m.ID, base, token, seconds)
			if err != nil {
				e.Error = err.Error()
				return
			}
			e.Metrics = mm
		}()
	}
	wg.Wait()
	return out, nil
}

// registerMetricsRoutes adds GET /ops/metrics and GET /ops/cluster/metrics.
func registerMetricsRoutes(r *Routes) {
	s := r.s
	r.Handle("GET", "/ops/metrics", Ops, func(_ context.Context, rc *fasthttp.RequestCtx) error {
		n, err := queryInt(rc.QueryArgs(), "seconds", trafficDefaultSeconds, trafficWindow)
		if err != nil {
			return err
		}
		return writeJSON(rc, fasthttp.StatusOK, s.memberMetrics(n))
	})
	r.Handle("GET", "/ops/cluster/metrics", Ops, func(ctx context.Context, rc *fasthttp.RequestCtx) error {
		n, err := queryInt(rc.QueryArgs(), "seconds", trafficDefaultSeconds, trafficWindow)
		if err != nil {
			return err
		}
		if s.deps.Cluster == nil {
			return vayva.Errorf(vayva.EUNAVAILABLE, "This node runs no cluster member.")
		}
		token, _ := bearer(rc)
		members, err := s.clusterMetrics(ctx, token, n)
		if err != nil {
			return err
		}
		return writeJSON(rc, fasthttp.StatusOK, map[string]any{"members": members})
	})
}
