package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/consul"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/internal/startstop"
)

// MembershipStore keeps the members of a cluster for the postgres
// provider: each member joins with its row, heartbeats it, evicts members
// whose heartbeat lapsed and reads the live ones; ops list members and
// mark one draining. Implemented by *postgres.DB (runtime.members).
type MembershipStore interface {
	// JoinMember registers m as alive, or refreshes its row if it is
	// already alive; an id that left or was evicted is refused.
	JoinMember(ctx context.Context, m vayva.ClusterMember) error
	// HeartbeatMember refreshes the member's heartbeat and activation
	// counts and returns its status; MemberEvicted or MemberLeft means it
	// must stop serving.
	HeartbeatMember(ctx context.Context, cluster, id string, counts map[string]int64) (vayva.MemberStatus, error)
	// EvictExpiredMembers marks members whose heartbeat is older than ttl
	// as evicted and returns the ids it marked.
	EvictExpiredMembers(ctx context.Context, cluster string, ttl time.Duration) ([]string, error)
	// SetMemberStatus moves a member to status (draining only from
	// alive); it reports whether a row changed.
	SetMemberStatus(ctx context.Context, cluster, id string, status vayva.MemberStatus) (bool, error)
	// ListMembers returns the members of cluster: with live, the alive and
	// draining ones heard from within ttl; otherwise every member seen
	// within the last hour, for ops.
	ListMembers(ctx context.Context, cluster string, live bool, ttl time.Duration) ([]vayva.ClusterMember, error)
}

// startMu serialises StartMember calls within the process.
var startMu sync.Mutex

func freePort(host string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Member is this node's cluster member. It is a long-lived component with
// the semantics of package startstop: Start joins the cluster, Stop leaves
// it gracefully, Kill drops out of it as a crash would.
type Member struct {
	startstop.BaseStartStop

	cfg     Config
	store   MembershipStore
	log     zerolog.Logger
	metrics *metrics

	// provider, when set before Start, replaces the configured membership
	// provider (tests).
	provider pcluster.ClusterProvider

	// Set by Start; read once Start has returned.
	system  *actor.ActorSystem
	cluster *pcluster.Cluster
	pg      *postgresProvider

	leaving  atomic.Bool
	joined   atomic.Bool
	joinedAt atomic.Int64 // unix nanoseconds of the join, for ops
	evicted  chan struct{}
	evictOne sync.Once
	drain    chan struct{}
	drainOne sync.Once

	// topology is closed, and replaced, whenever a member leaves this
	// member's view: requests in flight to it retry at once instead of
	// waiting out their timeout.
	topologyMu sync.Mutex
	topology   chan struct{}

	// onEvicted hear the ids of members this member evicted.
	onEvictedMu sync.Mutex
	onEvicted   []func(ids []string)
}

// New returns a member configured by cfg. store keeps the membership of
// the postgres provider and is used for nothing else (nil with the other
// providers); reg may be nil.
func New(cfg Config, store MembershipStore, log zerolog.Logger, reg prometheus.Registerer) (*Member, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Provider == ProviderPostgres && store == nil {
		return nil, errors.New("cluster: the postgres provider needs a membership store")
	}
	m := &Member{
		cfg:      cfg,
		store:    store,
		log:      log.With().Str("component", "cluster").Logger(),
		evicted:  make(chan struct{}),
		drain:    make(chan struct{}),
		topology: make(chan struct{}),
	}
	m.metrics = newMetrics(m, reg)
	return m, nil
}

// Start joins the cluster. It returns once this member is part of the
// cluster's member list; ctx bounds the join. A failed start shuts down
// whatever it had brought up (actor system, transport, membership row).
func (m *Member) Start(ctx context.Context) error {
	run, started, stopped, err := m.StartInit(ctx)
	if err != nil {
		return err
	}
	sctx, cancel := startstop.StartupContext(ctx, run)
	defer cancel()
	if err := m.join(sctx); err != nil {
		m.abandon()
		stopped()
		return err
	}
	started()
	m.log.Info().Str("member", m.ID()).Str("address", m.system.Address()).Str("provider", string(m.cfg.Provider)).Msg("joined cluster")
	return nil
}

// join brings up the actor system and its transport, starts the membership
// provider and waits until this member is in the member list.
func (m *Member) join(ctx context.Context) (err error) {
	host, portStr, _ := net.SplitHostPort(m.cfg.Addr)
	port, _ := strconv.Atoi(portStr)
	if port == 0 && m.cfg.AdvertisedHost != "" {
		// The advertised address needs the port up front.
		if port, err = freePort(host); err != nil {
			return fmt.Errorf("VAYVA_CLUSTER_ADDR: %w", err)
		}
	}
	// The provider first: it can fail before anything runs.
	provider, err := m.newProvider()
	if err != nil {
		return err
	}

	m.system = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}))
	kinds := make([]*pcluster.Kind, 0, len(m.cfg.Kinds))
	for _, k := range m.cfg.Kinds {
		props := actor.PropsFromProducer(k.Producer,
			actor.WithReceiverMiddleware(m.lifecycleMiddleware(k)))
		kinds = append(kinds, pcluster.NewKind(k.Name, props))
	}
	var remoteOpts []remote.ConfigOption
	if m.cfg.AdvertisedHost != "" {
		remoteOpts = append(remoteOpts, remote.WithAdvertisedHost(net.JoinHostPort(m.cfg.AdvertisedHost, strconv.Itoa(port))))
	}
	remoteCfg := remote.Configure(host, port, remoteOpts...)
	cfg := pcluster.Configure(m.cfg.Name, provider, disthash.New(), remoteCfg,
		pcluster.WithKinds(kinds...),
		pcluster.WithRequestTimeout(m.cfg.RequestTimeout))
	m.cluster = pcluster.New(m.system, cfg)

	if err := m.startMember(); err != nil {
		return err
	}
	if m.cfg.AdvertisedHost == "" && m.cfg.Provider != ProviderLocal && (host == "0.0.0.0" || host == "::") {
		m.log.Warn().Msg("cluster address binds all interfaces; set an advertised host so other members can dial this one")
	}
	return m.waitJoined(ctx)
}

