package cluster

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/remote"

	"github.com/vayvahq/vayva"
)

// postgresProvider keeps membership in runtime.members: it heartbeats this
// member's row, evicts members whose heartbeat lapsed and feeds the live
// rows to the protoactor member list.
type postgresProvider struct {
	member *Member

	cluster  *pcluster.Cluster
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopOnce sync.Once
	lastOK   atomic.Int64 // unix nanos of the last successful refresh
	lastBeat atomic.Int64 // unix nanos when the last successful heartbeat was sent
	// hint wakes the loop for an immediate refresh: a lost connection to a
	// member is a reason to look, never a verdict by itself.
	hint chan struct{}
	// view is the member ids of the last topology handed to protoactor.
	view map[string]bool
}

func (p *postgresProvider) StartMember(c *pcluster.Cluster) error {
	p.cluster = c
	m := p.member
	host, port, err := c.ActorSystem.GetHostPort()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.hint = make(chan struct{}, 1)
	// A member whose transport connection dropped may be gone: look at
	// its heartbeat now, and keep looking quickly for a while, so its
	// eviction is noticed as soon as its heartbeat lapses.
	c.ActorSystem.EventStream.Subscribe(func(ev any) {
		if _, ok := ev.(*remote.EndpointTerminatedEvent); ok {
			select {
			case p.hint <- struct{}{}:
			default:
			}
		}
	})
	if err := m.store.JoinMember(ctx, vayva.ClusterMember{
		Cluster: m.cfg.Name, ID: c.ActorSystem.ID, Host: host, Port: port,
		HTTPAddr: m.cfg.HTTPAddr, Kinds: c.GetClusterKinds(),
	}); err != nil {
		cancel()
		return err
	}
	if err := p.refresh(ctx); err != nil {
		cancel()
		return err
	}
	p.wg.Add(1)
	go p.loop(ctx)
	return nil
}

func (p *postgresProvider) StartClient(*pcluster.Cluster) error {
	return nil
}

// Shutdown marks this member as left so the others drop it at their next
// refresh, then stops heartbeating.
func (p *postgresProvider) Shutdown(graceful bool) error {
	p.halt()
	if graceful {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m := p.member
		if _, err := m.store.SetMemberStatus(ctx, m.cfg.Name, p.cluster.ActorSystem.ID, vayva.MemberLeft); err != nil {
			m.log.Warn().Err(err).Msg("marking member left")
		}
	}
	return nil
}

// halt stops the heartbeat loop, as a crash would.
func (p *postgresProvider) halt() {
	p.stopOnce.Do(func() {
		if p.cancel != nil {
			p.cancel()
		}
	})
	p.wg.Wait()
}

func (p *postgresProvider) fresh() bool {
	last := p.lastOK.Load()
	return last != 0 && time.Since(time.Unix(0, last)) < p.member.cfg.MemberTTL
}

// leased reports whether the last successful heartbeat is recent enough
// that no other member can have evicted this one: younger than the TTL
// less one heartbeat interval (the others evict on their own refresh,
// measured by the database's clock).
func (p *postgresProvider) leased() bool {
	last := p.lastBeat.Load()
	cfg := p.member.cfg
	return last != 0 && time.Since(time.Unix(0, last)) < cfg.MemberTTL-cfg.HeartbeatInterval
}

func (p *postgresProvider) loop(ctx context.Context) {
	defer p.wg.Done()
	cfg := p.member.cfg
	t := time.NewTimer(cfg.HeartbeatInterval)
	defer t.Stop()
	failing := false
	// After a hint the loop looks every fastInterval until fastUntil.
	fastInterval := max(cfg.HeartbeatInterval/5, 10*time.Millisecond)
	var fastUntil time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.hint:
			fastUntil = time.Now().Add(cfg.MemberTTL + cfg.HeartbeatInterval)
		}
		next := cfg.HeartbeatInterval
		if time.Now().Before(fastUntil) {
			next = fastInterval
		}
		if err := p.refresh(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				p.member.log.Warn().Err(err).Msg("membership refresh failed")
			}
			failing = true
		} else {
			if failing {
				p.member.log.Info().Msg("membership refresh recovered")
			}
			failing = false
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(next)
	}
}

func (p *postgresProvider) refresh(ctx context.Context) error {
	m := p.member
	id := p.cluster.ActorSystem.ID
	sent := time.Now()
	status, err := m.store.HeartbeatMember(ctx, m.cfg.Name, id, m.ActivationCounts())
	if err != nil {
		return err
	}
	switch status {
	case vayva.MemberEvicted, vayva.MemberLeft:
		if !m.leaving.Load() {
			m.markEvicted()
		}
		return nil
	case vayva.MemberDraining:
		m.requestDrain()
	}
	p.lastBeat.Store(sent.UnixNano())
	evicted, err := m.store.EvictExpiredMembers(ctx, m.cfg.Name, m.cfg.MemberTTL)
	if err != nil {
		return err
	}
	if len(evicted) > 0 {
		m.log.Warn().Strs("members", evicted).Msg("evicted members whose heartbeat lapsed")
		m.membersEvicted(evicted)
	}
	rows, err := m.store.ListMembers(ctx, m.cfg.Name, true, m.cfg.MemberTTL)
	if err != nil {
		return err
	}
	members := make(pcluster.Members, 0, len(rows))
	view := make(map[string]bool, len(rows))
	for _, r := range rows {
		members = append(members, &pcluster.Member{Id: r.ID, Host: r.Host, Port: int32(r.Port), Kinds: r.Kinds})
		view[r.ID] = true
	}
	if m.leaving.Load() {
		return nil
	}
	p.cluster.MemberList.UpdateClusterTopology(members)
	p.lastOK.Store(time.Now().UnixNano())
	left := false
	for id := range p.view {
		if !view[id] {
			left = true
		}
	}
	p.view = view
	if left {
		m.memberLeft()
	}
	return nil
}
