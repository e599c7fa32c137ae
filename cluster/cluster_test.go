package cluster_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors/actortest"
	"github.com/vayvahq/vayva/cluster"
	"github.com/vayvahq/vayva/messages"
	"github.com/vayvahq/vayva/persistence/postgres"
	"github.com/vayvahq/vayva/persistence/postgres/pgtest"
)

// TestMain doubles as a cluster member process: the multi-process test
// starts this test binary with VAYVA_TEST_MEMBER=1.
func TestMain(m *testing.M) {
	if os.Getenv("VAYVA_TEST_MEMBER") == "1" {
		os.Exit(runMemberProcess())
	}
	os.Exit(m.Run())
}

func probeKind(j *postgres.Journal, member func() string) cluster.Kind {
	return cluster.Kind{
		Name:        actortest.Kind,
		Producer:    actortest.NewProducer(j, member, zerolog.Nop()),
		IdleTimeout: time.Minute,
	}
}

func startMember(t *testing.T, db *postgres.DB, cfg cluster.Config) *cluster.Member {
	t.Helper()
	var m *cluster.Member
	j := postgres.NewJournal(db, t.Name())
	cfg.Kinds = append(cfg.Kinds, probeKind(j, func() string { return m.ID() }))
	m, err := cluster.New(cfg, db, zerolog.Nop(), nil)
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

func add(ctx context.Context, m *cluster.Member, id, cmd string, amount int64) (*messages.ProbeState, error) {
	return cluster.Request[*messages.ProbeState](ctx, m, actortest.Kind, id, &messages.ProbeAdd{CommandId: cmd, Amount: amount})
}

// Two members of two separate single-member clusters share one database, so
// both activate the same identity: the fencing journal must keep the
// identity's state exact while they race.
func TestFencingTwoActivationsRace(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	a := startMember(t, db, cluster.Config{Name: "a-" + vayva.NewID("c")})
	b := startMember(t, db, cluster.Config{Name: "b-" + vayva.NewID("c")})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	const identity = "race"
	const perMember = 40
	var (
		mu        sync.Mutex
		acked     int64
		epochs    = map[int64]bool{}
		wg        sync.WaitGroup
		firstErrs []error
	)
	for mi, m := range []*cluster.Member{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perMember {
				st, err := add(ctx, m, identity, fmt.Sprintf("m%d-%d", mi, i), 1)
				mu.Lock()
				if err != nil {
					firstErrs = append(firstErrs, err)
				} else {
					acked++
					epochs[st.Epoch] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Empty(t, firstErrs, "every add is eventually acknowledged")
	require.Equal(t, int64(2*perMember), acked)
	require.Greater(t, len(epochs), 1, "both members activated the identity, superseding each other")

	// Duplicate command ids: applied once, answered with the first reply.
	st, err := add(ctx, a, identity, "m0-0", 1)
	require.NoError(t, err)
	require.True(t, st.Replayed)
	st, err = add(ctx, b, identity, "m1-3", 1)
	require.NoError(t, err)
	require.True(t, st.Replayed)

	// The stored state equals the number of acknowledged, distinct adds.
	var snapshot []byte
	var version int64
	require.NoError(t, db.Pool().QueryRow(ctx,
		`SELECT snapshot, version FROM runtime.actors WHERE kind = $1 AND identity = $2`, actortest.Kind, identity).
		Scan(&snapshot, &version))
	var stored messages.ProbeState
	require.NoError(t, unmarshal(snapshot, &stored))
	require.Equal(t, acked, stored.Value, "no acknowledged update lost, none applied twice")
	require.Equal(t, acked, version, "one version per applied command")
	var inbox int64
	require.NoError(t, db.Pool().QueryRow(ctx,
		`SELECT count(*) FROM runtime.inbox WHERE kind = $1 AND identity = $2`, actortest.Kind, identity).Scan(&inbox))
	require.Equal(t, acked, inbox)
}

// A stale activation that tries to commit is refused and stops; the next
// request activates the identity afresh with a newer epoch.
func TestStaleActivationStops(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	m := startMember(t, db, cluster.Config{Name: vayva.NewID("c")})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	st, err := add(ctx, m, "stale", "c1", 5)
	require.NoError(t, err)
	first := st.Epoch

	// Another activation claims the identity behind the member's back.
	j := postgres.NewJournal(db, "intruder")
	other, err := j.Activate(ctx, actortest.Kind, "stale")
	require.NoError(t, err)
	require.Greater(t, other.Epoch, first)

	st, err = add(ctx, m, "stale", "c2", 5)
	require.NoError(t, err, "the request helper retries on the fresh activation")
	require.Greater(t, st.Epoch, other.Epoch, "the stale activation stopped and a new one claimed a newer epoch")
	require.Equal(t, int64(10), st.Value)
}

func TestRequestRefusesUnknownKindQuickly(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	m := startMember(t, db, cluster.Config{Name: vayva.NewID("c")})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := cluster.Request[*messages.ProbeState](ctx, m, "no-such-kind", "x", &messages.ProbeGet{})
	require.Error(t, err)
	require.Equal(t, vayva.EUNAVAILABLE, vayva.ErrorCode(err))
}

func TestConfigValidationNamesTheSetting(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cfg  cluster.Config
		want string
	}{
		{cluster.Config{Provider: "etcd", Addr: "127.0.0.1:0"}, "VAYVA_CLUSTER_PROVIDER"},
		{cluster.Config{Provider: "local", Addr: "nonsense"}, "VAYVA_CLUSTER_ADDR"},
		{cluster.Config{Provider: "local", Addr: "127.0.0.1:99999"}, "VAYVA_CLUSTER_ADDR"},
	} {
		_, err := cluster.New(c.cfg, nil, zerolog.Nop(), nil)
		require.ErrorContains(t, err, c.want)
	}
}

// --- three member processes with the postgres provider ---

// syncBuffer collects a child's stderr.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type child struct {
	cmd  *exec.Cmd
	http string
	id   string
}

func startChild(t *testing.T, dbURL, clusterName string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		"VAYVA_TEST_MEMBER=1",
		"VAYVA_TEST_DATABASE_URL_MEMBER="+dbURL,
		"VAYVA_TEST_CLUSTER_NAME="+clusterName,
	)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	c := &child{cmd: cmd}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if strings.Contains(stderr.String(), "WARNING: DATA RACE") {
			t.Errorf("member process %s reported a data race:\n%s", c.id, stderr.String())
		}
	})
	lines := bufio.NewScanner(out)
	ready := make(chan error, 1)
	go func() {
		for lines.Scan() {
			f := strings.Fields(lines.Text())
			if len(f) == 3 && f[0] == "READY" {
				c.http, c.id = f[1], f[2]
				ready <- nil
				_, _ = io.Copy(io.Discard, out)
				return
			}
		}
		ready <- fmt.Errorf("member process exited before it was ready")
	}()
	select {
	case err := <-ready:
		require.NoError(t, err)
	case <-time.After(60 * time.Second):
		t.Fatal("member process not ready within 60s")
	}
	return c
}

