package migratebench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/dayops/dayops/bench/benchkit"
	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/redis/slotmigrate"
	"github.com/dayops/dayops/internal/testutil/redistest"
	"github.com/dayops/dayops/internal/topology"
	"github.com/redis/go-redis/v9"
)

// Dataset is a number of keys of one value size.
type Dataset struct {
	Keys      int
	ValueSize int
}

func (d Dataset) String() string { return fmt.Sprintf("%dx%dB", d.Keys, d.ValueSize) }

// ParseScenariosAndTools sets the scenarios (--scenarios out,in) and the
// tools (--tools dayops,redis-cli).
func (c *Config) ParseScenariosAndTools(scenarios, tools string) error {
	for _, s := range strings.Split(scenarios, ",") {
		switch strings.TrimSpace(s) {
		case "out":
			c.Out = true
		case "in":
			c.In = true
		default:
			return fmt.Errorf("--scenarios: unknown %q (want out, in)", s)
		}
	}
	for _, t := range strings.Split(tools, ",") {
		t = strings.TrimSpace(t)
		if t != "dayops" && t != "redis-cli" {
			return fmt.Errorf("--tools: unknown %q (want dayops, redis-cli)", t)
		}
		c.Tools = append(c.Tools, t)
	}
	return nil
}

// ParseDatasets parses "1000000x100,100000x10240".
func ParseDatasets(s string) ([]Dataset, error) {
	var out []Dataset
	for _, f := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(f), "x")
		if !ok {
			return nil, fmt.Errorf("dataset %q: want KEYSxBYTES", f)
		}
		keys, err1 := strconv.Atoi(k)
		size, err2 := strconv.Atoi(v)
		if err := errors.Join(err1, err2); err != nil || keys <= 0 || size <= 0 {
			return nil, fmt.Errorf("dataset %q: want KEYSxBYTES with positive numbers", f)
		}
		out = append(out, Dataset{Keys: keys, ValueSize: size})
	}
	return out, nil
}

// Config of a benchmark run.
type Config struct {
	Datasets []Dataset
	// Out runs 3 -> 4, In runs 4 -> 3 (after Out).
	Out, In bool
	// Tools to run: "dayops", "redis-cli".
	Tools []string
	// Primaries before scale-out (default 3).
	Primaries int
	// Replicas per primary (default 0, as in the measurement).
	Replicas int
	// WriterWorkers and WriterKeys shape the writing client.
	WriterWorkers int
	WriterKeys    int
	// WriterInterval is each worker's pause between two writes (0: as
	// fast as it can, which on a small machine takes a core's share).
	WriterInterval time.Duration
	// Baseline is how long the idle latency is measured.
	Baseline time.Duration
	// ProbeRate is the latency client's fixed request rate (requests/s,
	// default 2000); see Probe.
	ProbeRate int
	// ProbeCommand, when set, runs the probe in a process of its own: argv
	// of a command that calls ServeProbe with --addrs and --rate appended.
	// In this process the probe would share the Go scheduler and garbage
	// collector with dayops' mover (not with redis-cli, a process of its
	// own), which no real client does.
	ProbeCommand []string
	Limits       clusteradmin.Limits
	// Profile, when set, receives where each primary's event loop spent its
	// time during each move (INFO commandstats, slow log).
	Profile io.Writer
	// Variants, when set, run dayops once per variant (each on its own
	// fresh cluster) instead of once with Limits: the sweep of a knob.
	Variants []Variant
	Log      *slog.Logger
	// Values is what the datasets' values hold (default RepeatValues).
	Values ValueKind
	// Dir is where the nodes keep nodes.conf (default $TMPDIR: a real disk,
	// whose fsync of nodes.conf after each slot change both tools pay).
	Dir string
}

// ValueKind is what the datasets' values hold; it is the --values flag.
type ValueKind string

const (
	// RepeatValues: one byte repeated (the figures before Dec 2026), which
	// DUMP and RESTORE compress to almost nothing.
	RepeatValues ValueKind = "repeat"
	// RandomValues: incompressible (redistest.FillRandom), as a cache of
	// serialized payloads holds.
	RandomValues ValueKind = "random"
)

func (v *ValueKind) String() string {
	if *v == "" {
		return string(RepeatValues)
	}
	return string(*v)
}

// Set accepts repeat or random.
func (v *ValueKind) Set(s string) error {
	if k := ValueKind(s); k != RepeatValues && k != RandomValues {
		return fmt.Errorf("%q is neither repeat nor random", s)
	}
	*v = ValueKind(s)
	return nil
}

// Type names the flag's values in --help.
func (v *ValueKind) Type() string { return "repeat|random" }

