package main

import "github.com/spf13/cobra"

// newBenchCmd groups the benchmark commands. Benchmarks print figures (and
// ratios against redis-cli where there is one); they never assert timings.
func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Run benchmarks that print figures",
	}
	cmd.AddCommand(newBenchEventstoreCmd(), newBenchMigrateCmd(), newBenchMigrateProbeCmd(), newBenchStepsCmd(), newBenchBackupCmd(), newBenchScaleCmd(), newBenchChaosCmd(), newBenchOpsCmd())
	return cmd
}
