// Package node assembles a Vayva node from its configuration: database and
// migrations, Redis, the cluster member and its actor kinds, the reminder
// scheduler and the HTTP edge. cmd/vayva runs one; tests run several in one
// process.
package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
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
	"github.com/vayvahq/vayva/internal/startstop"
	"github.com/vayvahq/vayva/messages"
	"github.com/vayvahq/vayva/persistence/postgres"
	"github.com/vayvahq/vayva/persistence/redis"
	"github.com/vayvahq/vayva/persistence/redis/queue"
	"github.com/vayvahq/vayva/worker"
)

// Node is one running Vayva process. Start brings its parts up in
// dependency order, one named step at a time, and each step registers the
// stop of what it started in one list; Stop walks that list backwards, and
// Kill walks the same list in the same order with crash semantics. It is a
// long-lived component with the semantics of package startstop.
type Node struct {
	startstop.BaseStartStop

	cfg Config
	log zerolog.Logger

	// ExtraKinds are hosted in addition to the product's kinds (tests and
	// drills add the probe kind). Set before Start.
	ExtraKinds []func(j *postgres.Journal) cluster.Kind
	// AuthConfig adjusts the accounts service (password hashing cost, rate
	// limits, token cache); zero fields take their defaults (the sign-up
	// limit VAYVA_SIGNUP_RATE_LIMIT's), and PublicURL and Registerer come
	// from the node. Set before Start.
	AuthConfig auth.Config
	// Auth is the accounts and credentials service, on edge nodes.
	Auth *auth.Service

	// Registry holds the node's metrics.
	Registry *prometheus.Registry
	// DB is the PostgreSQL pool.
	DB *postgres.DB
	// Redis is the Redis client under the node's key prefix.
	Redis *redis.Client
	// Journal is the fencing journal of the node's actors.
	Journal *postgres.Journal
	// Member is the node's cluster member.
	Member *cluster.Member
	// HTTP is the edge, on edge nodes.
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
	// PaymentsIngestor routes Paystack's webhooks to orders, on nodes with
	// the ingestors role.
	PaymentsIngestor *worker.Payments
	// EmailWorker and WebhookWorker run on nodes with the workers role.
	EmailWorker   *worker.Email
	WebhookWorker *worker.Webhooks
	// DeliveryWorker books and cancels deliveries (workers role, when a
	// delivery provider is configured).
	DeliveryWorker *worker.Delivery
	// Ledger holds the ledger's client and background components.
	Ledger LedgerParts
	// WhatsAppInbound (ingestors role) and WhatsAppOutbound (workers role)
	// run the WhatsApp conversation pipeline.
	WhatsAppInbound  *worker.WhatsAppInbound
	WhatsAppOutbound *worker.WhatsAppOutbound

	// listener is the edge's socket, bound first (edge nodes); listenURL is
	// where this machine reaches it, which the node's clients of the
	// mounted sandbox call.
	listener  net.Listener
	listenURL string

	// storefrontCache holds the storefront snapshots (storefronts).
	storefrontCache *vhttp.Storefronts

	// parts are what Start brought up, in order. Appended only by Start;
	// read by Stop and Kill, which run once Start has returned.
	parts []part
	// observe, when set, hears each part's name as Stop or Kill takes it
	// down (tests).
	observe func(how, name string)
}

// part is one started piece of a node and how to take it down.
type part struct {
	name string
	// stop takes the part down gracefully within ctx.
	stop func(ctx context.Context) error
	// kill takes it down as a crash would: no graceful leave, no flush. Nil
	// means stop with an already ended context, which every component
	// treats as "abort what is in flight and return".
	kill func()
}

// New returns a node for cfg; nothing runs until Start.
func New(cfg Config, log zerolog.Logger) *Node {
	return &Node{cfg: cfg, log: log}
}

// Config returns the node's configuration.
func (n *Node) Config() Config { return n.cfg }

