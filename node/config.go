package node

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vayvahq/vayva/auth"
	"github.com/vayvahq/vayva/cluster"
	"github.com/vayvahq/vayva/persistence/postgres"
)

// Config is every setting of a node, read from VAYVA_* environment
// variables. Defaults work on a developer machine.
type Config struct {
	// HTTPAddr is the HTTP listen address (VAYVA_HTTP_ADDR, default ":8080").
	HTTPAddr string
	// DatabaseURL is the PostgreSQL URL (VAYVA_DATABASE_URL).
	DatabaseURL string
	// DatabaseLockTimeout, DatabaseStatementTimeout and
	// DatabaseIdleInTransactionTimeout are the session timeouts of the
	// node's pool (VAYVA_DATABASE_LOCK_TIMEOUT, default 2s;
	// VAYVA_DATABASE_STATEMENT_TIMEOUT, default 10s;
	// VAYVA_DATABASE_IDLE_IN_TRANSACTION_TIMEOUT, default 10s; 0 disables
	// one). Migrations run without them.
	DatabaseLockTimeout, DatabaseStatementTimeout, DatabaseIdleInTransactionTimeout time.Duration
	// RedisURL is the Redis URL (VAYVA_REDIS_URL).
	RedisURL string
	// RedisPrefix prefixes every Redis key (VAYVA_REDIS_PREFIX, default "vayva:").
	RedisPrefix string
	// OpsToken is the bearer token of the ops routes (VAYVA_OPS_TOKEN); empty
	// refuses them.
	OpsToken string
	// ClusterProvider is local, postgres or consul (VAYVA_CLUSTER_PROVIDER).
	ClusterProvider string
	// ClusterName groups members (VAYVA_CLUSTER_NAME, default "vayva").
	ClusterName string
	// ClusterAddr is host:port of the actor transport (VAYVA_CLUSTER_ADDR,
	// default "127.0.0.1:0").
	ClusterAddr string
	// ClusterHeartbeatInterval and ClusterMemberTTL time the postgres
	// provider's membership (VAYVA_CLUSTER_HEARTBEAT_INTERVAL, default
	// 250ms; VAYVA_CLUSTER_MEMBER_TTL, default 1.5s; see cluster.Config).
	ClusterHeartbeatInterval time.Duration
	ClusterMemberTTL         time.Duration
	// PublicURL is the base of links the node hands out: payment pages and
	// the links in emails (VAYVA_PUBLIC_URL). Defaults to this node's HTTP
	// address as seen from the machine (":8081" gives
	// "http://127.0.0.1:8081"); with port 0 it is filled in once the node
	// listens. The node's own clients of the sandbox providers never use
	// it: they call the listener.
	PublicURL string
	// SignupLimit is how many sign-ups one client address may make per
	// window (VAYVA_SIGNUP_RATE_LIMIT, default "20/1m"; "off" disables it:
	// Max -1).
	SignupLimit auth.Rate
	// RetryScale multiplies every retry and backoff delay (VAYVA_RETRY_SCALE,
	// default 1).
	RetryScale float64
	// CheckoutTTL is how long checkout reserves stock before an unpaid
	// order expires (VAYVA_CHECKOUT_TTL, default 30m, at most 24h).
	CheckoutTTL time.Duration
	// StorefrontStaleness bounds how old a storefront answer may be on a
	// member that does not host the store (VAYVA_STOREFRONT_STALENESS,
	// default 1s; 0 reads the store's fence on every request).
	StorefrontStaleness time.Duration
	// StorefrontMaxAge is the Cache-Control max-age of storefront answers
	// (VAYVA_STOREFRONT_MAX_AGE, default 5s; 0 sends no-cache).
	StorefrontMaxAge time.Duration
	// DeliveryPollInterval is how often a booked delivery asks its
	// provider for news, before RetryScale (VAYVA_DELIVERY_POLL_INTERVAL,
	// default 1m).
	DeliveryPollInterval time.Duration
	// Providers is sandbox or live (VAYVA_PROVIDERS, default "sandbox").
	Providers string
	// Roles are the parts this node runs (VAYVA_ROLES, default all of
	// edge,actors,ingestors,relay,workers).
	Roles map[string]bool
	// MigrateOnStart applies migrations at start-up (VAYVA_MIGRATE_ON_START,
	// default true).
	MigrateOnStart bool
	// LogLevel is debug, info, warn or error (VAYVA_LOG_LEVEL, default info).
	LogLevel string
	// LogFormat is json or console (VAYVA_LOG_FORMAT, default json).
	LogFormat string
	// WebhookSecretKey seals merchants' webhook signing secrets at rest
	// (VAYVA_WEBHOOK_SECRET_KEY: 32 bytes, base64); empty stores them
	// unsealed, readable only by the merchant and comm database roles.
	WebhookSecretKey []byte

	PaystackSecretKey, PaystackBaseURL               string
	ResendAPIKey, ResendBaseURL                      string
	WhatsAppAccessToken, WhatsAppAppSecret           string
	WhatsAppVerifyToken, WhatsAppBaseURL             string
	KwikBaseURL, KwikEmail, KwikPassword, KwikDomain string

	// AIBaseURL, AIAPIKey and AIModel configure the OpenAI-compatible
	// chat-completions model the WhatsApp agent uses (VAYVA_AI_BASE_URL,
	// VAYVA_AI_API_KEY, VAYVA_AI_MODEL); without a base URL and a model the
	// built-in responder answers.
	AIBaseURL, AIAPIKey, AIModel string
}

