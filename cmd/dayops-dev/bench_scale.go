package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/dayops/dayops/bench/scalebench"
)

// newBenchScaleCmd is `dayops-dev bench scale`: how each operation's cost
// grows with the shard count.
func newBenchScaleCmd() *cobra.Command {
	var shards string
	var plotFrom []string
	cfg := scalebench.Config{}
	target := stackTarget{temporal: &cfg.TemporalAddress, database: &cfg.DatabaseURL, kubeconfig: &cfg.Kubeconfig,
		databaseDoc: "a database is created and dropped"}
	cmd := &cobra.Command{
		Use:   "scale",
		Short: "Per-operation cost (wall, steps, history, audit, worker CPU/RSS, Redis commands) against the shard count (needs the local stack)",
		Long: `For each --shards size, through the real API (in this process) and a worker
in a process of its own (--dayops-bin server --roles worker), on a fresh
database, task queue and Kubernetes namespace: create Nx1, fill
N*--keys-per-shard keys, scale out to N+N/3, scale back in, back up, upgrade
(auto-approve, 5s bake) and delete. Prints a table per size; --csv and --png
write all rows.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(plotFrom) > 0 {
				return replot(plotFrom, cfg.CSV, cfg.PNG)
			}
			var err error
			if cfg.Shards, err = intList("shards", shards); err != nil {
				return err
			}
			target.resolve()
			cfg.Log = slog.Default()
			_, err = scalebench.Run(cmd.Context(), cfg, cmd.OutOrStdout())
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&shards, "shards", "3,6,12,24", "cluster sizes, comma separated (1 replica per shard)")
	f.IntVar(&cfg.KeysPerShard, "keys-per-shard", 20000, "keys written per shard after the create")
	f.IntVar(&cfg.ValueSize, "value-size", 100, "bytes per value")
	f.StringVar(&cfg.DayopsBin, "dayops-bin", "bin/dayops", "dayops binary the worker process runs")
	f.StringVar(&cfg.Image, "image", "redis:7.0-next", "the upgrade's target image")
	f.DurationVar(&cfg.GateMaxLatency, "gate-max-latency", 2*time.Second, "the upgrade gate's bound on probe p99 (the product's default, 250ms, fails on a loaded machine)")
	f.StringSliceVar(&cfg.Skip, "skip", nil, "operations not to run (scale-out,scale-in,backup,upgrade); create and delete always run")
	f.DurationVar(&cfg.Idle, "idle", 0, "after the create, measure this long with no operation (the guardian's background share), e.g. 20s")
	f.StringSliceVar(&plotFrom, "plot-from", nil, "run nothing: read these CSV files (rows of several runs), write their rows to --csv and the plot to --out")
	f.StringVar(&cfg.CSV, "csv", "", "write every row as CSV here")
	f.StringVar(&cfg.ProfileDir, "worker-profile", "", "write CPU profiles of the worker here, <shards>-<operation>-<n>.pprof, 15 s each (the worker serves net/http/pprof on loopback); read them with go tool pprof -top DIR/12-upgrade-*.pprof")
	f.StringVar(&cfg.PNG, "out", "", "plot wall time and worker CPU against shards into this PNG")
	target.addFlags(f)
	return cmd
}

// replot merges the rows of earlier runs' CSV files into one CSV and plot.
func replot(from []string, csvPath, pngPath string) error {
	var rows []scalebench.Row
	for _, p := range from {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("--plot-from: %w", err)
		}
		r, err := scalebench.ReadCSV(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("--plot-from %s: %w", p, err)
		}
		rows = append(rows, r...)
	}
	if csvPath != "" {
		f, err := os.Create(csvPath)
		if err != nil {
			return err
		}
		if err := scalebench.WriteCSV(f, rows); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if pngPath != "" {
		return scalebench.WritePNG(pngPath, rows)
	}
	return nil
}
