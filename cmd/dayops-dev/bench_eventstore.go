package main

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dayops/dayops/bench/benchkit"
	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/audit/projection"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/dayops/dayops/internal/testutil/pgtest"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
)

// benchConfig is the configuration of `dayops-dev bench eventstore`.
type benchConfig struct {
	DatabaseURL   string // server + maintenance database; a scratch database is created on it (DATABASE_URL)
	Writers       []int  // concurrent writers to try
	SingleEvents  int    // events per single-event run
	BatchedEvents int    // events per batched run
	BatchSize     int    // events per append in batched runs
	ReplayEvents  int    // events in the log for the replay figure
	Sign          bool   // sign checkpoints (every 1000 events) while appending
	Projector     bool   // also measure the PostgreSQL projector catching up over the whole log
	Keep          bool   // keep the scratch database
	Reuse         string // use this existing database (on the same server) instead of a scratch one; it is kept
	CPUProfile    string // write a CPU profile of the replay and verify phases here
}

func (c benchConfig) Validate() error {
	var errs []string
	if len(c.Writers) == 0 {
		errs = append(errs, "--writers: at least one")
	}
	for _, w := range c.Writers {
		if w < 1 || w > 64 {
			errs = append(errs, fmt.Sprintf("--writers %d: want 1..64", w))
		}
	}
	if c.SingleEvents < 0 || c.BatchedEvents < 0 || c.ReplayEvents < 0 {
		errs = append(errs, "event counts must be >= 0")
	}
	if c.BatchSize < 1 || c.BatchSize > 10000 {
		errs = append(errs, fmt.Sprintf("--batch-size %d: want 1..10000", c.BatchSize))
	}
	if len(errs) > 0 {
		return fmt.Errorf("bench eventstore: %s", strings.Join(errs, "; "))
	}
	return nil
}

