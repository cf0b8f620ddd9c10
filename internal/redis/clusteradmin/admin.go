package clusteradmin

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClientFactory hands out a client for one node address (host:port). The
// factory owns the clients: callers never close them.
type ClientFactory interface {
	Client(addr string) *redis.Client
}

// Limits bound what the activities do. Zero fields take the defaults of
// DefaultLimits.
type Limits struct {
	// MaxKeyBytes: a key whose MEMORY USAGE is larger stops a migration with
	// a KeyTooBigError (default 512 MiB, Redis' proto-max-bulk-len, the
	// largest payload RESTORE accepts).
	MaxKeyBytes int64
	// BatchKeys is the most keys per MIGRATE and per CLUSTER GETKEYSINSLOT.
	BatchKeys int
	// BatchBytes is the most bytes (MEMORY USAGE sum) per MIGRATE; a single
	// key larger than this goes alone in its own MIGRATE.
	BatchBytes int64
	// SlotsPerWave is how many slots of one source are opened, emptied and
	// closed together with pipelined commands.
	SlotsPerWave int
	// MigratesPerPipeline is how many MIGRATE commands go to a source in one
	// pipeline: the source serves other clients only between the pipeline's
	// reads, so fewer means lower client latency and more round trips.
	// 0 sends all the MIGRATEs of a wave round in one pipeline.
	MigratesPerPipeline int
	// WavesPerSource is how many waves of one source run at once when keys
	// move with MIGRATE (more only queue behind the source's synchronous
	// MIGRATEs and delay its clients).
	WavesPerSource int
	// CopyWavesPerSource is how many waves of one source run at once on the
	// copy path, where nothing blocks the source.
	CopyWavesPerSource int
	// Sources is how many source primaries are migrated from at once.
	Sources int
	// MigrateTimeout is the MIGRATE timeout for a batch of BatchBytes; big
	// keys get proportionally more.
	MigrateTimeout time.Duration
	// SizeSampling measures each key with MEMORY USAGE before moving it
	// (needed for byte-sized batches and the big-key limit). Default on;
	// SizeSamplingOff turns it off.
	SizeSamplingOff bool
	// Copy says when keys move by the copy path (see internal/redis/slotcopy) rather than
	// MIGRATE only.
	Copy CopyMode
	// CopiesPerWave is how many slots of one wave are copied at once on the
	// copy path.
	CopiesPerWave int
	// CopyBudget bounds the bytes of key dumps one migration holds in this
	// process at once on the copy path (a slot of more than BatchBytes is
	// moved with MIGRATE).
	CopyBudget int64
	// LatencyBudget is how much the migration may add to each primary's
	// round trip: the mover PINGs every primary of the migration every 5 ms,
	// takes each one's median round trip before the move as its baseline,
	// and adapts how many slot copies (or MIGRATE pipelines) run at once,
	// halving them when a primary's median PING of a 50 ms period is more
	// than the budget over its baseline and growing them while every
	// primary's is at most half of it (see internal/redis/pace), between
	// one per source and Sources x waves x copies. Lower: lower client latency,
	// fewer keys/s (the curve is in bench/README.md). Default 1ms;
	// LatencyBudgetOff runs at the fixed concurrency of the limits above.
	LatencyBudget    time.Duration
	LatencyBudgetOff bool
	// BusyKey says what to do when a key exists on the target too.
	BusyKey BusyKeyPolicy
	// RetryFor bounds in-activity retries of transient errors.
	RetryFor time.Duration
	// RetryBase is the first back-off.
	RetryBase time.Duration
	// PollInterval is how often convergence and sync are polled.
	PollInterval time.Duration
}

// BusyKeyPolicy decides what happens when MIGRATE finds the key on the target.
type BusyKeyPolicy int

const (
	// BusyKeySourceWins (default): compare both copies (DUMP); if equal drop
	// the source copy, otherwise replace the target copy with the source one.
	// While a slot migrates, clients write existing keys on the source only,
	// so the source copy is the live one and the target copy is a leftover.
	BusyKeySourceWins BusyKeyPolicy = iota
	// BusyKeyFail: compare; if equal drop the source copy, otherwise stop with
	// a BusyKeyConflictError.
	BusyKeyFail
)

// CopyMode chooses between the copy path and MIGRATE.
type CopyMode string

const (
	// CopyAlways (default, also ""): the copy path for every slot that fits
	// one copy. Measured against MIGRATE only (bench/README.md): 1.6-1.9x
	// faster where one source feeds several targets (a scale-in), as fast
	// or faster where several sources feed one target (a scale-out), and
	// the clients' p99 latency 1.4-7x lower in both.
	CopyAlways CopyMode = "always"
	// CopyNever moves every key with MIGRATE.
	CopyNever CopyMode = "never"
)

// ParseCopyMode accepts always or never.
func ParseCopyMode(s string) (CopyMode, error) {
	switch m := CopyMode(s); m {
	case "":
		return CopyAlways, nil
	case CopyAlways, CopyNever:
		return m, nil
	}
	return "", fmt.Errorf("copy mode %q: want always or never", s)
}

// DefaultLimits are the limits used for zero fields.
func DefaultLimits() Limits {
	return Limits{
		MaxKeyBytes:        512 << 20,
		BatchKeys:          1000,
		BatchBytes:         8 << 20,
		SlotsPerWave:       64,
		WavesPerSource:     2,
		CopyWavesPerSource: 4,
		Copy:               CopyAlways,
		CopiesPerWave:      16,
		CopyBudget:         64 << 20,
		LatencyBudget:      time.Millisecond,
		Sources:            8,
		MigrateTimeout:     10 * time.Second,
		RetryFor:           2 * time.Minute,
		RetryBase:          20 * time.Millisecond,
		PollInterval:       50 * time.Millisecond,
	}
}

