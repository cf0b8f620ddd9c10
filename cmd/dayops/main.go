// Command dayops is the one binary of the project: the API server, the
// Temporal worker, the all-in-one local run, the CLI verbs, the local
// development stack and the audit tools.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/dayops/dayops/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		var ec exitCoder
		if errors.As(err, &ec) {
			fmt.Fprintln(os.Stderr, "dayops:", err)
			os.Exit(ec.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "dayops:", err)
		os.Exit(1)
	}
}

// exitCoder lets a command choose its exit status (for example `audit verify`
// exits 2 when the chain is broken).
type exitCoder interface{ ExitCode() int }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "dayops",
		Short:         "Day-2 operations engine for Redis Cluster on Kubernetes",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().String("log-level", "info", "log level: debug, info, warn, error (env DAYOPS_LOG_LEVEL)")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		lvl, _ := cmd.Flags().GetString("log-level")
		if v := os.Getenv("DAYOPS_LOG_LEVEL"); v != "" && !cmd.Flags().Changed("log-level") {
			lvl = v
		}
		var level slog.Level
		if err := level.UnmarshalText([]byte(lvl)); err != nil {
			return fmt.Errorf("--log-level: %w", err)
		}
		slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
		return nil
	}
	root.AddCommand(
		cli.ClusterCmd(),
		cli.OpCmd(),
		cli.BackupCmd(),
		cli.RestoreCmd(),
		newServerCmd(),
		newRunCmd(),
		newDevCmd(),
		newAuditCmd(),
		newBenchCmd(),
		newInstanceCmd(),
	)
	return root
}
