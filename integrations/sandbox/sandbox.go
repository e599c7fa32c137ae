package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/vayvahq/vayva/internal/startstop"
)

// Secrets the sandbox uses when Config leaves them empty. They are
// development values only: print them at start-up so scripts can use them.
//
//nolint:gosec // G101: public development values of the offline sandbox, not credentials.
const (
	DefaultPaystackSecret        = "sk_test_vayva_sandbox_paystack"
	DefaultWhatsAppAppSecret     = "vayva_sandbox_whatsapp_app_secret"
	DefaultWhatsAppAccessToken   = "vayva_sandbox_whatsapp_access_token"
	DefaultWhatsAppVerifyToken   = "vayva_sandbox_whatsapp_verify_token"
	DefaultWhatsAppPhoneNumberID = "100000000000001"
	DefaultResendAPIKey          = "re_vayva_sandbox_resend"
	DefaultKwikDomainName        = "sandbox.kwik.delivery"
	DefaultKwikEmail             = "vendor@sandbox.kwik.delivery"
	DefaultKwikPassword          = "vayva-sandbox-kwik"
)

// Path prefixes of the fake provider APIs, below Config.NodeURL.
const (
	PaystackAPIPrefix = "/sandbox/paystack/api"
	ResendAPIPrefix   = "/sandbox/resend"
	WhatsAppAPIPrefix = "/sandbox/whatsapp/api"
	KwikAPIPrefix     = "/sandbox/kwik"
)

// Webhook paths of the node the sandbox calls back, below Config.NodeURL.
const (
	PaystackWebhookPath = "/webhooks/paystack"
	WhatsAppWebhookPath = "/webhooks/whatsapp"
)

const maxRequestBody = 1 << 20