// WithDefaults returns l with every zero limit set to its default.
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits()
	if l.MaxKeyBytes <= 0 {
		l.MaxKeyBytes = d.MaxKeyBytes
	}
	if l.BatchKeys <= 0 {
		l.BatchKeys = d.BatchKeys
	}
	if l.BatchBytes <= 0 {
		l.BatchBytes = d.BatchBytes
	}
	if l.SlotsPerWave <= 0 {
		l.SlotsPerWave = d.SlotsPerWave
	}
	if l.WavesPerSource <= 0 {
		l.WavesPerSource = d.WavesPerSource
	}
	if l.CopyWavesPerSource <= 0 {
		l.CopyWavesPerSource = d.CopyWavesPerSource
	}
	if l.CopyBudget <= 0 {
		l.CopyBudget = d.CopyBudget
	}
	if l.CopiesPerWave <= 0 {
		l.CopiesPerWave = d.CopiesPerWave
	}
	if l.LatencyBudget <= 0 {
		l.LatencyBudget = d.LatencyBudget
	}
	if l.Sources <= 0 {
		l.Sources = d.Sources
	}
	if l.MigrateTimeout <= 0 {
		l.MigrateTimeout = d.MigrateTimeout
	}
	if l.RetryFor <= 0 {
		l.RetryFor = d.RetryFor
	}
	if l.RetryBase <= 0 {
		l.RetryBase = d.RetryBase
	}
	if l.PollInterval <= 0 {
		l.PollInterval = d.PollInterval
	}
	return l
}

// Admin holds the dependencies of the Redis admin activities. Methods are
// safe for concurrent use.
type Admin struct {
	Clients ClientFactory
	Log     *slog.Logger
	Limits  Limits
	// MigrateUser and MigratePassword are sent with MIGRATE (AUTH2) when the
	// nodes require authentication.
	MigrateUser     string
	MigratePassword string
}

// New returns an Admin with the given dependencies.
func New(clients ClientFactory, log *slog.Logger, limits Limits) *Admin {
	return &Admin{Clients: clients, Log: log, Limits: limits}
}

func (a *Admin) limits() Limits { return a.Limits.WithDefaults() }

// Logger returns the Admin's logger (a discarding one when Log is nil).
func (a *Admin) Logger() *slog.Logger { return a.log() }

func (a *Admin) log() *slog.Logger {
	if a.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Log
}

func (a *Admin) client(addr string) *redis.Client { return a.Clients.Client(addr) }

// Client returns the client of addr from the factory.
func (a *Admin) Client(addr string) *redis.Client { return a.client(addr) }

// Role reads addr's role as ROLE, INFO replication and CLUSTER NODES agree
// on it (a transient error while they do not).
func (a *Admin) Role(ctx context.Context, addr string) (NodeRole, error) { return a.role(ctx, addr) }

// View reads and parses CLUSTER NODES of addr.
func (a *Admin) View(ctx context.Context, addr string) (ClusterView, error) { return a.view(ctx, addr) }

// ViewOnce is View in one attempt (a node that is gone fails at once).
func (a *Admin) ViewOnce(ctx context.Context, addr string) (ClusterView, error) {
	text, err := a.client(addr).ClusterNodes(ctx).Result()
	if err != nil {
		return ClusterView{}, err
	}
	return ParseClusterNodes(text)
}

// view reads and parses CLUSTER NODES of addr.
func (a *Admin) view(ctx context.Context, addr string) (ClusterView, error) {
	var v ClusterView
	err := a.retry(ctx, "cluster nodes "+addr, func(ctx context.Context) (err error) {
		v, err = a.ViewOnce(ctx, addr)
		return err
	})
	if err != nil {
		return ClusterView{}, fmt.Errorf("read cluster nodes of %s: %w", addr, err)
	}
	return v, nil
}

// ClusterInfo reads CLUSTER INFO of addr as a map.
func (a *Admin) ClusterInfo(ctx context.Context, addr string) (map[string]string, error) {
	return a.clusterInfo(ctx, addr)
}

// clusterInfo reads CLUSTER INFO of addr as a map.
func (a *Admin) clusterInfo(ctx context.Context, addr string) (map[string]string, error) {
	text, err := a.client(addr).ClusterInfo(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("cluster info of %s: %w", addr, err)
	}
	return ParseInfo(text), nil
}

// ClientPool is a ClientFactory that keeps one *redis.Client per address,
// built from a template of options.
type ClientPool struct {
	mu      sync.Mutex
	base    redis.Options
	clients map[string]*redis.Client
}

// NewClientPool returns a pool whose clients copy base (Addr is set per
// client). Admin commands need no client-side retries (the activities retry
// with their own classification), RESP2 replies and no CLIENT SETINFO.
func NewClientPool(base redis.Options) *ClientPool {
	if base.MaxRetries == 0 {
		base.MaxRetries = -1
	}
	if base.Protocol == 0 {
		base.Protocol = 2
	}
	if base.ReadTimeout == 0 {
		base.ReadTimeout = 60 * time.Second
	}
	if base.PoolSize == 0 {
		base.PoolSize = 32
	}
	base.DisableIdentity = true
	return &ClientPool{base: base, clients: map[string]*redis.Client{}}
}

// Client returns the client for addr, creating it on first use.
func (p *ClientPool) Client(addr string) *redis.Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.clients[addr]
	if !ok {
		o := p.base
		o.Addr = addr
		c = redis.NewClient(&o)
		p.clients[addr] = c
	}
	return c
}

// Close closes every client of the pool.
func (p *ClientPool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var first error
	for addr, c := range p.clients {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
		delete(p.clients, addr)
	}
	return first
}
