package drill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// member is one `vayva serve` process of the drill's cluster, in a slot
// that survives restarts (a restart is a new process, port and member id).
type member struct {
	d    *drill
	slot int

	mu       sync.Mutex // guards everything below
	url      string     // http://127.0.0.1:<port> of its edge
	id       string     // cluster member id
	cmd      *exec.Cmd
	done     chan struct{}
	exit     error
	expected bool // the drill ended or is ending this process itself
	starts   int
}

// start runs a new process in the slot and waits until it is ready: its
// edge answers /readyz and its own member appears alive in /ops/cluster.
func (m *member) start(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	m.mu.Lock()
	m.starts++
	logPath := filepath.Join(m.d.logDir, fmt.Sprintf("member-%d.%d.log", m.slot, m.starts))
	m.mu.Unlock()
	logFile, err := os.Create(logPath) //nolint:gosec // The drill's own log directory.
	if err != nil {
		return err
	}
	cmd := exec.Command(m.d.cfg.Command, m.d.cfg.Args...) //nolint:gosec // The drill's own executable.
	cmd.Env = append(m.d.memberEnv(), "VAYVA_HTTP_ADDR=127.0.0.1:"+strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("drill: start member %d: %w", m.slot, err)
	}
	done := make(chan struct{})
	m.mu.Lock()
	m.url, m.id, m.cmd, m.done, m.exit, m.expected = url, "", cmd, done, nil, false
	m.mu.Unlock()
	go func() {
		err := cmd.Wait()
		_ = logFile.Close()
		m.mu.Lock()
		m.exit = err
		m.mu.Unlock()
		close(done)
	}()
	id, err := m.waitReady(ctx, url, done)
	if err != nil {
		m.kill()
		return fmt.Errorf("drill: member %d (log %s): %w", m.slot, logPath, err)
	}
	m.mu.Lock()
	m.id = id
	m.mu.Unlock()
	m.d.lb.add(m.slot, url)
	m.d.logf("member %d ready: %s, member id %s, pid %d", m.slot, url, id, cmd.Process.Pid)
	return nil
}

func (m *member) waitReady(ctx context.Context, url string, done <-chan struct{}) (string, error) {
	deadline := time.Now().Add(m.d.cfg.StartTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return "", errors.New("exited before it was ready")
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if id := m.d.selfID(ctx, url); id != "" {
			return id, nil
		}
	}
	return "", fmt.Errorf("not ready within %s", m.d.cfg.StartTimeout)
}

// selfID is the member id of the node at url when it is ready and alive in
// its own view of the cluster, else "".
func (d *drill) selfID(ctx context.Context, url string) string {
	if st, _, err := d.get(ctx, url+"/readyz", ""); err != nil || st != http.StatusOK {
		return ""
	}
	st, body, err := d.get(ctx, url+"/ops/cluster", d.opsToken)
	if err != nil || st != http.StatusOK {
		return ""
	}
	var c clusterView
	if json.Unmarshal(body, &c) != nil {
		return ""
	}
	for _, mb := range c.Members {
		if mb.Self && mb.Status == "alive" {
			return mb.ID
		}
	}
	return ""
}

type clusterView struct {
	Members []struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Self   bool   `json:"self"`
	} `json:"members"`
}

func (d *drill) get(ctx context.Context, url, token string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return d.roundTrip(req)
}

// signal sends sig to the running process, if any.
func (m *member) signal(sig syscall.Signal) {
	m.mu.Lock()
	cmd := m.cmd
	m.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		_ = cmd.Process.Signal(sig)
	}
}

// expect marks the running process's end as the drill's doing.
func (m *member) expect() {
	m.mu.Lock()
	m.expected = true
	m.mu.Unlock()
}

// kill ends the process with SIGKILL and waits for it.
func (m *member) kill() {
	m.expect()
	m.signal(syscall.SIGCONT)
	m.signal(syscall.SIGKILL)
	m.wait(time.Minute)
}

// wait waits up to timeout for the running process to end; it reports
// whether it did.
func (m *member) wait(timeout time.Duration) bool {
	m.mu.Lock()
	done := m.done
	m.mu.Unlock()
	if done == nil {
		return true
	}
	select {
	case <-done:
		m.d.lb.remove(m.slot)
		return true
	case <-time.After(timeout):
		return false
	}
}

// stop asks the process to shut down (SIGTERM), and kills it after
// timeout.
func (m *member) stop(timeout time.Duration) {
	m.expect()
	m.signal(syscall.SIGCONT)
	m.signal(syscall.SIGTERM)
	if !m.wait(timeout) {
		m.kill()
	}
}

// exited reports whether the running process ended without the drill
// ending it, and how.
func (m *member) exited() (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done == nil || m.expected {
		return false, nil
	}
	select {
	case <-m.done:
		return true, m.exit
	default:
		return false, nil
	}
}

func (m *member) info() (url, id string, pid int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil && m.cmd.Process != nil {
		pid = m.cmd.Process.Pid
	}
	return m.url, m.id, pid
}

// memberEnv is the environment of every member process: the drill's own
// less any VAYVA_* setting, then the cluster's settings.
func (d *drill) memberEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VAYVA_") {
			env = append(env, kv)
		}
	}
	return append(append(env,
		"VAYVA_DATABASE_URL="+d.databaseURL,
		"VAYVA_REDIS_URL="+d.cfg.RedisURL,
		"VAYVA_REDIS_PREFIX="+d.redisPrefix,
		"VAYVA_OPS_TOKEN="+d.opsToken,
		"VAYVA_CLUSTER_PROVIDER=postgres",
		"VAYVA_CLUSTER_NAME="+d.clusterName,
		"VAYVA_PUBLIC_URL="+d.lb.url,
		"VAYVA_PROVIDERS=sandbox",
		"VAYVA_PAYSTACK_SECRET_KEY="+d.paystackSecret,
		"VAYVA_PAYSTACK_BASE_URL="+d.sandboxURL+"/sandbox/paystack/api",
		"VAYVA_RESEND_BASE_URL="+d.sandboxURL+"/sandbox/resend",
		"VAYVA_SIGNUP_RATE_LIMIT=off",
		"VAYVA_RETRY_SCALE="+strconv.FormatFloat(d.cfg.RetryScale, 'f', -1, 64),
		"VAYVA_LOG_LEVEL=warn",
		"VAYVA_MIGRATE_ON_START=true",
	), d.cfg.Env...)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
