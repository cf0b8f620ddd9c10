package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/dayops/dayops/internal/instance"
	"github.com/dayops/dayops/internal/instance/selfinstall"
	"github.com/dayops/dayops/internal/instance/stepaside"
	"github.com/dayops/dayops/internal/kube/render"
)

// newInstanceCmd is the in-Pod instance manager (see internal/instance).
func newInstanceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "instance",
		Short: "In-Pod instance manager: fence and run redis-server (PID 1 of a Redis container)",
	}
	var timeout, followLimit, stepAside time.Duration
	var statusAddr string
	var gone []string
	run := &cobra.Command{
		Use:   "run -- redis-server [ARGS...]",
		Short: "Start redis-server; a restarted former primary stays fenced until no replica is ahead of it",
		Long: `Start redis-server with ARGS. When nodes.conf says this node was a primary with replicas, redis-server
starts fenced (a one-time password: no client and no replica can reach it) until the manager has compared its
data with its replicas': if a replica is ahead, that replica takes over (CLUSTER FAILOVER TAKEOVER) and this
node comes back as its replica. The decision is written to dayops-fence.json in the data directory and, with
--status-addr, answered at GET /v1/fence (the guardian records it as a Fenced audit event). Signals are
forwarded; on the first SIGTERM a serving primary that owns slots first has its most caught-up replica take
its shard over (CLUSTER FAILOVER, bounded by --step-aside-wait), so that a deleted Pod or a drained node costs
its shard a pause of milliseconds instead of a failover. The exit status is redis-server's.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Every signal a container runtime or a person sends is for
			// redis-server; the manager only exits with it.
			sigs := make(chan os.Signal, 8)
			signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
			defer signal.Stop(sigs)
			// The root context ends on SIGINT/SIGTERM; those are forwarded
			// instead, so Run is given a context that does not end on them.
			return instance.Run(context.WithoutCancel(cmd.Context()), instance.Options{
				Args: args, Timeout: timeout, FollowLimit: followLimit, Signals: sigs, Log: slog.Default().With("component", "instance"),
				StatusAddr: statusAddr, StepAside: stepAside, GoneReplicas: gone,
			})
		},
	}
	// Everything after the command is redis-server's, with or without "--".
	run.Flags().SetInterspersed(false)
	run.Flags().DurationVar(&timeout, "unreachable-timeout", 60*time.Second,
		"how long a fenced former primary waits for an unreachable replica before it serves anyway")
	run.Flags().DurationVar(&followLimit, "follow-limit", 2*time.Minute,
		"how long a fenced former primary waits to become the replica of its promoted replica before it exits, still fenced, so that the container restarts")
	run.Flags().DurationVar(&stepAside, "step-aside-wait", stepaside.DefaultWait,
		"on the first SIGTERM, how long a serving primary waits for its replica to take its shard over (CLUSTER FAILOVER) before redis-server gets the signal; 0: no handover")
	run.Flags().StringVar(&statusAddr, "status-addr", "",
		"host:port where the manager answers GET "+instance.StatusPath+" (fence state and the last fence record); empty: none")
	run.Flags().StringSliceVar(&gone, "gone-replicas", envList(render.GoneReplicasEnv),
		"node IDs of replicas gone with their data, which a fenced former primary does not wait for (default: $"+render.GoneReplicasEnv+
			", which the recover of a shard lost whole sets on the Pods it brings back)")
	var to string
	install := &cobra.Command{
		Use:   "install --to DIR",
		Short: "Copy this binary into DIR (the init container of a Redis Pod)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := selfinstall.Install(to)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "installed", p)
			return nil
		},
	}
	install.Flags().StringVar(&to, "to", "", "target directory (an emptyDir shared with the redis container)")
	_ = install.MarkFlagRequired("to")
	cmd.AddCommand(run, install)
	return cmd
}

// envList is the comma-separated list in the environment variable name
// (none when it is unset or empty), its items trimmed, empty ones dropped.
func envList(name string) []string {
	var out []string
	for item := range strings.SplitSeq(os.Getenv(name), ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
