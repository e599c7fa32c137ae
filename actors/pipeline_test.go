package actors_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors/actortest"
	"github.com/vayvahq/vayva/cluster"
	"github.com/vayvahq/vayva/messages"
	"github.com/vayvahq/vayva/persistence/postgres"
	"github.com/vayvahq/vayva/persistence/postgres/pgtest"
)

// poison is an amount the test applier refuses inside the transaction.
const poison = 13

// gateLock is the advisory lock a commit's applier waits for while a test
// holds it, to keep a batch in flight.
const gateLock = 4242

// batcherEnv is a database with a counter table and members hosting the
// batcher kind, whose AddToCounter changes wait for the gate and refuse
// the poison amount.
type batcherEnv struct {
	db    *postgres.DB
	hooks *actortest.BatcherHooks
	// gate, while held, keeps every commit's applier waiting.
	gate *pgx.Conn
}

func newBatcherEnv(t *testing.T, db *postgres.DB) *batcherEnv {
	t.Helper()
	_, err := db.Pool().Exec(t.Context(), `CREATE TABLE IF NOT EXISTS runtime.test_counters (id text PRIMARY KEY, n bigint NOT NULL DEFAULT 0)`)
	require.NoError(t, err)
	return &batcherEnv{db: db, hooks: &actortest.BatcherHooks{Batches: make(chan int, 1000)}}
}

// journal returns a journal on db whose AddToCounter applier waits for the
// gate and refuses the poison amount.
func (e *batcherEnv) journal(db *postgres.DB, owner string) *postgres.Journal {
	j := postgres.NewJournal(db, owner)
	postgres.HandleChange(j, func(ctx context.Context, tx pgx.Tx, c actortest.AddToCounter) error {
		if c.N == poison {
			return vayva.Errorf(vayva.ECONFLICT, "the counter refuses %d", c.N)
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock_shared($1)`, gateLock); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO runtime.test_counters (id, n) VALUES ($1, $2)
			ON CONFLICT (id) DO UPDATE SET n = runtime.test_counters.n + excluded.n`, c.ID, c.N)
		return err
	})
	return j
}

// member starts a member of a cluster of its own hosting the batcher kind
// on db (which may reach the database through a proxy).
func (e *batcherEnv) member(t *testing.T, db *postgres.DB, owner string) *cluster.Member {
	t.Helper()
	m, err := cluster.New(cluster.Config{
		Name: "batcher-" + vayva.NewID("c"),
		Kinds: []cluster.Kind{{Name: actortest.BatcherKind, IdleTimeout: time.Minute,
			Producer: actortest.NewBatcherProducer(e.journal(db, owner), 0, e.hooks, zerolog.Nop())}},
	}, db, zerolog.Nop(), nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, m.Start(ctx))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = m.Stop(ctx)
	})
	return m
}

// close holds the gate: commits wait until open.
func (e *batcherEnv) close(t *testing.T) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), e.db.Pool().Config().ConnConfig.ConnString())
	require.NoError(t, err)
	_, err = conn.Exec(t.Context(), `SELECT pg_advisory_lock($1)`, gateLock)
	require.NoError(t, err)
	e.gate = conn
}

func (e *batcherEnv) open(t *testing.T) {
	t.Helper()
	_, err := e.gate.Exec(t.Context(), `SELECT pg_advisory_unlock($1)`, gateLock)
	require.NoError(t, err)
	require.NoError(t, e.gate.Close(context.Background()))
}

func (e *batcherEnv) counter(t *testing.T, id string) int64 {
	t.Helper()
	var n int64
	err := e.db.Pool().QueryRow(t.Context(), `SELECT n FROM runtime.test_counters WHERE id = $1`, id).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0
	}
	require.NoError(t, err)
	return n
}

// committedValue is the batcher's value as committed in its snapshot.
func committedValue(t *testing.T, db *postgres.DB, id string) int64 {
	t.Helper()
	var snapshot []byte
	require.NoError(t, db.Pool().QueryRow(context.Background(),
		`SELECT snapshot FROM runtime.actors WHERE kind = $1 AND identity = $2`, actortest.BatcherKind, id).Scan(&snapshot))
	var st messages.ProbeState
	require.NoError(t, proto.Unmarshal(snapshot, &st))
	return st.GetValue()
}

