package http

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"regexp"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fasthttp/router"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/internal/startstop"
)

// MaxBodySize is the largest request body the edge accepts (1 MiB).
const MaxBodySize = 1 << 20

const requestIDHeader = "X-Request-Id"

// requestIDHeaderKey is requestIDHeader in fasthttp's canonical form.
var requestIDHeaderKey = []byte(requestIDHeader)

// Config configures the HTTP edge.
type Config struct {
	// Addr is the listen address. Defaults to ":8080" (VAYVA_HTTP_ADDR).
	Addr string
	// OpsToken is the bearer token of /ops routes; empty refuses them all
	// (VAYVA_OPS_TOKEN).
	OpsToken string
	// RequestTimeout bounds the work of one request. Defaults to 10s.
	RequestTimeout time.Duration
	// Listener, when set, is served instead of listening on Addr, so that
	// a node can bind its port before it builds the clients that call
	// it. Stop closes it.
	Listener net.Listener
	// MemberID is the cluster member this edge belongs to, recorded with
	// its Idempotency-Key claims: when the member is evicted its claims in
	// progress are released, so clients' retries run.
	MemberID string
}

// Access says who may call a route.
type Access int

// The kinds of route access.
const (
	// Public routes need no credentials.
	Public Access = iota
	// Merchant routes need a session token or API key; the handler's context
	// carries the tenant.
	Merchant
	// Ops routes need the ops token.
	Ops
)

// Handler serves one route. It returns an error instead of writing one.
type Handler func(ctx context.Context, rc *fasthttp.RequestCtx) error

// Authenticator resolves a bearer token to the tenant it acts for. It
// returns a vayva.EUNAUTHORIZED error for unknown, expired or revoked
// tokens.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (vayva.Tenant, error)
}

// Area is a feature's set of routes.
type Area interface {
	Register(r *Routes)
}

// ReadinessCheck is one condition of /readyz.
type ReadinessCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// Deps are the edge's collaborators. Any may be nil; routes that need a
// missing one answer 503.
type Deps struct {
	Log         zerolog.Logger
	Registry    *prometheus.Registry
	Auth        Authenticator
	Idempotency IdempotencyStore
	Readiness   []ReadinessCheck
	Cluster     ClusterOps
	Ledger      LedgerChecker
	Outbox      OutboxMonitor
	// Lease, when set, gates every request: while it reports false (the
	// node's cluster member lost its lease or was evicted) everything but
	// /healthz, /readyz and /metrics is answered 503 with Retry-After.
	Lease LeaseHolder
}

// LeaseHolder reports whether this node may still serve for the cluster.
// Implemented by *cluster.Member.
type LeaseHolder interface {
	LeaseValid() bool
}

// Server is the HTTP edge: a long-lived component with the semantics of
// package startstop.
type Server struct {
	startstop.BaseStartStop

	cfg     Config
	deps    Deps
	log     zerolog.Logger
	router  *router.Router
	routes  []RouteInfo
	srv     *fasthttp.Server
	metrics *httpMetrics
	ids     *requestIDs
	traffic *recentTraffic   // the last seconds' figures, GET /ops/metrics
	peers   *fasthttp.Client // calls other members' GET /ops/metrics

	mu       sync.Mutex // guards ln, which Addr reads
	ln       net.Listener
	serveErr chan error // Serve's result, once Start has listened
}

// RouteInfo describes a registered route.
type RouteInfo struct {
	Method string
	Path   string
	Access Access
}

