package cluster

import pcluster "github.com/asynkron/protoactor-go/cluster"

// SetProvider makes m use p instead of its configured membership provider.
// Call it before Start.
func SetProvider(m *Member, p pcluster.ClusterProvider) { m.provider = p }

// ActorSystemStopped reports whether m's actor system exists and was shut
// down.
func ActorSystemStopped(m *Member) bool { return m.system != nil && m.system.IsStopped() }
