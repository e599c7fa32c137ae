// Package redistest gives each test its own view of the shared test Redis: a
// Client with a random key prefix whose keys are deleted when the test ends.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/vayvahq/vayva/persistence/redis"
)

// DefaultURL is the Redis the tests use when VAYVA_REDIS_URL is not set.
const DefaultURL = "redis://127.0.0.1:6379/0"

// URL returns the Redis URL for tests: VAYVA_REDIS_URL, else DefaultURL.
func URL() string {
	if u := os.Getenv("VAYVA_REDIS_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// New returns a Client on the test Redis with the prefix "test:<random>:".
// When the test ends it deletes every key under that prefix and closes the
// client. The test fails if Redis is unreachable.
func New(t testing.TB) *redis.Client {
	t.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("redistest: random prefix: %v", err)
	}
	return Open(t, URL(), "test:"+hex.EncodeToString(b[:])+":")
}

// Open returns a Client on url with the given prefix, closed when the test
// ends. When prefix starts with "test:" every key under it is deleted too.
// Tests use it for a second connection pool onto the keys of an existing
// Client (same prefix), e.g. one whose connections they kill.
func Open(t testing.TB, url, prefix string) *redis.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := redis.Open(ctx, url, prefix)
	if err != nil {
		t.Fatalf("redistest: open %s: %v", url, err)
	}
	t.Cleanup(func() {
		defer c.Close()
		if len(prefix) < len("test:x") || prefix[:5] != "test:" {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := DeleteAll(ctx, c); err != nil {
			t.Errorf("redistest: cleanup: %v", err)
		}
	})
	return c
}

// DeleteAll unlinks every key under c's prefix (SCAN + UNLINK).
func DeleteAll(ctx context.Context, c *redis.Client) error {
	rdb := c.Redis()
	var cursor uint64
	for {
		keys, next, err := rdb.Scan(ctx, cursor, escapeGlob(c.Prefix())+"*", 1000).Result()
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			if err := rdb.Unlink(ctx, keys...).Err(); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

func escapeGlob(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}