// NewServer builds the edge with the meta and ops routes and every area's
// routes.
func NewServer(cfg Config, deps Deps, areas ...Area) *Server {
	if cfg.Addr == "" {
		cfg.Addr = ":8080"
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	s := &Server{cfg: cfg, deps: deps, log: deps.Log.With().Str("component", "http").Logger()}
	s.metrics = newHTTPMetrics(deps.Registry)
	s.ids = newRequestIDs()
	s.traffic = newRecentTraffic()
	s.peers = &fasthttp.Client{
		Name: "vayva-ops", MaxResponseBodySize: peerMetricsMaxBody, MaxConnsPerHost: 4,
		ReadTimeout: peerMetricsTimeout, WriteTimeout: peerMetricsTimeout, MaxIdleConnDuration: 30 * time.Second,
	}
	s.router = router.New()
	s.router.SaveMatchedRoutePath = true
	s.router.RedirectTrailingSlash = false
	s.router.RedirectFixedPath = false
	s.router.HandleOPTIONS = false
	s.router.NotFound = func(rc *fasthttp.RequestCtx) {
		s.finish(rc, "unmatched", time.Now(), vayva.Errorf(vayva.ENOTFOUND, "No route for %s %s.", rc.Method(), rc.Path()))
	}
	s.router.MethodNotAllowed = func(rc *fasthttp.RequestCtx) {
		s.finish(rc, "unmatched", time.Now(), vayva.Errorf(vayva.EMETHODNOTALLOWED, "Method %s is not allowed here.", rc.Method()))
	}
	s.router.PanicHandler = func(rc *fasthttp.RequestCtx, v any) {
		// The panic value may have been built from the request (a body, a
		// header), so only its type and the runtime's own messages are
		// logged; the stack says where it happened.
		e := s.log.Error().Str("request_id", requestID(rc)).Str("panic_type", fmt.Sprintf("%T", v))
		if re, ok := v.(runtime.Error); ok {
			e = e.Str("panic", re.Error())
		}
		e.Str("stack", string(debug.Stack())).Msg("handler panicked")
		writeProblem(rc, errors.New("panic"))
	}
	r := &Routes{s: s}
	metaArea{}.Register(r)
	opsArea{}.Register(r)
	for _, a := range areas {
		a.Register(r)
	}
	s.srv = &fasthttp.Server{
		Handler:            s.serve,
		Name:               "vayva",
		MaxRequestBodySize: MaxBodySize,
		ReadTimeout:        30 * time.Second,
		WriteTimeout:       30 * time.Second,
		IdleTimeout:        2 * time.Minute,
		// No route takes multipart forms; a multipart body is answered
		// 415 like any other body that is not JSON.
		DisablePreParseMultipartForm: true,
		// The answer to a request fasthttp could not parse never repeats
		// the error, which quotes the request's bytes.
		ErrorHandler: func(rc *fasthttp.RequestCtx, err error) {
			var small *fasthttp.ErrSmallBuffer
			switch {
			case errors.Is(err, fasthttp.ErrBodyTooLarge):
				writeProblem(rc, vayva.Errorf(vayva.ETOOLARGE, "Request bodies are limited to %d bytes.", MaxBodySize))
			case errors.As(err, &small):
				writeProblem(rc, vayva.Errorf(vayva.EHEADERSTOOLARGE, "The request headers are too large."))
			default:
				writeProblem(rc, vayva.Errorf(vayva.EBADREQUEST, "The request could not be read."))
			}
		},
		// fasthttp's parse errors embed the request buffer (credentials
		// and bodies included); the printer logs none of it, and fasthttp
		// is asked to leave the buffer out of its errors as well.
		Logger:                zerologPrinter{s.log},
		SecureErrorLogMessage: true,
	}
	return s
}

// Handler returns the edge's request handler, for tests and benchmarks that
// serve it themselves.
func (s *Server) Handler() fasthttp.RequestHandler { return s.serve }

// Routes lists every registered route.
func (s *Server) Routes() []RouteInfo {
	out := append([]RouteInfo(nil), s.routes...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Method < out[j].Method
	})
	return out
}

// Start listens on the configured address and serves in the background
// until Stop; ctx bounds only the start.
func (s *Server) Start(ctx context.Context) error {
	run, started, stopped, err := s.StartInit(ctx)
	if err != nil {
		return err
	}
	sctx, cancel := startstop.StartupContext(ctx, run)
	defer cancel()
	ln := s.cfg.Listener
	if ln == nil {
		var lc net.ListenConfig
		if ln, err = lc.Listen(sctx, "tcp", s.cfg.Addr); err != nil {
			stopped()
			return fmt.Errorf("VAYVA_HTTP_ADDR: listen on %s: %w", s.cfg.Addr, err)
		}
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.serveErr = make(chan error, 1)
	go func() { s.serveErr <- s.srv.Serve(ln) }()
	s.log.Info().Str("addr", ln.Addr().String()).Msg("http edge listening")
	started()
	return nil
}

// Addr is the address the server listens on, once started.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Stop stops accepting connections and waits for in-flight requests until
// ctx is done.
func (s *Server) Stop(ctx context.Context) error {
	return s.StopWith(ctx, func(ctx context.Context) error {
		shutdownErr := s.srv.ShutdownWithContext(ctx)
		s.peers.CloseIdleConnections()
		// Serve registers the listener with fasthttp only once its goroutine
		// runs; close it here too so a Stop right after Start cannot miss it.
		_ = s.ln.Close()
		if err := <-s.serveErr; err != nil && !errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("http: serve: %w", err)
		}
		if shutdownErr != nil {
			return fmt.Errorf("http: shutdown: %w", shutdownErr)
		}
		return nil
	})
}

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// serve runs before routing: request id and body limits.
func (s *Server) serve(rc *fasthttp.RequestCtx) {
	var buf [64]byte
	idb := rc.Request.Header.Peek(requestIDHeader)
	if len(idb) == 0 || !validRequestID.Match(idb) {
		idb = s.ids.next(buf[:0])
	}
	id := string(idb)
	rc.Response.Header.SetCanonical(requestIDHeaderKey, idb)
	rc.SetUserValue(requestIDKey, id)
	if s.deps.Lease != nil && !s.deps.Lease.LeaseValid() && !ungated(rc.Path()) {
		s.finish(rc, "lease gate", time.Now(), vayva.ErrLeaseLost)
		return
	}
	s.router.Handler(rc)
}

