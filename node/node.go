// Package node assembles a Vayva node from its configuration: database and
// migrations, Redis, the cluster member and its actor kinds, the reminder
// scheduler and the HTTP edge. cmd/vayva runs one; tests run several in one
// process.
package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/auth"
	"github.com/vayvahq/vayva/cluster"
	vhttp "github.com/vayvahq/vayva/http"
	"github.com/vayvahq/vayva/integrations/resend"
	"github.com/vayvahq/vayva/integrations/sandbox"
	"github.com/vayvahq/vayva/messages"
	"github.com/vayvahq/vayva/persistence/postgres"
	"github.com/vayvahq/vayva/persistence/redis"
	"github.com/vayvahq/vayva/persistence/redis/queue"
	"github.com/vayvahq/vayva/worker"
)

// Node is one running Vayva process. Start brings its parts up in
// dependency order; Stop takes them down in reverse.
type Node struct {
	cfg Config
	log zerolog.Logger

	// ExtraKinds are hosted in addition to the product's kinds (tests and
	// drills add the probe kind). Set before Start.
	ExtraKinds []func(j *postgres.Journal) cluster.Kind
	// AuthConfig adjusts the accounts service (password hashing cost, rate
	// limits, token cache); zero fields take their defaults, and PublicURL
	// and Registerer come from the node. Set before Start.
	AuthConfig auth.Config
	// Auth is the accounts and credentials service, on edge nodes.
	Auth *auth.Service

	Registry  *prometheus.Registry
	DB        *postgres.DB
	Redis     *redis.Client
	Journal   *postgres.Journal
	Member    *cluster.Member
	HTTP      *vhttp.Server
	scheduler *postgres.Scheduler

	// Queues is the job queue system on Redis.
	Queues *queue.Broker
	// Sandbox holds the fake providers when cfg.Providers is "sandbox";
	// nil in live mode.
	Sandbox *sandbox.Sandbox

	// Webhooks is the store of merchants' outbound webhook endpoints and
	// deliveries.
	Webhooks *postgres.Webhooks
	// Relay publishes the outbox, on nodes with the relay role.
	Relay *worker.Relay
	// EmailWorker and WebhookWorker run on nodes with the workers role.
	EmailWorker   *worker.Email
	WebhookWorker *worker.Webhooks
	// Ledger holds the ledger's client and background components.
	Ledger LedgerParts

	mu       sync.Mutex
	started  bool
	stopped  bool
	stoppers []func(ctx context.Context) error
}

// New returns a node for cfg; nothing runs until Start.
func New(cfg Config, log zerolog.Logger) *Node {
	return &Node{cfg: cfg, log: log}
}

// Config returns the node's configuration.
func (n *Node) Config() Config { return n.cfg }