func batcherAdd(ctx context.Context, m *cluster.Member, id, cmd string, amount int64) (*messages.ProbeState, error) {
	return cluster.Request[*messages.ProbeState](ctx, m, actortest.BatcherKind, id, &messages.ProbeAdd{CommandId: cmd, Amount: amount})
}

func batcherGet(t *testing.T, m *cluster.Member, id string) *messages.ProbeState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := cluster.Request[*messages.ProbeState](ctx, m, actortest.BatcherKind, id, &messages.ProbeGet{})
	require.NoError(t, err)
	return st
}

// waitInFlight waits until the batcher holds n commands committing or
// queued; the batcher answers while a batch is in flight.
func waitInFlight(t *testing.T, m *cluster.Member, id string, n int64) {
	t.Helper()
	require.Eventually(t, func() bool { return batcherGet(t, m, id).GetVersion() == n }, 10*time.Second, 5*time.Millisecond)
}

func drainBatches(ch chan int) []int {
	var out []int
	for {
		select {
		case n := <-ch:
			out = append(out, n)
		default:
			return out
		}
	}
}

// Commands that arrive while a batch commits form the next batch, in one
// transaction; the actor keeps answering meanwhile; each command is
// answered only once the database holds it.
func TestPipelineBatchesCommandsArrivingDuringACommit(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	e := newBatcherEnv(t, db)
	m := e.member(t, db, "a")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const id = "grouped"
	_, err := batcherAdd(ctx, m, id, "warm", 1)
	require.NoError(t, err)
	drainBatches(e.hooks.Batches)

	e.close(t)
	var wg sync.WaitGroup
	const queued = 20
	errs := make(chan error, queued+1)
	send := func(cmd string, amount int64) {
		defer wg.Done()
		st, err := batcherAdd(ctx, m, id, cmd, amount)
		if err != nil {
			errs <- err
			return
		}
		// Answered only after commit: the database already holds at least
		// the value this command produced.
		if got := committedValue(t, db, id); got < st.GetValue() {
			errs <- fmt.Errorf("command %s answered %d before the database held it (%d)", cmd, st.GetValue(), got)
		}
	}
	wg.Add(1)
	go send("first", 1)
	waitInFlight(t, m, id, 1)
	for i := range queued {
		wg.Add(1)
		go send(fmt.Sprintf("q%d", i), 1)
	}
	waitInFlight(t, m, id, 1+queued)
	require.Equal(t, int64(1), batcherGet(t, m, id).GetValue(), "reads are answered while the batch is in flight")
	e.open(t)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, []int{1, queued}, drainBatches(e.hooks.Batches))
	require.Equal(t, int64(2+queued), committedValue(t, db, id))
	require.Equal(t, int64(2+queued), e.counter(t, id))
	var version int64
	require.NoError(t, db.Pool().QueryRow(ctx, `SELECT version FROM runtime.actors WHERE kind = $1 AND identity = $2`,
		actortest.BatcherKind, id).Scan(&version))
	require.Equal(t, int64(3), version, "one version step per batch")

	// A redelivered command is answered with its first reply.
	st, err := batcherAdd(ctx, m, id, "q3", 1)
	require.NoError(t, err)
	require.True(t, st.GetReplayed())
	require.Equal(t, int64(2+queued), e.counter(t, id))
}

