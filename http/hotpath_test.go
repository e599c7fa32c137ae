package http

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
)

// The lazy deadline behaves as context.WithDeadline: it knows its
// deadline, ends when it passes (also for contexts derived from it), and
// its CancelFunc cancels it whether or not anything used it before.
func TestLazyDeadlineIsADeadline(t *testing.T) {
	d := time.Now().Add(30 * time.Millisecond)
	ctx, cancel := withLazyDeadline(context.Background(), d)
	defer cancel()
	got, ok := ctx.Deadline()
	require.True(t, ok)
	require.Equal(t, d, got)
	require.NoError(t, ctx.Err())
	child, childCancel := context.WithTimeout(vayva.WithRequestID(ctx, "req_1"), time.Hour)
	defer childCancel()
	<-child.Done()
	require.True(t, errors.Is(child.Err(), context.DeadlineExceeded))
	require.True(t, errors.Is(ctx.Err(), context.DeadlineExceeded))
	require.Equal(t, "req_1", vayva.RequestIDFromContext(child))

	unused, stop := withLazyDeadline(context.Background(), time.Now().Add(time.Hour))
	stop()
	<-unused.Done()
	require.True(t, errors.Is(unused.Err(), context.Canceled))

	used, stop := withLazyDeadline(context.Background(), time.Now().Add(time.Hour))
	derived, derivedCancel := context.WithCancel(used)
	defer derivedCancel()
	stop()
	<-derived.Done()
	require.True(t, errors.Is(derived.Err(), context.Canceled))
}

func TestRequestIDsAreUniqueAndShaped(t *testing.T) {
	a, b := newRequestIDs(), newRequestIDs()
	seen := map[string]bool{}
	for range 1000 {
		for _, id := range []string{string(a.next(nil)), string(b.next(nil))} {
			require.True(t, strings.HasPrefix(id, "req_"))
			require.LessOrEqual(t, len(id), 64)
			require.True(t, validRequestID.MatchString(id))
			require.False(t, seen[id], id)
			seen[id] = true
		}
	}
}