// Start connects, migrates, joins the cluster and starts serving. On error
// everything started so far is stopped again.
func (n *Node) Start(ctx context.Context) (err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.started {
		return errors.New("node: already started")
	}
	n.started = true
	defer func() {
		if err != nil {
			n.stopLocked(context.WithoutCancel(ctx))
		}
	}()
	cfg := n.cfg

	n.Registry = prometheus.NewRegistry()
	n.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	if cfg.MigrateOnStart {
		if err := postgres.Migrate(ctx, cfg.DatabaseURL); err != nil {
			return fmt.Errorf("VAYVA_DATABASE_URL: migrate: %w", err)
		}
	}
	n.DB, err = postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("VAYVA_DATABASE_URL: %w", err)
	}
	n.onStop(func(context.Context) error { n.DB.Close(); return nil })

	n.Redis, err = redis.Open(ctx, cfg.RedisURL, cfg.RedisPrefix)
	if err != nil {
		return fmt.Errorf("VAYVA_REDIS_URL: %w", err)
	}
	n.onStop(func(context.Context) error { n.Redis.Close(); return nil })

	n.Queues, err = queue.New(n.Redis, queue.Config{RetryScale: cfg.RetryScale, Registerer: n.Registry, Logger: n.log})
	if err != nil {
		return err
	}
	if cfg.Providers == "sandbox" {
		n.Sandbox = sandbox.New(sandbox.Config{
			PublicURL:           cfg.PublicURL,
			PaystackSecret:      cfg.PaystackSecretKey,
			WhatsAppAppSecret:   cfg.WhatsAppAppSecret,
			WhatsAppAccessToken: cfg.WhatsAppAccessToken,
			WhatsAppVerifyToken: cfg.WhatsAppVerifyToken,
			ResendAPIKey:        cfg.ResendAPIKey,
			KwikDomainName:      cfg.KwikDomain,
			KwikEmail:           cfg.KwikEmail,
			KwikPassword:        cfg.KwikPassword,
			RetryScale:          cfg.RetryScale,
		})
		// The development values are printed for scripts; secrets that were
		// configured stay out of the log.
		shown := func(configured, used string) string {
			if configured != "" {
				return "(configured)"
			}
			return used
		}
		sc := n.Sandbox.Config()
		n.log.Info().Str("public_url", sc.PublicURL).
			Str("paystack_secret_key", shown(cfg.PaystackSecretKey, sc.PaystackSecret)).
			Str("whatsapp_app_secret", shown(cfg.WhatsAppAppSecret, sc.WhatsAppAppSecret)).
			Str("whatsapp_access_token", shown(cfg.WhatsAppAccessToken, sc.WhatsAppAccessToken)).
			Str("whatsapp_verify_token", shown(cfg.WhatsAppVerifyToken, sc.WhatsAppVerifyToken)).
			Str("resend_api_key", shown(cfg.ResendAPIKey, sc.ResendAPIKey)).
			Str("kwik_domain", sc.KwikDomainName).Str("kwik_email", sc.KwikEmail).
			Str("kwik_password", shown(cfg.KwikPassword, sc.KwikPassword)).
			Msg("sandbox providers mounted; they sign and accept these secrets")
		if err := n.Sandbox.Start(context.WithoutCancel(ctx)); err != nil {
			return err
		}
		n.onStop(n.Sandbox.Stop)
	}

	host, _ := os.Hostname()
	n.Journal = postgres.NewJournal(n.DB, host+":"+strconv.Itoa(os.Getpid()))

	var kinds []cluster.Kind
	if cfg.Roles["actors"] {
		kinds = append(kinds, n.productKinds()...)
		for _, k := range n.ExtraKinds {
			kinds = append(kinds, k(n.Journal))
		}
	}
	// A kind whose writes the journal cannot apply would fail its first
	// commit; refuse to start instead.
	for _, k := range kinds {
		if err := n.Journal.CheckChanges(k.Changes); err != nil {
			return fmt.Errorf("node: kind %s: %w", k.Name, err)
		}
	}
	n.Member, err = cluster.New(cluster.Config{
		Name:     cfg.ClusterName,
		Provider: cluster.Provider(cfg.ClusterProvider),
		Addr:     cfg.ClusterAddr,
		HTTPAddr: cfg.HTTPAddr,
		Kinds:    kinds,
	}, n.DB, n.log, n.Registry)
	if err != nil {
		return err
	}
	if err := n.Member.Start(ctx); err != nil {
		return err
	}
	n.onStop(n.Member.Stop)

	if cfg.Roles["actors"] {
		n.scheduler, err = postgres.NewScheduler(n.DB, n.fireReminder, postgres.SchedulerConfig{})
		if err != nil {
			return err
		}
		// The scheduler runs until Stop, not until the start-up context ends.
		if err := n.scheduler.Start(context.WithoutCancel(ctx)); err != nil {
			return err
		}
		n.onStop(n.scheduler.Stop)
	}

	janitor := postgres.NewJanitor(n.DB, 0, n.log)
	if err := janitor.Start(ctx); err != nil {
		return err
	}
	n.onStop(janitor.Stop)

	if err := n.startBackground(ctx); err != nil {
		return err
	}

	if cfg.Roles["edge"] {
		acfg := n.AuthConfig
		acfg.PublicURL, acfg.Registerer = cfg.PublicURL, n.Registry
		n.Auth, err = auth.NewService(acfg, postgres.NewAccounts(n.DB), redis.NewRateLimiter(n.Redis), redis.NewRevocations(n.Redis, n.log), n.log)
		if err != nil {
			return err
		}
		if err := n.Auth.Start(ctx); err != nil {
			return err
		}
		n.onStop(n.Auth.Stop)
		n.HTTP = vhttp.NewServer(vhttp.Config{Addr: cfg.HTTPAddr, OpsToken: cfg.OpsToken}, vhttp.Deps{
			Log:         n.log,
			Registry:    n.Registry,
			Auth:        n.Auth,
			Idempotency: n.DB,
			Cluster:     n.Member,
			Ledger:      n.DB,
			Readiness:   n.readiness(),
		}, n.areas()...)
		if err := n.HTTP.Start(ctx); err != nil {
			return err
		}
		n.onStop(n.HTTP.Stop)
	}
	return nil
}