// failedStartTimeout bounds the stop of what a failed start brought up.
const failedStartTimeout = 30 * time.Second

// Start connects, migrates, joins the cluster and starts serving; ctx
// bounds the start only. On error everything started so far is stopped
// again, in reverse order.
func (n *Node) Start(ctx context.Context) error {
	run, started, stopped, err := n.StartInit(ctx)
	if err != nil {
		return err
	}
	sctx, cancel := startstop.StartupContext(ctx, run)
	defer cancel()
	for _, step := range []struct {
		name string
		run  func(ctx context.Context) error
	}{
		{"bind http", n.bindHTTP},
		{"open storage", n.openStorage},
		{"start sandbox", n.startSandbox},
		{"join cluster", n.joinCluster},
		{"start scheduler", n.startScheduler},
		{"start background", n.startBackground},
		{"start whatsapp", n.startWhatsApp},
		{"take over dead members' queues", n.startTakeOver},
		{"start edge", n.startEdge},
	} {
		if err := step.run(sctx); err != nil {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), failedStartTimeout)
			if serr := n.stopParts(sctx); serr != nil {
				n.log.Warn().Err(serr).Msg("stopping a node that failed to start")
			}
			cancel()
			stopped()
			return fmt.Errorf("node: %s: %w", step.name, err)
		}
	}
	started()
	return nil
}

// onStop registers the stop of a part Start brought up; kill may be nil.
func (n *Node) onStop(name string, stop func(ctx context.Context) error, kill func()) {
	n.parts = append(n.parts, part{name: name, stop: stop, kill: kill})
}

// bindHTTP binds the edge's port first: the clients built later call this
// node's own listener (sandbox providers), so they must know its real
// address, also when VAYVA_HTTP_ADDR asks for any free port.
func (n *Node) bindHTTP(ctx context.Context) error {
	cfg := n.cfg
	if !cfg.Roles["edge"] {
		if cfg.PublicURL == "" {
			return errors.New("VAYVA_PUBLIC_URL: required when VAYVA_HTTP_ADDR has port 0 and the node runs no edge")
		}
		return nil
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("VAYVA_HTTP_ADDR: listen on %s: %w", cfg.HTTPAddr, err)
	}
	n.listener = ln
	n.onStop("http listener", func(context.Context) error {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
		return nil
	}, nil)
	host, _, _ := net.SplitHostPort(cfg.HTTPAddr)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	cfg.HTTPAddr = net.JoinHostPort(host, port)
	n.listenURL = ListenURL(cfg.HTTPAddr)
	if cfg.PublicURL == "" {
		cfg.PublicURL = n.listenURL
	}
	n.cfg = cfg
	return nil
}

// openStorage applies migrations (when configured), opens the PostgreSQL
// pool, the Redis client and the queues, and makes the stores built on
// them.
func (n *Node) openStorage(ctx context.Context) error {
	cfg := n.cfg
	var err error
	n.Registry = prometheus.NewRegistry()
	n.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	if cfg.MigrateOnStart {
		if err := postgres.Migrate(ctx, cfg.DatabaseURL); err != nil {
			return fmt.Errorf("VAYVA_DATABASE_URL: migrate: %w", err)
		}
	}
	n.DB, err = postgres.Open(ctx, cfg.DatabaseURL,
		postgres.WithLockTimeout(cfg.DatabaseLockTimeout),
		postgres.WithStatementTimeout(cfg.DatabaseStatementTimeout),
		postgres.WithIdleInTransactionTimeout(cfg.DatabaseIdleInTransactionTimeout))
	if err != nil {
		return fmt.Errorf("VAYVA_DATABASE_URL: %w", err)
	}
	n.onStop("postgres", func(context.Context) error { n.DB.Close(); return nil }, nil)

	n.Redis, err = redis.Open(ctx, cfg.RedisURL, cfg.RedisPrefix)
	if err != nil {
		return fmt.Errorf("VAYVA_REDIS_URL: %w", err)
	}
	n.onStop("redis", func(context.Context) error { return n.Redis.Close() }, nil)

	n.Queues, err = queue.New(n.Redis, queue.Config{RetryScale: cfg.RetryScale, Registerer: n.Registry, Logger: n.log})
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	n.Journal = postgres.NewJournal(n.DB, host+":"+strconv.Itoa(os.Getpid()))
	n.Registry.MustRegister(n.Journal.Collectors()...)
	n.Webhooks, err = postgres.NewWebhooks(n.DB, postgres.WebhooksConfig{SecretKey: cfg.WebhookSecretKey})
	return err
}

