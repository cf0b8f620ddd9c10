package main

import (
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/dayops/dayops/bench/opsbench"
	"github.com/dayops/dayops/internal/devcluster"
)

// newBenchOpsCmd is `dayops-dev bench ops`: operations per minute with one
// and more workers on each Temporal mode, and the memory of a large
// scale-out.
func newBenchOpsCmd() *cobra.Command {
	var workers string
	cfg := opsbench.Config{}
	target := stackTarget{database: &cfg.DatabaseURL, kubeconfig: &cfg.Kubeconfig, databaseDoc: "databases are created and dropped"}
	cmd := &cobra.Command{
		Use:   "ops",
		Short: "Operations per minute with 1 and 2 worker processes on the dev server and on Temporal's own server; worker and API memory during a large scale-out (needs the local stack's Kubernetes)",
		Long: `For each --temporal mode the command starts a Temporal of that mode alone
(free ports, own state and databases), serves the real API in this process on
a fresh database and Kubernetes namespace, and runs workers as processes of
their own (--dayops-bin server --roles worker).

The batch: --clusters clusters of 3 shards x 1 replica (created first, not
timed), then each runs --ops-per-cluster switchovers one after the other, all
clusters at once; once with each --workers count (processes are added between
runs). Prints ops/min, p50/p99 of an operation (API call to the 100 ms poll
that sees it end) and the workers' CPU seconds.

--migrate-keys N adds, on each mode, a 3x0 cluster filled with N keys scaled
out 3->4 with one worker, and prints the worker's and the API process's RSS
at rest (before) and peak (VmHWM, reset before the scale-out) during it.
--ops-per-cluster 0 runs only that.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if cfg.Workers, err = intList("workers", workers); err != nil {
				return err
			}
			wd, err := os.Getwd()
			if err != nil {
				return err
			}
			cfg.Root = devcluster.FindRoot(wd)
			target.resolve()
			cfg.Log = slog.Default()
			_, _, err = opsbench.Run(cmd.Context(), cfg, cmd.OutOrStdout())
			return err
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&cfg.Modes, "temporal", []string{devcluster.TemporalDev, devcluster.TemporalServer}, "Temporal modes, in order: dev (the CLI's dev server), server (Temporal's own server on PostgreSQL, mTLS)")
	f.StringVar(&workers, "workers", "1,2", "worker process counts of the batch, increasing, comma separated")
	f.IntVar(&cfg.Clusters, "clusters", 3, "clusters (3x1) running the batch side by side")
	f.IntVar(&cfg.OpsPerCluster, "ops-per-cluster", 4, "switchovers per cluster in each batch (0: no batch)")
	f.IntVar(&cfg.MigrateKeys, "migrate-keys", 0, "keys of the memory run's 3->4 scale-out (0: no memory run; e.g. 1000000)")
	f.IntVar(&cfg.ValueSize, "value-size", 100, "bytes per value of the memory run")
	f.StringVar(&cfg.DayopsBin, "dayops-bin", "bin/dayops", "dayops binary the workers run")
	target.addFlags(f)
	return cmd
}
