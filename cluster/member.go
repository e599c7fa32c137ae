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

	"github.com/vayvahq/vayva/persistence/postgres"
)

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

// Member is this node's cluster member. It is a long-lived component: Start
// joins the cluster, Stop leaves it gracefully.
type Member struct {
	cfg     Config
	db      *postgres.DB
	log     zerolog.Logger
	metrics *metrics

	mu       sync.Mutex
	system   *actor.ActorSystem
	cluster  *pcluster.Cluster
	pg       *postgresProvider
	started  bool
	stopped  bool
	leaving  atomic.Bool
	joined   atomic.Bool
	evicted  chan struct{}
	evictOne sync.Once
	drain    chan struct{}
	drainOne sync.Once
}

// New returns a member configured by cfg. db is required by the postgres
// provider and used for nothing else; reg may be nil.
func New(cfg Config, db *postgres.DB, log zerolog.Logger, reg prometheus.Registerer) (*Member, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Provider == ProviderPostgres && db == nil {
		return nil, errors.New("cluster: the postgres provider needs a database")
	}
	m := &Member{
		cfg:     cfg,
		db:      db,
		log:     log.With().Str("component", "cluster").Logger(),
		evicted: make(chan struct{}),
		drain:   make(chan struct{}),
	}
	m.metrics = newMetrics(m, reg)
	return m, nil
}

// Start joins the cluster. It returns once this member is part of the
// cluster's member list.
func (m *Member) Start(ctx context.Context) (err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started {
		return errors.New("cluster: member already started")
	}
	m.started = true

	host, portStr, _ := net.SplitHostPort(m.cfg.Addr)
	port, _ := strconv.Atoi(portStr)
	if port == 0 && m.cfg.AdvertisedHost != "" {
		// The advertised address needs the port up front.
		if port, err = freePort(host); err != nil {
			return fmt.Errorf("VAYVA_CLUSTER_ADDR: %w", err)
		}
	}

	m.system = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}))

	var provider pcluster.ClusterProvider
	switch m.cfg.Provider {
	case ProviderLocal:
		provider = &localProvider{}
	case ProviderPostgres:
		m.pg = &postgresProvider{member: m}
		provider = m.pg
	case ProviderConsul:
		p, err := consul.New()
		if err != nil {
			return fmt.Errorf("cluster: consul: %w", err)
		}
		provider = p
	}

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

	// StartMember panics on provider errors; turn that into an error.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cluster: start member: %v", r)
		}
	}()
	// protoactor-go's remote sets gRPC's process-wide logger when it starts,
	// so members of one process start one at a time.
	startMu.Lock()
	m.cluster.StartMember()
	startMu.Unlock()

	if m.cfg.AdvertisedHost == "" && m.cfg.Provider != ProviderLocal && (host == "0.0.0.0" || host == "::") {
		m.log.Warn().Msg("cluster address binds all interfaces; set an advertised host so other members can dial this one")
	}
	if err := m.waitJoined(ctx); err != nil {
		return err
	}
	m.log.Info().Str("member", m.ID()).Str("address", m.system.Address()).Str("provider", string(m.cfg.Provider)).Msg("joined cluster")
	return nil
}

func (m *Member) waitJoined(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if m.cluster.MemberList.ContainsMemberID(m.system.ID) {
			m.joined.Store(true)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: waiting to join: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// Stop leaves the cluster gracefully: local activations stop (their state is
// already in Postgres) and their identities move to the remaining members.
// It is safe to call more than once.
func (m *Member) Stop(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.started || m.stopped {
		return nil
	}
	m.stopped = true
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
}

// Kill stops the member without leaving gracefully, as a crash would: its
// row is left to expire and its activations are dropped. For tests and drills.
func (m *Member) Kill() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.started || m.stopped {
		return
	}
	m.stopped = true
	m.leaving.Store(true)
	m.joined.Store(false)
	if m.pg != nil {
		m.pg.halt()
	}
	m.cluster.Shutdown(false)
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
	return m.db.SetMemberStatus(ctx, m.cfg.Name, id, postgres.MemberDraining)
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
}

// Members lists the cluster's members as this member knows them, with their
// per-kind activation counts.
func (m *Member) Members(ctx context.Context) ([]MemberInfo, error) {
	if m.cfg.Provider == ProviderPostgres {
		rows, err := m.db.ListMembers(ctx, m.cfg.Name, false, m.cfg.MemberTTL)
		if err != nil {
			return nil, err
		}
		out := make([]MemberInfo, 0, len(rows))
		for _, r := range rows {
			seen := r.HeartbeatAt
			info := MemberInfo{
				ID: r.ID, Address: net.JoinHostPort(r.Host, strconv.Itoa(r.Port)), HTTPAddr: r.HTTPAddr,
				Status: string(r.Status), Kinds: productKinds(r.Kinds), Actors: r.ActorCounts, Self: r.ID == m.ID(), LastSeen: &seen,
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