// newProvider returns the configured membership provider.
func (m *Member) newProvider() (pcluster.ClusterProvider, error) {
	if m.provider != nil {
		return m.provider, nil
	}
	switch m.cfg.Provider {
	case ProviderPostgres:
		m.pg = &postgresProvider{member: m}
		return m.pg, nil
	case ProviderConsul:
		p, err := consul.New()
		if err != nil {
			return nil, fmt.Errorf("cluster: consul: %w", err)
		}
		return p, nil
	default:
		return &localProvider{}, nil
	}
}

// startMember runs protoactor-go's StartMember, which panics on provider
// errors, and turns a panic into an error. protoactor-go's remote sets
// gRPC's process-wide logger when it starts, so members of one process
// start one at a time; the lock is released however StartMember ends.
func (m *Member) startMember() (err error) {
	startMu.Lock()
	defer startMu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cluster: start member: %v", r)
		}
	}()
	m.cluster.StartMember()
	return nil
}

// abandon shuts down what a failed start brought up: the membership
// provider (a postgres member marks its row left) and the actor system
// with its transport. Parts that never started may panic when shut down;
// those panics are logged, not raised.
func (m *Member) abandon() {
	m.leaving.Store(true)
	m.joined.Store(false)
	guard := func(what string, f func()) {
		defer func() {
			if r := recover(); r != nil {
				m.log.Debug().Interface("panic", r).Str("part", what).Msg("shutting down a member that did not start")
			}
		}()
		f()
	}
	if m.cluster == nil {
		if m.system != nil {
			m.system.Shutdown()
		}
		return
	}
	guard("provider", func() { _ = m.cluster.Config.ClusterProvider.Shutdown(true) })
	guard("cluster", func() { m.cluster.Shutdown(false) })
}

func (m *Member) waitJoined(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if m.cluster.MemberList.ContainsMemberID(m.system.ID) {
			m.joinedAt.CompareAndSwap(0, time.Now().UnixNano())
			m.joined.Store(true)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: waiting to join: %w", context.Cause(ctx))
		case <-t.C:
		}
	}
}

// Stop leaves the cluster gracefully: local activations stop (their state is
// already in Postgres) and their identities move to the remaining members.
func (m *Member) Stop(ctx context.Context) error {
	return m.StopWith(ctx, func(ctx context.Context) error {
		m.leaving.Store(true)
		m.joined.Store(false)
		done := make(chan struct{})
		go func() {
			defer close(done)
			m.cluster.Shutdown(true)
		}()
		select {
		case <-done:
			m.log.Info().Str("member", m.ID()).Msg("left cluster")
			return nil
		case <-ctx.Done():
			return fmt.Errorf("cluster: leave: %w", ctx.Err())
		}
	})
}

// Kill stops the member without leaving gracefully, as a crash would: its
// row is left to expire and its activations are dropped. It counts as the
// member's Stop (a later Stop is a no-op). For tests and drills.
func (m *Member) Kill() {
	_ = m.StopWith(context.Background(), func(context.Context) error {
		m.leaving.Store(true)
		m.joined.Store(false)
		if m.pg != nil {
			m.pg.halt()
		}
		m.cluster.Shutdown(false)
		return nil
	})
}

