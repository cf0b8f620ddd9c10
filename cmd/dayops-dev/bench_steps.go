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
	cmd := &cobra.Command{
		Use:   "steps",
		Short: "Per-step overhead of a workflow step, with and without the audit log (needs Temporal and PostgreSQL: the local stack's by default)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.TemporalAddress == "" {
				cfg.TemporalAddress = envOr("TEMPORAL_ADDRESS", "127.0.0.1:7233")
			}
			if cfg.DatabaseURL == "" {
				cfg.DatabaseURL = envOr("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
			}
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
	cmd.Flags().StringVar(&cfg.TemporalAddress, "temporal-address", "", "Temporal frontend (env TEMPORAL_ADDRESS, default 127.0.0.1:7233)")
	cmd.Flags().StringVar(&cfg.DatabaseURL, "database-url", "", "PostgreSQL server URL (env DATABASE_URL); a database is created and dropped")
	return cmd
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
