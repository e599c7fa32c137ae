// Package startstop is the start/stop discipline every long-lived component
// of the runtime shares (the HTTP edge, the cluster member, the scheduler,
// the janitor, queue consumers, workers, the sandbox, the node itself), in
// the manner of River's startstop package.
//
// A component embeds BaseStartStop, calls StartInit first thing in its
// Start, and either lets the embedded Stop cancel its run context and wait
// for its goroutine, or implements Stop with StopWith when stopping is work
// (shutting a server down, leaving a cluster). The semantics are the same
// for every component:
//
//   - A component starts at most once. A second Start, whether the first is
//     still starting, is running, has stopped or failed, returns ErrStarted
//     and changes nothing. To run again, make a new component.
//   - Stop before Start is a no-op that returns nil; the component may still
//     be started afterwards.
//   - Stop is idempotent and safe to call concurrently: every call returns
//     once the component has stopped (nil) or its own ctx ended (an error
//     wrapping ctx's). Only the first call does the stop work.
//   - Stop during Start cancels the start-up work (see StartupContext),
//     waits for Start to return, then stops whatever Start left running.
//   - The run context a component's goroutines use is detached from the
//     context given to Start: that context bounds the start only. A
//     component runs until Stop, never until its start context ends.
//   - A component owns its goroutines: when Stop has returned nil, none of
//     them is left.
package startstop

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrStarted is returned by Start on a component that was started before.
var ErrStarted = errors.New("startstop: already started; a component starts once")

// ErrStop is the cause of the run context's cancellation when the component
// is stopping, so code can tell a stop (context.Cause(ctx) == ErrStop) from
// a caller giving up.
var ErrStop = errors.New("startstop: stopping")

// Service is a long-lived component: Start brings it up and returns once it
// runs (or failed to start); Stop takes it down and returns once it is down
// or ctx ended.
type Service interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// BaseStartStop implements the shared semantics (see the package
// documentation). Its zero value is ready to use; it must not be copied
// after first use.
type BaseStartStop struct {
	mu       sync.Mutex
	begun    bool // StartInit was called
	stopping bool // a Stop has taken on the stop work
	cancel   context.CancelCauseFunc
	started  chan struct{}
	stopped  chan struct{}
	// markStarted and markStopped close started and stopped, once each.
	markStarted func()
	markStopped func()
}

// channelsLocked allocates the channels on first need, so Started and
// Stopped may be taken before Start.
func (s *BaseStartStop) channelsLocked() {
	if s.started == nil {
		s.started = make(chan struct{})
		s.markStarted = sync.OnceFunc(func() { close(s.started) })
	}
	if s.stopped == nil {
		s.stopped = make(chan struct{})
		s.markStopped = sync.OnceFunc(func() {
			if s.cancel != nil {
				s.cancel(ErrStop)
			}
			// stopped closes before started, so a Stop that sees a failed
			// start's started closed also sees stopped closed, and does
			// no stop work for a component that never ran.
			close(s.stopped)
			s.markStarted()
		})
	}
}

// StartInit begins a Start. It returns the run context for the component's
// goroutines (values of ctx, but cancelled only by Stop, with cause
// ErrStop), started, which the component calls once it runs, and stopped,
// which it calls once everything it started has ended: at the end of its
// run goroutine, or on a failed start after releasing what it had taken.
// Both are safe to call more than once; stopped implies started.
//
// It returns ErrStarted, and nil functions that are safe to call, when the
// component was started before; Start then returns that error as it is.
func (s *BaseStartStop) StartInit(ctx context.Context) (run context.Context, started, stopped func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.begun {
		return ctx, func() {}, func() {}, ErrStarted
	}
	s.begun = true
	s.channelsLocked()
	run, s.cancel = context.WithCancelCause(context.WithoutCancel(ctx))
	return run, s.markStarted, s.markStopped, nil
}

// Started returns a channel closed once the component runs, or once it
// failed to start. It may be called before Start.
func (s *BaseStartStop) Started() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channelsLocked()
	return s.started
}

// Stopped returns a channel closed once the component has stopped (after a
// failed start too). It may be called before Start.
func (s *BaseStartStop) Stopped() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channelsLocked()
	return s.stopped
}

// Stop cancels the run context and waits until the component has called
// stopped or ctx ends. It is the whole Stop of a component whose goroutine
// ends when its run context does.
func (s *BaseStartStop) Stop(ctx context.Context) error {
	return s.StopWith(ctx, nil)
}

// StopWith is Stop for a component whose stop is work: it cancels the run
// context, waits for a Start in progress to return, and then the first
// caller runs work(ctx) and marks the component stopped when work returns,
// whatever work returned (work's error is that caller's result; a work that
// gives up when ctx ends must have aborted what it waited for). Concurrent
// and later callers wait for the component to be stopped, or for their own
// ctx. work may be nil: the component's goroutine calls stopped itself.
func (s *BaseStartStop) StopWith(ctx context.Context, work func(ctx context.Context) error) error {
	s.mu.Lock()
	if !s.begun {
		s.mu.Unlock()
		return nil
	}
	s.cancel(ErrStop)
	started, stopped := s.started, s.stopped
	s.mu.Unlock()

	// A Start in progress sees its start-up context end (StartupContext)
	// and returns; what it left running is stopped below.
	if err := wait(ctx, started); err != nil {
		return err
	}
	select {
	case <-stopped:
		return nil
	default:
	}

	s.mu.Lock()
	first := !s.stopping
	s.stopping = true
	s.mu.Unlock()
	if first && work != nil {
		err := work(ctx)
		s.markStopped()
		return err
	}
	return wait(ctx, stopped)
}

// wait waits for ch to be closed or ctx to end. A closed ch wins over an
// ended ctx, so a Stop with an expired context (a crash-style stop) still
// sees what has already happened.
func wait(ctx context.Context, ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	default:
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("startstop: stop: %w", ctx.Err())
	}
}

// StopWithAbort is Stop for a component that drains in-flight work when it
// stops: it cancels the run context (the component stops taking new work)
// and waits for the component's goroutine to call stopped. If ctx ends
// first, it calls abort, which must make the work in flight return
// promptly (cancel its context), waits for stopped, and returns an error
// wrapping ctx's: the component has stopped, not cleanly.
func (s *BaseStartStop) StopWithAbort(ctx context.Context, abort func()) error {
	return s.StopWith(ctx, func(ctx context.Context) error {
		stopped := s.Stopped()
		err := wait(ctx, stopped)
		if err != nil {
			abort()
			<-stopped
		}
		return err
	})
}

// StartupContext returns the context for a component's start-up work
// (listening, taking a lease, joining a cluster): it ends when the caller's
// start context ends or when Stop is called during the start (run is the
// run context from StartInit). Call the returned cancel when the start-up
// work is done.
func StartupContext(start, run context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(start)
	unhook := context.AfterFunc(run, func() { cancel(context.Cause(run)) })
	return ctx, func() {
		unhook()
		cancel(context.Canceled)
	}
}