// startBackground builds the outbound webhook store and starts the outbox
// relay (relay role) and the email and webhook workers (workers role).
func (n *Node) startBackground(ctx context.Context) error {
	cfg := n.cfg
	var err error
	n.Webhooks, err = postgres.NewWebhooks(n.DB, postgres.WebhooksConfig{SecretKey: cfg.WebhookSecretKey})
	if err != nil {
		return err
	}
	if cfg.Roles["relay"] {
		n.Relay, err = worker.NewRelay(worker.RelayConfig{Registerer: n.Registry, Logger: n.log}, postgres.NewOutbox(n.DB), n.Queues)
		if err != nil {
			return err
		}
		if err := n.Relay.Start(ctx); err != nil {
			return err
		}
		n.onStop(n.Relay.Stop)
	}
	if err := n.startLedger(ctx); err != nil {
		return err
	}
	if !cfg.Roles["workers"] {
		return nil
	}
	rcfg := resend.Config{APIKey: cfg.ResendAPIKey, BaseURL: cfg.ResendBaseURL, RetryScale: cfg.RetryScale}
	if n.Sandbox != nil {
		// The sandbox's key is the configured one or its default; an explicit
		// VAYVA_RESEND_BASE_URL still wins over the mounted fake.
		rcfg.APIKey = n.Sandbox.Config().ResendAPIKey
		if rcfg.BaseURL == "" {
			rcfg.BaseURL = n.Sandbox.BaseURLs().Resend
		}
	}
	sender, err := resend.New(rcfg)
	if err != nil {
		return fmt.Errorf("VAYVA_RESEND_API_KEY: %w", err)
	}
	// Consumer names must be stable across restarts and unique among live
	// processes: host and listen address.
	host, _ := os.Hostname()
	base := consumerName(host + "-" + cfg.HTTPAddr)
	n.EmailWorker, err = worker.NewEmail(worker.EmailConfig{
		ConsumerName: base + "-email", RetryScale: cfg.RetryScale, Registerer: n.Registry, Logger: n.log,
	}, n.Queues, postgres.NewEmailLogs(n.DB), sender)
	if err != nil {
		return err
	}
	if err := n.EmailWorker.Start(ctx); err != nil {
		return err
	}
	n.onStop(n.EmailWorker.Stop)
	n.WebhookWorker, err = worker.NewWebhooks(worker.WebhooksConfig{
		ConsumerName: base + "-webhooks", RetryScale: cfg.RetryScale, Registerer: n.Registry, Logger: n.log,
		// Sandbox mode is development: merchant endpoints may run locally.
		AllowPrivateNetworks: cfg.Providers == "sandbox",
	}, n.Queues, n.Webhooks)
	if err != nil {
		return err
	}
	if err := n.WebhookWorker.Start(ctx); err != nil {
		return err
	}
	n.onStop(n.WebhookWorker.Stop)
	return nil
}

// killBackground stops the relay and the workers without waiting, as a
// crash would: the relay's lock goes with its connection, unacknowledged
// jobs stay pending and claimed deliveries wait for their lease.
func (n *Node) killBackground() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n.WebhookWorker != nil {
		_ = n.WebhookWorker.Stop(ctx)
	}
	if n.EmailWorker != nil {
		_ = n.EmailWorker.Stop(ctx)
	}
	if n.Relay != nil {
		_ = n.Relay.Stop(ctx)
	}
	n.killLedger(ctx)
}

// consumerName keeps the characters queue consumer names allow.
func consumerName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c == '-' || c == '_' || c == '.' || c == ':' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			b[i] = '_'
		}
	}
	return string(b)
}

