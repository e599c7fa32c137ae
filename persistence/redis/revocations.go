package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/vayvahq/vayva/auth"
	"github.com/vayvahq/vayva/internal/startstop"
)

// Revocations carries credential revocations between nodes over Redis
// pub/sub, numbered by a generation counter: publishing increments the
// counter and publishes "<generation> <revocation JSON>" in one Lua call,
// so the messages on the channel are in generation order and the counter
// never runs behind a message. Nodes compare the counter with the last
// generation they applied to know whether their token caches may be
// trusted (see package auth).
type Revocations struct {
	c   *Client
	log zerolog.Logger
	// RetryDelay is the pause before resubscribing after the subscription
	// failed. Defaults to 200ms.
	RetryDelay time.Duration
}

var _ auth.Revocations = (*Revocations)(nil)

// NewRevocations returns revocations on c, with keys under c's prefix:
// the channel "auth:revocations" and the counter "auth:revocations:gen".
func NewRevocations(c *Client, log zerolog.Logger) *Revocations {
	return &Revocations{c: c, log: log.With().Str("component", "revocations").Logger(), RetryDelay: 200 * time.Millisecond}
}

func (r *Revocations) channel() string { return r.c.Key("auth", "revocations") }
func (r *Revocations) genKey() string  { return r.c.Key("auth", "revocations", "gen") }

var publishScript = goredis.NewScript(`
local gen = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], gen .. ' ' .. ARGV[2])
return gen
`)

// Publish announces rev to every subscribed node.
func (r *Revocations) Publish(ctx context.Context, rev auth.Revocation) error {
	payload, err := json.Marshal(rev)
	if err != nil {
		return fmt.Errorf("redis: publish revocation: %w", err)
	}
	if err := publishScript.Run(ctx, r.c.rdb, []string{r.genKey()}, r.channel(), string(payload)).Err(); err != nil {
		return fmt.Errorf("redis: publish revocation: %w", Translate(err))
	}
	return nil
}

// Generation returns the number of revocations published so far.
func (r *Revocations) Generation(ctx context.Context) (int64, error) {
	n, err := r.c.rdb.Get(ctx, r.genKey()).Int64()
	if errors.Is(err, goredis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("redis: revocation generation: %w", Translate(err))
	}
	return n, nil
}

// Subscribe starts a goroutine that delivers revocations to l until the
// returned subscription is closed. l hears Synced once the subscription is
// confirmed (and again after each reconnection), Revoked for each message,
// and Lost when the connection fails.
func (r *Revocations) Subscribe(ctx context.Context, l auth.RevocationListener) (auth.Subscription, error) {
	s := &subscription{r: r, ps: r.c.rdb.Subscribe(ctx, r.channel()), l: l}
	if err := s.Start(ctx); err != nil {
		_ = s.ps.Close()
		return nil, err
	}
	return s, nil
}

// subscription is a long-lived component with the semantics of package
// startstop; Close is its Stop.
type subscription struct {
	startstop.BaseStartStop

	r  *Revocations
	ps *goredis.PubSub
	l  auth.RevocationListener
}

// Start runs the subscription's receive loop until Close.
func (s *subscription) Start(ctx context.Context) error {
	run, started, stopped, err := s.StartInit(ctx)
	if err != nil {
		return err
	}
	go func() {
		defer stopped()
		s.run(run)
	}()
	started()
	return nil
}

func (s *subscription) run(ctx context.Context) {
	healthy := true
	for {
		msg, err := s.ps.Receive(ctx)
		if err != nil {
			s.l.Lost()
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, goredis.ErrClosed) {
				// The client was closed under us (the node is going
				// away); there is nothing to resubscribe with.
				return
			}
			if healthy {
				s.r.log.Warn().Err(err).Msg("revocation subscription lost; resubscribing")
				healthy = false
			}
			if !sleep(ctx, s.r.RetryDelay) {
				return
			}
			continue
		}
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Kind != "subscribe" {
				continue
			}
			// Messages published from now on reach us; what was published
			// before is counted in the generation.
			gen, ok := s.generation(ctx)
			if !ok {
				return
			}
			s.l.Synced(gen)
			if !healthy {
				s.r.log.Info().Msg("revocation subscription restored")
				healthy = true
			}
		case *goredis.Message:
			gen, rev, err := parseRevocation(m.Payload)
			if err != nil {
				s.r.log.Error().Err(err).Msg("malformed revocation message")
				continue
			}
			s.l.Revoked(gen, rev)
		case *goredis.Pong:
		default:
		}
	}
}

// generation reads the current generation, retrying until it succeeds or
// the subscription is closed (ok false). Messages arriving meanwhile wait
// in the connection.
func (s *subscription) generation(ctx context.Context) (gen int64, ok bool) {
	for {
		gen, err := s.r.Generation(ctx)
		if err == nil {
			return gen, true
		}
		if errors.Is(err, goredis.ErrClosed) || ctx.Err() != nil {
			return 0, false
		}
		s.r.log.Warn().Err(err).Msg("reading the revocation generation failed; retrying")
		if !sleep(ctx, s.r.RetryDelay) {
			return 0, false
		}
	}
}

// sleep waits d; it reports false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Close ends the subscription and waits for its goroutine.
func (s *subscription) Close() error {
	return s.Stop(context.Background())
}

// Stop ends the subscription and waits for its goroutine (or ctx).
func (s *subscription) Stop(ctx context.Context) error {
	return s.StopWith(ctx, func(ctx context.Context) error {
		// The receive loop sees its context end; closing the connection
		// also interrupts a read in progress.
		err := s.ps.Close()
		select {
		case <-s.Stopped():
		case <-ctx.Done():
			return fmt.Errorf("redis: close revocation subscription: %w", ctx.Err())
		}
		if err != nil && !errors.Is(err, goredis.ErrClosed) {
			return fmt.Errorf("redis: close revocation subscription: %w", err)
		}
		return nil
	})
}

// parseRevocation parses "<generation> <revocation JSON>".
func parseRevocation(payload string) (int64, auth.Revocation, error) {
	var rev auth.Revocation
	num, body, ok := strings.Cut(payload, " ")
	if !ok {
		return 0, rev, fmt.Errorf("no generation in %q", payload)
	}
	gen, err := strconv.ParseInt(num, 10, 64)
	if err != nil || gen < 1 {
		return 0, rev, fmt.Errorf("bad generation in %q", payload)
	}
	if err := json.Unmarshal([]byte(body), &rev); err != nil {
		return 0, rev, fmt.Errorf("bad revocation in %q: %w", payload, err)
	}
	return gen, rev, nil
}
