// Package drill tries the cluster's promises on one machine: it starts
// three `vayva serve` members on loopback (postgres membership, a database
// and Redis prefix of their own), runs storefront reads, checkouts paid on
// a sandbox Paystack, inventory changes and payouts through all of them,
// and injects faults in turn: a member joins, one drains, one is killed
// with SIGKILL and restarted, one is stopped with SIGSTOP and resumed.
// Afterwards it compares every acknowledged operation with the database,
// runs the ledger checks and prints one table. `vayva drill` runs it.
package drill

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/vayvahq/vayva/integrations/sandbox"
)

// Config configures a drill. The zero value with DatabaseURL and RedisURL
// runs the full drill with this executable's `serve`.
type Config struct {
	// Short runs the shorter variant: fewer shops and clients, shorter
	// pauses (SIGSTOP 3s unless Stop says otherwise).
	Short bool
	// Stop is how long the SIGSTOP fault pauses a member (default 10s,
	// 3s when Short).
	Stop time.Duration
	// DatabaseURL names the PostgreSQL server (any database on it); the
	// drill creates a fresh database there and drops it at the end.
	DatabaseURL string
	// RedisURL is the Redis server; the drill's keys have a prefix of
	// their own and are deleted at the end.
	RedisURL string
	// Command and Args start a member (default: this executable, "serve").
	// Env is added to each member's environment after the drill's
	// settings.
	Command string
	Args    []string
	Env     []string
	// Keep leaves the database, the Redis keys and the members' logs.
	Keep bool
	// StartTimeout bounds a member's start (default 90s).
	StartTimeout time.Duration
	// RetryScale is the members' VAYVA_RETRY_SCALE (default 0.1).
	RetryScale float64
	// Progress receives a line per step; nil discards them.
	Progress io.Writer
}