// ID is this member's id (the actor system id); stable for the life of the
// process, never reused.
func (m *Member) ID() string {
	if m.system == nil {
		return ""
	}
	return m.system.ID
}

// Address is host:port of this member's actor transport.
func (m *Member) Address() string {
	if m.system == nil {
		return ""
	}
	return m.system.Address()
}

// Ready reports whether the member has joined and its membership view is
// current: for the postgres provider, its last heartbeat and member-list
// refresh succeeded within the member TTL.
func (m *Member) Ready() bool {
	if !m.joined.Load() || m.leaving.Load() {
		return false
	}
	select {
	case <-m.evicted:
		return false
	default:
	}
	if m.pg != nil {
		return m.pg.fresh()
	}
	return true
}

// LeaseValid reports whether this member may still act for the cluster:
// it has joined, has not left or been evicted, and (postgres provider) its
// last heartbeat succeeded less than the member TTL minus one heartbeat
// interval ago, so the others cannot have evicted it yet. A member paused
// longer than that (SIGSTOP, a long stall) stops committing the moment it
// runs again, before its next heartbeat tells it whether it was evicted.
func (m *Member) LeaseValid() bool {
	if !m.joined.Load() || m.leaving.Load() {
		return false
	}
	select {
	case <-m.evicted:
		return false
	default:
	}
	if m.pg != nil {
		return m.pg.leased()
	}
	return true
}

// CheckLease returns vayva.ErrLeaseLost unless LeaseValid: the fence the
// journal asks before every activation and commit (postgres.Journal's
// SetLease), so a member that lost its lease writes nothing more.
func (m *Member) CheckLease() error {
	if !m.LeaseValid() {
		return vayva.ErrLeaseLost
	}
	return nil
}

func (m *Member) isEvicted() bool {
	select {
	case <-m.evicted:
		return true
	default:
		return false
	}
}

// OnMembersEvicted registers f to hear the ids of the members this member
// evicts (postgres provider), so what those members held (queue entries,
// Idempotency-Key claims) can be released at once.
func (m *Member) OnMembersEvicted(f func(ids []string)) {
	m.onEvictedMu.Lock()
	defer m.onEvictedMu.Unlock()
	m.onEvicted = append(m.onEvicted, f)
}

func (m *Member) membersEvicted(ids []string) {
	m.onEvictedMu.Lock()
	hooks := append([]func(ids []string){}, m.onEvicted...)
	m.onEvictedMu.Unlock()
	for _, f := range hooks {
		f(ids)
	}
}

// topologyChanged returns a channel closed when a member next leaves this
// member's view.
func (m *Member) topologyChanged() <-chan struct{} {
	m.topologyMu.Lock()
	defer m.topologyMu.Unlock()
	return m.topology
}

// memberLeft wakes the requests waiting on a member that left the view.
func (m *Member) memberLeft() {
	m.topologyMu.Lock()
	defer m.topologyMu.Unlock()
	close(m.topology)
	m.topology = make(chan struct{})
}

// Evicted is closed when the other members evicted this one (its heartbeat
// lapsed). The node must stop serving; its identities run elsewhere now.
func (m *Member) Evicted() <-chan struct{} { return m.evicted }

// DrainRequested is closed when ops asked this member to leave the cluster.
func (m *Member) DrainRequested() <-chan struct{} { return m.drain }

func (m *Member) markEvicted() {
	m.evictOne.Do(func() {
		m.log.Error().Str("member", m.ID()).Msg("this member was evicted from the cluster; it stops serving")
		m.joined.Store(false)
		close(m.evicted)
	})
}

func (m *Member) requestDrain() {
	m.drainOne.Do(func() {
		m.log.Info().Str("member", m.ID()).Msg("drain requested")
		close(m.drain)
	})
}

// Drain asks member id to leave the cluster gracefully. For this member it
// signals DrainRequested at once; for another member it marks the member
// row draining (postgres provider), which that member sees at its next
// heartbeat. It returns false when no such live member exists.
func (m *Member) Drain(ctx context.Context, id string) (bool, error) {
	if id == m.ID() {
		m.requestDrain()
		return true, nil
	}
	if m.cfg.Provider != ProviderPostgres {
		return false, nil
	}
	return m.store.SetMemberStatus(ctx, m.cfg.Name, id, vayva.MemberDraining)
}

