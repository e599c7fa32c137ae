// Package nodetest starts real Vayva nodes inside a test process: each on
// its own loopback HTTP port, against a real PostgreSQL database and a real
// Redis under a key prefix of its own, so tests stay isolated and can run in
// parallel and again.
package nodetest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/node"
	"github.com/vayvahq/vayva/persistence/postgres/pgtest"
	"github.com/vayvahq/vayva/persistence/redis/redistest"
)

// Options adjust the node a test starts.
type Options struct {
	// DatabaseURL shares a database between nodes of one test; empty makes
	// a fresh database for this node.
	DatabaseURL string
	// RedisPrefix shares Redis keys between nodes of one test; empty makes
	// a fresh prefix.
	RedisPrefix string
	// ClusterProvider defaults to local; nodes that should form one cluster
	// use "postgres" with the same ClusterName and DatabaseURL.
	ClusterProvider string
	// ClusterName defaults to a fresh name.
	ClusterName string
	// OpsToken defaults to "test-ops-token".
	OpsToken string
	// Env overrides further VAYVA_* settings.
	Env map[string]string
	// Configure runs on the node before Start (e.g. to add ExtraKinds).
	Configure func(n *node.Node)
}

// Node is a running test node.
type Node struct {
	*node.Node
	// BaseURL is http://127.0.0.1:<port>.
	BaseURL     string
	DatabaseURL string
	RedisPrefix string
	OpsToken    string
}

// Start starts a node and stops it when the test ends.
func Start(t testing.TB, opts Options) *Node {
	t.Helper()
	cfg, opts := config(t, opts)
	log := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	n := node.New(cfg, log)
	if opts.Configure != nil {
		opts.Configure(n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatalf("nodetest: start node: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := n.Stop(ctx); err != nil {
			t.Logf("nodetest: stop node: %v", err)
		}
	})
	return &Node{Node: n, BaseURL: "http://" + n.HTTP.Addr(), DatabaseURL: opts.DatabaseURL, RedisPrefix: opts.RedisPrefix, OpsToken: opts.OpsToken}
}

// Config returns the configuration Start would run a node with, for tests
// that start and stop nodes themselves. It fills in opts' defaults (a fresh
// database and Redis prefix unless given) and ignores opts.Configure.
func Config(t testing.TB, opts *Options) node.Config {
	t.Helper()
	cfg, filled := config(t, *opts)
	*opts = filled
	return cfg
}

func config(t testing.TB, opts Options) (node.Config, Options) {
	t.Helper()
	env, opts := environment(t, opts)
	cfg, err := node.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("nodetest: config: %v", err)
	}
	// With port 0 and no VAYVA_PUBLIC_URL the node takes a free port and
	// its public URL becomes that listener's.
	return cfg, opts
}

// environment is the VAYVA_* settings of a test node, with opts' defaults
// filled in: its own database and Redis prefix unless shared.
func environment(t testing.TB, opts Options) (map[string]string, Options) {
	t.Helper()
	if opts.DatabaseURL == "" {
		_, opts.DatabaseURL = pgtest.New(t)
	}
	if opts.RedisPrefix == "" {
		r := redistest.New(t)
		opts.RedisPrefix = r.Prefix()
	}
	if opts.ClusterProvider == "" {
		opts.ClusterProvider = "local"
	}
	if opts.ClusterName == "" {
		opts.ClusterName = vayva.NewID("cluster")
	}
	if opts.OpsToken == "" {
		opts.OpsToken = "test-ops-token"
	}
	env := map[string]string{
		"VAYVA_HTTP_ADDR":        "127.0.0.1:0",
		"VAYVA_DATABASE_URL":     opts.DatabaseURL,
		"VAYVA_REDIS_URL":        redistest.URL(),
		"VAYVA_REDIS_PREFIX":     opts.RedisPrefix,
		"VAYVA_OPS_TOKEN":        opts.OpsToken,
		"VAYVA_CLUSTER_PROVIDER": opts.ClusterProvider,
		"VAYVA_CLUSTER_NAME":     opts.ClusterName,
		"VAYVA_RETRY_SCALE":      "0.001",
		"VAYVA_MIGRATE_ON_START": "false",
		"VAYVA_LOG_LEVEL":        "warn",
	}
	for k, v := range opts.Env {
		env[k] = v
	}
	return env, opts
}
