package queue

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/vayvahq/vayva"
)

// QueueSpec defines one queue.
type QueueSpec struct {
	// Name is the queue name, e.g. "email".
	Name string
	// Partitions is the number of partition streams. 0 or 1 makes an
	// unordered queue (one stream, any number of concurrent handlers); more
	// makes a queue ordered by Job.Key: a job goes to partition
	// fnv1a32(key) mod Partitions, each partition is owned by one consumer at a
	// time and processed sequentially. Changing it reshuffles keys, so drain
	// the queue first.
	Partitions int
	// MaxAttempts is the number of attempts (deliveries included) before a
	// job goes to the dead-letter stream.
	MaxAttempts int
	// BaseBackoff is the delay before the first retry; later retries wait a
	// random time between BaseBackoff and min(MaxBackoff, BaseBackoff·2^(n-1)).
	BaseBackoff time.Duration
	// MaxBackoff caps the retry delay. On ordered queues a failing job keeps
	// its partition blocked while it waits, so keep it short there.
	MaxBackoff time.Duration
}

// Ordered reports whether the queue is partitioned and ordered by key.
func (s QueueSpec) Ordered() bool { return s.Partitions > 1 }

// Partition returns the partition that jobs with key go to; 0 for unordered
// queues.
func (s QueueSpec) Partition(key string) int {
	if s.Partitions <= 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % uint32(s.Partitions))
}

// backoff returns the delay before attempt+1, after attempt failed:
// exponential with full jitter above the base delay, scaled by scale.
func (s QueueSpec) backoff(attempt int, scale float64) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	limit := s.MaxBackoff
	if attempt-1 < 40 {
		if d := s.BaseBackoff << (attempt - 1); d > 0 && d < limit {
			limit = d
		}
	}
	d := s.BaseBackoff
	if limit > d {
		d += time.Duration(rand.Int64N(int64(limit-d) + 1))
	}
	return time.Duration(float64(d) * scale)
}

func (s QueueSpec) validate() error {
	switch {
	case s.Name == "":
		return fmt.Errorf("queue: spec: Name is empty")
	case s.Partitions < 0 || s.Partitions > 4096:
		return fmt.Errorf("queue: spec %s: Partitions %d is out of range 0..4096", s.Name, s.Partitions)
	case s.MaxAttempts < 1:
		return fmt.Errorf("queue: spec %s: MaxAttempts must be at least 1", s.Name)
	case s.BaseBackoff <= 0:
		return fmt.Errorf("queue: spec %s: BaseBackoff must be positive", s.Name)
	case s.MaxBackoff < s.BaseBackoff:
		return fmt.Errorf("queue: spec %s: MaxBackoff is below BaseBackoff", s.Name)
	}
	return nil
}

// DefaultSpecs returns the runtime's queues. The WhatsApp queues are ordered
// per conversation over 16 partitions with short backoffs (a failing message
// holds up its partition); the others are unordered single streams.
func DefaultSpecs() []QueueSpec {
	return []QueueSpec{
		{Name: vayva.QueueEmail, MaxAttempts: 8, BaseBackoff: 5 * time.Second, MaxBackoff: 30 * time.Minute},
		{Name: vayva.QueueWhatsAppInbound, Partitions: 16, MaxAttempts: 5, BaseBackoff: time.Second, MaxBackoff: 30 * time.Second},
		{Name: vayva.QueueWhatsAppOutbound, Partitions: 16, MaxAttempts: 5, BaseBackoff: time.Second, MaxBackoff: 30 * time.Second},
		{Name: vayva.QueueWebhookDelivery, MaxAttempts: 10, BaseBackoff: 10 * time.Second, MaxBackoff: time.Hour},
		{Name: vayva.QueueOrdersSync, MaxAttempts: 8, BaseBackoff: 5 * time.Second, MaxBackoff: 10 * time.Minute},
		{Name: vayva.QueuePaymentsInbound, MaxAttempts: 10, BaseBackoff: 2 * time.Second, MaxBackoff: 5 * time.Minute},
		{Name: vayva.QueueDelivery, MaxAttempts: 8, BaseBackoff: 5 * time.Second, MaxBackoff: 10 * time.Minute},
		{Name: vayva.QueuePayouts, MaxAttempts: 10, BaseBackoff: 5 * time.Second, MaxBackoff: 10 * time.Minute},
	}
}

