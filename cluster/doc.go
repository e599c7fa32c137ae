// Package cluster runs a Vayva node's protoactor-go cluster member: the
// actor kinds it hosts, the membership provider chosen by configuration
// (local, postgres or consul), the disthash identity lookup, graceful leave
// and the one request helper every grain call goes through.
//
// The disthash lookup is routing, not a single-activation guarantee: during
// membership changes one identity can briefly run on two members. Safety
// comes from the fencing journal in persistence/postgres, which refuses the
// stale activation's writes; the stale activation stops itself and the
// caller's retry (Request retries such replies) reaches the current owner.
//
// The postgres membership provider keeps one row per member in
// runtime.members. Each member heartbeats its row, marks rows whose heartbeat
// lapsed as evicted, and feeds the live rows to the cluster's member list. A
// member that finds its own row evicted knows the others have moved its
// identities and stops serving: it reports the eviction through Evicted()
// and the node exits so a supervisor can start it afresh under a new id
// (protoactor-go block-lists an evicted member id forever).
package cluster
