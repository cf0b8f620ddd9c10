package main

import (
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/dayops/dayops/bench/benchkit"
	"github.com/dayops/dayops/bench/migratebench"
	"github.com/dayops/dayops/internal/redis/clusteradmin"
)

// benchMigrateOpts are the flags of `dayops-dev bench migrate`.
type benchMigrateOpts struct {
	data, scenarios, tools string
	budget, sweep          string
	cpuProfile             string
	profile, probeInProc   bool
	keys, valueSize        int
	cfg                    migratebench.Config
	lim                    clusteradmin.Limits
}

// newBenchMigrateCmd is `dayops-dev bench migrate`: dayops slot migration against
// redis-cli --cluster rebalance on the same data, printed as a table.
func newBenchMigrateCmd() *cobra.Command {
	o := &benchMigrateOpts{lim: clusteradmin.DefaultLimits()}
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Compare dayops slot migration with redis-cli --cluster rebalance (3->4, 4->3)",
		Long: `Starts local redis-server clusters (127.0.0.1, free ports), fills them, and
measures scale-out 3->4 (redis-cli: rebalance --cluster-use-empty-masters) and
scale-in 4->3 (redis-cli: rebalance --cluster-weight <leaving>=0) with both
tools, while a client writes; prints keys/s, MB/s, the ratio, the writer's
p50/p99 latency during each migration against an idle baseline, and the
number of lost acknowledged writes.`,
		RunE: o.run,
	}
	o.flags(cmd.Flags())
	return cmd
}

