package actortest

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/messages"
)

// BatcherKind is the kind of Batcher.
const BatcherKind = "batcher"

// Batcher is the probe's group-committing twin: a fenced counter that
// commits through an actors.Pipeline, for tests of the pipeline. Each add
// commits a snapshot of the value it produces and an AddToCounter change
// (which tests apply to a table of theirs, slowly or refusing some);
// ProbeGet answers the committed value at once, also while a batch is in
// flight, with the number of commands in flight as its version. ProbeBatch commits its adds with the synchronous ApplyBatch
// instead and answers the committed value after it.
type Batcher struct {
	*actors.Processor
	pipe      *actors.Pipeline
	hooks     *BatcherHooks
	id        string
	committed int64
	projected int64
	// planned maps the ids of planned, uncommitted adds to their values.
	planned map[string]int64
}

// BatcherHooks observe batchers from tests.
type BatcherHooks struct {
	// Batches receives each batch size the pipeline committed, if set; a
	// full channel drops sizes.
	Batches chan int
	// Diverged counts the batches that did not commit in full.
	Diverged atomic.Int64
}

// NewBatcherProducer returns a producer of batchers committing through j,
// at most maxBatch commands per transaction (0: the default).
func NewBatcherProducer(j actors.Journal, maxBatch int, hooks *BatcherHooks, log zerolog.Logger) actor.Producer {
	if hooks == nil {
		hooks = &BatcherHooks{}
	}
	return actors.Producer(j, log, func(p *actors.Processor) actors.Behavior {
		b := &Batcher{Processor: p, hooks: hooks, planned: map[string]int64{}}
		b.pipe = p.NewPipeline(actors.PipelineConfig{
			MaxBatch: maxBatch,
			Observe: func(size int, _ time.Duration) {
				if hooks.Batches != nil {
					select {
					case hooks.Batches <- size:
					default:
					}
				}
			},
			Diverged: func(actor.Context) {
				hooks.Diverged.Add(1)
				b.projected = b.committed
				clear(b.planned)
			},
		})
		return b
	})
}

// Load reads the counter from the activation's snapshot.
func (b *Batcher) Load(_ context.Context, a *actors.Activation) error {
	var st messages.ProbeState
	if err := proto.Unmarshal(a.Snapshot, &st); err != nil {
		return err
	}
	b.id = a.Identity
	b.committed, b.projected = st.GetValue(), st.GetValue()
	return nil
}

// Receive handles one command.
func (b *Batcher) Receive(ctx actor.Context, msg any) {
	switch msg := msg.(type) {
	case *messages.ProbeAdd:
		// Look the command up before planning it: among those planned and
		// not committed yet (answered once the batch holding it commits),
		// then in the journal.
		if v, ok := b.planned[msg.GetCommandId()]; ok {
			b.pipe.Submit(ctx, actors.Pending{Commit: actors.Commit{Domain: vayva.DomainRuntime},
				Reply: &messages.ProbeState{Value: v, Replayed: true}, Sender: ctx.Sender()})
			return
		}
		if b.Replay(ctx, msg.GetCommandId(), &messages.ProbeState{}) {
			return
		}
		pd, err := b.pending(msg, ctx.Sender())
		if err != nil {
			b.Fail(ctx, err)
			return
		}
		b.pipe.Submit(ctx, pd)
	case *messages.ProbeBatch:
		b.batch(ctx, msg)
	case *messages.ProbeGet:
		// For a batcher, version reports the commands in flight.
		ctx.Respond(&messages.ProbeState{Value: b.committed, Version: int64(b.pipe.InFlight())})
	default:
		b.Unhandled(ctx, msg)
	}
}

// pending plans an add on the projected value.
func (b *Batcher) pending(m *messages.ProbeAdd, sender *actor.PID) (actors.Pending, error) {
	next := b.projected + m.GetAmount()
	snapshot, err := proto.Marshal(&messages.ProbeState{Value: next})
	if err != nil {
		return actors.Pending{}, err
	}
	stored, err := proto.Marshal(&messages.ProbeState{Value: next, Replayed: true})
	if err != nil {
		return actors.Pending{}, err
	}
	b.projected = next
	cmd := m.GetCommandId()
	b.planned[cmd] = next
	return actors.Pending{
		Commit: actors.Commit{
			CommandID: m.GetCommandId(), Domain: vayva.DomainRuntime, Reply: stored, Snapshot: snapshot,
			Changes: []actors.Change{AddToCounter{ID: b.id, N: m.GetAmount()}},
		},
		Reply: &messages.ProbeState{Value: next},
		Apply: func() {
			b.committed = next
			delete(b.planned, cmd)
		},
		Sender: sender,
	}, nil
}

// batch commits the adds with ApplyBatch, answering nobody but the sender
// of the batch, with the value committed.
func (b *Batcher) batch(ctx actor.Context, m *messages.ProbeBatch) {
	if b.pipe.Busy() {
		b.Fail(ctx, vayva.Errorf(vayva.ECONFLICT, "a pipeline batch is in flight"))
		return
	}
	var batch []actors.Pending
	for _, add := range m.GetAdds() {
		pd, err := b.pending(add, nil)
		if err != nil {
			b.Fail(ctx, err)
			return
		}
		batch = append(batch, pd)
	}
	b.ApplyBatch(ctx, batch)
	b.projected = b.committed
	clear(b.planned)
	if b.Activation() == nil {
		b.Fail(ctx, vayva.ErrStaleEpoch)
		return
	}
	ctx.Respond(&messages.ProbeState{Value: b.committed})
}
