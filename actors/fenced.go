package actors

import (
	"context"
	"errors"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/rs/zerolog"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/messages"
)

// storageTimeout bounds one journal call made from inside an actor turn.
const storageTimeout = 5 * time.Second

// errUncertain reports a commit whose outcome is unknown; the activation
// stopped and the caller should retry on a fresh one.
var errUncertain = &vayva.Error{Code: vayva.EUNAVAILABLE, Message: "actor storage unavailable; retry"}

// Fenced is the activation bookkeeping every persistent actor kind embeds:
// it claims the activation's epoch when the actor starts and commits
// commands through the Journal, stopping the activation as soon as the
// journal reports it stale.
type Fenced struct {
	Journal Journal
	Log     zerolog.Logger

	act     *Activation
	failure error
}

// Activate claims a new epoch for the actor's cluster identity. Call it on
// *actor.Started. It returns false when the claim failed; the actor then
// refuses every message (see Ready) and stops.
func (f *Fenced) Activate(ctx actor.Context) bool {
	ci := pcluster.GetClusterIdentity(ctx)
	if ci == nil {
		f.failure = vayva.Errorf(vayva.EINTERNAL, "actor has no cluster identity")
		return false
	}
	f.Log = f.Log.With().Str("kind", ci.Kind).Str("identity", ci.Identity).Logger()
	c, cancel := context.WithTimeout(context.Background(), storageTimeout)
	defer cancel()
	act, err := f.Journal.Activate(c, ci.Kind, ci.Identity)
	if err != nil {
		f.Log.Error().Err(err).Msg("activation failed")
		f.failure = &vayva.Error{Code: vayva.EUNAVAILABLE, Message: "actor storage unavailable"}
		return false
	}
	f.act = act
	f.Log = f.Log.With().Int64("epoch", act.Epoch).Logger()
	return true
}

// Activation returns the current activation; nil before Activate succeeded.
func (f *Fenced) Activation() *Activation { return f.act }

// Ready reports whether the activation may handle a command. When it may
// not, it has already answered the sender with a retryable error and asked
// the actor to stop, so that the next message activates it afresh.
func (f *Fenced) Ready(ctx actor.Context) bool {
	if f.act != nil {
		return true
	}
	err := f.failure
	if err == nil {
		err = vayva.ErrStaleEpoch
	}
	f.refuse(ctx, err, true)
	return false
}

// Commit commits c for the current activation and returns the stored reply
// and whether it was a replay of an earlier commit with the same command id.
// On a stale epoch it stops the activation and returns vayva.ErrStaleEpoch;
// the caller should Refuse with it.
func (f *Fenced) Commit(ctx actor.Context, c Commit) ([]byte, bool, error) {
	cc, cancel := context.WithTimeout(context.Background(), storageTimeout)
	defer cancel()
	reply, replayed, err := f.Journal.Commit(cc, f.act, c)
	if errors.Is(err, vayva.ErrStaleEpoch) {
		f.Log.Warn().Msg("activation is stale; stopping")
		f.act = nil
		ctx.Stop(ctx.Self())
		return nil, false, err
	}
	if err != nil {
		// The transaction may have committed although the driver reported
		// an error; memory may now differ from the database. Stop, so the
		// retry reloads the identity from Postgres.
		f.Log.Error().Err(err).Str("command_id", c.CommandID).Msg("commit failed; stopping to reload")
		f.act = nil
		ctx.Stop(ctx.Self())
		return nil, false, errUncertain
	}
	return reply, replayed, nil
}

// Refuse answers the sender with err as a *messages.Error reply.
func (f *Fenced) Refuse(ctx actor.Context, err error) {
	f.refuse(ctx, err, false)
}

func (f *Fenced) refuse(ctx actor.Context, err error, stop bool) {
	if ctx.Sender() != nil {
		ctx.Respond(ErrorReply(err))
	}
	if stop {
		ctx.Stop(ctx.Self())
	}
}

// ErrorReply converts err into the error reply a grain sends. Stale
// activations and storage outages are marked retryable so the caller's
// request helper retries them on the identity's current owner.
func ErrorReply(err error) *messages.Error {
	var e *vayva.Error
	if !errors.As(err, &e) {
		return &messages.Error{Code: vayva.EINTERNAL, Message: "internal error"}
	}
	out := &messages.Error{
		Code:    e.Code,
		Message: e.Message,
		Retry:   errors.Is(err, vayva.ErrStaleEpoch) || errors.Is(err, errUncertain),
	}
	for _, f := range e.Fields {
		out.Fields = append(out.Fields, &messages.FieldError{Field: f.Field, Message: f.Message})
	}
	return out
}

// IsLifecycle reports whether msg is an actor or cluster lifecycle message
// that a kind's Receive may ignore.
func IsLifecycle(msg any) bool {
	switch msg.(type) {
	case *actor.Started, *actor.Stopping, *actor.Stopped, *actor.Restarting,
		*pcluster.ClusterInit, *actor.ReceiveTimeout:
		return true
	}
	return false
}
