package cli

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/dayops/dayops/internal/apiv1"
	"github.com/dayops/dayops/internal/spec"
	"github.com/spf13/cobra"
)

func upgradeCmd() *cobra.Command {
	var c common
	var image string
	var config []string
	var canary []int
	var bake, maxLatency, interval time.Duration
	var concurrency int
	var autoApprove, downtime bool
	var maxLag int64
	var maxErr float64
	cmd := &cobra.Command{
		Use:   "upgrade NAME --image IMAGE [--config k=v ...]",
		Short: "Canary rolling upgrade of the image and/or redis.conf: replicas first, graceful handover, health gate, approval, rollback",
		Long: "Upgrades the canary shard(s) first (replicas one at a time, then a CLUSTER FAILOVER to an upgraded in-sync\n" +
			"replica, then the old primary), bakes them under the health gate, waits for `dayops op approve ID` (or\n" +
			"--auto-approve), then upgrades the other shards. A failing gate or `dayops op abort ID` rolls back.",
		Example: "  dayops cluster upgrade orders --image redis:7.0-next --auto-approve --wait\n" +
			"  dayops cluster upgrade orders --config maxmemory-policy=allkeys-lru --bake 5m\n" +
			"  dayops cluster upgrade orders --image redis:7.0-next --canary-shards 2 --concurrency 2 --dry-run",
		Args: cobra.ExactArgs(1),
	}
	f := cmd.Flags()
	f.StringVar(&image, "image", "", "target container image")
	f.StringArrayVar(&config, "config", nil, "redis.conf directive to set, as key=value (repeatable; key= removes it)")
	f.IntSliceVar(&canary, "canary-shards", nil, "canary shard numbers (default: the lowest shard)")
	f.DurationVar(&bake, "bake", 0, "how long the canary bakes under the health gate (default 2m)")
	f.IntVar(&concurrency, "concurrency", 0, "shards upgraded at once after the canary (default 1)")
	f.BoolVar(&autoApprove, "auto-approve", false, "go on after a passing bake without waiting for approval")
	f.BoolVar(&downtime, "accept-downtime", false, "allow upgrading shards that have no replica (their primary restarts in place)")
	f.Int64Var(&maxLag, "gate-max-lag", 0, "health gate: largest replica lag in bytes (default 1 MiB)")
	f.Float64Var(&maxErr, "gate-max-error-rate", 0, "health gate: largest share of failed probe commands, 0..1 (default 0.01)")
	f.DurationVar(&maxLatency, "gate-max-latency", 0, "health gate: largest p99 probe latency (default 250ms)")
	f.DurationVar(&interval, "gate-interval", 0, "health gate: time between two evaluations during the bake (default 15s)")
	return operationCmd(cmd, &c, func(cmd *cobra.Command) (apiv1.OperationBody, error) {
		body := apiv1.OperationBody{Type: apiv1.OpUpgrade}
		body.Image = image
		for _, kv := range config {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return body, fmt.Errorf("--config %q: want key=value", kv)
			}
			if body.Config == nil {
				body.Config = map[string]string{}
			}
			body.Config[k] = v
		}
		body.Canary.Shards = canary
		body.Bake = spec.Duration{Duration: bake}
		if bake == 0 && f.Changed("bake") {
			// An explicit 0 means no bake; the API defaults only an absent bake.
			body.Bake = spec.Duration{Duration: time.Nanosecond}
		}
		body.Concurrency = concurrency
		body.AutoApprove, body.AcceptDowntime = autoApprove, downtime
		if cmd.Flags().Changed("gate-max-lag") {
			body.Gate.MaxLagBytes = &maxLag
		}
		if cmd.Flags().Changed("gate-max-error-rate") {
			body.Gate.MaxErrorRate = &maxErr
		}
		body.Gate.MaxLatency = spec.Duration{Duration: maxLatency}
		body.Gate.Interval = spec.Duration{Duration: interval}
		return body, nil
	})
}

// decisionCmds are `dayops op approve|abort|pause|resume ID`.
func decisionCmds() []*cobra.Command {
	var out []*cobra.Command
	for _, d := range []struct{ name, short string }{
		{apiv1.UpdateApprove, "Approve an upgrade waiting after its canary bake"},
		{apiv1.UpdateAbort, "Abort an upgrade: it rolls back every changed instance"},
		{apiv1.SignalPause, "Pause an upgrade before its next instance step"},
		{apiv1.SignalResume, "Resume a paused upgrade"},
	} {
		var c common
		var reason string
		cmd := &cobra.Command{Use: d.name + " ID", Short: d.short, Args: cobra.ExactArgs(1)}
		c.addOutput(cmd)
		cmd.Flags().StringVar(&reason, "reason", "", "why: recorded with the decision in the audit log")
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			return call(cmd, &c, http.MethodPost, opPath(args[0], "/"+d.name), nil, apiv1.DecisionBody{Reason: reason},
				func(out io.Writer, ans apiv1.DecisionAnswer) error {
					fmt.Fprintf(out, "%s: %s (by %s); follow it: dayops op watch %s\n", args[0], ans.Message, ans.Actor, args[0])
					return nil
				})
		}
		out = append(out, cmd)
	}
	return out
}

// printUpgrade shows an upgrade's progress.
func printUpgrade(w io.Writer, u *apiv1.UpgradeProgress) {
	fmt.Fprintf(w, "  upgrade:  %s -> %s, stage %s, shards %d/%d (canary %v)\n", u.FromImage, u.Image, u.Stage, u.ShardsDone, u.ShardsTotal, u.Canary)
	if u.Instance != "" {
		fmt.Fprintf(w, "  instance: %s\n", u.Instance)
	}
	if u.Gate != "" {
		fmt.Fprintf(w, "  gate:     %s (%d evaluation(s))\n", u.Gate, u.GateEvaluations)
	}
	if !u.BakeEndsAt.IsZero() && u.Stage == apiv1.StageBaking {
		fmt.Fprintf(w, "  bake:     until %s\n", u.BakeEndsAt.Format(time.RFC3339))
	}
	if u.Paused {
		fmt.Fprintf(w, "  paused by %s\n", u.PausedBy)
	}
	if u.ApprovedBy != "" {
		fmt.Fprintf(w, "  approved by %s\n", u.ApprovedBy)
	}
	if u.AbortedBy != "" {
		fmt.Fprintf(w, "  aborted by %s\n", u.AbortedBy)
	}
	if u.RolledBack {
		fmt.Fprintf(w, "  rolled back: %s\n", u.Reason)
	}
}