// Config configures a Sandbox.
type Config struct {
	// PublicURL is the base of the links the sandbox hands to people
	// (checkout pages, tracking links). Defaults to http://127.0.0.1:8080.
	// Env: VAYVA_PUBLIC_URL.
	PublicURL string
	// NodeURL is where the node serving the sandbox listens, as this
	// machine reaches it: BaseURLs point at it and webhooks are sent to its
	// /webhooks/… routes, so the fakes keep working whatever PublicURL
	// says. Defaults to PublicURL.
	NodeURL string
	// PaystackSecret is the secret key the fake Paystack accepts and signs
	// webhooks with. Defaults to DefaultPaystackSecret.
	PaystackSecret string
	// WhatsAppAppSecret signs the fake Meta webhooks. Defaults to
	// DefaultWhatsAppAppSecret.
	WhatsAppAppSecret string
	// WhatsAppAccessToken is the bearer token the fake Cloud API accepts.
	// Defaults to DefaultWhatsAppAccessToken.
	WhatsAppAccessToken string
	// WhatsAppVerifyToken is sent in the simulated subscription handshake.
	// Defaults to DefaultWhatsAppVerifyToken.
	WhatsAppVerifyToken string
	// WhatsAppPhoneNumberID is the business number a simulated inbound
	// message goes to when the request names none. Defaults to
	// DefaultWhatsAppPhoneNumberID.
	WhatsAppPhoneNumberID string
	// WhatsAppAPIVersion is the Graph API version in BaseURLs().WhatsApp.
	// Defaults to "v21.0".
	WhatsAppAPIVersion string
	// DisableWhatsAppStatuses stops the sent/delivered/read (or failed) status
	// webhooks that follow every message sent through the fake Cloud API.
	DisableWhatsAppStatuses bool
	// ResendAPIKey is the API key the fake Resend accepts. Defaults to
	// DefaultResendAPIKey.
	ResendAPIKey string
	// KwikDomainName, KwikEmail and KwikPassword are the vendor login the
	// fake Kwik accepts. Default to DefaultKwikDomainName, DefaultKwikEmail
	// and DefaultKwikPassword.
	KwikDomainName string
	KwikEmail      string
	KwikPassword   string
	// KwikTokenTTL is how long a fake Kwik access token stays valid.
	// Defaults to 1h.
	KwikTokenTTL time.Duration
	// MaxRecords bounds every list the sandbox keeps (transactions, emails,
	// messages, tasks, webhook deliveries); the oldest records go first.
	// Defaults to 1000.
	MaxRecords int
	// RetryScale multiplies the delays between webhook redeliveries (1s,
	// 2s, 4s, 8s) and TransferDelay. Defaults to 1. Env: VAYVA_RETRY_SCALE.
	RetryScale float64
	// TransferDelay is how long a fake transfer stays pending before it
	// completes and its webhook goes out, before RetryScale. Defaults to
	// 2s.
	TransferDelay time.Duration
	// KwikStepDelay is how long a fake Kwik task stays in each of its
	// statuses (requested, assigned, picked up, in transit) at least,
	// before RetryScale, on its way to delivered. Defaults to 20s.
	KwikStepDelay time.Duration
	// HTTPClient sends webhooks. Defaults to a client with a 10s timeout.
	HTTPClient *http.Client
	// Now is the sandbox's clock. Defaults to time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&c.PublicURL, "http://127.0.0.1:8080")
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	def(&c.NodeURL, c.PublicURL)
	c.NodeURL = strings.TrimRight(c.NodeURL, "/")
	def(&c.PaystackSecret, DefaultPaystackSecret)
	def(&c.WhatsAppAppSecret, DefaultWhatsAppAppSecret)
	def(&c.WhatsAppAccessToken, DefaultWhatsAppAccessToken)
	def(&c.WhatsAppVerifyToken, DefaultWhatsAppVerifyToken)
	def(&c.WhatsAppPhoneNumberID, DefaultWhatsAppPhoneNumberID)
	def(&c.WhatsAppAPIVersion, "v21.0")
	def(&c.ResendAPIKey, DefaultResendAPIKey)
	def(&c.KwikDomainName, DefaultKwikDomainName)
	def(&c.KwikEmail, DefaultKwikEmail)
	def(&c.KwikPassword, DefaultKwikPassword)
	if c.KwikTokenTTL <= 0 {
		c.KwikTokenTTL = time.Hour
	}
	if c.MaxRecords <= 0 {
		c.MaxRecords = 1000
	}
	if c.RetryScale <= 0 {
		c.RetryScale = 1
	}
	if c.TransferDelay <= 0 {
		c.TransferDelay = 2 * time.Second
	}
	if c.KwikStepDelay <= 0 {
		c.KwikStepDelay = 20 * time.Second
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// BaseURLs are the API roots the real clients use to reach the fakes.
type BaseURLs struct {
	// Paystack replaces https://api.paystack.co.
	Paystack string
	// Resend replaces https://api.resend.com.
	Resend string
	// WhatsApp replaces https://graph.facebook.com/<version>.
	WhatsApp string
	// Kwik replaces the Kwik API root.
	Kwik string
}

// Sandbox is the set of fake providers. Create it with New, serve Handler,
// and Start it so that deferred webhooks go out. It is a long-lived
// component with the semantics of package startstop.
type Sandbox struct {
	startstop.BaseStartStop

	cfg Config
	mux *routeMux

	paystack *paystackFake
	resend   *resendFake
	whatsapp *whatsappFake
	kwik     *kwikFake
	webhooks *webhookLog
}

// New returns a Sandbox for cfg.
func New(cfg Config) *Sandbox {
	cfg = cfg.withDefaults()
	s := &Sandbox{cfg: cfg, mux: &routeMux{ServeMux: http.NewServeMux()}}
	s.webhooks = newWebhookLog(cfg)
	s.paystack = newPaystackFake(cfg, s.webhooks)
	s.resend = newResendFake(cfg)
	s.whatsapp = newWhatsAppFake(cfg, s.webhooks)
	s.kwik = newKwikFake(cfg, s.webhooks)
	s.paystack.routes(s.mux)
	s.resend.routes(s.mux)
	s.whatsapp.routes(s.mux)
	s.kwik.routes(s.mux)
	s.mux.HandleFunc("GET /sandbox/webhooks", s.webhooks.handleList)
	s.mux.HandleFunc("GET /sandbox/{$}", s.handleIndex)
	return s
}

// Config returns the effective configuration, defaults filled in.
func (s *Sandbox) Config() Config { return s.cfg }

// Handler serves every fake below /sandbox/.
func (s *Sandbox) Handler() http.Handler { return s.mux }

// Route is one route the sandbox serves, in net/http pattern syntax without
// the method ("/sandbox/paystack/checkout/{reference}", "/sandbox/{$}").
type Route struct {
	Method string
	Path   string
}

// Routes lists every route Handler serves, in registration order, so a
// server mounting the sandbox can register exactly these.
func (s *Sandbox) Routes() []Route { return append([]Route(nil), s.mux.routes...) }

// routeMux is a ServeMux that remembers what was registered on it.
type routeMux struct {
	*http.ServeMux
	routes []Route
}

// HandleFunc registers h for pattern ("METHOD /path") and records it.
func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	method, path, _ := strings.Cut(pattern, " ")
	m.routes = append(m.routes, Route{Method: method, Path: path})
	m.ServeMux.HandleFunc(pattern, h)
}

// BaseURLs returns the API roots the real clients must use.
func (s *Sandbox) BaseURLs() BaseURLs {
	return BaseURLs{
		Paystack: s.cfg.NodeURL + PaystackAPIPrefix,
		Resend:   s.cfg.NodeURL + ResendAPIPrefix,
		WhatsApp: s.cfg.NodeURL + WhatsAppAPIPrefix + "/" + s.cfg.WhatsAppAPIVersion,
		Kwik:     s.cfg.NodeURL + KwikAPIPrefix,
	}
}

// Start lets deferred webhooks go out, including those queued before it.
// Deliveries run on goroutines the Sandbox owns until Stop; ctx bounds
// only the start.
func (s *Sandbox) Start(ctx context.Context) error {
	run, started, _, err := s.StartInit(ctx)
	if err != nil {
		return err
	}
	s.webhooks.start(run)
	started()
	return nil
}

// Stop cancels pending webhook deliveries and waits for their goroutines to
// end.
func (s *Sandbox) Stop(ctx context.Context) error {
	return s.StopWith(ctx, s.webhooks.stop)
}

func (s *Sandbox) handleIndex(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"base_urls": s.BaseURLs(), "public_url": s.cfg.PublicURL, "node_url": s.cfg.NodeURL})
}

