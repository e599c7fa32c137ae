package cluster

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	pcluster "github.com/asynkron/protoactor-go/cluster"

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

func (p *postgresProvider) loop(ctx context.Context) {
	defer p.wg.Done()
	t := time.NewTicker(p.member.cfg.HeartbeatInterval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := p.refresh(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				p.member.log.Warn().Err(err).Msg("membership refresh failed")
			}
			failing = true
			continue
		}
		if failing {
			p.member.log.Info().Msg("membership refresh recovered")
		}
		failing = false
	}
}

func (p *postgresProvider) refresh(ctx context.Context) error {
	m := p.member
	id := p.cluster.ActorSystem.ID
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
	if _, err := m.store.EvictExpiredMembers(ctx, m.cfg.Name, m.cfg.MemberTTL); err != nil {
		return err
	}
	rows, err := m.store.ListMembers(ctx, m.cfg.Name, true, m.cfg.MemberTTL)
	if err != nil {
		return err
	}
	members := make(pcluster.Members, 0, len(rows))
	for _, r := range rows {
		members = append(members, &pcluster.Member{Id: r.ID, Host: r.Host, Port: int32(r.Port), Kinds: r.Kinds})
	}
	if m.leaving.Load() {
		return nil
	}
	p.cluster.MemberList.UpdateClusterTopology(members)
	p.lastOK.Store(time.Now().UnixNano())
	return nil
}
