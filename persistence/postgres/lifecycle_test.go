package postgres_test

import (
	"context"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/internal/startstop/startstoptest"
	"github.com/vayvahq/vayva/persistence/postgres"
	"github.com/vayvahq/vayva/persistence/postgres/pgtest"
)

// The janitor and the scheduler keep the start/stop semantics every
// long-lived component shares.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	t.Run("Janitor", func(t *testing.T) {
		startstoptest.Check(t, func(*testing.T) startstoptest.Service {
			return postgres.NewJanitor(db, 0, zerolog.Nop())
		})
	})
	t.Run("Scheduler", func(t *testing.T) {
		startstoptest.Check(t, func(t *testing.T) startstoptest.Service {
			s, err := postgres.NewScheduler(db, func(context.Context, vayva.Reminder) error { return nil }, postgres.SchedulerConfig{})
			require.NoError(t, err)
			return s
		})
	})
}
