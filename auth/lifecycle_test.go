package auth_test

import (
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva/auth"
	"github.com/vayvahq/vayva/internal/startstop/startstoptest"
	"github.com/vayvahq/vayva/persistence/redis"
	"github.com/vayvahq/vayva/persistence/redis/redistest"
)

// The accounts service keeps the start/stop semantics every long-lived
// component shares, with its token cache subscribed to revocations.
func TestServiceLifecycle(t *testing.T) {
	revs := redis.NewRevocations(redistest.New(t), zerolog.Nop())
	startstoptest.Check(t, func(t *testing.T) startstoptest.Service {
		s, err := auth.NewService(auth.Config{PublicURL: "http://127.0.0.1:8080"}, nil, nil, revs, zerolog.Nop())
		require.NoError(t, err)
		return s
	})
}
