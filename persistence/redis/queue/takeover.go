package queue

import (
	"context"
	"errors"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/vayvahq/vayva/persistence/redis"
)

// releaseLeasesScript: KEYS leases...; ARGV prefix. Deletes the leases
// whose holder's token starts with prefix; returns how many.
var releaseLeasesScript = goredis.NewScript(`
local n = 0
for _, k in ipairs(KEYS) do
  local v = redis.call('GET', k)
  if v and string.sub(v, 1, #ARGV[1]) == ARGV[1] then
    redis.call('DEL', k)
    n = n + 1
  end
end
return n
`)

// forgetMembersScript: KEYS members; ARGV prefix. Removes the registrations
// whose token starts with prefix.
var forgetMembersScript = goredis.NewScript(`
local n = 0
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if string.sub(m, 1, #ARGV[1]) == ARGV[1] then
    redis.call('ZREM', KEYS[1], m)
    n = n + 1
  end
end
return n
`)

// TakeOver hands what the consumers whose names start with prefix held to
// the consumers running in this process, without waiting for a lease to
// expire or an entry to look idle. Call it for the consumers of a process
// known to be dead (a cluster member evicted by the others: its consumer
// names start with its member id), never for a live one.
//
// On ordered queues the dead consumers' partition leases and registrations
// are deleted and the lease loops of this process's consumers look for free
// partitions at once; the new owner of a partition takes over everything
// pending on it, as always. On unordered queues the first local consumer of
// the queue claims the dead consumers' pending entries (XPENDING for each of
// them, XCLAIM by id; each claim counts as a delivery) and handles them,
// then deletes them from the group. Queues no local consumer reads are left
// to their consumers' janitors (after ClaimMinIdle) and lease expiry. It
// returns the number of entries claimed and leases released.
func (b *Broker) TakeOver(ctx context.Context, prefix string) (int, error) {
	if prefix == "" {
		return 0, errors.New("queue: take over: empty consumer name prefix")
	}
	b.consumersMu.Lock()
	var local []*Consumer
	for c := range b.consumers {
		if !strings.HasPrefix(c.name, prefix) {
			local = append(local, c)
		}
	}
	b.consumersMu.Unlock()
	done := map[string]bool{}
	total := 0
	var errs []error
	for _, c := range local {
		for _, r := range c.subs {
			if done[r.queueName()] || !c.live() {
				continue
			}
			done[r.queueName()] = true
			var n int
			var err error
			switch s := r.(type) {
			case *unorderedSub:
				n, err = s.claimFrom(ctx, prefix)
			case *orderedSub:
				n, err = s.releaseFrom(ctx, prefix)
			}
			total += n
			if err != nil {
				errs = append(errs, redis.Translate(err))
			}
		}
	}
	if n := total; n > 0 {
		b.log.Info().Str("consumers", prefix+"*").Int("taken", n).Msg("queue: took over a dead process's consumers")
	}
	return total, errors.Join(errs...)
}

// register and unregister keep the broker's list of running consumers.
func (b *Broker) register(c *Consumer) {
	b.consumersMu.Lock()
	defer b.consumersMu.Unlock()
	if b.consumers == nil {
		b.consumers = map[*Consumer]struct{}{}
	}
	b.consumers[c] = struct{}{}
}

func (b *Broker) unregister(c *Consumer) {
	b.consumersMu.Lock()
	defer b.consumersMu.Unlock()
	delete(b.consumers, c)
}

// claimFrom claims and handles the pending entries of the consumers of
// this queue whose names start with prefix, then deletes those consumers.
func (u *unorderedSub) claimFrom(ctx context.Context, prefix string) (int, error) {
	c := u.c
	rdb, group := c.b.rdb, c.b.cfg.Group
	cs, err := rdb.XInfoConsumers(ctx, u.stream, group).Result()
	if err != nil {
		if isNoGroup(err) {
			return 0, nil
		}
		return 0, err
	}
	claimed := 0
	for _, x := range cs {
		if !strings.HasPrefix(x.Name, prefix) || x.Name == c.name {
			continue
		}
		for x.Pending > 0 {
			ps, err := rdb.XPendingExt(ctx, &goredis.XPendingExtArgs{
				Stream: u.stream, Group: group, Start: "-", End: "+", Count: 100, Consumer: x.Name,
			}).Result()
			if err != nil {
				return claimed, err
			}
			if len(ps) == 0 {
				break
			}
			ids := make([]string, len(ps))
			for i, p := range ps {
				ids[i] = p.ID
			}
			msgs, err := rdb.XClaim(ctx, &goredis.XClaimArgs{
				Stream: u.stream, Group: group, Consumer: c.name, MinIdle: 0, Messages: ids,
			}).Result()
			if err != nil {
				return claimed, err
			}
			counts, err := c.b.pendingCounts(ctx, u.stream, c.name, ids[0], ids[len(ids)-1], int64(len(ids))+1000)
			if err != nil {
				return claimed, err
			}
			for i, m := range msgs {
				cnt, ok := counts[m.ID]
				if !ok {
					// Not in the window read back: XCLAIM added one to
					// the count the dead consumer had.
					cnt = claimedCount(ps, m.ID, i)
				}
				if u.isHeld(m.ID) {
					continue
				}
				if !u.acquireNow() {
					return claimed, nil // stopping: the rest stays pending with us
				}
				claimed++
				c.b.metrics.reclaimed.WithLabelValues(u.spec.Name).Inc()
				u.dispatch(delivery{msg: m, count: cnt})
			}
			if len(ps) < 100 {
				break
			}
		}
		// Gone from the group once nothing is pending on it.
		_ = pruneScript.Run(ctx, rdb, []string{u.stream}, group, x.Name).Err()
	}
	return claimed, nil
}

// claimedCount is the delivery count of entry id after XCLAIM took it
// over: one more than pending listed, found at index i or by search.
func claimedCount(pending []goredis.XPendingExt, id string, i int) int64 {
	if i < len(pending) && pending[i].ID == id {
		return pending[i].RetryCount + 1
	}
	for _, p := range pending {
		if p.ID == id {
			return p.RetryCount + 1
		}
	}
	return 1
}

// releaseFrom deletes the partition leases and registrations of the
// consumers whose tokens start with prefix and wakes the lease loop.
func (o *orderedSub) releaseFrom(ctx context.Context, prefix string) (int, error) {
	b := o.c.b
	keys := make([]string, o.spec.Partitions)
	for p := range keys {
		keys[p] = b.leaseKey(o.spec, p)
	}
	n, err := releaseLeasesScript.Run(ctx, b.rdb, keys, prefix).Int()
	if err != nil {
		return 0, err
	}
	if err := forgetMembersScript.Run(ctx, b.rdb, []string{o.members}, prefix).Err(); err != nil {
		return n, err
	}
	select {
	case o.kick <- struct{}{}:
	default:
	}
	return n, nil
}
