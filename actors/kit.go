package actors

import (
	"context"
	"errors"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/messages"
)

// storageTimeout bounds one journal call made from inside an actor turn.
const storageTimeout = 5 * time.Second

// errReplan answers a command of a batch that was not committed because an
// earlier command of the same batch was refused: it was planned against
// state that did not come to be. It is retryable, so the caller sends it
// again and it is planned afresh.
var errReplan = &vayva.Error{Code: vayva.EUNAVAILABLE, Message: "command was planned with a refused one; retry"}

// errAbandoned answers a command a stopping activation leaves unanswered:
// it may or may not have committed, and the retry finds out.
var errAbandoned = &vayva.Error{Code: vayva.EUNAVAILABLE, Message: "the actor stopped before answering; retry"}

// Behavior is one persistent actor kind written on the kit: its state, how
// it loads, and a type switch over its commands.
type Behavior interface {
	// Load reads the identity's state once the activation's epoch is
	// claimed: from the claim on no older activation can commit, so what is
	// loaded stays current until this activation commits. An ENOTFOUND
	// error answers every command with it; any other error answers them
	// retryable. Either way the activation stops after answering.
	Load(ctx context.Context, a *Activation) error
	// Receive handles one command. It is a type switch whose default calls
	// Processor.Unhandled, and it is only called on a ready activation.
	Receive(ctx actor.Context, msg any)
}

// Processor is the fenced command processor every persistent actor kind
// runs on. It claims the activation's epoch and loads the kind when the
// actor starts, refuses commands while it is not ready, and commits
// commands through the Journal: the reply is installed and sent only after
// the commit, a redelivered command gets its first reply, a refusal keeps
// the activation, and a stale epoch or an uncertain commit stops it.
type Processor struct {
	journal Journal
	log     zerolog.Logger
	kind    Behavior

	act *Activation
	// failure answers every command when the activation could not start
	// (its claim or its load failed) or has been stopped.
	failure error
	// pipe is the activation's group-commit pipeline, if the kind made one.
	pipe *Pipeline
}

// Producer returns a producer of activations of a kind: each activation gets
// its own Processor, and newKind builds the kind's behaviour on it.
func Producer(j Journal, log zerolog.Logger, newKind func(p *Processor) Behavior) actor.Producer {
	return func() actor.Actor {
		p := &Processor{journal: j, log: log}
		p.kind = newKind(p)
		return p
	}
}

// Log is the activation's logger, with kind, identity and epoch.
func (p *Processor) Log() *zerolog.Logger { return &p.log }

// Activation returns the current activation; nil before the epoch is
// claimed and after the activation stopped.
func (p *Processor) Activation() *Activation { return p.act }

// Receive implements actor.Actor.
func (p *Processor) Receive(ctx actor.Context) {
	msg := ctx.Message()
	switch m := msg.(type) {
	case *actor.Started:
		p.start(ctx)
		return
	case *batchResult:
		// A pipeline's batch came back: answer it whatever the state.
		if p.pipe != nil {
			p.pipe.done(ctx, m)
		}
		return
	case *actor.Stopping:
		if p.pipe != nil {
			p.pipe.abandon(ctx)
		}
		return
	}
	if IsLifecycle(msg) {
		return
	}
	if p.act == nil || p.failure != nil {
		p.refuseNotReady(ctx)
		return
	}
	p.kind.Receive(ctx, msg)
}

func (p *Processor) start(ctx actor.Context) {
	ci := pcluster.GetClusterIdentity(ctx)
	if ci == nil {
		p.failure = vayva.Errorf(vayva.EINTERNAL, "actor has no cluster identity")
		return
	}
	p.log = p.log.With().Str("kind", ci.Kind).Str("identity", ci.Identity).Logger()
	c, cancel := context.WithTimeout(context.Background(), storageTimeout)
	defer cancel()
	act, err := p.journal.Activate(c, ci.Kind, ci.Identity)
	if err != nil {
		p.log.Error().Err(err).Msg("activation failed")
		p.failure = &vayva.Error{Code: vayva.EUNAVAILABLE, Message: "actor storage unavailable"}
		return
	}
	p.act = act
	p.log = p.log.With().Int64("epoch", act.Epoch).Logger()
	if err := p.kind.Load(c, act); err != nil {
		if vayva.ErrorCode(err) == vayva.ENOTFOUND {
			p.failure = err
			return
		}
		p.log.Error().Err(err).Msg("load failed")
		p.failure = &vayva.Error{Code: vayva.EUNAVAILABLE, Message: "actor state could not be loaded; retry"}
	}
}

