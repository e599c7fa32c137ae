package vayva

import "time"

// MemberStatus is the lifecycle state of a cluster member.
type MemberStatus string

// The states a cluster member moves through. A member is alive while it
// heartbeats; draining when ops asked it to leave; left when it left
// gracefully; evicted when its heartbeat lapsed and another member noticed.
// An evicted member never returns under the same id.
const (
	MemberAlive    MemberStatus = "alive"
	MemberDraining MemberStatus = "draining"
	MemberLeft     MemberStatus = "left"
	MemberEvicted  MemberStatus = "evicted"
)

// ClusterMember is one member of a cluster as the membership store keeps
// it: where it listens, the actor kinds it hosts and how many activations
// of each it last reported.
type ClusterMember struct {
	Cluster string
	// ID is the member's actor system id.
	ID   string
	Host string
	Port int
	// HTTPAddr is the member's HTTP listener, for ops.
	HTTPAddr    string
	Kinds       []string
	Status      MemberStatus
	ActorCounts map[string]int64
	JoinedAt    time.Time
	HeartbeatAt time.Time
}

// ErrLeaseLost reports that this cluster member may no longer act for the
// cluster: its membership lease lapsed (no heartbeat got through for
// longer than the member TTL less one heartbeat interval) or the other
// members evicted it. It refuses activations, commits and HTTP requests;
// callers retry on another member.
var ErrLeaseLost = &Error{Code: EUNAVAILABLE, Message: "this cluster member's lease lapsed; retry on another member"}
