package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva/auth"
	"github.com/vayvahq/vayva/persistence/redis"
	"github.com/vayvahq/vayva/persistence/redis/redistest"
)

func TestRateLimiterFixedWindow(t *testing.T) {
	ctx := context.Background()
	c := redistest.New(t)
	l := redis.NewRateLimiter(c)
	lim := auth.Limit{Key: "login:email:x", Rate: auth.Rate{Max: 3, Window: time.Minute}}
	for i := 0; i < 3; i++ {
		ok, _, err := l.Take(ctx, lim)
		require.NoError(t, err)
		require.True(t, ok, "attempt %d", i+1)
	}
	ok, retry, err := l.Take(ctx, lim)
	require.NoError(t, err)
	require.False(t, ok)
	require.Greater(t, retry, 55*time.Second)
	require.LessOrEqual(t, retry, time.Minute)

	n, err := l.Count(ctx, "login:email:x")
	require.NoError(t, err)
	require.Equal(t, int64(4), n, "refused attempts count too")
	ttl, err := c.Redis().PTTL(ctx, c.Key("ratelimit", "login:email:x")).Result()
	require.NoError(t, err)
	require.Greater(t, ttl, time.Duration(0), "the counter expires with its window")
}

func TestRateLimiterAllLimitsCount(t *testing.T) {
	ctx := context.Background()
	l := redis.NewRateLimiter(redistest.New(t))
	addr := auth.Limit{Key: "login:addr:10.0.0.1", Rate: auth.Rate{Max: 2, Window: time.Minute}}
	for _, email := range []string{"a", "b"} {
		ok, _, err := l.Take(ctx, auth.Limit{Key: "login:email:" + email, Rate: auth.Rate{Max: 5, Window: time.Minute}}, addr)
		require.NoError(t, err)
		require.True(t, ok)
	}
	// A fresh email from the same address is refused by the address limit.
	ok, retry, err := l.Take(ctx, auth.Limit{Key: "login:email:c", Rate: auth.Rate{Max: 5, Window: time.Minute}}, addr)
	require.NoError(t, err)
	require.False(t, ok)
	require.Greater(t, retry, time.Duration(0))
}

func TestRateLimiterWindowEnds(t *testing.T) {
	ctx := context.Background()
	l := redis.NewRateLimiter(redistest.New(t))
	lim := auth.Limit{Key: "k", Rate: auth.Rate{Max: 1, Window: 50 * time.Millisecond}}
	ok, _, err := l.Take(ctx, lim)
	require.NoError(t, err)
	require.True(t, ok)
	ok, _, err = l.Take(ctx, lim)
	require.NoError(t, err)
	require.False(t, ok)
	require.Eventually(t, func() bool {
		ok, _, err := l.Take(ctx, lim)
		return err == nil && ok
	}, 5*time.Second, 10*time.Millisecond)
}

func TestRateLimiterRefund(t *testing.T) {
	ctx := context.Background()
	l := redis.NewRateLimiter(redistest.New(t))
	lim := auth.Limit{Key: "k", Rate: auth.Rate{Max: 1, Window: time.Minute}}
	for i := 0; i < 5; i++ {
		ok, _, err := l.Take(ctx, lim)
		require.NoError(t, err)
		require.True(t, ok, "every attempt is given back, so none is refused")
		require.NoError(t, l.Refund(ctx, lim))
	}
	n, err := l.Count(ctx, "k")
	require.NoError(t, err)
	require.Zero(t, n)
	// Refunding a counter that does not exist creates nothing.
	require.NoError(t, l.Refund(ctx, auth.Limit{Key: "never", Rate: lim.Rate}))
	n, err = l.Count(ctx, "never")
	require.NoError(t, err)
	require.Zero(t, n)
}
