package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/dayops/dayops/bench/stepbench"
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
			cfg.Out = cmd.OutOrStdout()
			return stepbench.Run(cmd.Context(), cfg)
		},
	}
	cmd.Flags().IntVar(&cfg.Steps, "steps", 200, "number of sequential steps")
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
