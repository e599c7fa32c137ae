package drill_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva/drill"
	"github.com/vayvahq/vayva/node/nodetest"
	"github.com/vayvahq/vayva/persistence/postgres/pgtest"
	"github.com/vayvahq/vayva/persistence/redis/redistest"
)

// TestMain lets this test binary double as the drill's member processes.
func TestMain(m *testing.M) {
	nodetest.RunChildProcess()
	os.Exit(m.Run())
}

// The short drill: three member processes (this test binary started
// again as nodes) under load through a member joining, one draining, one
// killed and restarted, one stopped and resumed. Nothing acknowledged is
// lost or duplicated, the stock and ledger checks hold, and the report has
// a row for every fault. Failover times are reported, not asserted.
func TestDrillShort(t *testing.T) {
	dbURL := os.Getenv(pgtest.EnvURL)
	if dbURL == "" {
		dbURL = pgtest.DefaultURL
	}
	var progress strings.Builder
	res, err := drill.Run(t.Context(), drill.Config{
		Short: true, DatabaseURL: dbURL, RedisURL: redistest.URL(),
		Command: os.Args[0], Args: []string{"-test.run=^$"}, Env: []string{"VAYVA_TEST_NODE_PROCESS=1"},
		Progress: &progress,
	})
	require.NoError(t, err, progress.String())
	t.Logf("\n%s\n%s", progress.String(), res.Table)

	var faults []string
	for _, r := range res.Rows {
		faults = append(faults, r.Fault)
	}
	require.Equal(t, []string{"steady load (no fault)", "add a member", "drain a member",
		"SIGKILL a member, restart it", "SIGSTOP a member 3s, resume"}, faults)
	for _, r := range append(res.Rows, res.Total) {
		require.Contains(t, res.Table, r.Fault)
	}
	require.Zero(t, res.Total.Lost, res.Table)
	require.Zero(t, res.Total.Duplicated, res.Table)
	for _, c := range res.Checks {
		require.True(t, c.OK, "%s: %s\n%s", c.Name, c.Detail, res.Table)
	}
	require.True(t, res.OK(), res.Table)
	// The load really ran through the cluster.
	require.Positive(t, res.Ops.Checkouts)
	require.Positive(t, res.Ops.Payments)
	require.Positive(t, res.Ops.Adjustments)
	require.Positive(t, res.Ops.Payouts)
	require.Positive(t, res.Ops.Reads)
}