func newBenchEventstoreCmd() *cobra.Command {
	cfg := benchConfig{}
	var writers string
	cmd := &cobra.Command{
		Use:   "eventstore",
		Short: "Append throughput (single and batched, 1 and 8 writers) and 1M-event replay of the audit store",
		Long: `Creates a scratch database on the PostgreSQL server of --database-url, measures appends
(events/s, p50/p99 latency per append) with each writer count, fills the log up to --replay-events
and times a rebuild of the projections from scratch, then drops the database. Prints figures; asserts nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.DatabaseURL == "" {
				cfg.DatabaseURL = pgtest.BaseURL()
			}
			for _, w := range strings.Split(writers, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(w))
				if err != nil {
					return fmt.Errorf("--writers %q: %w", writers, err)
				}
				cfg.Writers = append(cfg.Writers, n)
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			return runBenchEventstore(cmd.Context(), cfg, cmd.OutOrStdout(), slog.Default())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DatabaseURL, "database-url", "", "PostgreSQL server URL (env DATABASE_URL; default "+pgtest.DefaultURL+")")
	f.StringVar(&writers, "writers", "1,8", "comma-separated concurrent writer counts")
	f.IntVar(&cfg.SingleEvents, "single-events", 4000, "events per single-event-append run")
	f.IntVar(&cfg.BatchedEvents, "batched-events", 200000, "events per batched run")
	f.IntVar(&cfg.BatchSize, "batch-size", 500, "events per append in batched runs")
	f.IntVar(&cfg.ReplayEvents, "replay-events", 1000000, "events in the log for the replay figure (0: skip)")
	f.BoolVar(&cfg.Sign, "sign", true, "sign a checkpoint every 1000 events while appending")
	f.BoolVar(&cfg.Projector, "projector", false, "also time the PostgreSQL projector catching up over the whole log")
	f.BoolVar(&cfg.Keep, "keep", false, "keep the scratch database (its name is printed)")
	f.StringVar(&cfg.Reuse, "reuse-database", "", "run against this existing database (kept; appends only fill it up to --replay-events)")
	f.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the benchmark (this process only) to this file")
	return cmd
}

func runBenchEventstore(ctx context.Context, cfg benchConfig, out io.Writer, log *slog.Logger) (err error) {
	db, err := benchDatabase(ctx, &cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "database %s\n", db.Name)
	if !cfg.Keep {
		defer func() {
			if derr := db.Drop(context.WithoutCancel(ctx)); derr != nil && err == nil {
				err = derr
			}
		}()
	}
	pcfg, err := pgxpool.ParseConfig(db.URL)
	if err != nil {
		return err
	}
	pcfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	opts := eventstore.Options{Upcasters: audit.Upcasters(), Logger: log, CheckpointEvery: 1000}
	if cfg.Sign {
		_, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			return err
		}
		opts.Signer = eventstore.NewSigner(priv)
	}
	s, err := eventstore.Open(ctx, pool, opts)
	if err != nil {
		return err
	}
	var pgSettings string
	_ = pool.QueryRow(ctx, "SELECT current_setting('synchronous_commit') || ', fsync ' || current_setting('fsync') || ', server ' || current_setting('server_version')").Scan(&pgSettings)
	fmt.Fprintf(out, "PostgreSQL: synchronous_commit %s; checkpoints signed: %v\n", pgSettings, cfg.Sign)
	fmt.Fprintf(out, "machine: %d CPUs, load average %s\n\n", runtime.NumCPU(), cmp.Or(benchkit.LoadAvg(), "?"))
	defer func() { fmt.Fprintf(out, "load average at the end: %s\n", cmp.Or(benchkit.LoadAvg(), "?")) }()

	if cfg.CPUProfile != "" {
		stop, err := benchkit.StartCPUProfile(cfg.CPUProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	run := 0
	if err := benchAppends(ctx, cfg, s, pool, opts, &run, out); err != nil {
		return err
	}
	if cfg.ReplayEvents > 0 {
		if err := benchReplay(ctx, cfg, s, opts, &run, out); err != nil {
			return err
		}
	}
	if cfg.Keep {
		fmt.Fprintf(out, "kept database %s: %s\n", db.Name, db.URL)
	}
	return nil
}

// benchDatabase is the database the benchmark runs in: --reuse-database's
// (then kept), or a new scratch one.
func benchDatabase(ctx context.Context, cfg *benchConfig) (*pgtest.Database, error) {
	if cfg.Reuse == "" {
		return pgtest.Create(ctx, cfg.DatabaseURL)
	}
	u, err := pgtest.WithDatabase(cfg.DatabaseURL, cfg.Reuse)
	if err != nil {
		return nil, err
	}
	cfg.Keep = true
	return &pgtest.Database{Name: cfg.Reuse, URL: u}, nil
}

// benchAppends times single and batched appends for every writer count,
// through one store (group commit) and through a store each.
func benchAppends(ctx context.Context, cfg benchConfig, s *eventstore.Store, pool *pgxpool.Pool, opts eventstore.Options, run *int, out io.Writer) error {
	tw := newBenchTable(out)
	for _, mode := range []struct {
		name  string
		total int
		batch int
	}{{"single", cfg.SingleEvents, 1}, {"batched", cfg.BatchedEvents, cfg.BatchSize}} {
		if mode.total == 0 {
			continue
		}
		for _, w := range cfg.Writers {
			*run++
			r, err := benchAppend(ctx, []*eventstore.Store{s}, *run, w, mode.total, mode.batch)
			if err != nil {
				return err
			}
			tw.row(fmt.Sprintf("append %s (batch %d)", mode.name, mode.batch), w, r)
			if w == 1 {
				continue
			}
			// The same writers as separate processes would be: one Store
			// and pool each, so no group commit, only the advisory lock.
			// The difference is the cost of serializing appends.
			stores, closeAll, err := separateStores(ctx, pool, opts, w)
			if err != nil {
				return err
			}
			*run++
			r, err = benchAppend(ctx, stores, *run, w, mode.total, mode.batch)
			closeAll()
			if err != nil {
				return err
			}
			tw.row(fmt.Sprintf("append %s (batch %d), a store each", mode.name, mode.batch), w, r)
		}
	}
	tw.flush()
	return nil
}

// separateStores opens n stores, each on a pool of its own.
func separateStores(ctx context.Context, pool *pgxpool.Pool, opts eventstore.Options, n int) ([]*eventstore.Store, func(), error) {
	var stores []*eventstore.Store
	var pools []*pgxpool.Pool
	closeAll := func() {
		for _, p := range pools {
			p.Close()
		}
	}
	for range n {
		p, err := pgxpool.NewWithConfig(ctx, pool.Config().Copy())
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		pools = append(pools, p)
		st, err := eventstore.Open(ctx, p, opts)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		stores = append(stores, st)
	}
	return stores, closeAll, nil
}

// benchReplay fills the log to --replay-events and times a rebuild of the
// projections, a verify of the whole chain and (--projector) the
// PostgreSQL projector's catch-up.
func benchReplay(ctx context.Context, cfg benchConfig, s *eventstore.Store, opts eventstore.Options, run *int, out io.Writer) error {
	head, _, err := s.Head(ctx)
	if err != nil {
		return err
	}
	if missing := cfg.ReplayEvents - int(head); missing > 0 {
		start := time.Now()
		*run++
		if _, err := benchAppend(ctx, []*eventstore.Store{s}, *run, 4, missing, 1000); err != nil {
			return err
		}
		fmt.Fprintf(out, "\nfilled the log to %d events in %.1fs\n", cfg.ReplayEvents, time.Since(start).Seconds())
	}
	head, _, _ = s.Head(ctx)
	start := time.Now()
	p, err := projection.Rebuild(ctx, s, projection.Bound{})
	if err != nil {
		return err
	}
	d := time.Since(start)
	fmt.Fprintf(out, "replay of %d events into the projections (rebuild from scratch): %.2fs (%.0f events/s); %d clusters, %d operations\n",
		head, d.Seconds(), float64(head)/d.Seconds(), len(p.Clusters), len(p.Operations))

	start = time.Now()
	keys := signerKeys(opts.Signer)
	if cfg.Reuse != "" {
		keys = nil // its checkpoints were signed by an earlier run's key
	}
	rep, err := s.Verify(ctx, eventstore.VerifyOptions{PublicKeys: keys, AllowNoCheckpoint: !cfg.Sign})
	if err != nil {
		return fmt.Errorf("verify after the benchmark: %w", err)
	}
	fmt.Fprintf(out, "verify of %d events and %d signed checkpoints: %.2fs\n", rep.Events, rep.SignaturesChecked, time.Since(start).Seconds())

	if cfg.Projector {
		pj, err := projection.NewProjector(ctx, s)
		if err != nil {
			return err
		}
		start = time.Now()
		pos, err := pj.CatchUp(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "PostgreSQL projector catch-up to position %d: %.2fs\n", pos, time.Since(start).Seconds())
	}
	return nil
}

func signerKeys(sg *eventstore.Signer) []ed25519.PublicKey {
	if sg == nil {
		return nil
	}
	return []ed25519.PublicKey{sg.Public()}
}

type benchResult struct {
	events   int
	appends  int
	elapsed  time.Duration
	p50, p99 time.Duration
}

// benchAppend appends total events with w concurrent writers, batch events
// per append, each writer to its own streams (no version conflicts);
// writer i uses stores[i % len(stores)].
func benchAppend(ctx context.Context, stores []*eventstore.Store, run, writers, total, batch int) (benchResult, error) {
	per := total / writers
	lat := make([][]time.Duration, writers)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range writers {
		wg.Go(func() {
			s := stores[w%len(stores)]
			g := &benchGen{run: run, writer: w}
			for done := 0; done < per; {
				n := min(batch, per-done)
				stream, evs, err := g.next(n)
				if err != nil {
					errs[w] = err
					return
				}
				t0 := time.Now()
				if _, err := s.Append(ctx, stream, eventstore.Any(), evs...); err != nil {
					errs[w] = err
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
				done += n
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return benchResult{}, err
		}
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[min(len(all)-1, int(float64(len(all))*p))]
	}
	return benchResult{events: per * writers, appends: len(all), elapsed: elapsed, p50: pct(0.50), p99: pct(0.99)}, nil
}

// benchGen produces a realistic mix of the audit vocabulary: operations with
// steps and hooks on operation streams, topology changes on cluster streams.
type benchGen struct {
	run, writer, i int
}

func (g *benchGen) next(n int) (eventstore.StreamName, []eventstore.EventData, error) {
	g.i++
	cluster := fmt.Sprintf("c%d-%d", g.writer, g.i%25)
	op := fmt.Sprintf("op-%d-%d-%d", g.run, g.writer, g.i)
	md := eventstore.Metadata{Actor: "bench", Reason: "benchmark", CorrelationID: op, Cluster: cluster}
	onCluster := g.i%2 == 0
	evs := make([]eventstore.EventData, n)
	for k := range n {
		var p audit.Payload
		if onCluster {
			switch k % 5 {
			case 0:
				p = audit.InstanceCreated{Cluster: cluster, Shard: k % 8, Ordinal: k % 64, Pod: fmt.Sprintf("%s-%d", cluster, k%64),
					Zone: "zone-" + strconv.Itoa(k%3), Role: audit.RoleReplica, Image: "redis:7.0.15", RedisVersion: "7.0.15"}
			case 1:
				p = audit.RoleChanged{Cluster: cluster, Ordinal: k % 64, Role: audit.RolePrimary, PreviousRole: audit.RoleReplica}
			case 2:
				// One rebalance step per append: a contiguous run of slots
				// moves from one shard to the next, 100 slots per event,
				// the way the scale workflows migrate range by range.
				from := g.i % 8
				s := (from*2048 + (k/5)*100) % 16300
				p = audit.SlotsMigrated{Cluster: cluster, FromShard: from, ToShard: (from + 1) % 8, Slots: []audit.SlotRange{{Start: s, End: s + 99}}}
			case 3:
				p = audit.ImageChanged{Cluster: cluster, Ordinal: k % 64, Image: "redis:7.2.4", RedisVersion: "7.2.4"}
			default:
				p = audit.ShardAdded{Cluster: cluster, Shard: k % 8}
			}
		} else {
			step := fmt.Sprintf("step-%d", k/2)
			switch {
			case k == 0:
				p = audit.OperationRequested{OperationID: op, Cluster: cluster, Kind: "scale-shards"}
			case k == n-1 && n > 1:
				p = audit.OperationCompleted{OperationID: op, Cluster: cluster}
			case k%7 == 3:
				p = audit.HookRan{OperationID: op, Cluster: cluster, Hook: "notify", Point: "post-migrate", Outcome: "succeeded", DurationMS: 12}
			case k%2 == 0:
				p = audit.StepCompleted{OperationID: op, Cluster: cluster, StepID: step, Detail: "ok"}
			default:
				p = audit.StepStarted{OperationID: op, Cluster: cluster, StepID: step, Name: "migrate slots", Target: "shard 3"}
			}
		}
		e, err := audit.NewEvent(eventstore.NameEventID("bench", strconv.Itoa(g.run), strconv.Itoa(g.writer), strconv.Itoa(g.i), strconv.Itoa(k)), p, md)
		if err != nil {
			return eventstore.StreamName{}, nil, err
		}
		evs[k] = e
	}
	if onCluster {
		return eventstore.ClusterStream(cluster), evs, nil
	}
	return eventstore.OperationStream(op), evs, nil
}

type benchTable struct {
	out  io.Writer
	rows [][]string
}

func newBenchTable(out io.Writer) *benchTable {
	return &benchTable{out: out, rows: [][]string{{"RUN", "WRITERS", "EVENTS", "APPENDS", "SECONDS", "EVENTS/S", "P50 APPEND", "P99 APPEND"}}}
}

func (t *benchTable) row(name string, writers int, r benchResult) {
	t.rows = append(t.rows, []string{name, strconv.Itoa(writers), strconv.Itoa(r.events), strconv.Itoa(r.appends),
		fmt.Sprintf("%.2f", r.elapsed.Seconds()), fmt.Sprintf("%.0f", float64(r.events)/r.elapsed.Seconds()),
		r.p50.Round(time.Microsecond).String(), r.p99.Round(time.Microsecond).String()})
}

func (t *benchTable) flush() {
	width := make([]int, len(t.rows[0]))
	for _, r := range t.rows {
		for i, c := range r {
			width[i] = max(width[i], len(c))
		}
	}
	for _, r := range t.rows {
		var b strings.Builder
		for i, c := range r {
			fmt.Fprintf(&b, "%-*s  ", width[i], c)
		}
		fmt.Fprintln(t.out, strings.TrimRight(b.String(), " "))
	}
}
