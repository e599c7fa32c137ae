package http

import (
	"context"

	"github.com/valyala/fasthttp"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/cluster"
)

// ClusterOps is what the ops routes need of the cluster member.
type ClusterOps interface {
	Members(ctx context.Context) ([]cluster.MemberInfo, error)
	Drain(ctx context.Context, id string) (bool, error)
}

var _ ClusterOps = (*cluster.Member)(nil)

// LedgerChecker verifies the ledger's invariants from SQL alone.
// Implemented by *postgres.DB.
type LedgerChecker interface {
	CheckLedger(ctx context.Context) (vayva.LedgerReport, error)
}

// OutboxMonitor measures the outbox relay's backlog. Implemented by
// *postgres.DB.
type OutboxMonitor interface {
	OutboxBacklog(ctx context.Context) (vayva.OutboxBacklog, error)
}

// opsMemberJSON is a member as GET /ops/cluster shows it.
type opsMemberJSON struct {
	ID       string           `json:"id"`
	Address  string           `json:"address"`
	HTTPAddr string           `json:"http_addr,omitempty"`
	Status   string           `json:"status"`
	Kinds    []string         `json:"kinds"`
	Actors   map[string]int64 `json:"actors"`
	Self     bool             `json:"self"`
	LastSeen string           `json:"last_seen,omitempty"`
	JoinedAt string           `json:"joined_at,omitempty"`
}

// opsMember gives a member's last heartbeat the API's one timestamp
// format.
func opsMember(m cluster.MemberInfo) opsMemberJSON {
	j := opsMemberJSON{ID: m.ID, Address: m.Address, HTTPAddr: m.HTTPAddr, Status: m.Status, Kinds: m.Kinds, Actors: m.Actors, Self: m.Self}
	if m.LastSeen != nil {
		j.LastSeen = timeJSON(*m.LastSeen)
	}
	if m.JoinedAt != nil {
		j.JoinedAt = timeJSON(*m.JoinedAt)
	}
	return j
}

// opsArea serves the cluster ops routes.
type opsArea struct{}

func (opsArea) Register(r *Routes) {
	s := r.s
	r.Handle("GET", "/ops/cluster", Ops, func(ctx context.Context, rc *fasthttp.RequestCtx) error {
		if s.deps.Cluster == nil {
			return vayva.Errorf(vayva.EUNAVAILABLE, "This node runs no cluster member.")
		}
		members, err := s.deps.Cluster.Members(ctx)
		if err != nil {
			return err
		}
		out := make([]opsMemberJSON, 0, len(members))
		for _, m := range members {
			out = append(out, opsMember(m))
		}
		return writeJSON(rc, fasthttp.StatusOK, map[string]any{"members": out})
	})
	r.Handle("GET", "/ops/ledger/check", Ops, func(ctx context.Context, rc *fasthttp.RequestCtx) error {
		if s.deps.Ledger == nil {
			return vayva.Errorf(vayva.EUNAVAILABLE, "The ledger is not reachable from this node.")
		}
		report, err := s.deps.Ledger.CheckLedger(ctx)
		if err != nil {
			return err
		}
		return writeJSON(rc, fasthttp.StatusOK, report)
	})
	r.Handle("GET", "/ops/outbox", Ops, func(ctx context.Context, rc *fasthttp.RequestCtx) error {
		if s.deps.Outbox == nil {
			return vayva.Errorf(vayva.EUNAVAILABLE, "The outbox is not reachable from this node.")
		}
		b, err := s.deps.Outbox.OutboxBacklog(ctx)
		if err != nil {
			return err
		}
		return writeJSON(rc, fasthttp.StatusOK, map[string]any{
			"unpublished": b.Unpublished, "lag_seconds": msRound(b.OldestAge.Seconds()),
		})
	})
	registerMetricsRoutes(r)
	registerConsoleRoutes(r)
	r.Handle("POST", "/ops/cluster/members/{id}/drain", Ops, func(ctx context.Context, rc *fasthttp.RequestCtx) error {
		if s.deps.Cluster == nil {
			return vayva.Errorf(vayva.EUNAVAILABLE, "This node runs no cluster member.")
		}
		id, _ := rc.UserValue("id").(string)
		ok, err := s.deps.Cluster.Drain(ctx, id)
		if err != nil {
			return err
		}
		if !ok {
			return vayva.Errorf(vayva.ENOTFOUND, "No live member %q.", id)
		}
		return writeJSON(rc, fasthttp.StatusAccepted, map[string]string{"id": id, "status": "draining"})
	})
}