// startSandbox mounts the fake providers when the node runs in sandbox
// mode.
func (n *Node) startSandbox(ctx context.Context) error {
	cfg := n.cfg
	if cfg.Providers != "sandbox" {
		return nil
	}
	n.Sandbox = sandbox.New(sandbox.Config{
		PublicURL: cfg.PublicURL,
		// The node's clients and the sandbox's webhooks go to the
		// listener; a node without an edge serves no sandbox, and its
		// clients reach an edge's through the public URL.
		NodeURL:             n.listenURL,
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
	n.log.Info().Str("public_url", sc.PublicURL).Str("node_url", sc.NodeURL).
		Str("paystack_secret_key", shown(cfg.PaystackSecretKey, sc.PaystackSecret)).
		Str("whatsapp_app_secret", shown(cfg.WhatsAppAppSecret, sc.WhatsAppAppSecret)).
		Str("whatsapp_access_token", shown(cfg.WhatsAppAccessToken, sc.WhatsAppAccessToken)).
		Str("whatsapp_verify_token", shown(cfg.WhatsAppVerifyToken, sc.WhatsAppVerifyToken)).
		Str("resend_api_key", shown(cfg.ResendAPIKey, sc.ResendAPIKey)).
		Str("kwik_domain", sc.KwikDomainName).Str("kwik_email", sc.KwikEmail).
		Str("kwik_password", shown(cfg.KwikPassword, sc.KwikPassword)).
		Msg("sandbox providers mounted; they sign and accept these secrets")
	if err := n.Sandbox.Start(ctx); err != nil {
		return err
	}
	// Stopping the sandbox cancels its deliveries at once; a crash does no
	// less, so Kill waits for their goroutines too.
	n.onStop("sandbox", n.Sandbox.Stop, func() { _ = n.Sandbox.Stop(context.Background()) })
	return nil
}

// joinCluster joins the cluster, hosting the product's kinds on nodes with
// the actors role.
func (n *Node) joinCluster(ctx context.Context) error {
	cfg := n.cfg
	var kinds []cluster.Kind
	if cfg.Roles["actors"] {
		product, err := n.productKinds()
		if err != nil {
			return err
		}
		kinds = append(kinds, product...)
		for _, k := range n.ExtraKinds {
			kinds = append(kinds, k(n.Journal))
		}
	}
	// A kind whose writes the journal cannot apply would fail its first
	// commit; refuse to start instead.
	for _, k := range kinds {
		if err := n.Journal.CheckChanges(k.Changes); err != nil {
			return fmt.Errorf("kind %s: %w", k.Name, err)
		}
	}
	var err error
	n.Member, err = cluster.New(cluster.Config{
		Name:     cfg.ClusterName,
		Provider: cluster.Provider(cfg.ClusterProvider),
		Addr:     cfg.ClusterAddr,
		HTTPAddr: cfg.HTTPAddr,
		Kinds:    kinds,

		HeartbeatInterval: cfg.ClusterHeartbeatInterval,
		MemberTTL:         cfg.ClusterMemberTTL,
	}, n.DB, n.log, n.Registry)
	if err != nil {
		return err
	}
	// No activation or commit once the member's lease lapsed or it was
	// evicted: its identities may already run elsewhere.
	n.Journal.SetLease(n.Member.CheckLease)
	if err := n.Member.Start(ctx); err != nil {
		return err
	}
	n.onStop("cluster member", n.Member.Stop, n.Member.Kill)
	return nil
}

// startScheduler starts the reminder scheduler on nodes with the actors
// role.
func (n *Node) startScheduler(ctx context.Context) error {
	if !n.cfg.Roles["actors"] {
		return nil
	}
	var err error
	n.scheduler, err = postgres.NewScheduler(n.DB, n.fireReminder, postgres.SchedulerConfig{Logger: n.log})
	if err != nil {
		return err
	}
	if err := n.scheduler.Start(ctx); err != nil {
		return err
	}
	n.onStop("reminder scheduler", n.scheduler.Stop, nil)
	return nil
}

// startBackground starts the janitor (every node), the outbox relay (relay
// role) and the email and webhook workers (workers role).
func (n *Node) startBackground(ctx context.Context) error {
	cfg := n.cfg
	janitor := postgres.NewJanitor(n.DB, 0, n.log)
	if err := janitor.Start(ctx); err != nil {
		return err
	}
	n.onStop("janitor", janitor.Stop, nil)

	if err := n.startLedger(ctx); err != nil {
		return err
	}
	var err error
	if cfg.Roles["ingestors"] {
		n.PaymentsIngestor, err = worker.NewPayments(worker.PaymentsConfig{
			ConsumerName: n.consumerBase() + "-payments", Registerer: n.Registry, Logger: n.log,
			Transfers: n.Ledger.TransferEvents.Handle,
		}, n.Queues, orderCommands{n.member})
		if err != nil {
			return err
		}
		if err := n.PaymentsIngestor.Start(ctx); err != nil {
			return err
		}
		n.onStop("payments ingestor", n.PaymentsIngestor.Stop, nil)
	}
	if cfg.Roles["relay"] {
		n.Relay, err = worker.NewRelay(worker.RelayConfig{Registerer: n.Registry, Logger: n.log}, worker.LeadWith(postgres.NewOutbox(n.DB).Lead), n.Queues)
		if err != nil {
			return err
		}
		if err := n.Relay.Start(ctx); err != nil {
			return err
		}
		n.onStop("outbox relay", n.Relay.Stop, nil)
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
	base := n.consumerBase()
	n.EmailWorker, err = worker.NewEmail(worker.EmailConfig{
		ConsumerName: base + "-email", RetryScale: cfg.RetryScale, Registerer: n.Registry, Logger: n.log,
	}, n.Queues, postgres.NewEmailLogs(n.DB), sender)
	if err != nil {
		return err
	}
	if err := n.EmailWorker.Start(ctx); err != nil {
		return err
	}
	n.onStop("email worker", n.EmailWorker.Stop, nil)
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
	n.onStop("webhook worker", n.WebhookWorker.Stop, nil)
	return n.startDeliveryWorker(ctx)
}

// startEdge starts the accounts service and the HTTP edge on nodes with the
// edge role.
func (n *Node) startEdge(ctx context.Context) error {
	cfg := n.cfg
	if !cfg.Roles["edge"] {
		return nil
	}
	acfg := n.AuthConfig
	acfg.PublicURL, acfg.Registerer = cfg.PublicURL, n.Registry
	if acfg.SignupPerAddress == (auth.Rate{}) {
		acfg.SignupPerAddress = cfg.SignupLimit
	}
	var err error
	n.Auth, err = auth.NewService(acfg, postgres.NewAccounts(n.DB), redis.NewRateLimiter(n.Redis), redis.NewRevocations(n.Redis, n.log), n.log)
	if err != nil {
		return err
	}
	if err := n.Auth.Start(ctx); err != nil {
		return err
	}
	n.onStop("accounts service", n.Auth.Stop, nil)
	n.HTTP = vhttp.NewServer(vhttp.Config{Addr: cfg.HTTPAddr, OpsToken: cfg.OpsToken, Listener: n.listener, MemberID: n.Member.ID()}, vhttp.Deps{
		Log:         n.log,
		Registry:    n.Registry,
		Auth:        n.Auth,
		Idempotency: n.DB,
		Cluster:     n.Member,
		Lease:       n.Member,
		Ledger:      n.DB,
		Outbox:      n.DB,
		Readiness:   n.readiness(),
	}, n.areas()...)
	if err := n.HTTP.Start(ctx); err != nil {
		return err
	}
	n.onStop("http edge", n.HTTP.Stop, nil)
	return nil
}

// consumerBase is the prefix of this node's queue consumer names: its
// cluster member id, new at every process start. A restarted node so never
// waits for the name lease of its dead incarnation, and the member that
// evicts a dead one takes over its queue entries by this prefix
// (startTakeOver).
func (n *Node) consumerBase() string {
	return consumerPrefix(n.Member.ID())
}

// consumerPrefix is the prefix of the queue consumer names of member id.
func consumerPrefix(id string) string { return consumerName(id) }

// startTakeOver hands the queue entries and partition leases of dead
// members to this node's consumers at once, instead of after the claim
// idle time and lease expiry: those of members this member evicts, as it
// evicts them, and, at start, those of members that were already evicted
// or left (a restarted single node evicts its own dead incarnation while
// it joins, before its consumers run).
func (n *Node) startTakeOver(ctx context.Context) error {
	tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var (
		mu      sync.Mutex // orders goroutine starts against the stop
		stopped bool
		wg      sync.WaitGroup
	)
	spawn := func(f func()) {
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			wg.Go(f)
		}
	}
	takeOver := func(ids []string) {
		for _, id := range ids {
			if id == n.Member.ID() {
				continue
			}
			octx, ocancel := context.WithTimeout(tctx, 10*time.Second)
			if _, err := n.Queues.TakeOver(octx, consumerPrefix(id)+"-"); err != nil && tctx.Err() == nil {
				n.log.Warn().Err(err).Str("member", id).Msg("taking over a dead member's queue entries")
			}
			ocancel()
		}
	}
	// Not on the membership loop: it must keep its pace.
	n.Member.OnMembersEvicted(func(ids []string) { spawn(func() { takeOver(ids) }) })
	n.onStop("queue takeover", func(context.Context) error {
		mu.Lock()
		stopped = true
		mu.Unlock()
		cancel()
		wg.Wait()
		return nil
	}, nil)
	members, err := n.Member.Members(ctx)
	if err != nil {
		return err
	}
	var gone []string
	for _, m := range members {
		if m.Status == string(vayva.MemberEvicted) || m.Status == string(vayva.MemberLeft) {
			gone = append(gone, m.ID)
		}
	}
	spawn(func() { takeOver(gone) })
	return nil
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
func (n *Node) productKinds() ([]cluster.Kind, error) {
	ps, err := n.paystackClient()
	if err != nil {
		return nil, err
	}
	deliveries, err := n.deliveryGateway()
	if err != nil {
		return nil, err
	}
	scale := func(d time.Duration) time.Duration { return time.Duration(float64(d) * n.cfg.RetryScale) }
	return []cluster.Kind{
		{
			Name:        actors.StoreKind,
			Producer:    actors.NewPublishingStoreProducer(n.Journal, postgres.NewCatalog(n.DB), n.storefronts(), n.log),
			IdleTimeout: actors.StoreIdleTimeout,
			Changes:     actors.StoreChanges,
		},
		{
			Name: actors.OrderKind,
			Producer: actors.NewOrderProducer(n.Journal, actors.OrderDeps{
				Repo:     postgres.NewOrders(n.DB),
				Payments: paymentGateway{ps},
				Stores:   storeClient{n.member},
				Ledger:   orderLedger{n.member},
				Delivery: deliveries,
			}, actors.OrderConfig{
				PublicURL:         n.cfg.PublicURL,
				ReconcileAfter:    scale(3 * time.Minute),
				RetryAfter:        scale(30 * time.Second),
				DeliveryPollEvery: scale(cmp.Or(n.cfg.DeliveryPollInterval, time.Minute)),
			}, n.log),
			IdleTimeout: actors.OrderIdleTimeout,
			Changes:     actors.OrderChanges,
		},
		n.ledgerKind(),
		{
			Name:        actors.ConversationKind,
			Producer:    actors.NewConversationProducer(n.Journal, postgres.NewConversations(n.DB), n.log),
			IdleTimeout: actors.ConversationIdleTimeout,
			Changes:     actors.ConversationChanges,
		},
	}, nil
}

// storefronts is the member's cache of storefront snapshots: the store
// actors publish to it, the edge serves from it.
func (n *Node) storefronts() *vhttp.Storefronts {
	if n.storefrontCache == nil {
		cfg := vhttp.StorefrontsConfig{Staleness: n.cfg.StorefrontStaleness, MaxAge: n.cfg.StorefrontMaxAge, Fences: n.DB, Registerer: n.Registry}
		// 0 in the settings means "none": a fence read on every request,
		// no-cache; negative values say so to the cache.
		if cfg.Staleness == 0 {
			cfg.Staleness = -1
		}
		if cfg.MaxAge == 0 {
			cfg.MaxAge = -1
		}
		n.storefrontCache = vhttp.NewStorefronts(cfg)
	}
	return n.storefrontCache
}

// member is the node's cluster member, for collaborators built before it.
func (n *Node) member() *cluster.Member { return n.Member }

// areas are the HTTP feature areas of the product.
func (n *Node) areas() []vhttp.Area {
	var areas []vhttp.Area
	if n.Auth != nil {
		areas = append(areas, vhttp.NewAuthArea(n.Auth))
	}
	stores := postgres.NewStoreDirectory(n.DB, postgres.StoreDirectoryConfig{})
	areas = append(areas, vhttp.NewCatalogArea(n.Member, stores, n.storefronts()),
		vhttp.NewOrdersArea(vhttp.OrdersConfig{CheckoutTTL: n.cfg.CheckoutTTL}, n.Member, stores, postgres.NewOrders(n.DB), n.log))
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
	areas = append(areas, vhttp.NewDeliveryArea(n.Member))
	areas = append(areas, vhttp.NewLedgerArea(n.Member, postgres.NewLedger(n.DB)))
	areas = append(areas, vhttp.NewConversationsArea(n.Member, postgres.NewConversations(n.DB)))
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
			if !n.Member.Ready() || !n.Member.LeaseValid() {
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

// Stop stops serving HTTP (in-flight requests finish), stops background
// work, leaves the cluster and closes the pools: the parts Start brought
// up, in reverse order. Errors name the part.
func (n *Node) Stop(ctx context.Context) error {
	return n.StopWith(ctx, n.stopParts)
}

// Kill stops the node as a crash would: the same parts as Stop, in the same
// order, but the member does not leave the cluster and nothing is flushed
// (workers and the scheduler abort what is in flight; unacknowledged jobs
// stay pending, leases run out). It counts as the node's Stop. For tests
// and drills.
func (n *Node) Kill() {
	_ = n.StopWith(context.Background(), func(context.Context) error {
		ended, cancel := context.WithCancel(context.Background())
		cancel()
		for i := len(n.parts) - 1; i >= 0; i-- {
			p := n.parts[i]
			if n.observe != nil {
				n.observe("kill", p.name)
			}
			if p.kill != nil {
				p.kill()
			} else {
				_ = p.stop(ended)
			}
		}
		return nil
	})
}

// stopParts stops the started parts in reverse order, each within ctx.
func (n *Node) stopParts(ctx context.Context) error {
	var errs []error
	for i := len(n.parts) - 1; i >= 0; i-- {
		p := n.parts[i]
		if n.observe != nil {
			n.observe("stop", p.name)
		}
		if err := p.stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("node: stop %s: %w", p.name, err))
		}
	}
	return errors.Join(errs...)
}