// refuseNotReady answers a command the activation cannot handle and stops
// the activation, so that the next message activates the identity afresh.
// Only a missing identity is final; everything else is retryable.
func (p *Processor) refuseNotReady(ctx actor.Context) {
	err := p.failure
	reply := ErrorReply(err)
	if err == nil {
		reply = ErrorReply(vayva.ErrStaleEpoch)
	}
	if vayva.ErrorCode(err) != vayva.ENOTFOUND {
		reply.Retry = true
	}
	if ctx.Sender() != nil {
		ctx.Respond(reply)
	}
	ctx.Stop(ctx.Self())
}

// Apply commits c with reply as the command's answer and, only once the
// transaction has committed, runs apply (which installs the change in
// memory) and responds with reply. A command already applied under the same
// id is answered with its first reply and apply does not run. c.Reply, when
// set, is what a later duplicate gets instead of reply. A refusal from the
// transaction is answered with its code and the activation keeps serving;
// a stale epoch or an uncertain commit stops the activation and is answered
// retryable.
func (p *Processor) Apply(ctx actor.Context, c Commit, reply proto.Message, apply func()) {
	p.ApplyBatch(ctx, []Pending{{Commit: c, Reply: reply, Apply: apply, Sender: ctx.Sender()}})
}

// Commit commits c without answering anyone, for a command that changes
// state in several steps (a commit, a call to a provider, another commit).
// Outcome.Replayed reports that c.CommandID was applied before. After a
// stale epoch or an uncertain outcome the activation has stopped: the kind
// answers the caller with the error (Fail) and does nothing more.
func (p *Processor) Commit(ctx actor.Context, c Commit) (Outcome, error) {
	outcomes, err := p.commit(ctx, []Commit{c})
	if err != nil {
		return Outcome{}, err
	}
	return outcomes[0], nil
}

// Pending is one command of a batch handed to ApplyBatch: its commit, its
// reply, the change to install once committed and who to answer.
type Pending struct {
	Commit Commit
	Reply  proto.Message
	Apply  func()
	// Sender gets the reply; nil answers nobody.
	Sender *actor.PID
}

// ApplyBatch commits several commands of this identity, all in one domain,
// in one transaction and answers each as Apply would. Each command was
// planned against the state including the commands before it, so their
// Apply functions run in order. When the transaction is refused, the
// commands are committed one at a time up to the first refusal, which is
// answered with its error; the commands after it were planned on a state
// that did not come to be and are answered retryable, so their callers send
// them again.
func (p *Processor) ApplyBatch(ctx actor.Context, batch []Pending) {
	if len(batch) == 0 {
		return
	}
	commits, err := commitsOf(batch)
	if err != nil {
		p.answerAll(ctx, batch, err)
		return
	}
	p.settle(ctx, batch, runBatch(p.journal, p.act, commits))
}

// commitsOf returns the commits of a batch, each with its serialised reply
// when the journal needs one: to store it for a duplicate of a command
// with an id.
func commitsOf(batch []Pending) ([]Commit, error) {
	commits := make([]Commit, len(batch))
	for i := range batch {
		c := batch[i].Commit
		if c.Reply == nil && c.CommandID != "" {
			b, err := proto.Marshal(batch[i].Reply)
			if err != nil {
				return nil, err
			}
			c.Reply = b
		}
		commits[i] = c
	}
	return commits, nil
}

// batchResult is the outcome of a batch: the first committed commands
// with their outcomes, and, when not all of them committed, why. It is
// also the message a pipeline's commit sends back to its actor.
type batchResult struct {
	// outcomes are those of batch[:len(outcomes)], which committed.
	outcomes []Outcome
	// err is why batch[len(outcomes)] did not commit; nil when all did.
	err error
	// fatal is set when err is a stale epoch or an uncertain commit: the
	// activation must stop, and nothing after outcomes is known to be
	// written or not.
	fatal bool
	// took is how long the commit took.
	took time.Duration
}

// runBatch commits cs in one journal transaction. When the transaction is
// refused, it commits them one at a time up to the first refusal. It runs
// the journal calls only, so it may run off the actor's turn; act must not
// be used by another commit meanwhile.
func runBatch(j Journal, act *Activation, cs []Commit) *batchResult {
	start := time.Now()
	commit := func(cs []Commit) ([]Outcome, error) {
		c, cancel := context.WithTimeout(context.Background(), storageTimeout)
		defer cancel()
		return j.CommitBatch(c, act, cs)
	}
	res := &batchResult{}
	outcomes, err := commit(cs)
	switch {
	case err == nil:
		res.outcomes = outcomes
	case isFatal(err) || len(cs) == 1:
		res.err, res.fatal = err, isFatal(err)
	default:
		for i := range cs {
			one, err := commit(cs[i : i+1])
			if err != nil {
				res.err, res.fatal = err, isFatal(err)
				break
			}
			res.outcomes = append(res.outcomes, one[0])
		}
	}
	res.took = time.Since(start)
	return res
}