// allRoles are the parts a node can run.
var allRoles = []string{"edge", "actors", "ingestors", "relay", "workers"}

// Settings documents every environment variable for `vayva help`.
var Settings = [][2]string{
	{"VAYVA_HTTP_ADDR", `HTTP listen address (default ":8080")`},
	{"VAYVA_DATABASE_URL", "PostgreSQL URL (default postgres://postgres@127.0.0.1:5432/vayva?sslmode=disable)"},
	{"VAYVA_DATABASE_LOCK_TIMEOUT", "longest wait of a statement for a lock (default 2s; 0: no limit)"},
	{"VAYVA_DATABASE_STATEMENT_TIMEOUT", "longest run of one statement (default 10s; 0: no limit)"},
	{"VAYVA_DATABASE_IDLE_IN_TRANSACTION_TIMEOUT", "the server ends a session whose transaction idles this long, releasing its locks (default 10s; 0: no limit)"},
	{"VAYVA_REDIS_URL", "Redis URL (default redis://127.0.0.1:6379/0)"},
	{"VAYVA_REDIS_PREFIX", `prefix of every Redis key (default "vayva:")`},
	{"VAYVA_OPS_TOKEN", "bearer token of the ops routes; unset: ops routes answer 401"},
	{"VAYVA_CLUSTER_PROVIDER", "local, postgres or consul (default local)"},
	{"VAYVA_CLUSTER_NAME", "members with the same name and provider form one cluster (default vayva)"},
	{"VAYVA_CLUSTER_ADDR", "host:port of this member's actor transport (default 127.0.0.1:0)"},
	{"VAYVA_CLUSTER_HEARTBEAT_INTERVAL", "how often a member heartbeats and refreshes the member list, postgres provider (default 250ms)"},
	{"VAYVA_CLUSTER_MEMBER_TTL", "a member whose heartbeat is older is evicted; at least twice the heartbeat interval (default 1.5s)"},
	{"VAYVA_PUBLIC_URL", "base of links the node hands out: payment pages, links in emails (default http://127.0.0.1:<port of VAYVA_HTTP_ADDR>, or its host when it names one)"},
	{"VAYVA_SIGNUP_RATE_LIMIT", `sign-ups per client address and window, as "<count>/<duration>", or off (default 20/1m)`},
	{"VAYVA_RETRY_SCALE", "factor on every retry and backoff delay (queues, webhooks, payment reconciliation; default 1)"},
	{"VAYVA_CHECKOUT_TTL", "how long checkout reserves stock before an unpaid order expires (default 30m, at most 24h)"},
	{"VAYVA_STOREFRONT_STALENESS", "how old a storefront answer may be on a member that does not host the store; 0: the store's fence is read on every request (default 1s, at most 1m)"},
	{"VAYVA_STOREFRONT_MAX_AGE", "Cache-Control max-age of storefront answers, whole seconds; 0: no-cache, revalidate every time (default 5s, at most 1h)"},
	{"VAYVA_DELIVERY_POLL_INTERVAL", "how often a booked delivery asks its provider for its status, times VAYVA_RETRY_SCALE (default 1m, from 1s to 1h)"},
	{"VAYVA_PROVIDERS", "sandbox (fake providers mounted on this node) or live (default sandbox)"},
	{"VAYVA_ROLES", "comma-separated parts to run: edge,actors,ingestors,relay,workers (default all)"},
	{"VAYVA_MIGRATE_ON_START", "apply migrations when serve starts (default true)"},
	{"VAYVA_LOG_LEVEL", "debug, info, warn or error (default info)"},
	{"VAYVA_LOG_FORMAT", "json or console (default json)"},
	{"VAYVA_WEBHOOK_SECRET_KEY", "32 bytes, base64: seals merchants' webhook secrets at rest (default: unsealed)"},
	{"VAYVA_PAYSTACK_SECRET_KEY, VAYVA_PAYSTACK_BASE_URL", "Paystack"},
	{"VAYVA_RESEND_API_KEY, VAYVA_RESEND_BASE_URL", "Resend"},
	{"VAYVA_WHATSAPP_ACCESS_TOKEN, VAYVA_WHATSAPP_APP_SECRET, VAYVA_WHATSAPP_VERIFY_TOKEN, VAYVA_WHATSAPP_BASE_URL", "Meta WhatsApp Cloud API"},
	{"VAYVA_KWIK_BASE_URL, VAYVA_KWIK_EMAIL, VAYVA_KWIK_PASSWORD, VAYVA_KWIK_DOMAIN", "Kwik"},
	{"VAYVA_AI_BASE_URL, VAYVA_AI_API_KEY, VAYVA_AI_MODEL", "OpenAI-compatible chat-completions API of the WhatsApp agent, e.g. https://api.openai.com/v1 (default: none; the built-in catalog responder answers)"},
}

