package http

import (
	"context"

	"github.com/valyala/fasthttp"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/persistence/redis/queue"
)

// QueueOps is what the queue ops routes need of the queue system.
// Implemented by *queue.Broker.
type QueueOps interface {
	Stats(ctx context.Context) ([]queue.QueueStats, error)
	Spec(name string) (queue.QueueSpec, bool)
	ReplayDead(ctx context.Context, queue string) (int, error)
}

var _ QueueOps = (*queue.Broker)(nil)

// QueueOpsArea serves GET /ops/queues and POST
// /ops/queues/{name}/dead/replay.
type QueueOpsArea struct {
	q QueueOps
}

// NewQueueOpsArea returns the queue ops routes over q; a nil q makes them
// answer 503.
func NewQueueOpsArea(q QueueOps) *QueueOpsArea {
	return &QueueOpsArea{q: q}
}

// queueDepth is one queue in GET /ops/queues.
type queueDepth struct {
	Name    string `json:"name"`
	Length  int64  `json:"length"`
	Pending int64  `json:"pending"`
	Delayed int64  `json:"delayed"`
	Dead    int64  `json:"dead"`
}

// Register adds the routes.
func (a *QueueOpsArea) Register(r *Routes) {
	r.Handle("GET", "/ops/queues", Ops, func(ctx context.Context, rc *fasthttp.RequestCtx) error {
		if a.q == nil {
			return vayva.Errorf(vayva.EUNAVAILABLE, "This node has no queues.")
		}
		stats, err := a.q.Stats(ctx)
		if err != nil {
			return err
		}
		out := make([]queueDepth, 0, len(stats))
		for _, s := range stats {
			out = append(out, queueDepth{Name: s.Name, Length: s.Length, Pending: s.Pending, Delayed: s.Delayed, Dead: s.Dead})
		}
		return writeJSON(rc, fasthttp.StatusOK, out)
	})
	r.Handle("POST", "/ops/queues/{name}/dead/replay", Ops, func(ctx context.Context, rc *fasthttp.RequestCtx) error {
		if a.q == nil {
			return vayva.Errorf(vayva.EUNAVAILABLE, "This node has no queues.")
		}
		name, _ := rc.UserValue("name").(string)
		if _, ok := a.q.Spec(name); !ok {
			return vayva.Errorf(vayva.ENOTFOUND, "No queue %q.", name)
		}
		n, err := a.q.ReplayDead(ctx, name)
		if err != nil {
			return err
		}
		return writeJSON(rc, fasthttp.StatusOK, map[string]int{"replayed": n})
	})
}