func (c Config) withDefaults() (Config, error) {
	if c.Stop <= 0 {
		c.Stop = 10 * time.Second
		if c.Short {
			c.Stop = 3 * time.Second
		}
	}
	if c.Command == "" {
		exe, err := os.Executable()
		if err != nil {
			return c, fmt.Errorf("drill: own executable: %w", err)
		}
		c.Command = exe
		if len(c.Args) == 0 {
			c.Args = []string{"serve"}
		}
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = 90 * time.Second
	}
	if c.RetryScale <= 0 {
		c.RetryScale = 0.1
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.DatabaseURL == "" || c.RedisURL == "" {
		return c, errors.New("drill: DatabaseURL and RedisURL are required")
	}
	return c, nil
}

func (c Config) shops() int {
	if c.Short {
		return 3
	}
	return 6
}

func (c Config) clientsPerShop() int {
	if c.Short {
		return 1
	}
	return 2
}

func (c Config) think() time.Duration {
	if c.Short {
		return 40 * time.Millisecond
	}
	return 15 * time.Millisecond
}

func (c Config) stock() int64 {
	if c.Short {
		return 10000
	}
	return 100000
}

// warm is the steady load before the first fault; gap is how long the
// load runs after a fault's action ended before the next one.
func (c Config) warm() time.Duration {
	if c.Short {
		return 2 * time.Second
	}
	return 5 * time.Second
}

func (c Config) gap() time.Duration {
	if c.Short {
		return 3 * time.Second
	}
	return 8 * time.Second
}

// queueGrace is how long settle waits for the queues once the database
// settled: in the full drill longer than the queues' ClaimMinIdle (1m),
// so entries pending on killed consumers are claimed and handled.
func (c Config) queueGrace() time.Duration {
	if c.Short {
		return 5 * time.Second
	}
	return 75 * time.Second
}

func (c Config) settle() time.Duration {
	if c.Short {
		return 45 * time.Second
	}
	return 90 * time.Second
}

// window is a stretch of the run: the steady load before the faults, then
// one per fault, from its injection to the next one's.
type window struct {
	name  string
	start time.Time
}

type drill struct {
	cfg    Config
	runID  string
	client *http.Client
	// payClient presses Pay on the sandbox, whose answer waits for the
	// webhook's first delivery.
	payClient *http.Client
	rec       recorder

	lb             *balancer
	sb             *sandbox.Sandbox
	sbServer       *http.Server
	sandboxURL     string
	databaseURL    string
	createdDB      string
	redisPrefix    string
	opsToken       string
	clusterName    string
	paystackSecret string
	logDir         string

	members []*member
	shops   []*shop
	windows []window
	loadEnd time.Time

	logMu     sync.Mutex // serialises writes to cfg.Progress
	mu        sync.Mutex // guards resolveBy, notes and windows while the load runs
	resolveBy time.Time
	notes     []string
}

func (d *drill) logf(format string, args ...any) {
	d.logMu.Lock()
	defer d.logMu.Unlock()
	fmt.Fprintf(d.cfg.Progress, "%s  %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func (d *drill) note(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	d.logf("%s", s)
	d.mu.Lock()
	d.notes = append(d.notes, s)
	d.mu.Unlock()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Run runs the drill. It returns the result when the drill ran to the end,
// whatever it found; an error when it could not run. Every process it
// started has ended when it returns, also when ctx is canceled.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	id := randomHex(4)
	d := &drill{
		cfg: cfg, runID: id,
		client:         &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		payClient:      &http.Client{Timeout: 30 * time.Second},
		redisPrefix:    "vayva-drill-" + id + ":",
		opsToken:       "drill-ops-" + randomHex(12),
		clusterName:    "drill-" + id,
		paystackSecret: "sk_test_drill_" + randomHex(12),
	}
	defer d.client.CloseIdleConnections()
	defer d.payClient.CloseIdleConnections()
	d.logDir, err = os.MkdirTemp("", "vayva-drill-"+id+"-")
	if err != nil {
		return nil, err
	}
	res, err := d.run(ctx)
	cleanupErr := d.teardown(res != nil && res.OK() && err == nil)
	if err != nil {
		return nil, fmt.Errorf("%w (member logs in %s)", err, d.logDir)
	}
	if cleanupErr != nil {
		d.logf("clean-up: %v", cleanupErr)
	}
	return res, nil
}

func (d *drill) run(ctx context.Context) (*Result, error) {
	if err := d.createDatabase(ctx); err != nil {
		return nil, err
	}
	var err error
	if d.lb, err = newBalancer(10 * time.Second); err != nil {
		return nil, err
	}
	lbCtx, stopLB := context.WithCancel(context.Background())
	defer stopLB()
	go d.lb.run(lbCtx)
	if err := d.startSandbox(); err != nil {
		return nil, err
	}
	d.logf("database %s, Redis prefix %s, balancer %s, sandbox %s, logs %s", d.createdDB, d.redisPrefix, d.lb.url, d.sandboxURL, d.logDir)

	// The first member migrates the fresh database; the others join it.
	for i := range 4 {
		d.members = append(d.members, &member{d: d, slot: i})
	}
	if err := d.members[0].start(ctx); err != nil {
		return nil, err
	}
	errs := make(chan error, 2)
	for _, m := range d.members[1:3] {
		go func() { errs <- m.start(ctx) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			return nil, err
		}
	}
	if err := d.waitAlive(ctx, 3); err != nil {
		return nil, err
	}
	for i := range d.cfg.shops() {
		s, err := d.setupShop(ctx, i)
		if err != nil {
			return nil, err
		}
		d.shops = append(d.shops, s)
	}
	d.logf("%d shops set up; load starts", len(d.shops))

	superCtx, stopSuper := context.WithCancel(ctx)
	superDone := make(chan struct{})
	go func() { defer close(superDone); d.supervise(superCtx) }()

	stop := make(chan struct{})
	var clients sync.WaitGroup
	for _, s := range d.shops {
		for n := range d.cfg.clientsPerShop() {
			clients.Go(func() { d.customer(ctx, s, n, stop) })
		}
	}
	d.mu.Lock()
	d.windows = append(d.windows, window{name: "steady load (no fault)", start: time.Now()})
	d.mu.Unlock()
	faultErr := d.faults(ctx)
	close(stop)
	d.loadEnd = time.Now()
	d.mu.Lock()
	d.resolveBy = time.Now().Add(d.cfg.settle())
	d.mu.Unlock()
	clients.Wait()
	if faultErr == nil && ctx.Err() == nil {
		d.logf("load stopped; waiting for payments, payouts and queues to settle")
		d.settle(ctx)
	}
	// The supervisor keeps restarting members until the load settled.
	stopSuper()
	<-superDone
	if faultErr != nil {
		return nil, faultErr
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return d.verify(ctx)
}

// faults injects each fault in turn, the load running throughout.
func (d *drill) faults(ctx context.Context) error {
	pause := func(dur time.Duration) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(dur):
			return nil
		}
	}
	if err := pause(d.cfg.warm()); err != nil {
		return err
	}
	mark := func(name string) {
		d.mu.Lock()
		d.windows = append(d.windows, window{name: name, start: time.Now()})
		d.mu.Unlock()
		d.logf("fault: %s", name)
	}

	mark("add a member")
	if err := d.members[3].start(ctx); err != nil {
		return err
	}
	if err := d.waitAlive(ctx, 4); err != nil {
		return err
	}
	if err := pause(d.cfg.gap()); err != nil {
		return err
	}

	drained := d.members[0]
	url, id, _ := drained.info()
	mark("drain a member")
	drained.expect()
	st, body, err := d.send(ctx, "POST", url+"/ops/cluster/members/"+id+"/drain", d.opsToken, "drill-drain-"+d.runID, nil)
	if err != nil {
		return fmt.Errorf("drill: drain %s: %w", id, err)
	}
	if st != http.StatusAccepted {
		return fmt.Errorf("drill: drain %s: %d %s", id, st, body)
	}
	if !drained.wait(60 * time.Second) {
		d.note("member %d did not exit within 60s of its drain; killed", drained.slot)
		drained.kill()
	}
	if err := pause(d.cfg.gap()); err != nil {
		return err
	}

	killed := d.members[1]
	mark("SIGKILL a member, restart it")
	killed.kill()
	if err := killed.start(ctx); err != nil {
		return err
	}
	if err := pause(d.cfg.gap()); err != nil {
		return err
	}

	stopped := d.members[2]
	mark(fmt.Sprintf("SIGSTOP a member %s, resume", d.cfg.Stop))
	stopped.signal(syscall.SIGSTOP)
	if err := pause(d.cfg.Stop); err != nil {
		stopped.signal(syscall.SIGCONT)
		return err
	}
	stopped.signal(syscall.SIGCONT)
	return pause(d.cfg.gap())
}

// supervise restarts a member that exited without the drill ending it
// (a member evicted from the cluster exits so that its supervisor starts
// it again under a new member id), as a process supervisor would.
func (d *drill) supervise(ctx context.Context) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, m := range d.members {
			gone, exit := m.exited()
			if !gone {
				continue
			}
			d.lb.remove(m.slot)
			m.expect()
			d.note("member %d exited by itself (%v) at %s; restarted", m.slot, exit, d.sinceFault(time.Now()))
			if err := m.start(ctx); err != nil && ctx.Err() == nil {
				d.note("member %d did not restart: %v", m.slot, err)
			}
		}
	}
}

