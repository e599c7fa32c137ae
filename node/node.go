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
	"github.com/vayvahq/vayva/cluster"
	vhttp "github.com/vayvahq/vayva/http"
	"github.com/vayvahq/vayva/messages"
	"github.com/vayvahq/vayva/persistence/postgres"
	"github.com/vayvahq/vayva/persistence/redis"
)

// Node is one running Vayva process. Start brings its parts up in
// dependency order; Stop takes them down in reverse.
type Node struct {
	cfg Config
	log zerolog.Logger

	// ExtraKinds are hosted in addition to the product's kinds (tests and
	// drills add the probe kind). Set before Start.
	ExtraKinds []func(j *postgres.Journal) cluster.Kind

	Registry  *prometheus.Registry
	DB        *postgres.DB
	Redis     *redis.Client
	Journal   *postgres.Journal
	Member    *cluster.Member
	HTTP      *vhttp.Server
	scheduler *postgres.Scheduler

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

	host, _ := os.Hostname()
	n.Journal = postgres.NewJournal(n.DB, host+":"+strconv.Itoa(os.Getpid()))

	var kinds []cluster.Kind
	if cfg.Roles["actors"] {
		kinds = append(kinds, n.productKinds()...)
		for _, k := range n.ExtraKinds {
			kinds = append(kinds, k(n.Journal))
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
		if err := n.scheduler.Start(ctx); err != nil {
			return err
		}
		n.onStop(n.scheduler.Stop)
	}

	if cfg.Roles["edge"] {
		n.HTTP = vhttp.NewServer(vhttp.Config{Addr: cfg.HTTPAddr, OpsToken: cfg.OpsToken}, vhttp.Deps{
			Log:         n.log,
			Registry:    n.Registry,
			Idempotency: n.DB,
			Cluster:     n.Member,
			Readiness:   n.readiness(),
		}, n.areas()...)
		if err := n.HTTP.Start(ctx); err != nil {
			return err
		}
		n.onStop(n.HTTP.Stop)
	}
	return nil
}

// productKinds are the actor kinds of the product.
func (n *Node) productKinds() []cluster.Kind {
	return nil
}

// areas are the HTTP feature areas of the product.
func (n *Node) areas() []vhttp.Area {
	return nil
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
