package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/vayvahq/vayva"
)

// Client is the runtime's handle on one Redis server: a go-redis client plus
// the key prefix that every key of this deployment starts with.
type Client struct {
	rdb    *goredis.Client
	opts   goredis.Options
	prefix string
}

// Open connects to the Redis server named by url (redis://[user:pass@]host:port/db,
// with the query parameters goredis.ParseURL accepts, e.g. client_name or
// pool_size) and checks it with PING. A non-empty prefix that does not end in
// ":" gets one appended.
func Open(ctx context.Context, url, prefix string) (*Client, error) {
	opts, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis: parse url: %w", err)
	}
	if opts.MaintNotificationsConfig == nil {
		// Maintenance notifications are a managed-service feature absent from
		// plain Redis; probing for them in auto mode mutates the shared
		// options from every new connection, which races when dedicated
		// connections (Client.Conn) are opened concurrently.
		opts.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	}
	if prefix != "" && !strings.HasSuffix(prefix, ":") {
		prefix += ":"
	}
	c := &Client{rdb: goredis.NewClient(opts), opts: *opts, prefix: prefix}
	if err := c.Ping(ctx); err != nil {
		_ = c.rdb.Close()
		return nil, err
	}
	return c, nil
}

// Redis returns the underlying go-redis client. Keys passed to it must be
// built with Key.
func (c *Client) Redis() *goredis.Client { return c.rdb }

// Prefix returns the prefix every key of this client starts with, e.g.
// "vayva:" or "test:3f9a…:".
func (c *Client) Prefix() string { return c.prefix }

// Key returns the prefix followed by parts joined with ":", e.g.
// Key("q", "email", "dead") = "vayva:q:email:dead".
func (c *Client) Key(parts ...string) string {
	return c.prefix + strings.Join(parts, ":")
}

// Ping reports whether the server answers; it is the health check.
func (c *Client) Ping(ctx context.Context) error {
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: ping: %w", Translate(err))
	}
	return nil
}

// Dedicated returns a new go-redis client to the same server with its own
// pool of poolSize connections and no automatic command retries. It is meant
// for blocking reads, which hold a connection for seconds and must neither
// starve the shared pool nor be retried behind the caller's back. The caller
// closes it.
func (c *Client) Dedicated(poolSize int) *goredis.Client {
	opts := c.opts
	opts.PoolSize = poolSize
	opts.MinIdleConns = 0
	opts.MaxIdleConns = poolSize
	opts.MaxRetries = -1
	return goredis.NewClient(&opts)
}

// Close closes the connection pool.
func (c *Client) Close() error {
	if err := c.rdb.Close(); err != nil && !errors.Is(err, goredis.ErrClosed) {
		return fmt.Errorf("redis: close: %w", err)
	}
	return nil
}

// ErrUnavailable is the coded error that Translate attaches to failures of
// the connection rather than of the command.
var ErrUnavailable = &vayva.Error{Code: vayva.EUNAVAILABLE, Message: "The job store is unavailable; retry later."}

// Translate maps a go-redis error to the runtime's errors: connection,
// timeout, pool and server-availability failures are wrapped so that they
// carry ErrUnavailable (vayva.EUNAVAILABLE) while keeping the original error
// in the chain. nil, goredis.Nil and command errors are returned unchanged.
func Translate(err error) error {
	if err == nil || errors.Is(err, goredis.Nil) || errors.Is(err, ErrUnavailable) {
		return err
	}
	if IsUnavailable(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// IsUnavailable reports whether err is a failure to reach a working Redis
// (as opposed to an error reply to a well-formed command), i.e. something a
// retry with backoff may cure. A deadline that passed while the command
// waited for a connection or an answer is one; a cancelled context is not
// (the caller gave up).
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrUnavailable) || errors.Is(err, goredis.ErrClosed) || errors.Is(err, goredis.ErrPoolTimeout) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var re goredis.Error
	if errors.As(err, &re) {
		msg := re.Error()
		for _, p := range []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "BUSY ", "OOM"} {
			if strings.HasPrefix(msg, p) {
				return true
			}
		}
	}
	return false
}
