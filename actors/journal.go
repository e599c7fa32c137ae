package actors

import (
	"context"

	"github.com/vayvahq/vayva"
)

// Activation is the fence of one activation of an actor identity. Epoch is
// claimed when the activation starts and is checked by every commit; Version
// counts the commits applied to the identity and is checked too, so a stale
// activation (one whose identity was activated again elsewhere) can never
// overwrite newer state.
type Activation struct {
	Kind     string
	Identity string
	Epoch    int64
	Version  int64
	// Snapshot is the state blob last committed with Commit.Snapshot, nil if
	// the kind keeps its state in domain tables instead.
	Snapshot []byte
}

// Commit is everything one command changes, written in one transaction.
type Commit struct {
	// CommandID is the command's idempotency id. A second commit with the
	// same id is not applied: Journal.Commit returns the first reply instead.
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
	// Changes are domain writes (rows of the domain's tables) that the
	// persistence adapter knows how to apply, e.g. a product upsert.
	Changes []any
	// Events are appended to the transactional outbox.
	Events []vayva.Event
	// SetReminders creates or moves durable reminders of this identity.
	SetReminders []vayva.Reminder
	// CancelReminders deletes this identity's reminders by name.
	CancelReminders []string
}

// Journal persists actor state safely when the cluster may, for a while, run
// two activations of the same identity. Implemented by persistence/postgres.
type Journal interface {
	// Activate claims a new epoch for the identity, superseding any other
	// activation, and returns it with the current version and snapshot.
	Activate(ctx context.Context, kind, identity string) (*Activation, error)
	// Commit applies c in one transaction if a still holds the identity's
	// epoch and version. It returns the stored reply and replayed=true when
	// c.CommandID was already applied (nothing else is written then). It
	// returns vayva.ErrStaleEpoch when a has been superseded; the caller
	// must stop the activation. On success a.Version is incremented.
	Commit(ctx context.Context, a *Activation, c Commit) (reply []byte, replayed bool, err error)
}
