package pgtest

import (
	"bytes"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
)

// CutMode says where a Proxy breaks the connection that sends COMMIT.
type CutMode int32

const (
	// CutNone forwards everything.
	CutNone CutMode = iota
	// CutBeforeCommit drops the connection instead of forwarding COMMIT:
	// the server rolls the transaction back, the client never learns.
	CutBeforeCommit
	// CutAfterCommit forwards COMMIT and drops the connection instead of
	// forwarding the server's answer: the transaction committed, the client
	// never learns.
	CutAfterCommit
)

// commitMessage is COMMIT as pgx sends it: a simple-protocol Query message
// ('Q', length 11 including itself, "commit", NUL).
var commitMessage = []byte("Q\x00\x00\x00\x0bcommit\x00")

// Proxy is a TCP proxy in front of a test database that can break a
// connection exactly at COMMIT, to test what callers do when the outcome of
// a commit is unknown.
type Proxy struct {
	ln     net.Listener
	target string
	mode   atomic.Int32
	cuts   atomic.Int32
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// NewProxy starts a proxy in front of the database at dbURL and returns it
// with the URL that reaches the database through it. It stops when the test
// ends.
func NewProxy(t testing.TB, dbURL string) (*Proxy, string) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("pgtest: proxy: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pgtest: proxy: %v", err)
	}
	p := &Proxy{ln: ln, target: u.Host, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	u.Host = ln.Addr().String()
	return p, u.String()
}

// CutNextCommit makes the proxy break the next connection that sends
// COMMIT, as mode says. Only one connection is cut; then the proxy forwards
// everything again.
func (p *Proxy) CutNextCommit(mode CutMode) { p.mode.Store(int32(mode)) }

// Cuts returns how many connections the proxy has cut.
func (p *Proxy) Cuts() int { return int(p.cuts.Load()) }

func (p *Proxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = client.Close()
			continue
		}
		p.track(client, server)
		var swallow atomic.Bool
		cut := func() {
			p.cuts.Add(1)
			_ = client.Close()
			_ = server.Close()
		}
		p.wg.Go(func() {
			defer client.Close()
			defer server.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := client.Read(buf)
				if n > 0 {
					chunk := buf[:n]
					if bytes.Contains(chunk, commitMessage) {
						switch CutMode(p.mode.Load()) {
						case CutBeforeCommit:
							if p.mode.CompareAndSwap(int32(CutBeforeCommit), int32(CutNone)) {
								cut()
								return
							}
						case CutAfterCommit:
							if p.mode.CompareAndSwap(int32(CutAfterCommit), int32(CutNone)) {
								swallow.Store(true)
							}
						}
					}
					if _, werr := server.Write(chunk); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		})
		p.wg.Go(func() {
			defer client.Close()
			defer server.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := server.Read(buf)
				if n > 0 {
					if swallow.Load() {
						cut()
						return
					}
					if _, werr := client.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		})
	}
}

func (p *Proxy) track(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
}

func (p *Proxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