// productKinds are the actor kinds of the product.
func (n *Node) productKinds() []cluster.Kind {
	return []cluster.Kind{
		{
			Name:        actors.StoreKind,
			Producer:    actors.NewStoreProducer(n.Journal, postgres.NewCatalog(n.DB), n.log),
			IdleTimeout: actors.StoreIdleTimeout,
			Changes:     actors.StoreChanges,
		},
		n.ledgerKind(),
	}
}

// areas are the HTTP feature areas of the product.
func (n *Node) areas() []vhttp.Area {
	var areas []vhttp.Area
	if n.Auth != nil {
		areas = append(areas, vhttp.NewAuthArea(n.Auth))
	}
	areas = append(areas, vhttp.NewCatalogArea(n.Member, postgres.NewStoreDirectory(n.DB, postgres.StoreDirectoryConfig{})))
	// Webhooks verify with the configured secrets; in sandbox mode with the
	// sandbox's, which are the configured ones or its defaults.
	hooks := vhttp.WebhookConfig{PaystackSecretKey: n.cfg.PaystackSecretKey, WhatsAppAppSecret: n.cfg.WhatsAppAppSecret, WhatsAppVerifyToken: n.cfg.WhatsAppVerifyToken}
	if n.Sandbox != nil {
		sc := n.Sandbox.Config()
		hooks.PaystackSecretKey, hooks.WhatsAppAppSecret, hooks.WhatsAppVerifyToken = sc.PaystackSecret, sc.WhatsAppAppSecret, sc.WhatsAppVerifyToken
		areas = append(areas, vhttp.NewSandboxArea(n.Sandbox))
	}
	areas = append(areas, vhttp.NewWebhookArea(hooks, n.Queues), vhttp.NewQueueOpsArea(n.Queues))
	areas = append(areas, vhttp.NewWebhookEndpointsArea(n.Webhooks))
	areas = append(areas, vhttp.NewLedgerArea(n.Member, postgres.NewLedger(n.DB)))
	return areas
}

func (n *Node) readiness() []vhttp.ReadinessCheck {
	return []vhttp.ReadinessCheck{
		{Name: "postgres", Check: n.DB.Ping},
		{Name: "redis", Check: n.Redis.Ping},
		{Name: "migrations", Check: func(ctx context.Context) error {
			ok, err := n.DB.MigrationsCurrent(ctx)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("migrations pending: %w", vhttp.ErrNotReady)
			}
			return nil
		}},
		{Name: "cluster", Check: func(context.Context) error {
			if !n.Member.Ready() {
				return fmt.Errorf("membership not stable: %w", vhttp.ErrNotReady)
			}
			return nil
		}},
	}
}

// fireReminder delivers a due reminder to the identity that owns it.
func (n *Node) fireReminder(ctx context.Context, r vayva.Reminder) error {
	_, err := cluster.Request[*messages.Ack](ctx, n.Member, r.Kind, r.Identity, &messages.ReminderFired{
		Name: r.Name, DueAtUnixMs: r.DueAt.UnixMilli(), Payload: r.Payload,
	})
	return err
}

func (n *Node) onStop(f func(ctx context.Context) error) {
	n.stoppers = append(n.stoppers, f)
}

// Stop stops serving HTTP (in-flight requests finish), stops background
// work, leaves the cluster and closes the pools. Safe to call twice.
func (n *Node) Stop(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stopLocked(ctx)
}

func (n *Node) stopLocked(ctx context.Context) error {
	if n.stopped {
		return nil
	}
	n.stopped = true
	var errs []error
	for i := len(n.stoppers) - 1; i >= 0; i-- {
		if err := n.stoppers[i](ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Kill stops the node as a crash would: the member does not leave, nothing
// is flushed. For tests and drills.
func (n *Node) Kill() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.HTTP != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = n.HTTP.Stop(ctx)
		cancel()
	}
	if n.scheduler != nil {
		_ = n.scheduler.Stop(context.Background())
	}
	n.killBackground()
	if n.Sandbox != nil {
		_ = n.Sandbox.Stop(context.Background())
	}
	if n.Member != nil {
		n.Member.Kill()
	}
	n.stopped = true
	if n.Redis != nil {
		n.Redis.Close()
	}
	if n.DB != nil {
		n.DB.Close()
	}
}
