package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/dayops/dayops/internal/apiv1"
	"github.com/dayops/dayops/internal/spec"
	"github.com/spf13/cobra"
)

// BackupCmd is `dayops backup`.
func BackupCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "backup", Short: "Back up clusters at one consistency point; list, inspect, delete and schedule backups"}
	cmd.AddCommand(backupCreateCmd(), backupListCmd(), backupGetCmd(), backupDeleteCmd(), backupScheduleCmd())
	return cmd
}

func backupCreateCmd() *cobra.Command {
	var c common
	var bound, keepWithin time.Duration
	var keepLast int
	cmd := &cobra.Command{
		Use:     "create NAME",
		Short:   "Back up a cluster (one consistency point across all shards); -o json gives the backup's ID in id",
		Example: "  dayops backup create orders --wait\n  dayops backup create orders --keep-last 7 --reason nightly -o json",
		Args:    cobra.ExactArgs(1),
	}
	c.addOutput(cmd)
	c.addNamespace(cmd)
	cmd.Flags().BoolVar(&c.wait, "wait", false, "block until the backup ends; exit non-zero if it failed")
	cmd.Flags().StringVar(&c.reason, "reason", "", "why: recorded in the audit log and the manifest")
	cmd.Flags().DurationVar(&bound, "pause-bound", 0, "longest write pause at the consistency point (default 1s)")
	cmd.Flags().IntVar(&keepLast, "keep-last", 0, "afterwards keep only the newest N backups of the cluster")
	cmd.Flags().DurationVar(&keepWithin, "keep-within", 0, "afterwards keep only backups younger than this")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cl, err := c.client()
		if err != nil {
			return err
		}
		body := apiv1.BackupBody{Reason: c.reason, PauseBound: spec.Duration{Duration: bound}, KeepLast: keepLast, KeepWithin: spec.Duration{Duration: keepWithin}}
		var acc apiv1.BackupAccepted
		if err := cl.Do(cmd.Context(), http.MethodPost, clusterPath(args[0], "/backups"), c.nsQuery(), body, &acc); err != nil {
			return err
		}
		return followBackup(cmd, cl, &c, acc, true)
	}
	return cmd
}

// followBackup prints an accepted backup/restore/deletion and, with --wait,
// follows it with a progress bar. For JSON the object printed always has the
// ID in `id`.
func followBackup(cmd *cobra.Command, cl *Client, c *common, acc apiv1.BackupAccepted, isBackup bool) error {
	out, status := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if !c.wait || acc.DryRun {
		if c.output == "json" {
			return PrintJSON(out, acc)
		}
		printPlan(out, acc.OperationAccepted)
		if !acc.DryRun && isBackup {
			fmt.Fprintf(out, "Backup ID: %s (dayops backup get %s)\n", acc.ID, acc.ID)
		}
		return nil
	}
	if c.output == "table" {
		printPlan(status, acc.OperationAccepted)
	}
	op, err := watchKeys(cmd.Context(), cl, acc.OperationID, c.output, status, isBackup)
	if err != nil {
		return err
	}
	if c.output == "json" {
		v := map[string]any{"id": acc.ID, "operation": op}
		if isBackup {
			var d apiv1.BackupDetail
			if err := cl.Do(cmd.Context(), http.MethodGet, "/v1/backups/"+url.PathEscape(acc.ID), nil, nil, &d); err == nil {
				v["backup"] = d
			}
		}
		if err := PrintJSON(out, v); err != nil {
			return err
		}
	} else {
		printOp(out, op)
		if isBackup {
			fmt.Fprintf(out, "Backup ID: %s\n", acc.ID)
		}
	}
	if op.Status != "Completed" || op.Progress.Outcome != apiv1.OutcomeSucceeded {
		return &OperationFailedError{Op: op}
	}
	return nil
}