func (o *benchMigrateOpts) run(cmd *cobra.Command, _ []string) error {
	cfg, lim := o.cfg, o.lim
	var err error
	if cmd.Flags().Changed("keys") || cmd.Flags().Changed("value-size") {
		o.data = fmt.Sprintf("%dx%d", o.keys, o.valueSize)
	}
	if cfg.Datasets, err = migratebench.ParseDatasets(o.data); err != nil {
		return err
	}
	if err := cfg.ParseScenariosAndTools(o.scenarios, o.tools); err != nil {
		return err
	}
	if err := setLatencyBudget(&lim, o.budget); err != nil {
		return fmt.Errorf("--latency-budget: %w", err)
	}
	cfg.Limits = lim
	if o.sweep != "" {
		if cfg.Variants, err = sweepVariants(lim, o.sweep); err != nil {
			return fmt.Errorf("--sweep: %w", err)
		}
	}
	cfg.Log = slog.Default()
	if o.profile {
		cfg.Profile = cmd.OutOrStdout()
	}
	if !o.probeInProc {
		if cfg.ProbeCommand, err = probeCommand(); err != nil {
			return err
		}
	}
	if o.cpuProfile != "" {
		stop, err := benchkit.StartCPUProfile(o.cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	_, err = migratebench.Run(cmd.Context(), cfg, cmd.OutOrStdout())
	return err
}

func (o *benchMigrateOpts) flags(f *pflag.FlagSet) {
	cfg, lim := &o.cfg, &o.lim
	f.StringVar(&o.data, "data", "1000000x100,100000x10240", "datasets as KEYSxVALUE_BYTES, comma separated")
	f.IntVar(&o.keys, "keys", 1000000, "shortcut: one dataset of this many keys (with --value-size)")
	f.IntVar(&o.valueSize, "value-size", 100, "shortcut: value size of the --keys dataset")
	f.StringVar(&o.scenarios, "scenarios", "out,in", "out (3->4), in (4->3)")
	f.StringVar(&o.tools, "tools", "redis-cli,dayops", "tools to measure")
	f.Var(&cfg.Values, "values", "value contents: repeat (one byte repeated, as in the figures before Dec 2026; DUMP compresses it to almost nothing) or random (incompressible)")
	f.IntVar(&cfg.Primaries, "primaries", 3, "primaries before scale-out")
	f.StringVar(&cfg.Dir, "dir", "", "parent directory of the nodes' directories (default $TMPDIR; /dev/shm avoids disk fsync stalls)")
	f.IntVar(&cfg.Replicas, "replicas", 0, "replicas per primary")
	f.IntVar(&cfg.WriterWorkers, "writer-workers", 2, "writing client goroutines")
	f.IntVar(&cfg.WriterKeys, "writer-keys", 10000, "keys the writing client cycles over")
	f.DurationVar(&cfg.WriterInterval, "writer-interval", 0, "pause of each writer goroutine between two writes (0: as fast as it can)")
	f.DurationVar(&cfg.Baseline, "baseline", 2*time.Second, "idle latency measurement time")
	f.IntVar(&cfg.ProbeRate, "probe-rate", 2000, "latency client: requests/s, open loop (GET/SET alternately, on its own connections)")
	f.IntVar(&lim.SlotsPerWave, "slots-per-wave", lim.SlotsPerWave, "dayops: slots opened and moved together per pipeline")
	f.IntVar(&lim.Sources, "sources", lim.Sources, "dayops: source primaries migrated from at once")
	f.IntVar(&lim.WavesPerSource, "waves-per-source", lim.WavesPerSource, "dayops: waves in flight per source")
	f.IntVar(&lim.MigratesPerPipeline, "migrates-per-pipeline", lim.MigratesPerPipeline, "dayops: MIGRATE commands per pipeline, 0: a whole wave (lower: better client latency, fewer keys/s)")
	f.IntVar(&lim.BatchKeys, "batch-keys", lim.BatchKeys, "dayops: keys per MIGRATE")
	f.Int64Var(&lim.BatchBytes, "batch-bytes", lim.BatchBytes, "dayops: bytes per MIGRATE")
	f.BoolVar(&lim.SizeSamplingOff, "no-size-sampling", false, "dayops: skip MEMORY USAGE (no byte batches, no big-key check; implies --copy never)")
	f.Var(copyModeFlag{&lim.Copy}, "copy", "dayops: always: copy path (WATCH/DUMP/RESTORE, see bench/README.md) where a slot fits one copy; never: MIGRATE only")
	f.IntVar(&lim.CopiesPerWave, "copies-per-wave", lim.CopiesPerWave, "dayops: slots of one wave copied at once on the copy path")
	f.IntVar(&lim.CopyWavesPerSource, "copy-waves-per-source", lim.CopyWavesPerSource, "dayops: waves in flight per source on the copy path")
	f.BoolVar(&o.probeInProc, "probe-in-process", false, "run the latency probe in this process (default: a process of its own, so it does not share the Go runtime with the mover)")
	f.BoolVar(&o.profile, "profile", false, "print where each primary's event loop spent its time during each move (INFO commandstats, slow log of commands >= 1 ms)")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write this process' CPU profile (the mover, the writer, the fill) to FILE; read it with go tool pprof -top bin/dayops-dev FILE")
	f.StringVar(&o.budget, "latency-budget", lim.LatencyBudget.String(), "dayops: round trip the move may add to the primaries' (the mover adapts its concurrency to it; see docs/slot-migration.md), or off")
	f.StringVar(&o.sweep, "sweep", "", "run dayops once per value of one knob and print the curve keys/s against client latency, e.g. latency-budget=off,4ms,2ms,1ms,500us (knobs: "+strings.Join(sweepKnobs(), ", ")+")")
}

// probeCommand runs the latency probe of `bench migrate` in a process of
// its own: this executable's hidden migrate-probe verb.
func probeCommand() ([]string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("the probe's process: %w", err)
	}
	return []string{self, "bench", "migrate-probe"}, nil
}

// newBenchMigrateProbeCmd is the latency probe of `bench migrate` in a
// process of its own (hidden: bench migrate starts it).
func newBenchMigrateProbeCmd() *cobra.Command {
	var (
		addrs string
		opts  migratebench.ProbeOptions
	)
	cmd := &cobra.Command{
		Use:    "migrate-probe",
		Short:  "Latency probe of bench migrate (started by it; reads take lines, prints JSON)",
		Hidden: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Addrs = strings.Split(addrs, ",")
			return migratebench.ServeProbe(cmd.Context(), opts, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&addrs, "addrs", "", "cluster seed addresses, comma separated")
	cmd.Flags().IntVar(&opts.Rate, "rate", 2000, "requests/s")
	return cmd
}

// setLatencyBudget applies "off" or a duration to l.
func setLatencyBudget(l *clusteradmin.Limits, v string) error {
	if v == "off" {
		l.LatencyBudgetOff = true
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return fmt.Errorf("%q: want a positive duration (500us, 2ms) or off", v)
	}
	l.LatencyBudget, l.LatencyBudgetOff = d, false
	return nil
}

// knobSetters are the knobs --sweep varies.
var knobSetters = map[string]func(l *clusteradmin.Limits, v string) error{
	"latency-budget": setLatencyBudget,
	"copies-per-wave": func(l *clusteradmin.Limits, v string) error {
		return setPositive(&l.CopiesPerWave, v)
	},
	"copy-waves-per-source": func(l *clusteradmin.Limits, v string) error {
		return setPositive(&l.CopyWavesPerSource, v)
	},
	"sources": func(l *clusteradmin.Limits, v string) error {
		return setPositive(&l.Sources, v)
	},
}

func sweepKnobs() []string { return slices.Sorted(maps.Keys(knobSetters)) }

func setPositive(p *int, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return fmt.Errorf("%q: want a positive integer", v)
	}
	*p = n
	return nil
}

// sweepVariants parses KNOB=V1,V2,... into one Variant per value, each the
// other flags' limits with the knob set.
func sweepVariants(base clusteradmin.Limits, s string) ([]migratebench.Variant, error) {
	name, values, ok := strings.Cut(s, "=")
	set, known := knobSetters[name]
	if !ok || !known || values == "" {
		return nil, fmt.Errorf("%q: want KNOB=V1,V2,... with KNOB one of %s", s, strings.Join(sweepKnobs(), ", "))
	}
	var out []migratebench.Variant
	for _, v := range strings.Split(values, ",") {
		v = strings.TrimSpace(v)
		l := base
		if err := set(&l, v); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, migratebench.Variant{Label: name + "=" + v, Limits: l})
	}
	return out, nil
}

// copyModeFlag is --copy.
type copyModeFlag struct{ m *clusteradmin.CopyMode }

func (f copyModeFlag) String() string {
	if f.m == nil || *f.m == "" {
		return string(clusteradmin.CopyAlways)
	}
	return string(*f.m)
}

func (f copyModeFlag) Set(s string) error {
	m, err := clusteradmin.ParseCopyMode(s)
	if err == nil {
		*f.m = m
	}
	return err
}

func (copyModeFlag) Type() string { return "mode" }
