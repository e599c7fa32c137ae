package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	pcluster "github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/proto"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/messages"
)

// Request sends msg to the grain kind/identity and waits for its reply of
// type T. It is the only way the runtime calls grains: every call has an
// explicit per-attempt timeout and retry policy (never the package-level
// defaults of protoactor-go's RequestFuture), and it retries attempts that
// timed out, hit a dead letter or reached a stale activation, until ctx's
// deadline (or the member's request timeout when ctx has none). An attempt
// whose target member leaves this member's view is abandoned and retried at
// once on the identity's new owner. An evicted member calls nothing. Commands
// carry idempotency ids, so a retried command is applied once.
//
// A *messages.Error reply comes back as a *vayva.Error with its code.
func Request[T proto.Message](ctx context.Context, m *Member, kind, identity string, msg proto.Message) (T, error) {
	var zero T
	start := time.Now()
	reply, err := m.request(ctx, kind, identity, msg)
	outcome := "ok"
	defer func() { m.metrics.requests.WithLabelValues(kind, outcome).Observe(time.Since(start).Seconds()) }()
	if err != nil {
		outcome = "error"
		return zero, err
	}
	if e, ok := reply.(*messages.Error); ok {
		outcome = "refused"
		return zero, ErrorFromMessage(e)
	}
	t, ok := reply.(T)
	if !ok {
		outcome = "error"
		return zero, fmt.Errorf("cluster: %s/%s replied %T, want %T", kind, identity, reply, zero)
	}
	return t, nil
}

// attemptTimeout bounds one attempt so that a lost message is retried well
// before the overall deadline.
const attemptTimeout = 2 * time.Second

func (m *Member) request(ctx context.Context, kind, identity string, msg proto.Message) (any, error) {
	if m.cluster == nil {
		return nil, vayva.Errorf(vayva.EUNAVAILABLE, "cluster member not started")
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, m.cfg.RequestTimeout)
		defer cancel()
	}
	deadline, _ := ctx.Deadline()
	backoff := 5 * time.Millisecond
	var lastErr error
	for attempt := 0; ; attempt++ {
		remaining := time.Until(deadline)
		if remaining <= 0 || ctx.Err() != nil {
			break
		}
		if m.isEvicted() {
			// An evicted member sends nothing more: its view is stale.
			return nil, vayva.ErrLeaseLost
		}
		reply, err := m.attempt(ctx, kind, identity, msg, min(remaining, attemptTimeout))
		if err == nil {
			if e, ok := reply.(*messages.Error); ok && e.GetRetry() {
				lastErr = ErrorFromMessage(e)
			} else {
				return reply, nil
			}
		} else {
			lastErr = err
		}
		m.metrics.retries.WithLabelValues(kind).Inc()
		if errors.Is(err, errOwnerLeft) {
			// The owner left the view: the next attempt resolves the
			// identity among the remaining members at once.
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 200*time.Millisecond)
	}
	if lastErr == nil {
		lastErr = ctx.Err()
	}
	m.log.Debug().Err(lastErr).Str("kind", kind).Str("identity", identity).Msg("grain call gave up")
	return nil, &vayva.Error{Code: vayva.EUNAVAILABLE, Message: fmt.Sprintf("%s %s did not answer in time", kind, identity)}
}

// errOwnerLeft aborts an attempt whose target left this member's view.
var errOwnerLeft = errors.New("cluster: the identity's member left while the call was in flight")

// attempt is one protoactor-go call, bounded by timeout. protoactor-go
// cannot cancel a call, so it runs on its own goroutine: when a member
// leaves this member's view while the call is in flight and the identity
// lived there (or its owner was not known yet), the attempt is abandoned at
// once with errOwnerLeft instead of waiting out its timeout; the call's
// goroutine ends with its own timeout and its late reply is dropped.
func (m *Member) attempt(ctx context.Context, kind, identity string, msg proto.Message, timeout time.Duration) (any, error) {
	type result struct {
		reply any
		err   error
	}
	changed := m.topologyChanged()
	owner := ""
	if pid, ok := m.cluster.PidCache.Get(identity, kind); ok {
		owner = pid.GetAddress()
	}
	done := make(chan result, 1)
	go func() {
		reply, err := m.cluster.Request(identity, kind, msg,
			pcluster.WithTimeout(timeout),
			pcluster.WithRetryCount(5),
			pcluster.WithRetryAction(func(i int) int {
				time.Sleep(time.Duration(i+1) * 10 * time.Millisecond)
				return i + 1
			}))
		done <- result{reply, err}
	}()
	for {
		select {
		case r := <-done:
			return r.reply, r.err
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-changed:
			if owner == "" || !m.hostsAddress(owner) {
				return nil, errOwnerLeft
			}
			changed = m.topologyChanged()
		}
	}
}

// hostsAddress reports whether a member at addr is in this member's view.
func (m *Member) hostsAddress(addr string) bool {
	for _, mem := range m.cluster.MemberList.Members().Members() {
		if mem.Address() == addr {
			return true
		}
	}
	return false
}

// ErrorFromMessage converts a grain's error reply into a *vayva.Error.
func ErrorFromMessage(e *messages.Error) error {
	out := &vayva.Error{Code: e.GetCode(), Message: e.GetMessage()}
	for _, f := range e.GetFields() {
		out.Fields = append(out.Fields, vayva.FieldError{Field: f.GetField(), Message: f.GetMessage()})
	}
	if out.Code == "" {
		out.Code = vayva.EINTERNAL
	}
	return out
}

// IsTimeout reports whether err is a grain call that got no answer.
func IsTimeout(err error) bool {
	return err != nil && vayva.ErrorCode(err) == vayva.EUNAVAILABLE && strings.Contains(err.Error(), "did not answer")
}
