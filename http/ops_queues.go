package http

import (
	"context"
	"unicode/utf8"

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
	DeadLetters(ctx context.Context, queue string, limit int) ([]queue.DeadLetter, error)
}

var _ QueueOps = (*queue.Broker)(nil)

// QueueOpsArea serves GET /ops/queues, GET /ops/queues/{name}/dead and
// POST /ops/queues/{name}/dead/replay.
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

// deadLetterJSON is one dead letter in GET /ops/queues/{name}/dead. The
// payload itself is left out (it may carry customers' personal data); its
// size says whether there was one.
type deadLetterJSON struct {
	ID           string `json:"id"`
	JobID        string `json:"job_id,omitempty"`
	Type         string `json:"type,omitempty"`
	Key          string `json:"key,omitempty"`
	Attempts     int    `json:"attempts"`
	LastError    string `json:"last_error"`
	EnqueuedAt   string `json:"enqueued_at,omitempty"`
	DeadAt       string `json:"dead_at,omitempty"`
	PayloadBytes int    `json:"payload_bytes"`
}

// deadLetterLimit is the default and the largest number of dead letters
// GET /ops/queues/{name}/dead lists.
const (
	deadLetterDefault = 20
	deadLetterMax     = 100
	// deadErrorMax bounds how much of a job's last error is shown.
	deadErrorMax = 500
)

func deadLetter(d queue.DeadLetter) deadLetterJSON {
	j := deadLetterJSON{
		ID: d.StreamID, JobID: d.Job.ID, Type: d.Job.Type, Key: d.Job.Key, Attempts: d.Job.Attempt,
		LastError: truncateText(d.Job.LastError, deadErrorMax), PayloadBytes: len(d.Job.Payload),
	}
	if !d.Job.EnqueuedAt.IsZero() {
		j.EnqueuedAt = timeJSON(d.Job.EnqueuedAt)
	}
	if !d.DeadAt.IsZero() {
		j.DeadAt = timeJSON(d.DeadAt)
	}
	return j
}

// truncateText cuts s to at most n bytes on a character boundary, marking
// the cut with an ellipsis.
func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
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
	r.Handle("GET", "/ops/queues/{name}/dead", Ops, func(ctx context.Context, rc *fasthttp.RequestCtx) error {
		limit, err := queryInt(rc.QueryArgs(), "limit", deadLetterDefault, deadLetterMax)
		if err != nil {
			return err
		}
		if a.q == nil {
			return vayva.Errorf(vayva.EUNAVAILABLE, "This node has no queues.")
		}
		name, _ := rc.UserValue("name").(string)
		if _, ok := a.q.Spec(name); !ok {
			return vayva.Errorf(vayva.ENOTFOUND, "No queue %q.", name)
		}
		dead, err := a.q.DeadLetters(ctx, name, limit)
		if err != nil {
			return err
		}
		out := make([]deadLetterJSON, 0, len(dead))
		for _, d := range dead {
			out = append(out, deadLetter(d))
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
