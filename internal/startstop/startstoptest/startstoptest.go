// Package startstoptest checks that a long-lived component keeps the
// start/stop semantics of package startstop: every component's tests run
// Check on it, so the semantics are the same everywhere by test, not by
// convention.
package startstoptest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/vayvahq/vayva/internal/startstop"
)

// Service is a component under test: a startstop.Service that embeds
// startstop.BaseStartStop (for Stopped).
type Service interface {
	startstop.Service
	Stopped() <-chan struct{}
}

// timeout bounds every Start and Stop of the checks.
const timeout = 30 * time.Second

// Check runs the shared lifecycle checks, each on a fresh component from
// newService: stop before start, start twice, stop twice (also
// concurrently), stop while starting, and that cancelling the start
// context does not stop the component. newService may register cleanups on
// the test it is given.
func Check(t *testing.T, newService func(t *testing.T) Service) {
	t.Helper()
	t.Run("StopBeforeStartIsNoOp", func(t *testing.T) {
		s := newService(t)
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Fatalf("Stop before Start: %v", err)
		}
		if err := s.Start(ctx); err != nil {
			t.Fatalf("Start after an early Stop: %v", err)
		}
		if err := s.Stop(ctx); err != nil {
			t.Fatalf("Stop: %v", err)
		}
	})
	t.Run("StartTwiceFails", func(t *testing.T) {
		s := newService(t)
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := s.Start(ctx); err != nil {
			t.Fatalf("Start: %v", err)
		}
		if err := s.Start(ctx); !errors.Is(err, startstop.ErrStarted) {
			t.Fatalf("second Start = %v, want ErrStarted", err)
		}
		if err := s.Stop(ctx); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if err := s.Start(ctx); !errors.Is(err, startstop.ErrStarted) {
			t.Fatalf("Start after Stop = %v, want ErrStarted", err)
		}
	})
	t.Run("StopTwiceAndConcurrently", func(t *testing.T) {
		s := newService(t)
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := s.Start(ctx); err != nil {
			t.Fatalf("Start: %v", err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i := range errs {
			wg.Go(func() { errs[i] = s.Stop(ctx) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("concurrent Stop %d: %v", i, err)
			}
		}
		if err := s.Stop(ctx); err != nil {
			t.Fatalf("Stop after Stop: %v", err)
		}
		select {
		case <-s.Stopped():
		default:
			t.Fatal("Stopped not closed after Stop returned")
		}
	})
	t.Run("StopWhileStarting", func(t *testing.T) {
		s := newService(t)
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		startErr := make(chan error, 1)
		go func() { startErr <- s.Start(ctx) }()
		if err := s.Stop(ctx); err != nil {
			t.Fatalf("Stop during Start: %v", err)
		}
		// Start either won the race (and was stopped) or gave up; either
		// way it returns and the component ends stopped.
		select {
		case err := <-startErr:
			t.Logf("Start during Stop returned %v", err)
		case <-ctx.Done():
			t.Fatal("Start did not return after Stop")
		}
		if err := s.Stop(ctx); err != nil {
			t.Fatalf("Stop after the race: %v", err)
		}
		select {
		case <-s.Stopped():
		default:
			// A Stop that won before Start began is a no-op; the Start
			// then runs and this Stop must have stopped it.
			t.Fatal("Stopped not closed after Stop returned")
		}
	})
	t.Run("RunsPastStartContext", func(t *testing.T) {
		s := newService(t)
		startCtx, cancelStart := context.WithCancel(context.Background())
		if err := s.Start(startCtx); err != nil {
			cancelStart()
			t.Fatalf("Start: %v", err)
		}
		cancelStart()
		select {
		case <-s.Stopped():
			t.Fatal("the component stopped when its start context ended")
		case <-time.After(50 * time.Millisecond):
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Fatalf("Stop: %v", err)
		}
	})
}
