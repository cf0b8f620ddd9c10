package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// EnvLogLevel sets the log level of every dayops binary unless --log-level
// is given.
const EnvLogLevel = "DAYOPS_LOG_LEVEL"

// NewRoot returns the root command shared by the product binary (dayops)
// and the development binary (dayops-dev): the same --log-level flag and
// slog set-up, so that both log alike; each binary adds its own verbs.
func NewRoot(use, short string) *cobra.Command {
	root := &cobra.Command{
		Use:           use,
		Short:         short,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().String("log-level", "info", "log level: debug, info, warn, error (env "+EnvLogLevel+")")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		lvl, _ := cmd.Flags().GetString("log-level")
		if v := os.Getenv(EnvLogLevel); v != "" && !cmd.Flags().Changed("log-level") {
			lvl = v
		}
		var level slog.Level
		if err := level.UnmarshalText([]byte(lvl)); err != nil {
			return fmt.Errorf("--log-level: %w", err)
		}
		slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
		return nil
	}
	return root
}

// ExitCoder lets a command choose its exit status (for example `audit
// verify` exits 2 when the chain is broken); other errors exit 1.
type ExitCoder interface{ ExitCode() int }

// Execute runs root under a context cancelled by SIGINT or SIGTERM, prints
// a failure as "NAME: error" and returns the process's exit status (0 on
// success, an ExitCoder's code, else 1), so that only main exits.
func Execute(root *cobra.Command) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(os.Stderr, "%s: %v\n", root.Name(), err)
	var ec ExitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return 1
}
