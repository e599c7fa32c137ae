package postgres_test

import (
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/actors/actortest"
)

// A journal whose lease lapsed activates and commits nothing: refused
// before the transaction, and also when the lease lapses while the
// transaction runs (its last step asks again, just before COMMIT). The
// refusal is a stale epoch, so the activation stops.
func TestJournalWithoutLeaseWritesNothing(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, j := newCounterJournal(t, "node-a")
	// calls counts the lease checks; the lease lapses at check number
	// lapseAt.
	var calls, lapseAt atomic.Int64
	lapseAt.Store(1 << 62)
	j.SetLease(func() error {
		if calls.Add(1) >= lapseAt.Load() {
			return vayva.ErrLeaseLost
		}
		return nil
	})

	a, err := j.Activate(ctx, "store", "sto_1")
	require.NoError(t, err)
	require.Equal(t, int64(1), a.Epoch)
	commit := func(cmd string) actors.Commit {
		return actors.Commit{CommandID: cmd, Domain: vayva.DomainCatalog, Reply: []byte("ok"),
			Changes: []actors.Change{actortest.AddToCounter{ID: "c", N: 1}}}
	}
	_, _, err = j.Commit(ctx, a, commit("cmd_1"))
	require.NoError(t, err)
	require.Equal(t, int64(1), counter(t, db))

	// The lease lapses between the check before the transaction and the
	// one before COMMIT: the transaction rolls back.
	lapseAt.Store(calls.Load() + 2)
	_, _, err = j.Commit(ctx, a, commit("cmd_2"))
	require.ErrorIs(t, err, vayva.ErrLeaseLost)
	require.ErrorIs(t, err, vayva.ErrStaleEpoch)
	require.Equal(t, int64(1), a.Version, "the refused commit left the activation as it was")
	require.Equal(t, int64(1), counter(t, db))
	require.Equal(t, int64(1), queryInt(t, db, `SELECT count(*) FROM runtime.inbox`))
	require.Equal(t, int64(1), queryInt(t, db, `SELECT version FROM runtime.actors WHERE kind = 'store' AND identity = 'sto_1'`))

	// Lapsed before the transaction: nothing is tried.
	_, _, err = j.Commit(ctx, a, commit("cmd_3"))
	require.ErrorIs(t, err, vayva.ErrStaleEpoch)
	_, err = j.Activate(ctx, "store", "sto_1")
	require.ErrorIs(t, err, vayva.ErrLeaseLost)
	_, err = j.Activate(ctx, "store", "sto_2")
	require.ErrorIs(t, err, vayva.ErrStaleEpoch)
	require.Equal(t, int64(1), queryInt(t, db, `SELECT epoch FROM runtime.actors WHERE kind = 'store' AND identity = 'sto_1'`),
		"no activation superseded the current one")
	require.Zero(t, queryInt(t, db, `SELECT count(*) FROM runtime.actors WHERE identity = 'sto_2'`))

	// An activation whose lease lapses inside its transaction rolls back.
	calls.Store(0)
	lapseAt.Store(2)
	_, err = j.Activate(ctx, "store", "sto_1")
	require.ErrorIs(t, err, vayva.ErrLeaseLost)
	require.Equal(t, int64(1), queryInt(t, db, `SELECT epoch FROM runtime.actors WHERE kind = 'store' AND identity = 'sto_1'`))
	require.Equal(t, int64(1), counter(t, db))
}
