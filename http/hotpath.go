package http

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// What every request pays for, kept small: a request's deadline costs a
// timer only when something waits on it, request ids are a per-process
// random prefix and a counter, and latency observers are looked up once
// per route and status.

// deadlineCtx is a context with a deadline whose timer is made only when
// Done or Err is first asked for: most reads answered from memory never
// ask, and a timer per request is a measurable share of them. Deadline is
// known without one, so code that only reads the deadline pays nothing.
type deadlineCtx struct {
	context.Context
	deadline time.Time

	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
}

// withLazyDeadline is context.WithDeadline(parent, d) with the timer made
// on first use.
func withLazyDeadline(parent context.Context, d time.Time) (context.Context, context.CancelFunc) {
	c := &deadlineCtx{Context: parent, deadline: d}
	return c, c.stop
}

func (c *deadlineCtx) real() context.Context {
	c.once.Do(func() { c.ctx, c.cancel = context.WithDeadline(c.Context, c.deadline) })
	return c.ctx
}

func (c *deadlineCtx) Deadline() (time.Time, bool) { return c.deadline, true }
func (c *deadlineCtx) Done() <-chan struct{}       { return c.real().Done() }
func (c *deadlineCtx) Err() error                  { return c.real().Err() }

// AfterFunc lets contexts derived from this one follow its cancellation
// without a goroutine each (see context.AfterFunc).
func (c *deadlineCtx) AfterFunc(f func()) func() bool { return context.AfterFunc(c.real(), f) }

// canceled is the context of a deadlineCtx stopped before anything used it.
var canceled = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// stop releases the timer, if one was made; afterwards the context is
// canceled like any other whose CancelFunc was called.
func (c *deadlineCtx) stop() {
	made := true
	c.once.Do(func() {
		made = false
		c.ctx = canceled
	})
	if made {
		c.cancel()
	}
}

// requestIDs makes request ids: "req_", a random prefix per process and a
// counter, so ids are unique across processes without reading the
// system's random source for each request. They name requests in logs and
// carry no secret.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("http: crypto/rand failed: " + err.Error())
	}
	enc := base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)
	return &requestIDs{prefix: "req_" + enc.EncodeToString(b[:])}
}

// next appends a new id to b.
func (r *requestIDs) next(b []byte) []byte {
	return strconv.AppendUint(append(b, r.prefix...), r.n.Add(1), 32)
}

// observerKey names one latency series.
type observerKey struct {
	method, route string
	status        int
}

// observers caches the histogram's observer of each series.
type observers struct {
	vec *prometheus.HistogramVec
	m   sync.Map // observerKey → prometheus.Observer
}

func (o *observers) get(method, route string, status int) prometheus.Observer {
	k := observerKey{method, route, status}
	if v, ok := o.m.Load(k); ok {
		return v.(prometheus.Observer)
	}
	obs := o.vec.WithLabelValues(method, route, strconv.Itoa(status))
	o.m.Store(k, obs)
	return obs
}