// store is an insertion-ordered map that keeps at most max records,
// dropping the oldest. It is not locked; its owner is.
type store[V any] struct {
	max   int
	order []string
	items map[string]V
}

func newStore[V any](max int) *store[V] {
	return &store[V]{max: max, items: make(map[string]V)}
}

func (st *store[V]) put(key string, v V) {
	if _, ok := st.items[key]; !ok {
		st.order = append(st.order, key)
	}
	st.items[key] = v
	for len(st.order) > st.max {
		delete(st.items, st.order[0])
		st.order = st.order[1:]
	}
}

func (st *store[V]) get(key string) (V, bool) {
	v, ok := st.items[key]
	return v, ok
}

// newest returns up to limit records, newest first, that keep accepts.
func (st *store[V]) newest(limit int, keep func(V) bool) []V {
	out := []V{}
	for i := len(st.order) - 1; i >= 0 && len(out) < limit; i-- {
		v := st.items[st.order[i]]
		if keep == nil || keep(v) {
			out = append(out, v)
		}
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// readJSON decodes a request body of at most 1 MiB into v.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return errors.New("empty body")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	return nil
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randomBase64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// uuid returns a random version 4 UUID, the shape of Resend's ids.
func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// limitParam reads ?limit= for the sandbox's inspection lists.
func limitParam(r *http.Request, def int) int {
	var n int
	if _, err := fmt.Sscanf(r.URL.Query().Get("limit"), "%d", &n); err != nil || n <= 0 {
		return def
	}
	return min(n, 1000)
}