// Config configures a Broker and the consumers it creates. The zero value
// is valid: every field has a default.
type Config struct {
	// Queues are the queue definitions. Defaults to DefaultSpecs().
	Queues []QueueSpec
	// Group is the consumer group on every job stream. Defaults to "vayva".
	Group string
	// RetryScale multiplies every retry backoff (env VAYVA_RETRY_SCALE),
	// e.g. 0.001 in tests. Defaults to 1.
	RetryScale float64
	// LeaseTTL is how long a consumer keeps its name and its partitions
	// without renewing them; they are renewed every LeaseTTL/3. A crashed
	// consumer's partitions move to another consumer after at most this long.
	// Defaults to 10s.
	LeaseTTL time.Duration
	// ClaimMinIdle is how long an entry of an unordered queue may sit
	// unacknowledged with its consumer silent before another consumer claims
	// it (XAUTOCLAIM). Live consumers refresh their in-flight entries every
	// ClaimMinIdle/3, so long handlers are not claimed. Defaults to 1m.
	ClaimMinIdle time.Duration
	// JanitorInterval is how often a consumer looks for entries to claim.
	// Defaults to ClaimMinIdle/4.
	JanitorInterval time.Duration
	// BlockTimeout bounds one blocking XREADGROUP. Defaults to 2s; capped at
	// LeaseTTL/2.
	BlockTimeout time.Duration
	// MoverInterval is the longest a consumer waits before looking for due
	// retries in the delayed set; it wakes earlier for retries it knows are
	// due. Defaults to 1s.
	MoverInterval time.Duration
	// TrimInterval is how often a consumer trims acknowledged entries that
	// survived (normally every entry is deleted on acknowledgement) and
	// prunes idle consumers. Defaults to 1m.
	TrimInterval time.Duration
	// ReadBatch is the most entries read per XREADGROUP. Defaults to 32.
	ReadBatch int
	// IngestBatch is the most IngestOnce events sent to Redis in one script
	// call. Defaults to 128.
	IngestBatch int
	// IngestFlushes is how many IngestOnce batches may be in flight at
	// once; calls arriving while that many are in flight wait for the next
	// batch. Defaults to 1: one script run in flight, the next carrying
	// every call that arrived meanwhile (on 2 cores, 2 in flight measured
	// no better and made smaller batches).
	IngestFlushes int
	// IngestTimeout bounds one IngestOnce batch's round trip. Defaults to
	// 5s.
	IngestTimeout time.Duration
	// DeadMaxLen caps each dead-letter stream (approximately, oldest dropped
	// first). Defaults to 100000.
	DeadMaxLen int64
	// ConsumerExpiry is how long a consumer with nothing pending may stay
	// silent before it is deleted from the group. Defaults to 24h.
	ConsumerExpiry time.Duration
	// Registerer receives the queue metrics. Nil keeps them unregistered.
	Registerer prometheus.Registerer
	// Logger receives operational logs. The zero value discards them.
	Logger zerolog.Logger
}

// ConfigFromEnv returns a Config with the settings that come from the
// environment: VAYVA_RETRY_SCALE (float, > 0).
func ConfigFromEnv() (Config, error) {
	var cfg Config
	if v := os.Getenv("VAYVA_RETRY_SCALE"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			return cfg, fmt.Errorf("queue: VAYVA_RETRY_SCALE %q is not a positive number", v)
		}
		cfg.RetryScale = f
	}
	return cfg, nil
}

func (c *Config) setDefaults() error {
	if c.Queues == nil {
		c.Queues = DefaultSpecs()
	}
	if c.Group == "" {
		c.Group = "vayva"
	}
	if c.RetryScale == 0 {
		c.RetryScale = 1
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = 10 * time.Second
	}
	if c.ClaimMinIdle == 0 {
		c.ClaimMinIdle = time.Minute
	}
	if c.JanitorInterval == 0 {
		c.JanitorInterval = c.ClaimMinIdle / 4
	}
	if c.BlockTimeout == 0 {
		c.BlockTimeout = 2 * time.Second
	}
	if c.BlockTimeout > c.LeaseTTL/2 {
		c.BlockTimeout = c.LeaseTTL / 2
	}
	if c.MoverInterval == 0 {
		c.MoverInterval = time.Second
	}
	if c.TrimInterval == 0 {
		c.TrimInterval = time.Minute
	}
	if c.ReadBatch == 0 {
		c.ReadBatch = 32
	}
	if c.DeadMaxLen == 0 {
		c.DeadMaxLen = 100000
	}
	if c.IngestBatch == 0 {
		c.IngestBatch = 128
	}
	if c.IngestFlushes == 0 {
		c.IngestFlushes = 1
	}
	if c.IngestTimeout == 0 {
		c.IngestTimeout = 5 * time.Second
	}
	if c.ConsumerExpiry == 0 {
		c.ConsumerExpiry = 24 * time.Hour
	}
	switch {
	case c.RetryScale < 0:
		return fmt.Errorf("queue: config: RetryScale must not be negative")
	case c.LeaseTTL < 100*time.Millisecond:
		return fmt.Errorf("queue: config: LeaseTTL must be at least 100ms")
	case c.ClaimMinIdle < 10*time.Millisecond:
		return fmt.Errorf("queue: config: ClaimMinIdle must be at least 10ms")
	case c.JanitorInterval <= 0, c.BlockTimeout < time.Millisecond, c.MoverInterval <= 0, c.TrimInterval <= 0:
		return fmt.Errorf("queue: config: JanitorInterval, BlockTimeout, MoverInterval and TrimInterval must be positive")
	case c.ReadBatch < 1:
		return fmt.Errorf("queue: config: ReadBatch must be positive")
	case c.DeadMaxLen < 1:
		return fmt.Errorf("queue: config: DeadMaxLen must be positive")
	case c.IngestBatch < 1 || c.IngestBatch > 1000, c.IngestFlushes < 1, c.IngestTimeout <= 0:
		return fmt.Errorf("queue: config: IngestBatch must be 1 to 1000, IngestFlushes and IngestTimeout positive")
	}
	seen := map[string]bool{}
	for _, s := range c.Queues {
		if err := s.validate(); err != nil {
			return err
		}
		if seen[s.Name] {
			return fmt.Errorf("queue: config: queue %s is defined twice", s.Name)
		}
		seen[s.Name] = true
	}
	return nil
}
