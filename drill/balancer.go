package drill

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// balancer is the loopback load balancer in front of the members: it
// sends each request to the next healthy member in turn, checks
// /readyz of every member every healthEvery, and sends a request the
// member refused to connect for to the next one (it never reached a
// node). Everything else, a member's answer or its silence, goes back
// to the client as a real load balancer would pass it: 502 when the
// connection broke, 504 after the member took longer than timeout.
type balancer struct {
	url       string
	server    *http.Server
	transport *http.Transport
	timeout   time.Duration

	mu       sync.Mutex // guards backends
	backends map[int]*backend
	next     atomic.Uint64
}

type backend struct {
	slot    int
	url     string
	healthy atomic.Bool
}

const healthEvery = 100 * time.Millisecond

func newBalancer(timeout time.Duration) (*balancer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &balancer{
		url:      "http://" + ln.Addr().String(),
		timeout:  timeout,
		backends: map[int]*backend{},
		transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
		},
	}
	b.server = &http.Server{Handler: b, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = b.server.Serve(ln) }()
	return b, nil
}

// run checks the members' health until ctx ends.
func (b *balancer) run(ctx context.Context) {
	client := &http.Client{Transport: b.transport, Timeout: 300 * time.Millisecond}
	t := time.NewTicker(healthEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var wg sync.WaitGroup
		for _, be := range b.list(false) {
			wg.Go(func() {
				resp, err := client.Get(be.url + "/readyz")
				ok := err == nil && resp.StatusCode == http.StatusOK
				if resp != nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
				}
				be.healthy.Store(ok)
			})
		}
		wg.Wait()
	}
}

func (b *balancer) add(slot int, url string) {
	be := &backend{slot: slot, url: url}
	be.healthy.Store(true)
	b.mu.Lock()
	b.backends[slot] = be
	b.mu.Unlock()
}

func (b *balancer) remove(slot int) {
	b.mu.Lock()
	delete(b.backends, slot)
	b.mu.Unlock()
}

// list returns the backends by slot, only the healthy ones if asked.
func (b *balancer) list(healthyOnly bool) []*backend {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]*backend, 0, len(b.backends))
	for _, be := range b.backends {
		if !healthyOnly || be.healthy.Load() {
			out = append(out, be)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].slot < out[j].slot })
	return out
}

func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		http.Error(w, "reading the request failed", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), b.timeout)
	defer cancel()
	backends := b.list(true)
	if len(backends) == 0 {
		http.Error(w, "no healthy member", http.StatusServiceUnavailable)
		return
	}
	start := int(b.next.Add(1))
	for i := range backends {
		be := backends[(start+i)%len(backends)]
		// The target is one of the drill's own members on loopback.
		req, err := http.NewRequestWithContext(ctx, r.Method, be.url+r.URL.RequestURI(), bytes.NewReader(body)) //nolint:gosec // Only the drill's members are backends.
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req.Header = r.Header.Clone()
		req.Host = r.Host
		// net/http would send a request with an Idempotency-Key again
		// by itself when a reused connection breaks, possibly after the
		// member read it: only a refused connection moves a request on.
		req.GetBody = nil
		resp, err := b.transport.RoundTrip(req)
		if err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) {
				be.healthy.Store(false)
				continue
			}
			if ctx.Err() != nil {
				http.Error(w, "the member did not answer in time", http.StatusGatewayTimeout)
				return
			}
			http.Error(w, "the member's connection broke", http.StatusBadGateway)
			return
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		_ = resp.Body.Close()
		return
	}
	http.Error(w, "no member accepted the connection", http.StatusBadGateway)
}

func (b *balancer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = b.server.Shutdown(ctx)
	b.transport.CloseIdleConnections()
}