// ungated are the paths a node without a cluster lease still answers:
// liveness, readiness (which then says not ready) and metrics.
func ungated(path []byte) bool {
	switch string(path) {
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	return false
}

type userKey int

const (
	requestIDKey userKey = iota
	tenantKey
)

func requestID(rc *fasthttp.RequestCtx) string {
	id, _ := rc.UserValue(requestIDKey).(string)
	return id
}

// Routes registers routes on the server.
type Routes struct {
	s *Server
}

// RouteOption adjusts one route.
type RouteOption func(*routeConfig)

type routeConfig struct {
	idempotencyRequired bool
	secretResponse      bool
	formBody            bool
}

// FormBody marks a route whose body is an HTML form
// (application/x-www-form-urlencoded) instead of JSON: the pages that links
// in emails open.
func FormBody() RouteOption {
	return func(c *routeConfig) { c.formBody = true }
}

// RequireIdempotencyKey makes the Idempotency-Key header mandatory on the
// route (checkout, payouts).
func RequireIdempotencyKey() RouteOption {
	return func(c *routeConfig) { c.idempotencyRequired = true }
}

// SecretResponse marks a route whose response carries a secret (a session
// token, an API key). Its Idempotency-Key is accepted but the response is
// never stored, so no secret is kept outside its hashed form; a repeated
// key runs the request again.
func SecretResponse() RouteOption {
	return func(c *routeConfig) { c.secretResponse = true }
}

// Handle registers h for method and path with the given access. POST routes
// honour Idempotency-Key.
func (r *Routes) Handle(method, path string, access Access, h Handler, opts ...RouteOption) {
	s := r.s
	var rcfg routeConfig
	for _, o := range opts {
		o(&rcfg)
	}
	s.routes = append(s.routes, RouteInfo{Method: method, Path: path, Access: access})
	s.router.Handle(method, path, func(rc *fasthttp.RequestCtx) {
		start := time.Now()
		ctx, cancel := withLazyDeadline(context.Background(), start.Add(s.cfg.RequestTimeout))
		defer cancel()
		ctx = vayva.WithRequestID(ctx, requestID(rc))
		ctx, err := s.authorize(ctx, rc, access)
		if err == nil && !rcfg.formBody {
			err = requireJSONBody(rc)
		}
		if err == nil {
			if method == fasthttp.MethodPost && !rcfg.secretResponse {
				err = s.withIdempotency(ctx, rc, rcfg.idempotencyRequired, h)
			} else {
				err = h(ctx, rc)
			}
		}
		s.finishMethod(rc, method, path, start, err)
	})
}

// authorize checks the route's access; for merchant routes the returned
// context carries the tenant.
func (s *Server) authorize(ctx context.Context, rc *fasthttp.RequestCtx, access Access) (context.Context, error) {
	switch access {
	case Public:
		return ctx, nil
	case Ops:
		token, ok := bearer(rc)
		if !ok || s.cfg.OpsToken == "" || subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.OpsToken)) != 1 {
			return ctx, vayva.Errorf(vayva.EUNAUTHORIZED, "A valid ops token is required.")
		}
		return ctx, nil
	case Merchant:
		token, ok := bearer(rc)
		if !ok {
			return ctx, vayva.Errorf(vayva.EUNAUTHORIZED, "A bearer token is required.")
		}
		if s.deps.Auth == nil {
			return ctx, vayva.Errorf(vayva.EUNAVAILABLE, "Authentication is not available on this node.")
		}
		t, err := s.deps.Auth.Authenticate(ctx, token)
		if err != nil {
			return ctx, err
		}
		rc.SetUserValue(tenantKey, t)
		return vayva.WithTenant(ctx, t), nil
	}
	return ctx, fmt.Errorf("http: unknown access %d", access)
}