// Variant is one setting of dayops' limits in a sweep.
type Variant struct {
	// Label names the setting in the table (e.g. "latency-budget=2ms").
	Label  string
	Limits clusteradmin.Limits
}

// Result is one measured migration.
type Result struct {
	Dataset   Dataset
	Direction string
	Tool      string
	// Knob is the Variant's label ("" outside a sweep).
	Knob     string
	Keys     int64
	Duration time.Duration
	// Idle and During are the latency probe's figures before and during
	// the move.
	Idle   ProbeLatency
	During ProbeLatency
	Lost   error
	Err    error
}

// KeysPerSec is the rate of the migration.
func (r Result) KeysPerSec() float64 { return float64(r.Keys) / r.Duration.Seconds() }

// MBPerSec counts value bytes moved.
func (r Result) MBPerSec() float64 {
	return float64(r.Keys) * float64(r.Dataset.ValueSize) / 1e6 / r.Duration.Seconds()
}

// Run runs every dataset with every tool and prints the table to out.
func Run(ctx context.Context, cfg Config, out io.Writer) ([]Result, error) {
	if cfg.Primaries <= 0 {
		cfg.Primaries = 3
	}
	if cfg.WriterWorkers <= 0 {
		cfg.WriterWorkers = 2
	}
	if cfg.WriterKeys <= 0 {
		cfg.WriterKeys = 10000
	}
	if cfg.Baseline <= 0 {
		cfg.Baseline = 2 * time.Second
	}
	if cfg.ProbeRate <= 0 {
		cfg.ProbeRate = 2000
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	var results []Result
	for _, ds := range cfg.Datasets {
		for _, tool := range cfg.Tools {
			variants := []Variant{{Limits: cfg.Limits}}
			if tool == "dayops" && len(cfg.Variants) > 0 {
				variants = cfg.Variants
			}
			for _, v := range variants {
				rs, err := runOne(ctx, cfg, ds, tool, v)
				results = append(results, rs...)
				if err != nil {
					return results, err
				}
			}
		}
	}
	Print(out, results)
	fmt.Fprintf(out, "load average at the end: %s\n", cmp.Or(benchkit.LoadAvg(), "unknown"))
	return results, nil
}

// moveBench is one dataset, tool and variant's cluster, with its writing
// client and latency probe.
type moveBench struct {
	cfg   Config
	ds    Dataset
	tool  string
	v     Variant
	log   *slog.Logger
	c     *redistest.Cluster
	cc    *redis.ClusterClient
	w     *redistest.Writer
	probe prober
	prof  *profiler
}

// idle is the probe's latency over the baseline with no move running.
func (b *moveBench) idle(ctx context.Context) (ProbeLatency, error) {
	b.probe.Take()
	t := time.NewTimer(b.cfg.Baseline)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ProbeLatency{}, ctx.Err()
	case <-t.C:
	}
	return b.probe.Take(), nil
}

// measure runs one move and fills r with its time, the probe's latency
// during it, the cluster check and the writer's lost writes.
func (b *moveBench) measure(ctx context.Context, r *Result, move func() error) error {
	if err := b.prof.start(ctx, b.c); err != nil {
		return err
	}
	b.probe.Take()
	cpu0, self0, acked0, sched0 := cpuTimes(b.c), selfCPU(), b.w.Stats().Acked, benchkit.ReadSched()
	start := time.Now()
	r.Err = move()
	r.Duration = time.Since(start)
	b.prof.report(ctx, b.c, strings.TrimSpace(fmt.Sprintf("%s %s %s %s", b.ds, r.Direction, b.tool, b.v.Label)), r.Duration)
	b.log.Info("CPU during the migration", "redis_server", cpuDelta(cpu0, cpuTimes(b.c)), "bench_process", selfCPU()-self0,
		"writes_acked", b.w.Stats().Acked-acked0, "go_sched_latency", benchkit.SchedSince(sched0, 0.5, 0.9, 0.99))
	r.During = b.probe.Take()
	if r.Err == nil {
		r.Err = b.c.Check(ctx)
	}
	_, r.Lost = b.w.Verify(ctx, b.cc)
	return nil
}

