package node

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// Serve runs a node for cfg until a signal, an ops drain or an eviction,
// and returns the process's exit code: `vayva serve`. The first
// SIGTERM/SIGINT shuts down gracefully; a second one forces exit. An
// evicted node does not drain: its identities already run elsewhere, so it
// is killed at once (nothing more is activated, committed or served) and
// Serve returns 1, for a supervisor to start a new incarnation under a new
// member id. ready, when not nil, is called once the node serves.
func Serve(cfg Config, log zerolog.Logger, ready func(*Node)) int {
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(signals)

	n := New(cfg, log)
	startCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
	err := n.Start(startCtx)
	cancel()
	if err != nil {
		log.Error().Err(err).Msg("node failed to start")
		return 1
	}
	log.Info().Str("http", n.cfg.HTTPAddr).Str("member", n.Member.ID()).Str("providers", cfg.Providers).Msg("node ready")
	if ready != nil {
		ready(n)
	}

	select {
	case s := <-signals:
		log.Info().Str("signal", s.String()).Msg("shutting down; send again to force exit")
	case <-n.Member.DrainRequested():
		log.Info().Msg("draining on ops request")
	case <-n.Member.Evicted():
		log.Error().Str("member", n.Member.ID()).Msg("evicted from the cluster; exiting at once so a supervisor restarts this node under a new member id")
		n.Kill()
		return 1
	}

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		done <- n.Stop(ctx)
	}()
	select {
	case err := <-done:
		if err != nil {
			log.Error().Err(err).Msg("shutdown finished with errors")
			return 1
		}
		log.Info().Msg("shutdown complete")
		return 0
	case s := <-signals:
		log.Warn().Str("signal", s.String()).Msg("forced exit")
		return 130
	}
}
