package node_test

import (
	"context"
	nethttp "net/http"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva/auth"
	"github.com/vayvahq/vayva/internal/startstop"
	"github.com/vayvahq/vayva/internal/startstop/startstoptest"
	"github.com/vayvahq/vayva/node"
	"github.com/vayvahq/vayva/node/nodetest"
	"github.com/vayvahq/vayva/persistence/postgres"
	"github.com/vayvahq/vayva/persistence/postgres/pgtest"
)

// allParts is what a node with every role in sandbox mode brings up, in the
// order Stop and Kill take it down.
var allParts = []string{
	"http edge", "accounts service", "queue takeover", "whatsapp outbound", "whatsapp inbound", "delivery worker", "webhook worker", "email worker", "outbox relay",
	"payments ingestor", "payout worker", "orders-sync consumer", "janitor",
	"reminder scheduler", "cluster member", "sandbox", "redis", "postgres", "http listener",
}

// recorder collects the parts a node takes down.
type recorder struct {
	mu    sync.Mutex
	hows  []string
	names []string
}

func (r *recorder) observe(how, name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hows, r.names = append(r.hows, how), append(r.names, name)
}

func (r *recorder) got() (hows, names []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.hows), slices.Clone(r.names)
}

func memberStatus(t *testing.T, db *postgres.DB, cluster, id string) string {
	t.Helper()
	var status string
	require.NoError(t, db.Pool().QueryRow(context.Background(),
		`SELECT status FROM runtime.members WHERE cluster = $1 AND id = $2`, cluster, id).Scan(&status))
	return status
}

// Stop and Kill take down the same parts in the same order; Stop leaves the
// cluster gracefully (the member row says left), Kill as a crash would (the
// row stays alive until the others evict it).
func TestStopAndKillWalkTheSameParts(t *testing.T) {
	t.Parallel()
	db, url := pgtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	stopped := nodetest.Start(t, nodetest.Options{DatabaseURL: url, ClusterProvider: "postgres"})
	var stopRec recorder
	node.Observe(stopped.Node, stopRec.observe)
	require.NoError(t, stopped.Stop(ctx))

	killed := nodetest.Start(t, nodetest.Options{DatabaseURL: url, ClusterProvider: "postgres"})
	var killRec recorder
	node.Observe(killed.Node, killRec.observe)
	killed.Kill()
	killed.Kill()
	require.NoError(t, killed.Stop(ctx), "Kill counts as the node's stop")

	stopHows, stopNames := stopRec.got()
	killHows, killNames := killRec.got()
	require.Equal(t, allParts, stopNames)
	require.Equal(t, stopNames, killNames, "Kill walks the parts Stop walks, in the same order")
	require.Equal(t, slices.Repeat([]string{"stop"}, len(allParts)), stopHows)
	require.Equal(t, slices.Repeat([]string{"kill"}, len(allParts)), killHows, "Kill took each part down once")

	require.Equal(t, "left", memberStatus(t, db, stopped.Config().ClusterName, stopped.Member.ID()))
	require.Equal(t, "alive", memberStatus(t, db, killed.Config().ClusterName, killed.Member.ID()), "a killed member does not leave")
	for _, n := range []*nodetest.Node{stopped, killed} {
		_, err := nethttp.Get(n.BaseURL + "/healthz")
		require.Error(t, err, "the edge no longer accepts connections")
		require.False(t, n.Member.Ready())
	}
}

// A start that fails at a late step stops, in reverse order, every part
// the earlier steps brought up, and reports the step.
func TestFailedStartStopsWhatStarted(t *testing.T) {
	t.Parallel()
	db, url := pgtest.New(t)
	opts := nodetest.Options{DatabaseURL: url, ClusterProvider: "postgres"}
	cfg := nodetest.Config(t, &opts)
	n := node.New(cfg, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	// The accounts service refuses this configuration: the edge, the last
	// step, cannot start.
	n.AuthConfig.LoginPerEmail = auth.Rate{Max: 5, Window: time.Nanosecond}
	var rec recorder
	node.Observe(n, rec.observe)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	err := n.Start(ctx)
	require.ErrorContains(t, err, "node: start edge")
	require.ErrorContains(t, err, "LoginPerEmail")
	_, names := rec.got()
	require.Equal(t, allParts[2:], names, "everything but the edge was up, and was stopped")
	require.Equal(t, "left", memberStatus(t, db, cfg.ClusterName, n.Member.ID()), "the member left the cluster")
	require.NoError(t, n.Stop(ctx), "Stop after a failed start is a no-op")
	require.ErrorIs(t, n.Start(ctx), startstop.ErrStarted)
	_, names = rec.got()
	require.Len(t, names, len(allParts)-2, "nothing was stopped twice")
}

// A node keeps the start/stop semantics every long-lived component shares.
func TestNodeLifecycle(t *testing.T) {
	t.Parallel()
	_, url := pgtest.New(t)
	log := zerolog.New(os.Stderr).Level(zerolog.ErrorLevel)
	startstoptest.Check(t, func(t *testing.T) startstoptest.Service {
		opts := nodetest.Options{DatabaseURL: url}
		return node.New(nodetest.Config(t, &opts), log)
	})
}