// startMoveBench starts the cluster in dir, fills it, and starts the
// writing client and the latency probe; close stops them all.
func startMoveBench(ctx context.Context, cfg Config, ds Dataset, tool string, v Variant, dir string) (b *moveBench, close func(), err error) {
	b = &moveBench{cfg: cfg, ds: ds, tool: tool, v: v, log: cfg.Log.With("dataset", ds.String(), "tool", tool, "knob", v.Label)}
	var closers []func()
	close = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil {
			close()
		}
	}()
	if b.c, err = redistest.Start(ctx, redistest.Options{Primaries: cfg.Primaries, ReplicasPerPrimary: cfg.Replicas, Log: cfg.Log, Limits: v.Limits, Dir: dir}); err != nil {
		return nil, nil, err
	}
	closers = append(closers, func() { b.c.Close() })
	b.cc = b.c.ClusterClient()
	closers = append(closers, func() { b.cc.Close() })
	b.log.Info("filling", "keys", ds.Keys, "value_size", ds.ValueSize, "values", cfg.Values.String())
	fill := redistest.Fill
	if cfg.Values == RandomValues {
		fill = redistest.FillRandom
	}
	if err := fill(ctx, b.cc, "bench:", ds.Keys, ds.ValueSize, 8); err != nil {
		return nil, nil, err
	}
	b.w = redistest.StartWriter(ctx, b.cc, redistest.WriterOptions{Keys: cfg.WriterKeys, Workers: cfg.WriterWorkers, Prefix: "writer:", ValueSize: 32, Interval: cfg.WriterInterval})
	closers = append(closers, func() { b.w.Stop() })
	popts := ProbeOptions{Addrs: b.c.Addrs(), Rate: cfg.ProbeRate}
	if len(cfg.ProbeCommand) > 0 {
		b.probe, err = startProbeProcess(ctx, cfg.ProbeCommand, popts)
	} else {
		b.probe, err = StartProbe(ctx, popts)
	}
	if err != nil {
		return nil, nil, err
	}
	closers = append(closers, func() { b.probe.Stop() })
	if cfg.Profile != nil {
		b.prof = &profiler{out: cfg.Profile}
	}
	return b, close, nil
}

func runOne(ctx context.Context, cfg Config, ds Dataset, tool string, v Variant) ([]Result, error) {
	dir, err := os.MkdirTemp(cfg.Dir, "dayops-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	b, closeBench, err := startMoveBench(ctx, cfg, ds, tool, v, dir)
	if err != nil {
		return nil, err
	}
	defer closeBench()
	c, log := b.c, b.log
	var results []Result
	base, err := b.idle(ctx)
	if err != nil {
		return nil, err
	}
	n4, err := c.AddPrimary(ctx)
	if err != nil {
		return nil, err
	}
	id4, err := c.NodeID(ctx, n4.Addr)
	if err != nil {
		return nil, err
	}
	if cfg.Out {
		log.Info("scale out 3 -> 4")
		r := Result{Dataset: ds, Direction: fmt.Sprintf("%d->%d", cfg.Primaries, cfg.Primaries+1), Tool: tool, Knob: v.Label, Idle: base}
		if err := b.measure(ctx, &r, func() error { return scaleOut(ctx, c, tool, id4, n4.Addr) }); err != nil {
			return results, err
		}
		r.Keys, _ = c.Pool.Client(n4.Addr).DBSize(ctx).Result()
		results = append(results, r)
		log.Info("scale out done", "keys", r.Keys, "duration", r.Duration, "err", r.Err)
		if r.Err != nil {
			return results, nil
		}
	}
	if cfg.In {
		if !cfg.Out {
			// Give the new primary its share first, with dayops (not measured).
			if err := scaleOut(ctx, c, "dayops", id4, n4.Addr); err != nil {
				return results, err
			}
		}
		if base, err = b.idle(ctx); err != nil {
			return results, err
		}
		log.Info("scale in 4 -> 3")
		r := Result{Dataset: ds, Direction: fmt.Sprintf("%d->%d", cfg.Primaries+1, cfg.Primaries), Tool: tool, Knob: v.Label, Idle: base}
		r.Keys, _ = c.Pool.Client(n4.Addr).DBSize(ctx).Result()
		if err := b.measure(ctx, &r, func() error { return scaleIn(ctx, c, tool, id4, n4.Addr) }); err != nil {
			return results, err
		}
		results = append(results, r)
		log.Info("scale in done", "keys", r.Keys, "duration", r.Duration, "err", r.Err)
	}
	b.w.Stop()
	if _, err := b.w.Verify(ctx, b.cc); err != nil && len(results) > 0 {
		results[len(results)-1].Lost = err
	}
	return results, nil
}

func cpuTimes(c *redistest.Cluster) map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, n := range c.Nodes() {
		out[n.Addr] = n.CPUTime()
	}
	return out
}

// selfCPU is this process' CPU time (user + system): the mover (dayops
// runs in process; redis-cli is a child, not counted) and the writer.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuDelta renders each node's CPU time used between two readings.
func cpuDelta(before, after map[string]time.Duration) string {
	var parts []string
	for _, n := range slices.Sorted(maps.Keys(after)) {
		parts = append(parts, fmt.Sprintf("%s=%s", n, after[n]-before[n]))
	}
	return strings.Join(parts, " ")
}