// watchKeys follows a backup or restore: bytes streamed or keys replayed,
// rate and ETA, until it ends.
func watchKeys(ctx context.Context, cl *Client, id, output string, status io.Writer, isBackup bool) (apiv1.Operation, error) {
	var prog progress
	for {
		op, err := getOp(ctx, cl, id)
		if err != nil {
			return op, err
		}
		if output == "table" {
			p := op.Progress
			total, done := int64(max(p.StepsTotal, 1)), int64(p.StepsDone)
			step, detail := fmt.Sprintf("%-18s %s", p.Phase, truncate(p.Step, 60)), ""
			if isBackup && op.Status == apiv1.StatusRunning {
				var d apiv1.BackupDetail
				if err := cl.Do(ctx, http.MethodGet, "/v1/backups/"+url.PathEscape(id), nil, nil, &d); err == nil && d.Live != nil && d.Live.BytesTotal > 0 {
					total, done = d.Live.BytesTotal, d.Live.BytesDone
					step = fmt.Sprintf("%-18s bytes", p.Phase)
				}
			}
			if p.Phase == "replaying" && p.KeysMoved > 0 {
				detail = fmt.Sprintf("%d keys, %.0f keys/s, ETA %s", p.KeysMoved, p.KeysPerSecond, p.ETA.Round(time.Second))
			}
			if prog == nil {
				prog = newProgress(status)
			}
			prog.Update(step, detail, done, total)
		}
		if op.Status != apiv1.StatusRunning {
			if prog != nil {
				prog.Finish()
			}
			return op, nil
		}
		select {
		case <-ctx.Done():
			return op, ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

func backupListCmd() *cobra.Command {
	var c common
	var all bool
	cmd := &cobra.Command{Use: "list [NAME]", Short: "List a cluster's backups (or every backup), oldest first", Args: cobra.MaximumNArgs(1)}
	c.addOutput(cmd)
	c.addNamespace(cmd)
	cmd.Flags().BoolVar(&all, "all", false, "every cluster's backups")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cl, err := c.client()
		if err != nil {
			return err
		}
		if len(args) == 0 && !all {
			return fmt.Errorf("name a cluster or give --all")
		}
		path, q := "/v1/backups", url.Values{}
		if len(args) == 1 {
			path, q = clusterPath(args[0], "/backups"), c.nsQuery()
		}
		var list []apiv1.BackupSummary
		if err := cl.Do(cmd.Context(), http.MethodGet, path, q, nil, &list); err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		if c.output == "json" {
			return PrintJSON(out, list)
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCLUSTER\tSHARDS\tKEYS\tBYTES\tCONSISTENT\tPAUSED\tTAKEN\tBY")
		for _, b := range list {
			fmt.Fprintf(tw, "%s\t%s/%s\t%d\t%d\t%d\t%v\t%.1fms\t%s\t%s\n", b.ID, b.Namespace, b.Cluster, b.Shards, b.Keys, b.Bytes,
				b.ClusterConsistent, b.PausedMS, b.StartedAt.Format(time.RFC3339), b.Actor)
		}
		return tw.Flush()
	}
	return cmd
}

func backupGetCmd() *cobra.Command {
	var c common
	cmd := &cobra.Command{Use: "get ID", Short: "Show a backup: its manifest, or its progress while it runs", Args: cobra.ExactArgs(1)}
	c.addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return call(cmd, &c, http.MethodGet, "/v1/backups/"+url.PathEscape(args[0]), nil, nil, printBackup)
	}
	return cmd
}

func printBackup(out io.Writer, d apiv1.BackupDetail) error {
	fmt.Fprintf(out, "Backup %s: %s\n", d.ID, d.Status)
	if m := d.Manifest; m != nil {
		fmt.Fprintf(out, "  cluster:     %s/%s (%d shards, Redis %s)\n", m.Namespace, m.Cluster, len(m.Shards), m.RedisVersion)
		fmt.Fprintf(out, "  taken:       %s by %s %s\n", m.StartedAt.Format(time.RFC3339), m.Actor, m.Reason)
		cons := "one consistency point across all shards"
		if !m.Consistency.ClusterConsistent {
			cons = m.Consistency.Note
		}
		fmt.Fprintf(out, "  consistency: %s; writes paused %.2f ms (bound %d ms) at %s\n", cons, m.Consistency.PausedMS, m.Consistency.PauseBoundMS, m.Consistency.At.Format(time.RFC3339Nano))
		fmt.Fprintf(out, "  size:        %d keys, %d bytes\n", m.TotalKeys, m.TotalBytes)
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  SHARD\tSLOTS\tKEYS\tBYTES\tSHA256\tFILE")
		for _, f := range m.Shards {
			fmt.Fprintf(tw, "  %d\t%s\t%d\t%d\t%s\t%s\n", f.Shard, f.Slots, f.Keys, f.Size, f.SHA256[:16]+"…", f.Key)
		}
		return tw.Flush()
	}
	if d.Operation != nil {
		printOp(out, *d.Operation)
	}
	if d.Live != nil {
		fmt.Fprintf(out, "  live:     %s %d/%d bytes\n", d.Live.Phase, d.Live.BytesDone, d.Live.BytesTotal)
	}
	return nil
}

func backupDeleteCmd() *cobra.Command {
	var c common
	cmd := &cobra.Command{Use: "delete ID", Short: "Delete a backup (an audited operation)", Args: cobra.ExactArgs(1)}
	c.addOutput(cmd)
	cmd.Flags().BoolVar(&c.wait, "wait", false, "block until the deletion ends")
	cmd.Flags().StringVar(&c.reason, "reason", "", "why: recorded in the audit log")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cl, err := c.client()
		if err != nil {
			return err
		}
		q := url.Values{}
		if c.reason != "" {
			q.Set("reason", c.reason)
		}
		var acc apiv1.BackupAccepted
		if err := cl.Do(cmd.Context(), http.MethodDelete, "/v1/backups/"+url.PathEscape(args[0]), q, nil, &acc); err != nil {
			return err
		}
		return followBackup(cmd, cl, &c, acc, false)
	}
	return cmd
}

func backupScheduleCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "schedule", Short: "Scheduled backups of a cluster (a Temporal schedule, visible in the Temporal UI)"}
	var c common
	var every, keepWithin, bound time.Duration
	var cron string
	var keepLast int
	set := &cobra.Command{Use: "set NAME (--every D | --cron EXPR)", Short: "Create or replace the cluster's backup schedule", Args: cobra.ExactArgs(1),
		Example: "  dayops backup schedule set orders --every 6h --keep-last 28"}
	c.addOutput(set)
	c.addNamespace(set)
	set.Flags().DurationVar(&every, "every", 0, "interval between backups")
	set.Flags().StringVar(&cron, "cron", "", "cron expression instead of --every")
	set.Flags().IntVar(&keepLast, "keep-last", 0, "keep only the newest N backups")
	set.Flags().DurationVar(&keepWithin, "keep-within", 0, "keep only backups younger than this")
	set.Flags().DurationVar(&bound, "pause-bound", 0, "longest write pause (default 1s)")
	set.Flags().StringVar(&c.reason, "reason", "", "recorded with every scheduled backup")
	set.RunE = func(cmd *cobra.Command, args []string) error {
		body := apiv1.BackupSchedule{Every: spec.Duration{Duration: every}, Cron: cron, KeepLast: keepLast,
			KeepWithin: spec.Duration{Duration: keepWithin}, PauseBound: spec.Duration{Duration: bound}, Reason: c.reason}
		return call(cmd, &c, http.MethodPut, clusterPath(args[0], "/backup-schedule"), c.nsQuery(), body, printSchedule)
	}
	var gc common
	get := &cobra.Command{Use: "get NAME", Short: "Show the cluster's backup schedule", Args: cobra.ExactArgs(1)}
	gc.addOutput(get)
	gc.addNamespace(get)
	get.RunE = func(cmd *cobra.Command, args []string) error {
		return call(cmd, &gc, http.MethodGet, clusterPath(args[0], "/backup-schedule"), gc.nsQuery(), nil, printSchedule)
	}
	var dc common
	del := &cobra.Command{Use: "delete NAME", Short: "Delete the cluster's backup schedule (backups are kept)", Args: cobra.ExactArgs(1)}
	dc.addNamespace(del)
	del.RunE = func(cmd *cobra.Command, args []string) error {
		cl, err := FromEnv()
		if err != nil {
			return err
		}
		if err := cl.Do(cmd.Context(), http.MethodDelete, clusterPath(args[0], "/backup-schedule"), dc.nsQuery(), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "backup schedule of %s deleted\n", args[0])
		return nil
	}
	cmd.AddCommand(set, get, del)
	return cmd
}