// LoadConfig reads the configuration from getenv and validates it. The
// error names the offending setting.
func LoadConfig(getenv func(string) string) (Config, error) {
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	c := Config{
		HTTPAddr:            get("VAYVA_HTTP_ADDR", ":8080"),
		DatabaseURL:         get("VAYVA_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/vayva?sslmode=disable"),
		RedisURL:            get("VAYVA_REDIS_URL", "redis://127.0.0.1:6379/0"),
		RedisPrefix:         get("VAYVA_REDIS_PREFIX", "vayva:"),
		OpsToken:            getenv("VAYVA_OPS_TOKEN"),
		ClusterProvider:     get("VAYVA_CLUSTER_PROVIDER", "local"),
		ClusterName:         get("VAYVA_CLUSTER_NAME", "vayva"),
		ClusterAddr:         get("VAYVA_CLUSTER_ADDR", "127.0.0.1:0"),
		PublicURL:           strings.TrimRight(get("VAYVA_PUBLIC_URL", ""), "/"),
		Providers:           get("VAYVA_PROVIDERS", "sandbox"),
		LogLevel:            get("VAYVA_LOG_LEVEL", "info"),
		LogFormat:           get("VAYVA_LOG_FORMAT", "json"),
		PaystackSecretKey:   getenv("VAYVA_PAYSTACK_SECRET_KEY"),
		PaystackBaseURL:     getenv("VAYVA_PAYSTACK_BASE_URL"),
		ResendAPIKey:        getenv("VAYVA_RESEND_API_KEY"),
		ResendBaseURL:       getenv("VAYVA_RESEND_BASE_URL"),
		WhatsAppAccessToken: getenv("VAYVA_WHATSAPP_ACCESS_TOKEN"),
		WhatsAppAppSecret:   getenv("VAYVA_WHATSAPP_APP_SECRET"),
		WhatsAppVerifyToken: getenv("VAYVA_WHATSAPP_VERIFY_TOKEN"),
		WhatsAppBaseURL:     getenv("VAYVA_WHATSAPP_BASE_URL"),
		KwikBaseURL:         getenv("VAYVA_KWIK_BASE_URL"),
		KwikEmail:           getenv("VAYVA_KWIK_EMAIL"),
		KwikPassword:        getenv("VAYVA_KWIK_PASSWORD"),
		KwikDomain:          getenv("VAYVA_KWIK_DOMAIN"),
		AIBaseURL:           strings.TrimRight(getenv("VAYVA_AI_BASE_URL"), "/"),
		AIAPIKey:            getenv("VAYVA_AI_API_KEY"),
		AIModel:             strings.TrimSpace(getenv("VAYVA_AI_MODEL")),
	}
	_, httpPort, err := net.SplitHostPort(c.HTTPAddr)
	if err != nil {
		return c, fmt.Errorf("VAYVA_HTTP_ADDR: %q is not host:port: %w", c.HTTPAddr, err)
	}
	if c.PublicURL == "" && httpPort != "0" {
		c.PublicURL = ListenURL(c.HTTPAddr)
	}
	if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return c, fmt.Errorf("VAYVA_DATABASE_URL: %q is not a postgres:// URL", c.DatabaseURL)
	}
	if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		return c, fmt.Errorf("VAYVA_REDIS_URL: %q is not a redis:// URL", c.RedisURL)
	}
	if u, err := url.Parse(c.PublicURL); c.PublicURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		return c, fmt.Errorf("VAYVA_PUBLIC_URL: %q is not an http(s) URL", c.PublicURL)
	}
	if c.AIBaseURL != "" {
		if u, err := url.Parse(c.AIBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c, fmt.Errorf("VAYVA_AI_BASE_URL: %q is not an http(s) URL", c.AIBaseURL)
		}
		if c.AIModel == "" {
			return c, fmt.Errorf("VAYVA_AI_MODEL: required when VAYVA_AI_BASE_URL is set")
		}
	}
	if c.SignupLimit, err = parseRate(get("VAYVA_SIGNUP_RATE_LIMIT", "20/1m")); err != nil {
		return c, fmt.Errorf("VAYVA_SIGNUP_RATE_LIMIT: %w", err)
	}
	scale, err := strconv.ParseFloat(get("VAYVA_RETRY_SCALE", "1"), 64)
	if err != nil || scale <= 0 || scale > 1000 {
		return c, fmt.Errorf("VAYVA_RETRY_SCALE: %q must be a number greater than 0 and at most 1000", getenv("VAYVA_RETRY_SCALE"))
	}
	c.RetryScale = scale
	poll := get("VAYVA_DELIVERY_POLL_INTERVAL", "1m")
	if c.DeliveryPollInterval, err = time.ParseDuration(poll); err != nil || c.DeliveryPollInterval < time.Second || c.DeliveryPollInterval > time.Hour {
		return c, fmt.Errorf("VAYVA_DELIVERY_POLL_INTERVAL: %q must be a duration from 1s to 1h, e.g. 1m", poll)
	}
	for _, d := range []struct {
		name string
		def  time.Duration
		into *time.Duration
	}{
		{"VAYVA_CLUSTER_HEARTBEAT_INTERVAL", cluster.DefaultHeartbeatInterval, &c.ClusterHeartbeatInterval},
		{"VAYVA_CLUSTER_MEMBER_TTL", cluster.DefaultMemberTTL, &c.ClusterMemberTTL},
	} {
		v := get(d.name, d.def.String())
		if *d.into, err = time.ParseDuration(v); err != nil || *d.into < 10*time.Millisecond {
			return c, fmt.Errorf("%s: %q is not a duration of at least 10ms (e.g. 250ms, 1.5s)", d.name, v)
		}
	}
	if c.ClusterMemberTTL < 2*c.ClusterHeartbeatInterval {
		return c, fmt.Errorf("VAYVA_CLUSTER_MEMBER_TTL: %s must be at least twice VAYVA_CLUSTER_HEARTBEAT_INTERVAL (%s)", c.ClusterMemberTTL, c.ClusterHeartbeatInterval)
	}
	ttl := get("VAYVA_CHECKOUT_TTL", "30m")
	if c.CheckoutTTL, err = time.ParseDuration(ttl); err != nil || c.CheckoutTTL < time.Second || c.CheckoutTTL > 24*time.Hour {
		return c, fmt.Errorf("VAYVA_CHECKOUT_TTL: %q must be a duration from 1s to 24h, e.g. 30m", ttl)
	}
	for _, d := range []struct {
		name     string
		def      string
		max, min time.Duration
		into     *time.Duration
	}{
		{"VAYVA_STOREFRONT_STALENESS", "1s", time.Minute, time.Millisecond, &c.StorefrontStaleness},
		{"VAYVA_STOREFRONT_MAX_AGE", "5s", time.Hour, time.Second, &c.StorefrontMaxAge},
	} {
		v := get(d.name, d.def)
		if v == "0" {
			v = "0s"
		}
		dur, err := time.ParseDuration(v)
		if err != nil || dur < 0 || dur > d.max || (dur > 0 && dur < d.min) || dur%d.min != 0 {
			return c, fmt.Errorf("%s: %q must be 0 or a duration in whole %s up to %s, e.g. %s", d.name, v, d.min, d.max, d.def)
		}
		*d.into = dur
	}
	for _, d := range []struct {
		name string
		def  time.Duration
		into *time.Duration
	}{
		{"VAYVA_DATABASE_LOCK_TIMEOUT", postgres.DefaultLockTimeout, &c.DatabaseLockTimeout},
		{"VAYVA_DATABASE_STATEMENT_TIMEOUT", postgres.DefaultStatementTimeout, &c.DatabaseStatementTimeout},
		{"VAYVA_DATABASE_IDLE_IN_TRANSACTION_TIMEOUT", postgres.DefaultIdleInTransactionTimeout, &c.DatabaseIdleInTransactionTimeout},
	} {
		v := get(d.name, d.def.String())
		if v == "0" {
			v = "0s"
		}
		dur, err := time.ParseDuration(v)
		if err != nil || dur < 0 || (dur > 0 && dur < time.Millisecond) {
			return c, fmt.Errorf("%s: %q is not a duration of at least 1ms (e.g. 2s, 500ms) or 0", d.name, v)
		}
		*d.into = dur
	}
	switch c.Providers {
	case "sandbox", "live":
	default:
		return c, fmt.Errorf("VAYVA_PROVIDERS: %q is not sandbox or live", c.Providers)
	}
	if c.Providers == "live" {
		for name, v := range map[string]string{
			"VAYVA_PAYSTACK_SECRET_KEY": c.PaystackSecretKey, "VAYVA_RESEND_API_KEY": c.ResendAPIKey,
			"VAYVA_WHATSAPP_ACCESS_TOKEN": c.WhatsAppAccessToken, "VAYVA_WHATSAPP_APP_SECRET": c.WhatsAppAppSecret,
		} {
			if v == "" {
				return c, fmt.Errorf("%s: required when VAYVA_PROVIDERS=live", name)
			}
		}
	}
	c.Roles = map[string]bool{}
	for _, r := range strings.Split(get("VAYVA_ROLES", strings.Join(allRoles, ",")), ",") {
		r = strings.TrimSpace(r)
		if !contains(allRoles, r) {
			return c, fmt.Errorf("VAYVA_ROLES: %q is not one of %s", r, strings.Join(allRoles, ", "))
		}
		c.Roles[r] = true
	}
	mig := get("VAYVA_MIGRATE_ON_START", "true")
	c.MigrateOnStart, err = strconv.ParseBool(mig)
	if err != nil {
		return c, fmt.Errorf("VAYVA_MIGRATE_ON_START: %q is not true or false", mig)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return c, fmt.Errorf("VAYVA_LOG_LEVEL: %q is not debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "json", "console":
	default:
		return c, fmt.Errorf("VAYVA_LOG_FORMAT: %q is not json or console", c.LogFormat)
	}
	if k := getenv("VAYVA_WEBHOOK_SECRET_KEY"); k != "" {
		key, err := base64.StdEncoding.DecodeString(k)
		if err != nil || len(key) != 32 {
			return c, fmt.Errorf("VAYVA_WEBHOOK_SECRET_KEY: must be 32 bytes in base64")
		}
		c.WebhookSecretKey = key
	}
	cc := cluster.Config{Name: c.ClusterName, Provider: cluster.Provider(c.ClusterProvider), Addr: c.ClusterAddr}
	if err := cc.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

// ListenURL is the http URL at which this machine reaches a listener on
// addr (host:port): a missing or wildcard host becomes 127.0.0.1, so
// ":8081" gives "http://127.0.0.1:8081".
func ListenURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// parseRate reads "<count>/<duration>" (e.g. "20/1m") or "off".
func parseRate(s string) (auth.Rate, error) {
	if strings.EqualFold(s, "off") {
		return auth.Rate{Max: -1}, nil
	}
	count, window, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(strings.TrimSpace(count))
	if !ok || err != nil || n < 1 {
		return auth.Rate{}, fmt.Errorf("%q is not <count>/<duration> with a count of at least 1, or off", s)
	}
	d, err := time.ParseDuration(strings.TrimSpace(window))
	if err != nil || d < time.Second {
		return auth.Rate{}, fmt.Errorf("%q: the window must be a duration of at least 1s", s)
	}
	return auth.Rate{Max: n, Window: d}, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
