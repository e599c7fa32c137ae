package nodetest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/vayvahq/vayva/node"
)

// childEnv marks a test binary started by StartProcess: it runs a node
// instead of its tests.
const childEnv = "VAYVA_TEST_NODE_PROCESS"

// RunChildProcess makes this test binary a node process when StartProcess
// started it: it serves a node from its environment, as `vayva serve`
// does, until a signal, and exits. Otherwise it returns at once. Call it
// first in the TestMain of every package that uses StartProcess.
func RunChildProcess() {
	if os.Getenv(childEnv) != "1" {
		return
	}
	cfg, err := node.LoadConfig(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "nodetest: config:", err)
		os.Exit(2)
	}
	log := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	os.Exit(node.Serve(cfg, log, func(n *node.Node) {
		fmt.Printf("READY http://%s %s\n", n.HTTP.Addr(), n.Member.ID())
	}))
}

// Process is a node running in a process of its own (this test binary
// started again), so tests can kill it with SIGKILL or pause it with
// SIGSTOP as a real failure would.
type Process struct {
	// BaseURL is http://127.0.0.1:<port> of the node's edge.
	BaseURL string
	// MemberID is the node's cluster member id.
	MemberID    string
	DatabaseURL string
	RedisPrefix string
	ClusterName string
	OpsToken    string

	env    []string
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
	exit   error
}

// StartProcess starts a node process with opts (Configure is ignored: the
// node is built from its environment only) and stops it when the test
// ends. The package's TestMain must call RunChildProcess.
func StartProcess(t testing.TB, opts Options) *Process {
	t.Helper()
	env, opts := environment(t, opts)
	p := &Process{DatabaseURL: opts.DatabaseURL, RedisPrefix: opts.RedisPrefix, ClusterName: opts.ClusterName, OpsToken: opts.OpsToken}
	for k, v := range env {
		p.env = append(p.env, k+"="+v)
	}
	p.start(t)
	return p
}

func (p *Process) start(t testing.TB) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$") //nolint:gosec // This test binary, started again as a node.
	cmd.Env = append(append(os.Environ(), childEnv+"=1"), p.env...)
	p.stderr = &syncBuffer{}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("nodetest: process: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("nodetest: process: %v", err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func() {
		p.exit = cmd.Wait()
		close(p.done)
	}()
	stderr := p.stderr
	t.Cleanup(func() {
		p.Kill()
		if strings.Contains(stderr.String(), "WARNING: DATA RACE") {
			t.Errorf("node process reported a data race:\n%s", stderr.String())
		}
	})
	ready := make(chan string, 1)
	go func() {
		lines := bufio.NewScanner(out)
		for lines.Scan() {
			if line, ok := strings.CutPrefix(lines.Text(), "READY "); ok {
				ready <- line
				_, _ = io.Copy(io.Discard, out)
				return
			}
		}
		close(ready)
	}()
	select {
	case line, ok := <-ready:
		if !ok {
			t.Fatalf("nodetest: node process exited before it was ready:\n%s", p.stderr.String())
		}
		f := strings.Fields(line)
		p.BaseURL, p.MemberID = f[0], f[1]
	case <-time.After(90 * time.Second):
		t.Fatalf("nodetest: node process not ready within 90s:\n%s", p.stderr.String())
	}
}

// Kill ends the process with SIGKILL, as a crash would, and waits for it.
func (p *Process) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Pause stops the process with SIGSTOP; Resume continues it.
func (p *Process) Pause() { _ = p.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume continues a paused process.
func (p *Process) Resume() { _ = p.cmd.Process.Signal(syscall.SIGCONT) }

// Stop asks the process to shut down gracefully (SIGTERM) and waits up to
// timeout; it returns the process's exit error.
func (p *Process) Stop(timeout time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.exit
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("nodetest: node process did not stop within %s", timeout)
	}
}

// Restart starts the process again with the same settings, after it
// ended (Kill, Stop), under a new member id and port.
func (p *Process) Restart(t testing.TB) {
	t.Helper()
	p.Kill()
	p.start(t)
}

// Wait waits up to timeout for the process to end by itself and returns its
// exit code (-1 when a signal ended it); ok is false if it still runs.
func (p *Process) Wait(timeout time.Duration) (code int, ok bool) {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode(), true
	case <-time.After(timeout):
		return 0, false
	}
}

// Pid is the operating-system process id of the running node.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Log is what the process wrote to stderr so far.
func (p *Process) Log() string { return p.stderr.String() }

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
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
