package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vayvahq/vayva/actors"
)

// errNotFenced stops a pipelined commit whose fence matched no row: the
// activation is stale or a command of the batch was already applied. The
// transaction path then tells the two apart.
var errNotFenced = errors.New("postgres: pipelined commit: fence matched no row")

// commitPipelined is CommitBatch's fast path for a batch whose changes all
// have queued appliers and whose command ids are distinct. It takes two
// round trips where the transaction path takes five:
//
//  1. one pipeline: BEGIN, SET LOCAL ROLE, the fence (the version step,
//     checking epoch and version in one UPDATE), the inbox rows (plain
//     INSERTs: a command of the batch already recorded, a replay, fails
//     the pipeline on the inbox's key before any change runs), every
//     change's statements, the outbox rows and the reminder changes;
//  2. COMMIT, sent only once every result of the pipeline checked out.
//
// The server runs a pipeline's statements back to back, so the changes are
// written before the client has seen the fence's answer; when the fence
// matched no row (a stale activation) or a command was already in the
// inbox (a replay) the transaction is rolled
// back, nothing of it stays, and done is false: the caller takes the
// transaction path, which reports the replay's stored reply or
// vayva.ErrStaleEpoch. The row lock the fence's UPDATE takes orders the
// commit against a concurrent Activate, as on the transaction path.
//
// Failures keep the transaction path's meaning: an error from the
// pipeline (a statement refused, a result check failed, the connection
// lost before COMMIT was sent) means nothing was committed; a serialization
// failure or deadlock falls back to the transaction path, which retries;
// an error at COMMIT whose outcome is unknown is vayva.ErrCommitUncertain.
func (j *Journal) commitPipelined(ctx context.Context, a *actors.Activation, cs []actors.Commit, plan *batchPlan) (outcomes []actors.Outcome, done bool, err error) {
	var snapshot []byte
	for i := len(cs) - 1; i >= 0 && snapshot == nil; i-- {
		snapshot = cs[i].Snapshot
	}
	fresh := make([]int, len(cs))
	for i := range cs {
		fresh[i] = i
	}

	var b pgx.Batch
	b.Queue(`BEGIN`)
	b.Queue(`SET LOCAL ROLE ` + pgx.Identifier{cs[0].Domain.Role()}.Sanitize())
	fenced := false
	b.Queue(`
		UPDATE runtime.actors
		SET version = version + 1, snapshot = COALESCE($5, snapshot), updated_at = now()
		WHERE kind = $1 AND identity = $2 AND epoch = $3 AND version = $4`,
		a.Kind, a.Identity, a.Epoch, a.Version, snapshot,
	).Exec(func(tag pgconn.CommandTag) error {
		if tag.RowsAffected() != 1 {
			return errNotFenced
		}
		fenced = true
		return nil
	})
	// The inbox rows go before the changes: a replay fails on the inbox's
	// key before any change's own check can refuse it (a replayed stock
	// reservation would otherwise be refused for the stock its first run
	// took, instead of getting that run's reply).
	queueInbox(&b, a, cs, fresh)
	for i, c := range cs {
		for k, change := range c.Changes {
			if err := plan.queued[i][k](&b, change); err != nil {
				return nil, true, fmt.Errorf("apply %T: %w", change, err)
			}
		}
	}
	queueEventsAndReminders(&b, a, cs, fresh, plan.events)

	conn, err := j.db.Pool().Acquire(ctx)
	if err != nil {
		return nil, true, fmt.Errorf("begin: %w", interpretError(err))
	}
	// A connection left inside a transaction (ROLLBACK failed too) is
	// closed by the pool on release rather than reused.
	defer conn.Release()
	if err := conn.SendBatch(ctx, &b).Close(); err != nil {
		rollback(conn.Conn())
		switch {
		case errors.Is(err, errNotFenced), retryable(err), inboxConflict(err):
			// A stale activation, a collision, or a command of the batch
			// already in the inbox (a replay): the transaction path tells
			// which, with the stored reply of a replay.
			return nil, false, nil
		case !fenced:
			// Failed before the fence answered (the role, the connection):
			// nothing ran, the transaction path gives the definite answer.
			return nil, false, nil
		}
		return nil, true, interpretError(err)
	}
	// The lease's last word before COMMIT (Journal.SetLease).
	if err := j.checkLease(); err != nil {
		rollback(conn.Conn())
		return nil, true, err
	}
	tag, err := conn.Exec(ctx, "commit")
	if err != nil {
		return nil, true, interpretError(commitError(err))
	}
	if tag.String() != "COMMIT" {
		return nil, true, interpretError(commitError(pgx.ErrTxCommitRollback))
	}
	a.Version++
	if snapshot != nil {
		a.Snapshot = snapshot
	}
	outcomes = make([]actors.Outcome, len(cs))
	for i, c := range cs {
		outcomes[i] = actors.Outcome{Reply: c.Reply}
	}
	return outcomes, true, nil
}

// rollback ends the transaction a failed pipeline left open. A connection
// it cannot roll back is closed, so the pool never hands it out again.
func rollback(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, "rollback"); err != nil {
		_ = conn.Close(ctx)
	}
}

// inboxConflict reports whether err is a unique violation of the inbox's
// key: a command already recorded for the identity.
func inboxConflict(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "inbox_pkey"
}
