package cli

import (
	"fmt"
	"net/url"

	"github.com/dayops/dayops/internal/apiv1"
	"github.com/spf13/cobra"
)

// recoverCmd is `dayops cluster recover NAME`.
func recoverCmd() *cobra.Command {
	var c common
	cmd := &cobra.Command{
		Use:   "recover NAME",
		Short: "Replace lost instances (same ordinal, its volume or a new one, rejoined as an in-sync replica) and restore the zone rule",
		Long: "The cluster's guardian starts this operation by itself when it finds a lost instance; run it by hand to repair a\n" +
			"degraded cluster now. It runs on a degraded cluster, where operations that need the whole cluster are refused.",
		Example: "  dayops cluster recover orders --dry-run\n  dayops cluster recover orders --wait",
		Args:    cobra.ExactArgs(1),
	}
	return operationCmd(cmd, &c, func(*cobra.Command) (apiv1.OperationBody, error) {
		return apiv1.OperationBody{Type: apiv1.OpRecover}, nil
	})
}

// switchoverCmd is `dayops cluster switchover NAME --shard N [--to ORDINAL]`.
func switchoverCmd() *cobra.Command {
	var c common
	var shard, to int
	var shared bool
	cmd := &cobra.Command{
		Use:     "switchover NAME --shard N [--to ORDINAL]",
		Short:   "Hand a shard's primary role to an in-sync replica with a graceful CLUSTER FAILOVER (no acknowledged write lost)",
		Example: "  dayops cluster switchover orders --shard 0 --dry-run\n  dayops cluster switchover orders --shard 0 --to 4 --wait",
		Args:    cobra.ExactArgs(1),
	}
	cmd.Flags().IntVar(&shard, "shard", 0, "the shard to switch over")
	cmd.Flags().IntVar(&to, "to", -1, "ordinal of the replica to promote (default: an in-sync replica that keeps the zone rule)")
	cmd.Flags().BoolVar(&shared, "allow-shared-zones", false, "accept a new primary sharing a zone with a replica")
	_ = cmd.MarkFlagRequired("shard")
	return operationCmd(cmd, &c, func(*cobra.Command) (apiv1.OperationBody, error) {
		body := apiv1.OperationBody{Type: apiv1.OpSwitchover, Shard: &shard, AllowSharedZones: shared}
		if to >= 0 {
			body.To = &to
		}
		return body, nil
	})
}

// nsQuery names the cluster's namespace.
func (c *common) nsQuery() url.Values {
	return url.Values{"namespace": {c.namespace}}
}

// query is nsQuery with the dry-run flag.
func (c *common) query() url.Values {
	q := c.nsQuery()
	if c.dryRun {
		q.Set("dryRun", "true")
	}
	return q
}

// healthColumn is what `cluster list` shows: the guardian's state, with its
// first reason when degraded.
func healthColumn(s apiv1.ClusterSummary) string {
	switch {
	case s.State == "":
		return "-"
	case len(s.Reasons) > 0 && s.State == "Degraded":
		return fmt.Sprintf("DEGRADED (%s)", s.Reasons[0])
	}
	return s.State
}