// sinceFault says when t was, relative to the fault window it falls in.
func (d *drill) sinceFault(t time.Time) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := len(d.windows) - 1; i >= 0; i-- {
		if !t.Before(d.windows[i].start) {
			return fmt.Sprintf("%s after %q", t.Sub(d.windows[i].start).Round(10*time.Millisecond), d.windows[i].name)
		}
	}
	return t.Format(time.TimeOnly)
}

// waitAlive waits until n members are alive in the cluster's view.
func (d *drill) waitAlive(ctx context.Context, n int) error {
	deadline := time.Now().Add(d.cfg.StartTimeout)
	for time.Now().Before(deadline) {
		st, body, err := d.get(ctx, d.lb.url+"/ops/cluster", d.opsToken)
		if err == nil && st == http.StatusOK {
			alive := 0
			var c clusterView
			if json.Unmarshal(body, &c) == nil {
				for _, m := range c.Members {
					if m.Status == "alive" {
						alive++
					}
				}
			}
			if alive == n {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("drill: %d members not alive within %s", n, d.cfg.StartTimeout)
}

func (d *drill) startSandbox() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	d.sandboxURL = "http://" + ln.Addr().String()
	// One Paystack for the whole cluster, outside every member, as a
	// deployment has: its webhooks go through the balancer to whichever
	// member is up, and its transfers complete after half a second.
	d.sb = sandbox.New(sandbox.Config{
		PublicURL: d.sandboxURL, NodeURL: d.lb.url, PaystackSecret: d.paystackSecret,
		TransferDelay: 500 * time.Millisecond, MaxRecords: 100000,
	})
	if err := d.sb.Start(context.Background()); err != nil {
		return err
	}
	d.sbServer = &http.Server{Handler: d.sb.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = d.sbServer.Serve(ln) }()
	return nil
}

// createDatabase creates the drill's database on the configured server.
func (d *drill) createDatabase(ctx context.Context) error {
	name := "vayva_drill_" + d.runID
	dbURL, err := replaceDatabase(d.cfg.DatabaseURL, name)
	if err != nil {
		return err
	}
	conn, err := d.adminConn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("drill: create database: %w", err)
	}
	d.createdDB, d.databaseURL = name, dbURL
	return nil
}

func (d *drill) adminConn(ctx context.Context) (*pgx.Conn, error) {
	cc, err := pgx.ParseConfig(d.cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("drill: database URL: %w", err)
	}
	cc.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("drill: connect to PostgreSQL: %w", err)
	}
	return conn, nil
}