// ActivationCounts returns the number of live activations per kind on this
// member.
func (m *Member) ActivationCounts() map[string]int64 {
	out := make(map[string]int64, len(m.cfg.Kinds))
	if m.cluster == nil {
		return out
	}
	for _, k := range m.cfg.Kinds {
		if ak, ok := m.cluster.TryGetClusterKind(k.Name); ok {
			out[k.Name] = int64(ak.Count())
		}
	}
	return out
}

// MemberInfo describes one member for ops.
type MemberInfo struct {
	ID       string           `json:"id"`
	Address  string           `json:"address"`
	HTTPAddr string           `json:"http_addr,omitempty"`
	Status   string           `json:"status"`
	Kinds    []string         `json:"kinds"`
	Actors   map[string]int64 `json:"actors"`
	Self     bool             `json:"self"`
	LastSeen *time.Time       `json:"last_seen,omitempty"`
	// JoinedAt is when the member joined; unknown (nil) for other members
	// of the local provider.
	JoinedAt *time.Time `json:"joined_at,omitempty"`
}

// Members lists the cluster's members as this member knows them, with their
// per-kind activation counts.
func (m *Member) Members(ctx context.Context) ([]MemberInfo, error) {
	if m.cfg.Provider == ProviderPostgres {
		rows, err := m.store.ListMembers(ctx, m.cfg.Name, false, m.cfg.MemberTTL)
		if err != nil {
			return nil, err
		}
		out := make([]MemberInfo, 0, len(rows))
		for _, r := range rows {
			seen, joined := r.HeartbeatAt, r.JoinedAt
			info := MemberInfo{
				ID: r.ID, Address: net.JoinHostPort(r.Host, strconv.Itoa(r.Port)), HTTPAddr: r.HTTPAddr,
				Status: string(r.Status), Kinds: productKinds(r.Kinds), Actors: r.ActorCounts, Self: r.ID == m.ID(), LastSeen: &seen,
				JoinedAt: &joined,
			}
			if info.Self {
				info.Actors = m.ActivationCounts()
			}
			if info.Actors == nil {
				info.Actors = map[string]int64{}
			}
			out = append(out, info)
		}
		return out, nil
	}
	var out []MemberInfo
	if m.cluster != nil {
		for _, mem := range m.cluster.MemberList.Members().Members() {
			info := MemberInfo{
				ID: mem.Id, Address: net.JoinHostPort(mem.Host, strconv.Itoa(int(mem.Port))),
				Status: "alive", Kinds: productKinds(mem.Kinds), Actors: map[string]int64{}, Self: mem.Id == m.ID(),
			}
			if info.Self {
				info.Actors = m.ActivationCounts()
				info.HTTPAddr = m.cfg.HTTPAddr
				if ns := m.joinedAt.Load(); ns != 0 {
					joined := time.Unix(0, ns)
					info.JoinedAt = &joined
				}
			}
			out = append(out, info)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// productKinds drops protoactor-go's internal pub/sub topic kind, which every
// member hosts and the runtime does not use, from a member's kinds.
func productKinds(kinds []string) []string {
	out := make([]string, 0, len(kinds))
	for _, k := range kinds {
		if k != pcluster.TopicActorKind {
			out = append(out, k)
		}
	}
	return out
}

// lifecycleMiddleware counts activations and passivates idle activations.
func (m *Member) lifecycleMiddleware(k Kind) actor.ReceiverMiddleware {
	return func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
			switch env.Message.(type) {
			case *actor.Started:
				m.metrics.activations.WithLabelValues(k.Name).Inc()
				if k.IdleTimeout > 0 {
					if ac, ok := c.(actor.Context); ok {
						ac.SetReceiveTimeout(k.IdleTimeout)
					}
				}
			case *actor.ReceiveTimeout:
				m.metrics.passivations.WithLabelValues(k.Name).Inc()
				if ac, ok := c.(actor.Context); ok {
					ac.Poison(ac.Self())
				}
				return
			}
			next(c, env)
		}
	}
}

// localProvider is a single-member cluster: the member list is this member.
type localProvider struct{}

func (localProvider) StartMember(c *pcluster.Cluster) error {
	host, port, err := c.ActorSystem.GetHostPort()
	if err != nil {
		return err
	}
	c.MemberList.UpdateClusterTopology(pcluster.Members{{
		Id: c.ActorSystem.ID, Host: host, Port: int32(port), Kinds: c.GetClusterKinds(),
	}})
	return nil
}

func (localProvider) StartClient(*pcluster.Cluster) error {
	return errors.New("cluster: local provider has no clients")
}
func (localProvider) Shutdown(bool) error { return nil }
