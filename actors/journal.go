package actors

import (
	"context"
	"reflect"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors/internal/seal"
)

// Activation is the fence of one activation of an actor identity. Epoch is
// claimed when the activation starts and is checked by every commit; Version
// counts the transactions committed for the identity and is checked too, so
// a stale activation (one whose identity was activated again elsewhere) can
// never overwrite newer state.
type Activation struct {
	Kind     string
	Identity string
	Epoch    int64
	Version  int64
	// Snapshot is the state blob last committed with Commit.Snapshot, nil if
	// the kind keeps its state in domain tables instead.
	Snapshot []byte
}

// Change is one domain write of a commit: a row of a domain's tables that
// the persistence adapter knows how to apply (a product upsert, a stock
// level). The interface is sealed: its method takes a token only packages
// under actors/ can name, so every change type is declared next to the kind
// that commits it, and ChangeTypes lists them all. A node checks at start
// that its journal has an applier for each (see cluster.Kind.Changes).
type Change interface {
	IsChange(seal.Token)
}

// Commit is everything one command changes, written in one transaction.
type Commit struct {
	// CommandID is the command's idempotency id. A second commit with the
	// same id is not applied: the journal returns the first reply instead.
	// Empty means the command is not deduplicated.
	CommandID string
	// Domain is the data-ownership domain the transaction runs as; the
	// database refuses writes outside that domain's schema.
	Domain vayva.Domain
	// Reply is the serialised reply, stored with the command id so that a
	// duplicate gets the same answer.
	Reply []byte
	// Snapshot replaces the identity's state blob when non-nil.
	Snapshot []byte
	// Changes are the command's domain writes, applied in order.
	Changes []Change
	// Events are appended to the transactional outbox.
	Events []vayva.Event
	// SetReminders creates or moves durable reminders of this identity.
	SetReminders []vayva.Reminder
	// CancelReminders deletes this identity's reminders by name.
	CancelReminders []string
}

// Outcome is what the journal reports for one commit of a batch.
type Outcome struct {
	// Reply is the reply to send: the commit's own, or the first reply of a
	// command already applied under the same id.
	Reply []byte
	// Replayed is true when the command had already been applied; nothing
	// of this commit was written, and its in-memory change must not be
	// installed again.
	Replayed bool
}

// Journal persists actor state safely when the cluster may, for a while, run
// two activations of the same identity. Implemented by persistence/postgres.
//
// Its errors are of three kinds, and the kit treats them differently:
//   - vayva.ErrStaleEpoch: another activation owns the identity; nothing was
//     written. The activation stops and the caller retries elsewhere.
//   - vayva.ErrCommitUncertain: the outcome is unknown (the connection failed
//     at COMMIT). The activation stops, so the retry reloads from the
//     database; the inbox makes the retry exactly-once.
//   - anything else: the transaction rolled back (a refusal raised inside it,
//     such as a unique violation, or a failure before COMMIT). Nothing was
//     written, memory still matches the database, and the activation keeps
//     serving; the caller gets the error's code.
type Journal interface {
	// Activate claims a new epoch for the identity, superseding any other
	// activation, and returns it with the current version and snapshot.
	Activate(ctx context.Context, kind, identity string) (*Activation, error)
	// Commit applies c in one transaction if a still holds the identity's
	// epoch and version. It returns the stored reply and replayed=true when
	// c.CommandID was already applied (nothing else is written then). On
	// success a.Version is incremented.
	Commit(ctx context.Context, a *Activation, c Commit) (reply []byte, replayed bool, err error)
	// CommitBatch applies several commits of one identity, all in one domain,
	// in one transaction (one fence check, one version step) and reports each
	// one's outcome in order. A command id already applied, or repeated
	// within the batch, is a replay. Either every non-replayed commit is
	// written or none is.
	CommitBatch(ctx context.Context, a *Activation, cs []Commit) ([]Outcome, error)
	// StoredReply returns the reply recorded for a command already applied
	// to a's identity, and whether there is one. It fails with
	// vayva.ErrStaleEpoch when a no longer holds the identity's epoch: a
	// kind that would refuse a command on what it has in memory must not,
	// since the activation that superseded it may have applied the command
	// (or be applying it) on a newer state.
	StoredReply(ctx context.Context, a *Activation, commandID string) ([]byte, bool, error)
}

// ChangeTypes lists a zero value of every change type of every product kind.
// The node checks that its journal applies each before it starts.
func ChangeTypes() []Change {
	var out []Change
	seen := map[reflect.Type]bool{}
	for _, kind := range [][]Change{StoreChanges, OrderChanges, ConversationChanges, LedgerChanges} {
		for _, c := range kind {
			// Kinds may share a change type (the audit record).
			if t := reflect.TypeOf(c); !seen[t] {
				seen[t] = true
				out = append(out, c)
			}
		}
	}
	return out
}