func (c *child) add(ctx context.Context, id, cmd string) (*messages.ProbeState, int, error) {
	req, err := nethttp.NewRequestWithContext(ctx, "POST", fmt.Sprintf("http://%s/add?id=%s&cmd=%s", c.http, id, cmd), nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, resp.StatusCode, fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	var st messages.ProbeState
	if err := json.Unmarshal(body, &st); err != nil {
		return nil, resp.StatusCode, err
	}
	return &st, 200, nil
}

// Three member processes find each other through runtime.members. Calls made
// through member 1 land on all three. After member 3 is killed with SIGKILL,
// its identities answer again from the survivors with their state reloaded
// from Postgres, and nothing acknowledged is lost.
func TestThreeProcessesSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three processes")
	}
	_, dbURL := pgtest.New(t)
	name := vayva.NewID("cluster")
	members := []*child{startChild(t, dbURL, name), startChild(t, dbURL, name), startChild(t, dbURL, name)}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Wait until member 1 sees all three (its view feeds placement).
	require.Eventually(t, func() bool {
		resp, err := nethttp.Get("http://" + members[0].http + "/members")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var n int
		_ = json.NewDecoder(resp.Body).Decode(&n)
		return n == 3
	}, 30*time.Second, 50*time.Millisecond)

	const identities = 60
	placed := map[string]int{}
	owner := map[string]string{}
	for i := range identities {
		id := fmt.Sprintf("p%d", i)
		st, _, err := members[0].add(ctx, id, id+"-1")
		require.NoError(t, err)
		require.Equal(t, int64(1), st.Value)
		placed[st.Member]++
		owner[id] = st.Member
	}
	require.Len(t, placed, 3, "identities were placed on all three members: %v", placed)

	victim := members[2]
	var victims []string
	for id, o := range owner {
		if o == victim.id {
			victims = append(victims, id)
		}
	}
	require.NoError(t, victim.cmd.Process.Signal(syscall.SIGKILL))
	killed := time.Now()

	// Every identity answers again through member 1; the victim's ones from
	// a survivor, with their acknowledged state intact.
	var lastRecovered time.Duration
	for i := range identities {
		id := fmt.Sprintf("p%d", i)
		var st *messages.ProbeState
		require.Eventually(t, func() bool {
			var err error
			st, _, err = members[0].add(ctx, id, id+"-2")
			return err == nil
		}, 60*time.Second, 100*time.Millisecond, "identity %s answers after the kill", id)
		require.Equal(t, int64(2), st.Value, "identity %s kept its acknowledged state", id)
		require.NotEqual(t, victim.id, st.Member)
		if owner[id] == victim.id {
			lastRecovered = time.Since(killed)
		}
	}
	require.NotEmpty(t, victims)
	t.Logf("the killed member's %d identities answered again from the survivors within %s of SIGKILL", len(victims), lastRecovered.Round(time.Millisecond))
}