// replaceDatabase returns the postgres:// URL raw with database name.
func replaceDatabase(raw, name string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("drill: database URL: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// teardown ends every member, the balancer and the sandbox, and removes
// the database, the Redis keys and (when clean) the logs.
func (d *drill) teardown(clean bool) error {
	var wg sync.WaitGroup
	for _, m := range d.members {
		wg.Go(func() { m.stop(20 * time.Second) })
	}
	wg.Wait()
	if d.lb != nil {
		d.lb.close()
	}
	if d.sbServer != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = d.sbServer.Shutdown(ctx)
		_ = d.sb.Stop(ctx)
		cancel()
	}
	if d.cfg.Keep {
		d.logf("kept: database %s, Redis prefix %s, logs %s", d.createdDB, d.redisPrefix, d.logDir)
		return nil
	}
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if d.createdDB != "" {
		if conn, err := d.adminConn(ctx); err != nil {
			errs = append(errs, err)
		} else {
			_, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{d.createdDB}.Sanitize()+" WITH (FORCE)")
			errs = append(errs, err)
			_ = conn.Close(ctx)
		}
	}
	errs = append(errs, d.deleteRedisKeys(ctx))
	if clean {
		errs = append(errs, os.RemoveAll(d.logDir))
	}
	return errors.Join(errs...)
}

func (d *drill) deleteRedisKeys(ctx context.Context) error {
	opts, err := goredis.ParseURL(d.cfg.RedisURL)
	if err != nil {
		return err
	}
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	var cursor uint64
	for {
		keys, next, err := rdb.Scan(ctx, cursor, d.redisPrefix+"*", 1000).Result()
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			if err := rdb.Unlink(ctx, keys...).Err(); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}
