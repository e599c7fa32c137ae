package cluster_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/cluster"
	"github.com/vayvahq/vayva/internal/startstop/startstoptest"
	"github.com/vayvahq/vayva/persistence/postgres/pgtest"
)

// A member keeps the start/stop semantics every long-lived component
// shares.
func TestMemberLifecycle(t *testing.T) {
	t.Parallel()
	startstoptest.Check(t, func(t *testing.T) startstoptest.Service {
		m, err := cluster.New(cluster.Config{Name: vayva.NewID("c")}, nil, zerolog.Nop(), nil)
		require.NoError(t, err)
		return m
	})
}

// requireClosed fails unless nothing listens at addr any more.
func requireClosed(t *testing.T, addr string) {
	t.Helper()
	require.NotEmpty(t, addr)
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return true
		}
		_ = c.Close()
		return false
	}, 10*time.Second, 20*time.Millisecond, "the member's transport still listens on %s", addr)
}

// A provider that fails makes protoactor-go's StartMember panic while the
// process-wide start lock is held. The start fails, the lock is released
// (the next member of the process starts) and the transport that had
// started is shut down.
func TestFailedProviderReleasesStartLockAndTransport(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	closed, _ := pgtest.New(t)
	closed.Close() // JoinMember fails: the provider's StartMember errors
	m, err := cluster.New(cluster.Config{Name: vayva.NewID("c"), Provider: cluster.ProviderPostgres}, closed, zerolog.Nop(), nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = m.Start(ctx)
	require.ErrorContains(t, err, "cluster: start member")
	require.True(t, cluster.ActorSystemStopped(m), "the actor system of a failed start is shut down")
	requireClosed(t, m.Address())
	require.NoError(t, m.Stop(ctx), "Stop after a failed start is a no-op")
	m.Kill()

	next := make(chan *cluster.Member, 1)
	go func() { next <- startMember(t, db, cluster.Config{Name: vayva.NewID("c")}) }()
	select {
	case n := <-next:
		require.True(t, n.Ready())
	case <-time.After(30 * time.Second):
		t.Fatal("the next member could not start: the start lock is still held")
	}
}

// The consul provider can fail before anything runs (here: an address
// with an unknown scheme). Start reports it and Stop and Kill, which used
// to shut down a cluster that was never made, are no-ops.
func TestFailedConsulProviderStopIsNoOp(t *testing.T) {
	t.Setenv("CONSUL_HTTP_ADDR", "bogus://127.0.0.1:1")
	m, err := cluster.New(cluster.Config{Name: vayva.NewID("c"), Provider: cluster.ProviderConsul}, nil, zerolog.Nop(), nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.ErrorContains(t, m.Start(ctx), "cluster: consul")
	require.NotPanics(t, func() { require.NoError(t, m.Stop(ctx)) })
	require.NotPanics(t, m.Kill)
	require.False(t, m.Ready())
	require.Empty(t, m.ID(), "no actor system was made")
}

// neverJoins is a membership provider under which this member never
// appears in the member list.
type neverJoins struct{ shutdowns chan bool }

func (neverJoins) StartMember(*pcluster.Cluster) error { return nil }
func (neverJoins) StartClient(*pcluster.Cluster) error { return errors.New("no clients") }
func (p neverJoins) Shutdown(graceful bool) error {
	p.shutdowns <- graceful
	return nil
}

// A start whose join times out leaves nothing running: the provider is
// told to shut down, and the actor system and its transport stop.
func TestJoinTimeoutShutsDownTheMember(t *testing.T) {
	t.Parallel()
	m, err := cluster.New(cluster.Config{Name: vayva.NewID("c")}, nil, zerolog.Nop(), nil)
	require.NoError(t, err)
	p := neverJoins{shutdowns: make(chan bool, 4)}
	cluster.SetProvider(m, p)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err = m.Start(ctx)
	require.ErrorContains(t, err, "cluster: waiting to join")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	select {
	case graceful := <-p.shutdowns:
		require.True(t, graceful, "the provider leaves gracefully")
	case <-time.After(10 * time.Second):
		t.Fatal("the provider of a failed start was not shut down")
	}
	require.True(t, cluster.ActorSystemStopped(m))
	requireClosed(t, m.Address())
	require.False(t, m.Ready())
	require.NoError(t, m.Stop(context.Background()))
}

// Kill is the member's stop, crash-style: a later Stop is a no-op and the
// transport is closed.
func TestKillThenStop(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	m := startMember(t, db, cluster.Config{Name: vayva.NewID("c"), Provider: cluster.ProviderPostgres})
	addr := m.Address()
	m.Kill()
	m.Kill()
	require.False(t, m.Ready())
	requireClosed(t, addr)
	require.NoError(t, m.Stop(context.Background()))
}