func scaleOut(ctx context.Context, c *redistest.Cluster, tool, id4, addr4 string) error {
	if tool == "redis-cli" {
		return redisCLI(ctx, "--cluster", "rebalance", addr4, "--cluster-use-empty-masters")
	}
	view, err := c.View(ctx)
	if err != nil {
		return err
	}
	plan, err := topology.Rebalance(view.Layout(), map[string]float64{id4: 1})
	if err != nil {
		return err
	}
	_, err = slotmigrate.New(c.Admin).MigrateSlots(ctx, slotmigrate.MigrateInput{Moves: plan.Moves, Seeds: c.Addrs()})
	return err
}

func scaleIn(ctx context.Context, c *redistest.Cluster, tool, id4, addr4 string) error {
	if tool == "redis-cli" {
		return redisCLI(ctx, "--cluster", "rebalance", addr4, "--cluster-weight", id4+"=0")
	}
	view, err := c.View(ctx)
	if err != nil {
		return err
	}
	free := map[string]int64{}
	for id, n := range view.Nodes {
		if !n.IsPrimary() || id == id4 {
			continue
		}
		text, err := c.Pool.Client(n.Addr).Info(ctx, "memory").Result()
		if err != nil {
			return err
		}
		free[id] = freeBytes(text)
	}
	plan, err := topology.Drain(view.Layout(), []string{id4}, free)
	if err != nil {
		return err
	}
	_, err = slotmigrate.New(c.Admin).MigrateSlots(ctx, slotmigrate.MigrateInput{Moves: plan.Moves, Seeds: c.Addrs()})
	return err
}

// freeBytes is maxmemory - used_memory, or total_system_memory - used_memory
// when maxmemory is not set.
func freeBytes(info string) int64 {
	v := map[string]int64{}
	for _, line := range strings.Split(info, "\n") {
		if k, val, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			n, _ := strconv.ParseInt(val, 10, 64)
			v[k] = n
		}
	}
	limit := v["maxmemory"]
	if limit == 0 {
		limit = v["total_system_memory"]
	}
	return max(0, limit-v["used_memory"])
}

func redisCLI(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("redis-cli %s: %w: %s", strings.Join(args, " "), err, tail(string(out), 400))
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// Print writes the table of results, with dayops/redis-cli ratios. The
// latency columns are the probe's (see Probe): idle is measured on the same
// cluster just before the move; "x idle" is the p99 during the move over the
// idle p99.
func Print(out io.Writer, results []Result) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "dataset\tmove\ttool\tknob\tkeys\tseconds\tkeys/s\tMB/s\tx redis-cli\t"+
		"idle p50\tidle p99\tidle p99.9\tp50\tp99\tp99.9\tmax\terrors\tp99 x idle\tlost acked writes\t")
	for _, r := range results {
		ratio := "-"
		if r.Tool == "dayops" {
			for _, o := range results {
				if o.Tool == "redis-cli" && o.Dataset == r.Dataset && o.Direction == r.Direction && o.Err == nil && r.Err == nil {
					ratio = fmt.Sprintf("%.1fx", r.KeysPerSec()/o.KeysPerSec())
				}
			}
		}
		lost := "0"
		if r.Lost != nil {
			lost = r.Lost.Error()
		}
		knob := knob(r)
		if r.Err != nil {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\tFAILED: %v\t\t\t\t\t\t\t\t\t\t\t\t\t\t%s\t\n", r.Dataset, r.Direction, r.Tool, knob, r.Err, lost)
			continue
		}
		xIdle := "-"
		if r.Idle.P99 > 0 {
			xIdle = fmt.Sprintf("%.1fx", float64(r.During.P99)/float64(r.Idle.P99))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%.2f\t%.0f\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t\n", r.Dataset, r.Direction, r.Tool, knob, r.Keys,
			r.Duration.Seconds(), r.KeysPerSec(), r.MBPerSec(), ratio,
			ms(r.Idle.P50), ms(r.Idle.P99), ms(r.Idle.P999),
			ms(r.During.P50), ms(r.During.P99), ms(r.During.P999), ms(r.During.Max), r.During.Errors, xIdle, lost)
	}
	tw.Flush()
	for _, r := range results {
		if r.During.LastErr != "" {
			fmt.Fprintf(out, "%s %s %s %s: last probe error: %s\n", r.Dataset, r.Direction, r.Tool, knob(r), r.During.LastErr)
		}
	}
}

func knob(r Result) string {
	if r.Knob == "" {
		return "-"
	}
	return r.Knob
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }
