package main

import (
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dayops/dayops/bench/chaosbench/chaosrun"
)

// newBenchChaosCmd is `dayops-dev bench chaos`: the self-healing figures of
// issue 13, per fault.
func newBenchChaosCmd() *cobra.Command {
	cfg := chaosrun.Config{}
	target := stackTarget{temporal: &cfg.TemporalAddress, database: &cfg.DatabaseURL, kubeconfig: &cfg.Kubeconfig,
		databaseDoc: "a database is created and dropped"}
	cmd := &cobra.Command{
		Use:   "chaos",
		Short: "Per fault: seconds to Redis promoting, to the Service following, to full redundancy; writes and keys lost; the guardian's cost (needs the local stack)",
		Long: `Through the real API (in this process) and a worker in a process of its own
(--dayops-bin server --roles worker), on a fresh database, task queue and
Kubernetes namespace of the running local stack: creates a --shards x 1
cluster with the default persistence (AOF), measures what guarding it costs
while idle (worker CPU, Redis commands per instance per minute), fills it and,
with a writer that waits for one replica (WAIT 1) and checks every write,
force-deletes a primary Pod, deletes a replica Pod and its PVC, kills the
worker mid-recovery, keeps the worker down while a replica Pod is lost,
switches over, SIGKILLs a primary's redis-server, loses every Pod of one node
and loses a Pod while an upgrade holds the cluster. Then a cluster without
persistence has its primary's redis-server SIGKILLed (the fence). Prints one
row per fault. Figures only; nothing is asserted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			target.resolve()
			cfg.Log = slog.Default()
			_, err := chaosrun.Run(cmd.Context(), cfg, cmd.OutOrStdout())
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Shards, "shards", 3, "shards of each cluster (1 replica per shard)")
	f.IntVar(&cfg.Keys, "keys", 20000, "keys of 100 B filled into each cluster before its faults")
	f.DurationVar(&cfg.CostWindow, "cost-window", time.Minute, "how long the idle guardian's cost is measured (0: not measured)")
	f.DurationVar(&cfg.Hold, "hold", 10*time.Second, "how long a loss waits while an upgrade holds the cluster before the upgrade is aborted")
	f.DurationVar(&cfg.NodeTimeout, "node-timeout", 0, "the clusters' cluster-node-timeout (0: dayops' default, 5s)")
	f.StringSliceVar(&cfg.Skip, "skip", nil, "scenarios not to run: "+strings.Join(chaosrun.Scenarios, ","))
	f.StringVar(&cfg.DayopsBin, "dayops-bin", "bin/dayops", "dayops binary the worker process runs")
	target.addFlags(f)
	return cmd
}
