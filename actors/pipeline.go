package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
)

// DefaultMaxBatch is the largest batch a Pipeline commits when its config
// names no bound.
const DefaultMaxBatch = 2048

// PipelineConfig configures a Pipeline.
type PipelineConfig struct {
	// MaxBatch bounds the commands committed in one transaction. Defaults
	// to DefaultMaxBatch.
	MaxBatch int
	// Observe, when set, is told each batch's size and how long its commit
	// took, on the actor's turn.
	Observe func(size int, took time.Duration)
	// Diverged, when set, is called on the actor's turn after a batch did
	// not commit in full because its transaction was refused: the commands
	// that did not commit, and every command queued behind them, have been
	// answered (the refused one with its error, the others retryable), and
	// the kind must forget whatever it projected from them, typically by
	// reloading its state. It is not called when the activation stops.
	Diverged func(ctx actor.Context)
}

// Pipeline is a kind's asynchronous group commit: commands are submitted
// on the actor's turn, and while one batch is being committed off the
// turn, the commands submitted meanwhile queue up and form the next batch,
// committed as soon as the first one is answered. Batches therefore grow
// with load and need no timer, and the actor keeps receiving while a
// commit is in flight (as TigerBeetle batches everything that arrived while
// the previous batch was replicating).
//
// Each command is answered only after the batch holding it committed. A
// kind using a pipeline plans each command against the state it projects
// from every command submitted so far, committed or not, and must commit
// only through the pipeline (never with Apply or ApplyBatch meanwhile),
// since one activation's commits are serialised through its version.
//
// A command the journal finds already applied (a replay of its command id)
// is answered with its stored reply, but its planned effect was projected
// for the commands planned after it. A kind using a pipeline therefore
// looks each command up before planning it: in what it has planned and not
// yet committed, and with Processor.Replay (or, like the ledger, by keys of
// its own). Should a replay slip through, the commands queued behind its
// batch are answered retryable and Diverged runs.
//
// While a batch is in flight its commit owns the Activation: the kind must
// not read Activation().Version or Snapshot, also not in the Apply
// functions of the batch before it, which run while the next batch may
// already be committing.
//
// Outcomes are those of ApplyBatch, one batch at a time: a refused batch is
// committed one command at a time up to the refused one, which gets its
// error; the commands after it and everything queued behind the batch were
// planned on a state that did not come to be and are answered retryable,
// and Diverged runs. A stale epoch or an uncertain commit stops the
// activation, and every command in flight or queued is answered retryable.
type Pipeline struct {
	p   *Processor
	cfg PipelineConfig

	inflight []Pending
	queued   []Pending
	// spare is the backing array of an answered batch, for the next queue.
	spare []Pending
}

// NewPipeline gives the activation a group-commit pipeline. Call it once,
// when the kind is made (in the function given to Producer).
func (p *Processor) NewPipeline(cfg PipelineConfig) *Pipeline {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	p.pipe = &Pipeline{p: p, cfg: cfg}
	return p.pipe
}

// Submit queues one planned command. It is committed with the next batch:
// at once when no batch is in flight, else after the one in flight.
func (pl *Pipeline) Submit(ctx actor.Context, pd Pending) {
	if pl.p.act == nil {
		pl.p.answer(ctx, pd.Sender, ErrorReply(errReplan))
		return
	}
	if pd.Commit.CommandID != "" && pd.Commit.Reply == nil {
		b, err := proto.Marshal(pd.Reply)
		if err != nil {
			pl.p.answer(ctx, pd.Sender, ErrorReply(err))
			return
		}
		pd.Commit.Reply = b
	}
	if pl.queued == nil && pl.spare != nil {
		pl.queued, pl.spare = pl.spare, nil
	}
	pl.queued = append(pl.queued, pd)
	if pl.inflight == nil {
		pl.flush(ctx)
	}
}

// InFlight reports how many commands are committing or queued.
func (pl *Pipeline) InFlight() int { return len(pl.inflight) + len(pl.queued) }

// Busy reports whether a batch is being committed.
func (pl *Pipeline) Busy() bool { return pl.inflight != nil }

// flush starts committing the queued commands, up to MaxBatch of them, on
// a goroutine that reports back to the actor with a message.
func (pl *Pipeline) flush(ctx actor.Context) {
	n := min(len(pl.queued), pl.cfg.MaxBatch)
	if n == 0 {
		return
	}
	pl.inflight = pl.queued[:n:n]
	if n == len(pl.queued) {
		pl.queued = nil
	} else {
		pl.queued = append([]Pending(nil), pl.queued[n:]...)
	}
	commits := make([]Commit, n)
	for i := range pl.inflight {
		commits[i] = pl.inflight[i].Commit
	}
	j, act := pl.p.journal, pl.p.act
	self, root := ctx.Self(), ctx.ActorSystem().Root
	go func() {
		// The goroutine ends with the commit, which storageTimeout bounds;
		// if the actor stopped meanwhile, the report is a dead letter and
		// its callers' retries land on the next activation.
		root.Send(self, runBatch(j, act, commits))
	}()
}

// done answers the batch in flight and starts the next one.
func (pl *Pipeline) done(ctx actor.Context, res *batchResult) {
	batch := pl.inflight
	if batch == nil {
		return
	}
	pl.inflight = nil
	if pl.cfg.Observe != nil {
		pl.cfg.Observe(len(batch), res.took)
	}
	if len(res.outcomes) == len(batch) && !anyReplayed(res.outcomes) {
		// The batch committed in full, and the queued commands were
		// planned on top of it: they start committing before its answers
		// go out, so the database does not wait for the actor.
		pl.flush(ctx)
		pl.p.settle(ctx, batch, res)
		clear(batch)
		pl.spare = batch[:0]
		return
	}
	pl.p.settle(ctx, batch, res)
	switch {
	case len(res.outcomes) == len(batch) && pl.p.act != nil:
		// A replay's planned effect was projected for everything planned
		// after it: the queued commands are planned on a state that is not
		// the database's.
		pl.p.log.Warn().Msg("a group-committed command was a replay; its kind must look commands up before planning them")
		queued := pl.queued
		pl.queued = nil
		pl.p.answerAll(ctx, queued, errReplan)
		if pl.cfg.Diverged != nil {
			pl.cfg.Diverged(ctx)
		}
	case pl.p.act == nil:
		err := pl.p.failure
		queued := pl.queued
		pl.queued = nil
		pl.p.answerAll(ctx, queued, err)
	default:
		queued := pl.queued
		pl.queued = nil
		pl.p.answerAll(ctx, queued, errReplan)
		if pl.cfg.Diverged != nil {
			pl.cfg.Diverged(ctx)
		}
	}
}

func anyReplayed(outcomes []Outcome) bool {
	for _, o := range outcomes {
		if o.Replayed {
			return true
		}
	}
	return false
}

// abandon answers everything still waiting when the activation stops: the
// queued commands were never sent and the batch in flight may or may not
// commit, so all of them are answered retryable, and the identity's next
// activation (whose claim waits for that commit) answers the retries.
func (pl *Pipeline) abandon(ctx actor.Context) {
	inflight, queued := pl.inflight, pl.queued
	pl.inflight, pl.queued = nil, nil
	pl.p.answerAll(ctx, inflight, errAbandoned)
	pl.p.answerAll(ctx, queued, errAbandoned)
}
