package redis_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/persistence/redis"
	"github.com/vayvahq/vayva/persistence/redis/redistest"
)

func TestOpenAndKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, err := redis.Open(ctx, redistest.URL(), "vayva")
	require.NoError(t, err)
	defer c.Close()
	require.Equal(t, "vayva:", c.Prefix())
	require.Equal(t, "vayva:q:email:dead", c.Key("q", "email", "dead"))
	require.NoError(t, c.Ping(ctx))
	require.NoError(t, c.Close())
	require.NoError(t, c.Close())
	err = c.Ping(ctx)
	require.Error(t, err)
	require.Equal(t, vayva.EUNAVAILABLE, vayva.ErrorCode(err))

	_, err = redis.Open(ctx, "redis://127.0.0.1:1/0?max_retries=-1", "x")
	require.Equal(t, vayva.EUNAVAILABLE, vayva.ErrorCode(err))
	_, err = redis.Open(ctx, "http://nope", "x")
	require.Error(t, err)
}

func TestTranslate(t *testing.T) {
	t.Parallel()
	require.NoError(t, redis.Translate(nil))
	require.Equal(t, goredis.Nil, redis.Translate(goredis.Nil))
	cmdErr := errors.New("ERR wrong number of arguments")
	require.Equal(t, cmdErr, redis.Translate(cmdErr))
	err := redis.Translate(goredis.ErrClosed)
	require.ErrorIs(t, err, goredis.ErrClosed)
	require.Equal(t, vayva.EUNAVAILABLE, vayva.ErrorCode(err))
	err = redis.Translate(fmt.Errorf("wait: %w", context.DeadlineExceeded))
	require.Equal(t, vayva.EUNAVAILABLE, vayva.ErrorCode(err), "a deadline is a timeout")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, context.Canceled, redis.Translate(context.Canceled), "a cancelled caller gave up")
}

// A command whose deadline passes while it waits for Redis is unavailable,
// never an internal error.
func TestTimeoutIsUnavailable(t *testing.T) {
	t.Parallel()
	c := redistest.New(t)
	one := c.Dedicated(1)
	defer one.Close()
	// The only connection is busy with a blocking pop for a while.
	busy := make(chan error, 1)
	go func() { busy <- one.BLPop(context.Background(), 2*time.Second, c.Key("never")).Err() }()
	require.Eventually(t, func() bool { return one.PoolStats().TotalConns == 1 && one.PoolStats().IdleConns == 0 }, 5*time.Second, time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := redis.Translate(one.Get(ctx, c.Key("k")).Err())
	require.Error(t, err)
	require.Equal(t, vayva.EUNAVAILABLE, vayva.ErrorCode(err), "%v", err)
	require.True(t, redis.IsUnavailable(err))
	require.ErrorIs(t, <-busy, goredis.Nil)
}

func TestRedistestIsolatesAndCleansUp(t *testing.T) {
	ctx := context.Background()
	var prefix string
	var probe *redis.Client
	t.Run("inner", func(t *testing.T) {
		c := redistest.New(t)
		prefix = c.Prefix()
		require.Regexp(t, `^test:[0-9a-f]{16}:$`, prefix)
		for i := range 2500 {
			require.NoError(t, c.Redis().Set(ctx, c.Key("k", string(rune('a'+i%26)), itoa(i)), 1, 0).Err())
		}
		other := redistest.New(t)
		require.NotEqual(t, prefix, other.Prefix())
	})
	probe = redistest.Open(t, redistest.URL(), "probe")
	keys, err := probe.Redis().Keys(ctx, prefix+"*").Result()
	require.NoError(t, err)
	require.Empty(t, keys)
}

func itoa(i int) string {
	b := []byte{}
	for {
		b = append([]byte{byte('0' + i%10)}, b...)
		i /= 10
		if i == 0 {
			return string(b)
		}
	}
}
