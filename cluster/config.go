package cluster

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/vayvahq/vayva/actors"
)

// Provider names a membership provider.
type Provider string

// The membership providers a node can use.
const (
	// ProviderLocal runs a single-member cluster inside one process.
	ProviderLocal Provider = "local"
	// ProviderPostgres keeps membership in runtime.members with heartbeats
	// and expiry; members on one or many machines find each other there.
	ProviderPostgres Provider = "postgres"
	// ProviderConsul uses protoactor-go's Consul provider (agent on
	// 127.0.0.1:8500 unless CONSUL_HTTP_ADDR says otherwise).
	ProviderConsul Provider = "consul"
)

// Config configures a cluster member.
type Config struct {
	// Name of the cluster; members with the same name and provider form one
	// cluster. Defaults to "vayva" (VAYVA_CLUSTER_NAME).
	Name string
	// Provider is the membership provider. Defaults to ProviderLocal
	// (VAYVA_CLUSTER_PROVIDER).
	Provider Provider
	// Addr is host:port of this member's actor transport; port 0 picks a
	// free port. Defaults to "127.0.0.1:0" (VAYVA_CLUSTER_ADDR).
	Addr string
	// AdvertisedHost is the host other members dial, when it differs from
	// the bind host (NAT, containers). Defaults to the host of Addr.
	AdvertisedHost string
	// HTTPAddr is this node's HTTP address, recorded for ops. Optional.
	HTTPAddr string
	// HeartbeatInterval is how often the postgres provider heartbeats and
	// refreshes the member list. Defaults to 1s.
	HeartbeatInterval time.Duration
	// MemberTTL is how long a member may miss heartbeats before the others
	// evict it. Defaults to 5s.
	MemberTTL time.Duration
	// RequestTimeout bounds one grain call, retries included, when the
	// caller's context has no earlier deadline. Defaults to 5s.
	RequestTimeout time.Duration
	// Kinds are the actor kinds this member hosts.
	Kinds []Kind
}

// Kind is an actor kind this member can activate.
type Kind struct {
	// Name is the kind, e.g. "store".
	Name string
	// Producer makes a fresh actor for each activation.
	Producer actor.Producer
	// IdleTimeout passivates an activation that received nothing for this
	// long. Zero disables passivation.
	IdleTimeout time.Duration
	// Changes are the change types the kind commits. The node refuses to
	// start when its journal cannot apply one of them.
	Changes []actors.Change
}

func (c *Config) setDefaults() {
	if c.Name == "" {
		c.Name = "vayva"
	}
	if c.Provider == "" {
		c.Provider = ProviderLocal
	}
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = time.Second
	}
	if c.MemberTTL == 0 {
		c.MemberTTL = 5 * time.Second
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 5 * time.Second
	}
}

// Validate reports the first invalid setting, naming it.
func (c *Config) Validate() error {
	switch c.Provider {
	case ProviderLocal, ProviderPostgres, ProviderConsul:
	default:
		return fmt.Errorf("VAYVA_CLUSTER_PROVIDER: %q is not one of local, postgres, consul", c.Provider)
	}
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("VAYVA_CLUSTER_ADDR: %q is not host:port: %w", c.Addr, err)
	}
	if host == "" {
		return fmt.Errorf("VAYVA_CLUSTER_ADDR: %q has no host", c.Addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("VAYVA_CLUSTER_ADDR: %q has an invalid port", c.Addr)
	}
	if c.MemberTTL < 2*c.HeartbeatInterval {
		return fmt.Errorf("cluster: member TTL %s must be at least twice the heartbeat interval %s", c.MemberTTL, c.HeartbeatInterval)
	}
	for _, k := range c.Kinds {
		if k.Name == "" || k.Producer == nil {
			return fmt.Errorf("cluster: kind %q needs a name and a producer", k.Name)
		}
	}
	return nil
}
