package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/cluster"
	"github.com/vayvahq/vayva/persistence/postgres/pgtest"
)

func fastPostgres(name string) cluster.Config {
	return cluster.Config{
		Name: name, Provider: cluster.ProviderPostgres,
		HeartbeatInterval: 100 * time.Millisecond, MemberTTL: 600 * time.Millisecond,
	}
}

// Members of the postgres provider see each other, a member whose heartbeat
// lapsed is evicted by the others, and an evicted member learns it.
func TestPostgresMembershipEvictionAndDrain(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	name := vayva.NewID("c")
	a := startMember(t, db, fastPostgres(name))
	b := startMember(t, db, fastPostgres(name))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	require.Eventually(t, func() bool {
		ms, err := a.Members(ctx)
		return err == nil && len(ms) == 2 && a.Ready() && b.Ready()
	}, 10*time.Second, 20*time.Millisecond)

	// A member row whose heartbeat stopped (a crashed process) is evicted.
	require.NoError(t, db.JoinMember(ctx, vayva.ClusterMember{Cluster: name, ID: "ghost", Host: "127.0.0.1", Port: 1}))
	_, err := db.Pool().Exec(ctx, `UPDATE runtime.members SET heartbeat_at = now() - interval '1 minute' WHERE id = 'ghost'`)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		var status string
		_ = db.Pool().QueryRow(ctx, `SELECT status FROM runtime.members WHERE id = 'ghost'`).Scan(&status)
		return status == "evicted"
	}, 5*time.Second, 20*time.Millisecond)

	// Ops drain of b through a reaches b at its next heartbeat.
	ok, err := a.Drain(ctx, b.ID())
	require.NoError(t, err)
	require.True(t, ok)
	select {
	case <-b.DrainRequested():
	case <-time.After(5 * time.Second):
		t.Fatal("b did not see the drain request")
	}
	ok, err = a.Drain(ctx, "no-such-member")
	require.NoError(t, err)
	require.False(t, ok)

	// The others evicted b (as after a long pause): b learns it and is no
	// longer ready.
	_, err = db.Pool().Exec(ctx, `UPDATE runtime.members SET status = 'evicted' WHERE id = $1`, b.ID())
	require.NoError(t, err)
	select {
	case <-b.Evicted():
	case <-time.After(5 * time.Second):
		t.Fatal("b did not learn of its eviction")
	}
	require.False(t, b.Ready())
	require.True(t, a.Ready())
}

// A gracefully leaving member marks its row left, and the other member's
// view shrinks to itself.
func TestGracefulLeave(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	name := vayva.NewID("c")
	a := startMember(t, db, fastPostgres(name))
	b := startMember(t, db, fastPostgres(name))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := add(ctx, a, "leaver", "1", 3)
	require.NoError(t, err)
	require.NoError(t, b.Stop(ctx))
	var status string
	require.NoError(t, db.Pool().QueryRow(ctx, `SELECT status FROM runtime.members WHERE id = $1`, b.ID()).Scan(&status))
	require.Equal(t, "left", status)
	st2, err := add(ctx, a, "leaver", "2", 3)
	require.NoError(t, err)
	require.Equal(t, st.Value+3, st2.Value, "state survives the leave")
	require.Equal(t, a.ID(), st2.Member)
}