func runMemberProcess() int {
	ctx := context.Background()
	db, err := postgres.Open(ctx, os.Getenv("VAYVA_TEST_DATABASE_URL_MEMBER"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "member:", err)
		return 1
	}
	defer db.Close()
	var m *cluster.Member
	j := postgres.NewJournal(db, fmt.Sprintf("pid-%d", os.Getpid()))
	m, err = cluster.New(cluster.Config{
		Name:              os.Getenv("VAYVA_TEST_CLUSTER_NAME"),
		Provider:          cluster.ProviderPostgres,
		HeartbeatInterval: 200 * time.Millisecond,
		MemberTTL:         1500 * time.Millisecond,
		Kinds:             []cluster.Kind{probeKind(j, func() string { return m.ID() })},
	}, db, zerolog.New(os.Stderr).Level(zerolog.WarnLevel), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "member:", err)
		return 1
	}
	if err := m.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "member:", err)
		return 1
	}
	mux := nethttp.NewServeMux()
	mux.HandleFunc("POST /add", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		st, err := add(ctx, m, r.URL.Query().Get("id"), r.URL.Query().Get("cmd"), 1)
		if err != nil {
			nethttp.Error(w, err.Error(), nethttp.StatusServiceUnavailable)
			return
		}
		_ = json.NewEncoder(w).Encode(st)
	})
	mux.HandleFunc("GET /members", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		ms, _ := db.ListMembers(r.Context(), os.Getenv("VAYVA_TEST_CLUSTER_NAME"), true, 1500*time.Millisecond)
		_ = json.NewEncoder(w).Encode(len(ms))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "member:", err)
		return 1
	}
	go func() { _ = nethttp.Serve(ln, mux) }()
	fmt.Printf("READY %s %s\n", ln.Addr(), m.ID())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	stopCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	_ = m.Stop(stopCtx)
	return 0
}
