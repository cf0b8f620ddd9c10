package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/dayops/dayops/bench/stepbench"
	"github.com/dayops/dayops/internal/devcluster"
)

func newBenchStepsCmd() *cobra.Command {
	cfg := stepbench.Config{}
	target := stackTarget{temporal: &cfg.TemporalAddress, database: &cfg.DatabaseURL, databaseDoc: "a database is created and dropped"}
	cmd := &cobra.Command{
		Use:   "steps",
		Short: "Per-step overhead of a workflow step, with and without the audit log (needs Temporal and PostgreSQL: the local stack's by default)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			target.resolve()
			for _, m := range cfg.Modes {
				if m != devcluster.TemporalDev && m != devcluster.TemporalServer {
					return fmt.Errorf("--temporal: %q is not %s or %s", m, devcluster.TemporalDev, devcluster.TemporalServer)
				}
			}
			if len(cfg.Modes) > 0 {
				wd, err := os.Getwd()
				if err != nil {
					return err
				}
				cfg.Root = devcluster.FindRoot(wd)
			}
			cfg.Out = cmd.OutOrStdout()
			return stepbench.Run(cmd.Context(), cfg)
		},
	}
	cmd.Flags().IntVar(&cfg.Steps, "steps", 200, "number of sequential steps")
	cmd.Flags().StringSliceVar(&cfg.Modes, "temporal", nil, "Temporal modes to compare, each on a Temporal started alone for the run on free ports: dev (the CLI's dev server), server (Temporal's own server on PostgreSQL, mTLS; needs bin/temporal-server); e.g. --temporal dev,server. Unset: the Temporal at --temporal-address")
	target.addFlags(cmd.Flags())
	return cmd
}