func isFatal(err error) bool {
	return errors.Is(err, vayva.ErrStaleEpoch) || errors.Is(err, vayva.ErrCommitUncertain)
}

// settle answers every command of a batch after runBatch: the committed
// ones with their replies (installing their changes in order), the first
// one that did not commit with its error, and those after it retryable.
// On a stale epoch or an uncertain commit it stops the activation first.
func (p *Processor) settle(ctx actor.Context, batch []Pending, res *batchResult) {
	n := len(res.outcomes)
	for i := 0; i < n; i++ {
		p.finish(ctx, batch[i], res.outcomes[i])
	}
	if n == len(batch) {
		return
	}
	err := res.err
	switch {
	case errors.Is(err, vayva.ErrStaleEpoch):
		err = p.stopStale(ctx, "")
	case errors.Is(err, vayva.ErrCommitUncertain):
		// The transaction may have committed although the driver reported
		// an error, so memory may now differ from the database: stop, and
		// let the retry reload the identity.
		p.log.Error().Err(err).Str("command_id", batch[n].Commit.CommandID).Msg("commit outcome unknown; stopping to reload")
		p.stop(ctx, vayva.ErrCommitUncertain)
		err = vayva.ErrCommitUncertain
	case vayva.ErrorCode(err) == vayva.EINTERNAL:
		// Rolled back: nothing was written and memory is still current.
		p.log.Error().Err(err).Str("command_id", batch[n].Commit.CommandID).Msg("commit refused")
	}
	if res.fatal {
		p.answerAll(ctx, batch[n:], err)
		return
	}
	p.answer(ctx, batch[n].Sender, ErrorReply(err))
	p.answerAll(ctx, batch[n+1:], errReplan)
}

// commit runs one journal batch on the actor's turn. On a stale epoch or
// an uncertain outcome it stops the activation before returning the error.
func (p *Processor) commit(ctx actor.Context, cs []Commit) ([]Outcome, error) {
	c, cancel := context.WithTimeout(context.Background(), storageTimeout)
	defer cancel()
	outcomes, err := p.journal.CommitBatch(c, p.act, cs)
	switch {
	case err == nil:
		return outcomes, nil
	case errors.Is(err, vayva.ErrStaleEpoch):
		return nil, p.stopStale(ctx, "")
	case errors.Is(err, vayva.ErrCommitUncertain):
		p.log.Error().Err(err).Str("command_id", cs[0].CommandID).Msg("commit outcome unknown; stopping to reload")
		p.stop(ctx, vayva.ErrCommitUncertain)
		return nil, vayva.ErrCommitUncertain
	default:
		if vayva.ErrorCode(err) == vayva.EINTERNAL {
			p.log.Error().Err(err).Str("command_id", cs[0].CommandID).Msg("commit refused")
		}
		return nil, err
	}
}

// stopStale stops an activation that found itself superseded (while
// handling commandID, when there is one) and returns the error its callers
// get: retryable, so they reach the newer activation.
func (p *Processor) stopStale(ctx actor.Context, commandID string) error {
	ev := p.log.Warn()
	if commandID != "" {
		ev = ev.Str("command_id", commandID)
	}
	ev.Msg("activation is stale; stopping")
	p.stop(ctx, vayva.ErrStaleEpoch)
	return vayva.ErrStaleEpoch
}

func (p *Processor) stop(ctx actor.Context, why error) {
	p.act = nil
	p.failure = why
	ctx.Stop(ctx.Self())
}

func (p *Processor) finish(ctx actor.Context, pd Pending, o Outcome) {
	if o.Replayed {
		out, err := unmarshalLike(o.Reply, pd.Reply)
		if err != nil {
			p.log.Error().Err(err).Msg("stored reply unreadable")
			p.answer(ctx, pd.Sender, ErrorReply(err))
			return
		}
		p.answer(ctx, pd.Sender, out)
		return
	}
	if pd.Apply != nil {
		pd.Apply()
		if h, ok := p.kind.(AfterApplier); ok {
			h.AfterApply()
		}
	}
	p.answer(ctx, pd.Sender, pd.Reply)
}

// AfterApplier is implemented by a kind that derives something from its
// state after each committed change (the store publishes its storefront).
// AfterApply runs after a command's apply and before its reply goes out.
type AfterApplier interface {
	AfterApply()
}