// A batch whose transaction is refused is committed one command at a time
// up to the refused one, which gets its error; the commands after it are
// answered retryable and their callers' retries commit them.
func TestPipelineRefusedBatchFallsBackToOneByOne(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	e := newBatcherEnv(t, db)
	m := e.member(t, db, "a")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const id = "refused"
	_, err := batcherAdd(ctx, m, id, "warm", 100)
	require.NoError(t, err)
	drainBatches(e.hooks.Batches)

	e.close(t)
	var wg sync.WaitGroup
	results := make([]error, 4)
	for i, amount := range []int64{1, 2, poison, 3} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, results[i] = batcherAdd(ctx, m, id, fmt.Sprintf("c%d", i), amount)
		}()
		waitInFlight(t, m, id, int64(i+1))
	}
	e.open(t)
	wg.Wait()
	require.NoError(t, results[0])
	require.NoError(t, results[1])
	requireCode(t, results[2], vayva.ECONFLICT)
	require.NoError(t, results[3], "the command after the refused one was retried")
	// The first batch held one command; the second, [2, poison, 3], was
	// refused; 3 came back alone.
	require.Equal(t, []int{1, 3, 1}, drainBatches(e.hooks.Batches))
	require.Equal(t, int64(1), e.hooks.Diverged.Load())
	require.Equal(t, int64(106), committedValue(t, db, id))
	require.Equal(t, int64(106), e.counter(t, id))
	require.Equal(t, int64(106), batcherGet(t, m, id).GetValue())

	// The synchronous ApplyBatch falls back the same way: the adds before
	// the refused one commit, the rest do not.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel2()
	st, err := cluster.Request[*messages.ProbeState](ctx2, m, actortest.BatcherKind, id, &messages.ProbeBatch{Adds: []*messages.ProbeAdd{
		{CommandId: "b1", Amount: 5}, {CommandId: "b2", Amount: poison}, {CommandId: "b3", Amount: 7},
	}})
	require.NoError(t, err)
	require.Equal(t, int64(111), st.GetValue())
	require.Equal(t, int64(111), e.counter(t, id))
	_, err = batcherAdd(ctx, m, id, "b3", 7)
	require.NoError(t, err, "b3 was not recorded, so it is applied now")
	require.Equal(t, int64(118), e.counter(t, id))
}

// Two activations of one identity (members of two clusters sharing the
// database) group-commit concurrently: the fence lets only the current one
// write, the stale one stops and its callers retry, and every acknowledged
// add is applied exactly once.
func TestPipelineStaleActivationCannotWrite(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	e := newBatcherEnv(t, db)
	a, b := e.member(t, db, "a"), e.member(t, db, "b")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const id = "contested"
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	acked := 0
	for mi, m := range []*cluster.Member{a, b} {
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 25 {
					_, err := batcherAdd(ctx, m, id, fmt.Sprintf("m%d-w%d-%d", mi, w, i), 1)
					mu.Lock()
					if err != nil {
						errs = append(errs, err)
					} else {
						acked++
					}
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	require.Empty(t, errs)
	require.Equal(t, 200, acked)
	require.Equal(t, int64(200), committedValue(t, db, id))
	require.Equal(t, int64(200), e.counter(t, id))
	var epoch int64
	require.NoError(t, db.Pool().QueryRow(ctx, `SELECT epoch FROM runtime.actors WHERE kind = $1 AND identity = $2`,
		actortest.BatcherKind, id).Scan(&epoch))
	require.Greater(t, epoch, int64(1), "both members activated the identity, superseding each other")
}

// When the connection breaks at COMMIT under a batch, its outcome is
// unknown: every command in flight and queued is answered retryable, the
// activation stops, and the retries apply each add exactly once.
func TestPipelineUncertainCommitAnswersEverythingRetryable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		mode pgtest.CutMode
	}{
		{"rolled back", pgtest.CutBeforeCommit},
		{"committed", pgtest.CutAfterCommit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			direct, dbURL := pgtest.New(t)
			e := newBatcherEnv(t, direct)
			proxy, proxied := pgtest.NewProxy(t, dbURL)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			db, err := postgres.Open(ctx, proxied)
			require.NoError(t, err)
			t.Cleanup(db.Close)
			m := e.member(t, db, "a")
			const id = "cut"
			_, err = batcherAdd(ctx, m, id, "warm", 1)
			require.NoError(t, err)

			proxy.CutNextCommit(tc.mode)
			var wg sync.WaitGroup
			errs := make([]error, 30)
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = batcherAdd(ctx, m, id, fmt.Sprintf("c%d", i), 1)
				}()
			}
			wg.Wait()
			for _, err := range errs {
				require.NoError(t, err)
			}
			require.Equal(t, 1, proxy.Cuts())
			require.Equal(t, int64(31), committedValue(t, direct, id))
			require.Equal(t, int64(31), e.counter(t, id))
			var epoch int64
			require.NoError(t, direct.Pool().QueryRow(ctx, `SELECT epoch FROM runtime.actors WHERE kind = $1 AND identity = $2`,
				actortest.BatcherKind, id).Scan(&epoch))
			require.Equal(t, int64(2), epoch, "the activation stopped and the identity was activated again")
		})
	}
}
