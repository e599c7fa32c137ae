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
		if members == nil {
			members = []cluster.MemberInfo{}
		}
		return writeJSON(rc, fasthttp.StatusOK, map[string]any{"members": members})
	})
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