func bearer(rc *fasthttp.RequestCtx) (string, bool) {
	h := string(rc.Request.Header.Peek("Authorization"))
	const p = "Bearer "
	if len(h) <= len(p) || !strings.EqualFold(h[:len(p)], p) {
		return "", false
	}
	return strings.TrimSpace(h[len(p):]), true
}

// finish writes err (if any) as a problem, logs and records metrics.
func (s *Server) finish(rc *fasthttp.RequestCtx, route string, start time.Time, err error) {
	s.finishMethod(rc, string(rc.Method()), route, start, err)
}

func (s *Server) finishMethod(rc *fasthttp.RequestCtx, method, route string, start time.Time, err error) {
	if err != nil {
		err = coded(err)
		status := statusOf(err)
		switch {
		case status >= 500 && vayva.ErrorCode(err) == vayva.EINTERNAL:
			s.log.Error().Err(err).Str("request_id", requestID(rc)).Str("route", route).Msg("request failed")
		case status == fasthttp.StatusServiceUnavailable:
			s.log.Warn().Err(err).Str("request_id", requestID(rc)).Str("route", route).Msg("request answered unavailable")
		}
		writeProblem(rc, err)
	}
	status := rc.Response.StatusCode()
	if status == fasthttp.StatusServiceUnavailable {
		setRetryAfter(rc)
	}
	took := time.Since(start)
	s.metrics.observe(method, route, status, took)
	if counted(route) {
		s.traffic.observe(status, took)
	}
	if e := s.log.Debug(); e.Enabled() {
		e.Str("request_id", requestID(rc)).Str("method", string(rc.Method())).Str("route", route).
			Int("status", status).Dur("took", took).Msg("request")
	}
}

// zerologPrinter is the fasthttp server's Logger. fasthttp formats the
// request's raw bytes into the arguments of its messages (a header parse
// error quotes the whole header buffer, Authorization included), so the
// printer never formats them: it logs the constant format string, the
// client's address and a class of the error.
type zerologPrinter struct{ log zerolog.Logger }

func (p zerologPrinter) Printf(format string, args ...any) {
	e := p.log.Warn().Str("event", format)
	var remote net.Addr
	for _, a := range args {
		switch v := a.(type) {
		case error:
			e = e.Str("error_class", connErrorClass(v))
		case net.Addr:
			// The first address of a connection error is ours, the last
			// the client's.
			remote = v
		}
	}
	if remote != nil {
		e = e.Str("remote_addr", remote.String())
	}
	e.Msg("http: the edge could not serve a connection")
}

// connErrorClass names the kind of a fasthttp connection error from its
// type and sentinels alone, never from its text.
func connErrorClass(err error) string {
	var small *fasthttp.ErrSmallBuffer
	var chunk fasthttp.ErrBrokenChunk
	var nothing fasthttp.ErrNothingRead
	var netErr net.Error
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return "body_too_large"
	case errors.As(err, &small), errors.Is(err, fasthttp.ErrSmallReadBuffer):
		return "headers_too_large"
	case errors.As(err, &chunk):
		return "broken_chunk"
	case errors.Is(err, fasthttp.ErrBadTrailer):
		return "bad_trailer"
	case errors.Is(err, fasthttp.ErrMissingRequestMethod), errors.Is(err, fasthttp.ErrUnsupportedRequestMethod),
		errors.Is(err, fasthttp.ErrExtraWhitespaceInRequestLine), errors.Is(err, fasthttp.ErrEmptyRequestURI):
		return "bad_request_line"
	case errors.Is(err, fasthttp.ErrDuplicateContentLength), errors.Is(err, fasthttp.ErrNonNumericChars),
		errors.Is(err, fasthttp.ErrUnsupportedTransferEncoding):
		return "bad_framing"
	case errors.As(err, &nothing):
		return "nothing_read"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.As(err, &netErr):
		return "network"
	case strings.HasPrefix(err.Error(), "error when reading request headers"):
		return "bad_headers"
	}
	return "unreadable_request"
}

type httpMetrics struct {
	latency   *prometheus.HistogramVec
	observers observers
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vayva_http_request_duration_seconds",
			Help:    "HTTP request latency by method, route pattern and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route", "status"}),
	}
	reg.MustRegister(m.latency)
	m.observers.vec = m.latency
	return m
}

func (m *httpMetrics) observe(method, route string, status int, d time.Duration) {
	m.observers.get(method, route, status).Observe(d.Seconds())
}