func printSchedule(w io.Writer, s apiv1.BackupSchedule) error {
	when := s.Cron
	if s.Every.Duration > 0 {
		when = "every " + s.Every.String()
	}
	fmt.Fprintf(w, "Schedule %s: %s (paused: %v)\n", s.ScheduleID, when, s.Paused)
	for _, t := range s.NextRuns {
		fmt.Fprintf(w, "  next: %s\n", t.Format(time.RFC3339))
	}
	return nil
}

// RestoreCmd is `dayops restore`.
func RestoreCmd() *cobra.Command {
	var c common
	var into, compare string
	var shards, sample int
	cmd := &cobra.Command{
		Use:   "restore BACKUP --into NAME",
		Short: "Restore a backup into a new cluster with any shard count; -o json gives the operation's ID in id",
		Example: "  dayops restore 0193... --into orders-copy --wait\n" +
			"  dayops restore 0193... --into orders-big --shards 6 --compare sample --wait",
		Args: cobra.ExactArgs(1),
	}
	c.addOutput(cmd)
	c.addMutating(cmd)
	cmd.Flags().StringVarP(&c.namespace, "namespace", "n", "", "namespace of the new cluster (default: the backup's)")
	cmd.Flags().StringVar(&into, "into", "", "name of the new cluster (it must not exist)")
	cmd.Flags().IntVar(&shards, "shards", 0, "shard count of the new cluster (default: the backup's)")
	cmd.Flags().StringVar(&compare, "compare", "", "after the key counts also compare values: sample or full")
	cmd.Flags().IntVar(&sample, "sample", 0, "values compared per backup shard with --compare sample (default 1000)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cl, err := c.client()
		if err != nil {
			return err
		}
		if into == "" {
			return fmt.Errorf("--into: the new cluster's name is required")
		}
		body := apiv1.RestoreBody{Backup: args[0], Name: into, Namespace: c.namespace, Shards: shards, Compare: compare, Sample: sample, Reason: c.reason}
		q := url.Values{}
		if c.dryRun {
			q.Set("dryRun", "true")
		}
		var acc apiv1.BackupAccepted
		if err := cl.Do(cmd.Context(), http.MethodPost, "/v1/restores", q, body, &acc); err != nil {
			return err
		}
		return followBackup(cmd, cl, &c, acc, false)
	}
	return cmd
}
