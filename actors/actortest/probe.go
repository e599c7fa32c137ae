// Package actortest holds the probe actor kind, a fenced counter with no
// business logic written on the actor kit, used by tests and drills to
// exercise placement, fencing and recovery of the actor runtime; and change
// types for tests of journals.
package actortest

import (
	"context"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/actors/internal/seal"
	"github.com/vayvahq/vayva/messages"
)

// Kind is the probe's actor kind.
const Kind = "probe"

// Probe is a fenced counter. Its state is a snapshot in the journal.
type Probe struct {
	*actors.Processor
	member string
	value  int64
}

// NewProducer returns a producer of probes that persist through j and report
// member as where they run.
func NewProducer(j actors.Journal, member func() string, log zerolog.Logger) actor.Producer {
	return actors.Producer(j, log, func(p *actors.Processor) actors.Behavior {
		return &Probe{Processor: p, member: member()}
	})
}

// Load reads the counter from the activation's snapshot.
func (p *Probe) Load(_ context.Context, a *actors.Activation) error {
	var st messages.ProbeState
	if err := proto.Unmarshal(a.Snapshot, &st); err != nil {
		return err
	}
	p.value = st.GetValue()
	return nil
}

// Receive handles one command.
func (p *Probe) Receive(ctx actor.Context, msg any) {
	switch msg := msg.(type) {
	case *messages.ProbeAdd:
		p.add(ctx, msg)
	case *messages.ProbeGet:
		ctx.Respond(p.state(p.value))
	default:
		p.Unhandled(ctx, msg)
	}
}

func (p *Probe) add(ctx actor.Context, msg *messages.ProbeAdd) {
	next := p.value + msg.GetAmount()
	reply := p.state(next)
	// A duplicate is answered with the value this command produced, marked
	// as a replay.
	replay := p.state(next)
	replay.Replayed = true
	snapshot, err := proto.Marshal(&messages.ProbeState{Value: next})
	if err == nil {
		var stored []byte
		if stored, err = proto.Marshal(replay); err == nil {
			p.Apply(ctx, actors.Commit{
				CommandID: msg.GetCommandId(),
				Domain:    vayva.DomainRuntime,
				Reply:     stored,
				Snapshot:  snapshot,
			}, reply, func() {
				p.value = next
				// The reply reports the version this commit produced.
				reply.Version = p.Activation().Version
			})
			return
		}
	}
	p.Fail(ctx, err)
}

func (p *Probe) state(value int64) *messages.ProbeState {
	a := p.Activation()
	return &messages.ProbeState{Value: value, Epoch: a.Epoch, Version: a.Version, Member: p.member}
}

// AddToCounter is a change for tests of journals: it adds N to the counter
// with id ID in a table the test creates and applies (postgres.HandleChange).
type AddToCounter struct {
	ID string
	N  int64
}

// IsChange marks AddToCounter as a Change.
func (AddToCounter) IsChange(seal.Token) {}

// Unapplied is a change type no journal applies, for tests that a node
// refuses to start when a kind commits a change its journal cannot write.
type Unapplied struct{}

// IsChange marks Unapplied as a Change.
func (Unapplied) IsChange(seal.Token) {}
