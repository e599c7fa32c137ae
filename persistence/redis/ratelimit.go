package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/vayvahq/vayva/auth"
)

// RateLimiter counts attempts in fixed windows, in Redis, so that a limit
// holds across every node. Each limit is one counter key that lives for
// its window: the first attempt creates it with the window as its TTL, and
// attempts beyond Max are refused until it expires. A fixed window lets a
// client make up to twice Max attempts around a window boundary; for
// sign-in limits that is acceptable and costs one key per counter.
type RateLimiter struct {
	c *Client
}

var _ auth.RateLimiter = (*RateLimiter)(nil)

// NewRateLimiter returns a limiter whose counters live under c's prefix at
// "ratelimit:<key>".
func NewRateLimiter(c *Client) *RateLimiter { return &RateLimiter{c: c} }

// takeScript counts one attempt on every key (KEYS[i], with Max ARGV[2i-1]
// and window ARGV[2i] in milliseconds) and returns {allowed, retry_ms}:
// allowed is 1 when no counter exceeds its Max, and retry_ms is the longest
// remaining window among the counters that do. A counter found without a
// TTL (which only an interrupted script could leave) gets one.
var takeScript = goredis.NewScript(`
local allowed, retry = 1, 0
for i, key in ipairs(KEYS) do
	local max = tonumber(ARGV[2*i-1])
	local window = tonumber(ARGV[2*i])
	local n = redis.call('INCR', key)
	local ttl = redis.call('PTTL', key)
	if n == 1 or ttl < 0 then
		redis.call('PEXPIRE', key, window)
		ttl = window
	end
	if n > max then
		allowed = 0
		if ttl > retry then retry = ttl end
	end
end
return {allowed, retry}
`)

// refundScript takes one attempt back from every counter that still
// exists and is above zero.
var refundScript = goredis.NewScript(`
for _, key in ipairs(KEYS) do
	local n = tonumber(redis.call('GET', key) or '0')
	if n > 0 then redis.call('DECR', key) end
end
return 0
`)

// Take counts one attempt against every limit, atomically, and reports
// whether all of them allow it; if not, retryAfter is when the refusing
// windows have all reset. Refused attempts count too, so hammering does not
// shorten the wait.
func (l *RateLimiter) Take(ctx context.Context, limits ...auth.Limit) (bool, time.Duration, error) {
	if len(limits) == 0 {
		return true, 0, nil
	}
	keys := make([]string, len(limits))
	args := make([]any, 0, 2*len(limits))
	for i, lim := range limits {
		if lim.Max <= 0 || lim.Window < time.Millisecond {
			return false, 0, fmt.Errorf("redis: rate limit %q: Max and Window must be positive", lim.Key)
		}
		keys[i] = l.c.Key("ratelimit", lim.Key)
		args = append(args, lim.Max, lim.Window.Milliseconds())
	}
	res, err := takeScript.Run(ctx, l.c.rdb, keys, args...).Int64Slice()
	if err != nil {
		return false, 0, fmt.Errorf("redis: rate limit: %w", Translate(err))
	}
	if len(res) != 2 {
		return false, 0, fmt.Errorf("redis: rate limit: unexpected reply %v", res)
	}
	return res[0] == 1, time.Duration(res[1]) * time.Millisecond, nil
}

// Refund gives one attempt back to every limit.
func (l *RateLimiter) Refund(ctx context.Context, limits ...auth.Limit) error {
	if len(limits) == 0 {
		return nil
	}
	keys := make([]string, len(limits))
	for i, lim := range limits {
		keys[i] = l.c.Key("ratelimit", lim.Key)
	}
	if err := refundScript.Run(ctx, l.c.rdb, keys).Err(); err != nil && !errors.Is(err, goredis.Nil) {
		return fmt.Errorf("redis: rate limit refund: %w", Translate(err))
	}
	return nil
}

// Count returns the attempts counted on key in its current window, for
// tests and operators.
func (l *RateLimiter) Count(ctx context.Context, key string) (int64, error) {
	v, err := l.c.rdb.Get(ctx, l.c.Key("ratelimit", key)).Result()
	if errors.Is(err, goredis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("redis: rate limit count: %w", Translate(err))
	}
	return strconv.ParseInt(v, 10, 64)
}
