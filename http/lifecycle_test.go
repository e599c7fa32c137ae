package http

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/vayvahq/vayva/internal/startstop/startstoptest"
)

// The edge keeps the start/stop semantics every long-lived component
// shares.
func TestServerLifecycle(t *testing.T) {
	t.Parallel()
	startstoptest.Check(t, func(*testing.T) startstoptest.Service {
		return NewServer(Config{Addr: "127.0.0.1:0"}, Deps{Log: zerolog.Nop(), Registry: prometheus.NewRegistry()})
	})
}
