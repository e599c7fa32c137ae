// Package actortest holds the probe actor kind: a fenced counter with no
// business logic, used by tests and drills to exercise placement, fencing
// and recovery of the actor runtime.
package actortest

import (
	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/messages"
)

// Kind is the probe's actor kind.
const Kind = "probe"

// Probe is a fenced counter. Its state is a snapshot in the journal.
type Probe struct {
	actors.Fenced
	member string
	value  int64
}

// NewProducer returns a producer of probes that persist through j and report
// member as where they run.
func NewProducer(j actors.Journal, member func() string, log zerolog.Logger) actor.Producer {
	return func() actor.Actor {
		return &Probe{Fenced: actors.Fenced{Journal: j, Log: log}, member: member()}
	}
}

// Receive handles one message.
func (p *Probe) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		if p.Activate(ctx) {
			var st messages.ProbeState
			if err := proto.Unmarshal(p.Activation().Snapshot, &st); err == nil {
				p.value = st.GetValue()
			}
		}
	case *messages.ProbeAdd:
		if !p.Ready(ctx) {
			return
		}
		p.add(ctx, msg)
	case *messages.ProbeGet:
		if !p.Ready(ctx) {
			return
		}
		ctx.Respond(p.state(false))
	default:
		if !actors.IsLifecycle(msg) {
			p.Log.Warn().Str("message", protoName(msg)).Msg("unhandled message")
		}
	}
}

func (p *Probe) add(ctx actor.Context, msg *messages.ProbeAdd) {
	next := p.value + msg.GetAmount()
	snapshot, err := proto.Marshal(&messages.ProbeState{Value: next})
	if err != nil {
		p.Refuse(ctx, err)
		return
	}
	reply, err := proto.Marshal(&messages.ProbeState{Value: next})
	if err != nil {
		p.Refuse(ctx, err)
		return
	}
	stored, replayed, err := p.Commit(ctx, actors.Commit{
		CommandID: msg.GetCommandId(),
		Domain:    vayva.DomainRuntime,
		Reply:     reply,
		Snapshot:  snapshot,
	})
	if err != nil {
		p.Refuse(ctx, err)
		return
	}
	if replayed {
		var first messages.ProbeState
		if err := proto.Unmarshal(stored, &first); err != nil {
			p.Refuse(ctx, err)
			return
		}
		out := p.state(true)
		out.Value = first.GetValue()
		ctx.Respond(out)
		return
	}
	p.value = next
	ctx.Respond(p.state(false))
}

func (p *Probe) state(replayed bool) *messages.ProbeState {
	a := p.Activation()
	return &messages.ProbeState{Value: p.value, Epoch: a.Epoch, Version: a.Version, Member: p.member, Replayed: replayed}
}

func protoName(msg any) string {
	if m, ok := msg.(proto.Message); ok {
		return string(m.ProtoReflect().Descriptor().FullName())
	}
	return "non-proto message"
}