func (p *Processor) answerAll(ctx actor.Context, batch []Pending, err error) {
	for _, pd := range batch {
		p.answer(ctx, pd.Sender, ErrorReply(err))
	}
}

func (p *Processor) answer(ctx actor.Context, to *actor.PID, msg proto.Message) {
	if to != nil {
		ctx.Send(to, msg)
	}
}

// Refuse answers a command the current state refuses. A command already
// applied under the same id gets its first reply instead, decoded as the
// type of like: it is a redelivery, and the state has since moved on in a
// way that would refuse it now (its SKU exists, its stock is reserved).
func (p *Processor) Refuse(ctx actor.Context, commandID string, like proto.Message, err error) {
	if commandID != "" {
		c, cancel := context.WithTimeout(context.Background(), storageTimeout)
		stored, ok, lerr := p.journal.StoredReply(c, p.act, commandID)
		cancel()
		switch {
		case errors.Is(lerr, vayva.ErrStaleEpoch):
			// Superseded: the refusal was decided on a state that may no
			// longer be the identity's; the retry reaches the new one.
			err = p.stopStale(ctx, commandID)
		case lerr != nil:
			p.log.Error().Err(lerr).Str("command_id", commandID).Msg("look up stored reply")
			err = &vayva.Error{Code: vayva.EUNAVAILABLE, Message: "actor storage unavailable"}
		case ok:
			out, uerr := unmarshalLike(stored, like)
			if uerr == nil {
				ctx.Respond(out)
				return
			}
			p.log.Error().Err(uerr).Msg("stored reply unreadable")
			err = uerr
		}
	}
	ctx.Respond(ErrorReply(err))
}

// Replay answers a command already applied under commandID with its first
// reply, decoded as the type of like, and reports whether it did. Kinds
// that group-commit call it before planning a command (see Pipeline). A
// failed lookup is answered unavailable, and reported as answered.
func (p *Processor) Replay(ctx actor.Context, commandID string, like proto.Message) bool {
	if commandID == "" || p.act == nil {
		return false
	}
	c, cancel := context.WithTimeout(context.Background(), storageTimeout)
	stored, ok, err := p.journal.StoredReply(c, p.act, commandID)
	cancel()
	switch {
	case errors.Is(err, vayva.ErrStaleEpoch):
		p.Fail(ctx, p.stopStale(ctx, commandID))
		return true
	case err != nil:
		p.log.Error().Err(err).Str("command_id", commandID).Msg("look up stored reply")
		p.Fail(ctx, &vayva.Error{Code: vayva.EUNAVAILABLE, Message: "actor storage unavailable"})
		return true
	case !ok:
		return false
	}
	out, err := unmarshalLike(stored, like)
	if err != nil {
		p.log.Error().Err(err).Msg("stored reply unreadable")
		p.Fail(ctx, err)
		return true
	}
	if ctx.Sender() != nil {
		ctx.Respond(out)
	}
	return true
}

// Fail answers the sender with err, for a command that has no stored reply
// to look for (a read, or a failure that is not a refusal of the command).
func (p *Processor) Fail(ctx actor.Context, err error) {
	if ctx.Sender() != nil {
		ctx.Respond(ErrorReply(err))
	}
}

// Unhandled answers a message the kind does not handle: the default case of
// every kind's type switch.
func (p *Processor) Unhandled(ctx actor.Context, msg any) {
	p.log.Warn().Str("message", protoName(msg)).Msg("unhandled message")
	if ctx.Sender() != nil {
		ctx.Respond(ErrorReply(vayva.Errorf(vayva.EBADREQUEST, "This actor does not handle %s.", protoName(msg))))
	}
}

func unmarshalLike(b []byte, like proto.Message) (proto.Message, error) {
	out := like.ProtoReflect().New().Interface()
	if err := proto.Unmarshal(b, out); err != nil {
		return nil, err
	}
	return out, nil
}

// ErrorReply converts err into the error reply a grain sends. Stale
// activations, uncertain commits and replans are marked retryable so the
// caller's request helper retries them on the identity's current owner.
func ErrorReply(err error) *messages.Error {
	var e *vayva.Error
	if !errors.As(err, &e) {
		return &messages.Error{Code: vayva.EINTERNAL, Message: "internal error"}
	}
	out := &messages.Error{
		Code:    e.Code,
		Message: e.Message,
		Retry:   errors.Is(err, vayva.ErrStaleEpoch) || errors.Is(err, vayva.ErrCommitUncertain) || errors.Is(err, errReplan) || errors.Is(err, errAbandoned),
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

func protoName(msg any) string {
	if m, ok := msg.(proto.Message); ok {
		return string(m.ProtoReflect().Descriptor().FullName())
	}
	return "non-proto message"
}
