package startstop_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vayvahq/vayva/internal/startstop"
	"github.com/vayvahq/vayva/internal/startstop/startstoptest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// ticker is a component whose goroutine ends with its run context: the
// embedded Stop is its whole Stop.
type ticker struct {
	startstop.BaseStartStop
	ticks atomic.Int64
}

func (c *ticker) Start(ctx context.Context) error {
	run, started, stopped, err := c.StartInit(ctx)
	if err != nil {
		return err
	}
	go func() {
		defer stopped()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		started()
		for {
			select {
			case <-run.Done():
				return
			case <-t.C:
				c.ticks.Add(1)
			}
		}
	}()
	return nil
}

// server is a component whose stop is work (closing a listener and waiting
// for its accept loop), and whose start-up can be held (gate) to test a Stop
// that arrives while it starts.
type server struct {
	startstop.BaseStartStop
	gate   chan struct{} // nil: start at once
	atGate chan struct{} // closed when Start waits at the gate (with gate)
	ln     net.Listener
	done   chan struct{}
}

func (c *server) Start(ctx context.Context) (err error) {
	run, started, stopped, err := c.StartInit(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			stopped()
		}
	}()
	sctx, cancel := startstop.StartupContext(ctx, run)
	defer cancel()
	if c.gate != nil {
		if c.atGate != nil {
			close(c.atGate)
		}
		select {
		case <-c.gate:
		case <-sctx.Done():
			return context.Cause(sctx)
		}
	}
	var lc net.ListenConfig
	c.ln, err = lc.Listen(sctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	c.done = make(chan struct{})
	go func() {
		defer close(c.done)
		for {
			conn, err := c.ln.Accept()
			if err != nil {
				return
			}
			_ = conn.Close()
		}
	}()
	started()
	return nil
}

func (c *server) Stop(ctx context.Context) error {
	return c.StopWith(ctx, func(ctx context.Context) error {
		_ = c.ln.Close()
		select {
		case <-c.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
}

func TestConformance(t *testing.T) {
	t.Run("GoroutineOwned", func(t *testing.T) {
		startstoptest.Check(t, func(*testing.T) startstoptest.Service { return &ticker{} })
	})
	t.Run("StopIsWork", func(t *testing.T) {
		startstoptest.Check(t, func(*testing.T) startstoptest.Service { return &server{} })
	})
}

func TestSemantics(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		run  func(t *testing.T)
	}{
		{"StartTwiceReturnsErrStarted", func(t *testing.T) {
			c := &ticker{}
			require.NoError(t, c.Start(ctx))
			require.ErrorIs(t, c.Start(ctx), startstop.ErrStarted)
			require.NoError(t, c.Stop(ctx))
			require.ErrorIs(t, c.Start(ctx), startstop.ErrStarted, "a stopped component does not restart")
		}},
		{"FailedStartCannotBeRetried", func(t *testing.T) {
			c := &server{gate: make(chan struct{})}
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			require.ErrorIs(t, c.Start(cctx), context.Canceled)
			<-c.Stopped()
			require.ErrorIs(t, c.Start(ctx), startstop.ErrStarted)
			require.NoError(t, c.Stop(ctx), "Stop after a failed start is a no-op")
		}},
		{"StopBeforeStartIsNoOp", func(t *testing.T) {
			c := &ticker{}
			require.NoError(t, c.Stop(ctx))
			require.NoError(t, c.Stop(ctx))
			require.NoError(t, c.Start(ctx), "an early Stop does not prevent a Start")
			require.Eventually(t, func() bool { return c.ticks.Load() > 0 }, 5*time.Second, time.Millisecond)
			require.NoError(t, c.Stop(ctx))
		}},
		{"StopTwiceWaitsBothTimes", func(t *testing.T) {
			c := &server{}
			require.NoError(t, c.Start(ctx))
			require.NoError(t, c.Stop(ctx))
			require.NoError(t, c.Stop(ctx))
			<-c.Stopped()
		}},
		{"StopWhileStartingCancelsTheStart", func(t *testing.T) {
			c := &server{gate: make(chan struct{}), atGate: make(chan struct{})} // the gate never opens
			startErr := make(chan error, 1)
			go func() { startErr <- c.Start(ctx) }()
			// Wait until Start holds the component, so the Stop is not the
			// no-op of a Stop before Start.
			<-c.atGate
			require.ErrorIs(t, c.Start(ctx), startstop.ErrStarted)
			require.NoError(t, c.Stop(ctx))
			err := <-startErr
			require.ErrorIs(t, err, startstop.ErrStop, "the start-up context ended with the stop")
			<-c.Stopped()
		}},
		{"StartContextBoundsOnlyTheStart", func(t *testing.T) {
			c := &ticker{}
			sctx, cancel := context.WithCancel(ctx)
			require.NoError(t, c.Start(sctx))
			cancel()
			before := c.ticks.Load()
			require.Eventually(t, func() bool { return c.ticks.Load() > before+3 }, 5*time.Second, time.Millisecond,
				"the component keeps running after its start context ended")
			require.NoError(t, c.Stop(ctx))
		}},
		{"StartupContextEndsWithTheCallersContext", func(t *testing.T) {
			c := &server{gate: make(chan struct{})}
			sctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			defer cancel()
			require.ErrorIs(t, c.Start(sctx), context.DeadlineExceeded)
			<-c.Stopped()
		}},
		{"StopReturnsWhenItsContextEnds", func(t *testing.T) {
			// A component whose goroutine outlives the Stop's deadline.
			var c ticker
			release := make(chan struct{})
			run, started, stopped, err := c.StartInit(ctx)
			require.NoError(t, err)
			go func() {
				defer stopped()
				started()
				<-run.Done()
				<-release
			}()
			sctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			defer cancel()
			require.ErrorIs(t, c.Stop(sctx), context.DeadlineExceeded)
			close(release)
			require.NoError(t, c.Stop(ctx), "a later Stop waits for the rest")
		}},
		{"RunContextCauseIsErrStop", func(t *testing.T) {
			var c ticker
			run, started, stopped, err := c.StartInit(ctx)
			require.NoError(t, err)
			go func() {
				defer stopped()
				started()
				<-run.Done()
			}()
			<-c.Started()
			require.NoError(t, c.Stop(ctx))
			require.ErrorIs(t, context.Cause(run), startstop.ErrStop)
		}},
		{"OnlyTheFirstStopDoesTheWork", func(t *testing.T) {
			var c server
			require.NoError(t, c.Start(ctx))
			var calls atomic.Int64
			hold := make(chan struct{})
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					_ = c.StopWith(ctx, func(context.Context) error {
						calls.Add(1)
						<-hold
						return c.ln.Close()
					})
				})
			}
			require.Eventually(t, func() bool { return calls.Load() == 1 }, 5*time.Second, time.Millisecond)
			close(hold)
			wg.Wait()
			require.Equal(t, int64(1), calls.Load())
			<-c.done
		}},
		{"StartedAndStoppedMayBeTakenBeforeStart", func(t *testing.T) {
			var c ticker
			started, stopped := c.Started(), c.Stopped()
			require.NoError(t, c.Start(ctx))
			<-started
			require.NoError(t, c.Stop(ctx))
			<-stopped
		}},
	} {
		t.Run(tc.name, tc.run)
	}
}
