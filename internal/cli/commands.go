package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dayops/dayops/internal/apiv1"
	"github.com/dayops/dayops/internal/spec"
	"github.com/spf13/cobra"
)

type common struct {
	output    string
	namespace string
	wait      bool
	dryRun    bool
	reason    string
}

func (c *common) addOutput(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&c.output, "output", "o", "table", "output format: table or json")
}

func (c *common) addMutating(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&c.wait, "wait", false, "block until the operation ends; exit non-zero if it failed")
	cmd.Flags().BoolVar(&c.dryRun, "dry-run", false, "show the plan; start nothing")
	cmd.Flags().StringVar(&c.reason, "reason", "", "why: recorded with every audit event of the operation")
}

func (c *common) addNamespace(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&c.namespace, "namespace", "n", "default", "Kubernetes namespace of the cluster")
}

func (c *common) validateOutput() error {
	if c.output != "table" && c.output != "json" {
		return fmt.Errorf("--output: %q is not table or json", c.output)
	}
	return nil
}

// client checks the flags and finds the API.
func (c *common) client() (*Client, error) {
	if err := c.validateOutput(); err != nil {
		return nil, err
	}
	return FromEnv()
}

// addMutatingCluster adds the flags of a verb that changes a cluster:
// output, wait/dry-run/reason and namespace.
func (c *common) addMutatingCluster(cmd *cobra.Command) {
	c.addOutput(cmd)
	c.addMutating(cmd)
	c.addNamespace(cmd)
}

// operationCmd completes a `dayops cluster VERB NAME` that posts an operation
// on the cluster: its flags, the output check, the body (built by body from
// the verb's own flags) and the request. Every operation verb is built here.
func operationCmd(cmd *cobra.Command, c *common, body func(cmd *cobra.Command) (apiv1.OperationBody, error)) *cobra.Command {
	c.addMutatingCluster(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := c.validateOutput(); err != nil {
			return err
		}
		b, err := body(cmd)
		if err != nil {
			return err
		}
		b.Reason = c.reason
		return mutate(cmd, c, http.MethodPost, "/v1/clusters/"+url.PathEscape(args[0])+"/operations", c.query(), b)
	}
	return cmd
}

// call sends one request and prints its answer: as JSON with --output json,
// else with table. It is the request-and-print pattern of the verbs that do
// not start an operation.
func call[T any](cmd *cobra.Command, c *common, method, path string, q url.Values, body any, table func(io.Writer, T) error) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	var v T
	if err := cl.Do(cmd.Context(), method, path, q, body, &v); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if c.output == "json" {
		return PrintJSON(out, v)
	}
	return table(out, v)
}

// clusterPath is the API path of the cluster name, with more path elements.
func clusterPath(name string, more ...string) string {
	return "/v1/clusters/" + url.PathEscape(name) + strings.Join(more, "")
}

// PrintJSON writes v as indented JSON (the verbs' --output json).
func PrintJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// ClusterCmd is `dayops cluster`.
func ClusterCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Create, inspect, scale and delete Redis clusters (a client of the dayops API)"}
	cmd.AddCommand(createCmd(), getCmd(), listCmd(), deleteCmd(), scaleCmd(), credentialsCmd(), upgradeCmd(), recoverCmd(), switchoverCmd())
	return cmd
}

func createCmd() *cobra.Command {
	var c common
	var file, image, memory, persistence string
	var shards, replicas int
	var shared bool
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a cluster",
		Example: "  dayops cluster create orders --shards 3 --replicas 1 --wait\n" +
			"  dayops cluster create -f orders.json --dry-run",
		Args: cobra.MaximumNArgs(1),
	}
	c.addMutatingCluster(cmd)
	cmd.Flags().StringVarP(&file, "file", "f", "", "a cluster spec as JSON (flags override its fields)")
	cmd.Flags().IntVar(&shards, "shards", 3, "number of shards (primaries)")
	cmd.Flags().IntVar(&replicas, "replicas", 1, "replicas per shard")
	cmd.Flags().StringVar(&image, "image", "", "Redis image (default redis:7.0)")
	cmd.Flags().StringVar(&memory, "memory", "", "memory per instance, e.g. 1Gi (maxmemory is 75% of it)")
	cmd.Flags().StringVar(&persistence, "persistence", "", "none, rdb or aof (default aof)")
	cmd.Flags().BoolVar(&shared, "allow-shared-zones", false, "accept a primary sharing a zone with its replica when zones are too few")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := c.validateOutput(); err != nil {
			return err
		}
		var body apiv1.CreateClusterBody
		if file != "" {
			b, err := os.ReadFile(file)
			if err != nil {
				return fmt.Errorf("--file: %w", err)
			}
			if err := json.Unmarshal(b, &body.Cluster); err != nil {
				return fmt.Errorf("--file %s: %w", file, err)
			}
		}
		if len(args) == 1 {
			body.Name = args[0]
		}
		if body.Name == "" {
			return fmt.Errorf("a cluster name is required: dayops cluster create NAME")
		}
		f := cmd.Flags()
		if f.Changed("shards") || file == "" {
			body.Shards = shards
		}
		if f.Changed("replicas") || file == "" {
			body.ReplicasPerShard = replicas
		}
		if f.Changed("namespace") || body.Namespace == "" {
			body.Namespace = c.namespace
		}
		if image != "" {
			body.Image = image
		}
		if memory != "" {
			body.Resources.Memory = memory
		}
		if persistence != "" {
			body.Persistence.Mode = spec.PersistenceMode(persistence)
		}
		if shared {
			body.Zones.AllowSharedZones = true
		}
		body.Reason = c.reason
		q := url.Values{}
		if c.dryRun {
			q.Set("dryRun", "true")
		}
		return mutate(cmd, &c, http.MethodPost, "/v1/clusters", q, body)
	}
	return cmd
}

func scaleCmd() *cobra.Command {
	var c common
	var shards, replicas int
	var shared bool
	cmd := &cobra.Command{
		Use:     "scale NAME (--shards N | --replicas N)",
		Short:   "Change the number of shards (moving slots) or of replicas per shard",
		Example: "  dayops cluster scale orders --shards 4 --wait\n  dayops cluster scale orders --replicas 2 --dry-run",
		Args:    cobra.ExactArgs(1),
	}
	cmd.Flags().IntVar(&shards, "shards", 0, "target number of shards")
	cmd.Flags().IntVar(&replicas, "replicas", 0, "target replicas per shard")
	cmd.Flags().BoolVar(&shared, "allow-shared-zones", false, "accept a primary sharing a zone with its replica")
	return operationCmd(cmd, &c, func(cmd *cobra.Command) (apiv1.OperationBody, error) {
		hasS, hasR := cmd.Flags().Changed("shards"), cmd.Flags().Changed("replicas")
		if hasS == hasR {
			return apiv1.OperationBody{}, fmt.Errorf("give exactly one of --shards and --replicas")
		}
		body := apiv1.OperationBody{AllowSharedZones: shared}
		if hasS {
			body.Type, body.Shards = apiv1.OpScaleShards, shards
		} else {
			body.Type, body.ReplicasPerShard = apiv1.OpScaleReplicas, &replicas
		}
		return body, nil
	})
}

func deleteCmd() *cobra.Command {
	var c common
	var volumes bool
	cmd := &cobra.Command{Use: "delete NAME", Short: "Delete a cluster (volumes are kept unless --delete-volumes)", Args: cobra.ExactArgs(1)}
	c.addMutatingCluster(cmd)
	cmd.Flags().BoolVar(&volumes, "delete-volumes", false, "also delete the data volumes")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := c.validateOutput(); err != nil {
			return err
		}
		q := c.query()
		if volumes {
			q.Set("deleteVolumes", "true")
		}
		if c.reason != "" {
			q.Set("reason", c.reason)
		}
		return mutate(cmd, &c, http.MethodDelete, clusterPath(args[0]), q, nil)
	}
	return cmd
}

// mutate sends a mutating request, prints the plan or the operation, and
// with --wait follows it to its end.
func mutate(cmd *cobra.Command, c *common, method, path string, q url.Values, body any) error {
	cl, err := FromEnv()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	var acc apiv1.OperationAccepted
	if err := cl.Do(ctx, method, path, q, body, &acc); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if c.output == "json" && (!c.wait || acc.DryRun) {
		return PrintJSON(out, acc)
	}
	if c.output == "table" {
		printPlan(out, acc)
	}
	if acc.DryRun || !c.wait {
		return nil
	}
	return watch(ctx, cl, acc.OperationID, c.output, cmd.ErrOrStderr(), out)
}

func printPlan(w io.Writer, a apiv1.OperationAccepted) {
	if a.DryRun {
		fmt.Fprintf(w, "Dry run (nothing started): %s\n", a.Plan.Summary)
	} else {
		fmt.Fprintf(w, "Operation %s started: %s\n", a.OperationID, a.Plan.Summary)
	}
	for i, s := range a.Plan.Steps {
		fmt.Fprintf(w, "  %2d. %s\n", i+1, s)
	}
	if a.Plan.Placement.Warning != "" {
		fmt.Fprintf(w, "  warning: %s\n", a.Plan.Placement.Warning)
	}
	if len(a.Plan.Hooks) > 0 {
		fmt.Fprintf(w, "  hooks: %d run(s)\n", len(a.Plan.Hooks))
	}
	if a.TemporalURL != "" {
		fmt.Fprintf(w, "Temporal UI: %s\n", a.TemporalURL)
	}
	if !a.DryRun {
		fmt.Fprintf(w, "Follow it: dayops op watch %s\n", a.OperationID)
	}
}

func getCmd() *cobra.Command {
	var c common
	cmd := &cobra.Command{Use: "get NAME", Short: "Show a cluster: every instance with its address, role, shard, ordinal and zone; health; last operation", Args: cobra.ExactArgs(1)}
	c.addOutput(cmd)
	c.addNamespace(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return call(cmd, &c, http.MethodGet, clusterPath(args[0]), c.nsQuery(), nil, printCluster)
	}
	return cmd
}

func printCluster(out io.Writer, cluster apiv1.ClusterDetail) error {
	health := "healthy"
	if !cluster.Healthy {
		health = "UNHEALTHY: " + strings.Join(cluster.Health.Problems, "; ")
	}
	fmt.Fprintf(out, "Cluster %s/%s: %d shards x %d replicas, %s, %s\n", cluster.Namespace, cluster.Name,
		cluster.Spec.Shards, cluster.Spec.ReplicasPerShard, cluster.Spec.Image, health)
	if cluster.State != "" {
		fmt.Fprintf(out, "Guardian: %s, %d/%d instances ready\n", strings.ToUpper(cluster.State), cluster.ReadyInstances, cluster.Desired)
		for _, r := range cluster.Reasons {
			fmt.Fprintf(out, "  - %s\n", r)
		}
		if cluster.PendingAuditEvents > 0 {
			fmt.Fprintf(out, "  - %d guardian events wait for the audit database\n", cluster.PendingAuditEvents)
		}
	}
	if lo := cluster.LastOperation; lo != nil {
		fmt.Fprintf(out, "Last operation: %s %s %s by %s at %s %s\n", lo.ID, lo.Type, lo.Status, lo.Actor, lo.At.Format(time.RFC3339), lo.Error)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ORDINAL\tSHARD\tROLE\tPOD\tADDRESS\tZONE\tNODE\tREADY\tIN-SYNC\tKEYS\tSLOTS")
	for _, i := range cluster.Instances {
		slots := ""
		if i.Role == "primary" {
			slots = cluster.Slots["shard-"+strconv.Itoa(i.Shard)]
		}
		insync := ""
		if i.Role == "replica" {
			insync = strconv.FormatBool(i.InSync)
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%s\t%v\t%s\t%d\t%s\n", i.Ordinal, i.Shard, i.Role, i.Pod, i.Address, i.Zone, i.Node, i.Ready, insync, i.Keys, slots)
	}
	return tw.Flush()
}

func listCmd() *cobra.Command {
	var c common
	cmd := &cobra.Command{Use: "list", Short: "List clusters", Args: cobra.NoArgs}
	c.addOutput(cmd)
	cmd.Flags().StringVarP(&c.namespace, "namespace", "n", "", "only this namespace (default: all)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		q := url.Values{}
		if c.namespace != "" {
			q.Set("namespace", c.namespace)
		}
		return call(cmd, &c, http.MethodGet, "/v1/clusters", q, nil, func(out io.Writer, list []apiv1.ClusterSummary) error {
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAMESPACE\tNAME\tSHARDS\tREPLICAS\tREADY\tIMAGE\tSTATE")
			for _, s := range list {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d/%d\t%s\t%s\n", s.Namespace, s.Name, s.Shards, s.ReplicasPerShard, s.Ready, max(s.Desired, s.Instances), s.Image, healthColumn(s))
			}
			return tw.Flush()
		})
	}
	return cmd
}

func credentialsCmd() *cobra.Command {
	var c common
	cmd := &cobra.Command{Use: "credentials NAME", Short: "Print the cluster's password and primary addresses", Args: cobra.ExactArgs(1)}
	c.addOutput(cmd)
	c.addNamespace(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return call(cmd, &c, http.MethodGet, clusterPath(args[0], "/credentials"), c.nsQuery(), nil, func(out io.Writer, cr apiv1.Credentials) error {
			fmt.Fprintf(out, "password:  %s\naddresses: %s\nredis-cli: redis-cli -c -a '%s' -h %s\n", cr.Password, strings.Join(cr.Addresses, ","),
				cr.Password, strings.Replace(firstOr(cr.Addresses, "HOST:6379"), ":", " -p ", 1))
			return nil
		})
	}
	return cmd
}

func firstOr(xs []string, def string) string {
	if len(xs) > 0 {
		return xs[0]
	}
	return def
}

// OpCmd is `dayops op`.
func OpCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "op", Short: "Follow and cancel operations"}
	var c common
	get := &cobra.Command{Use: "get ID", Short: "Show an operation's status and progress", Args: cobra.ExactArgs(1)}
	c.addOutput(get)
	get.RunE = func(cmd *cobra.Command, args []string) error {
		return call(cmd, &c, http.MethodGet, opPath(args[0]), nil, nil, func(out io.Writer, op apiv1.Operation) error {
			printOp(out, op)
			return nil
		})
	}
	var wc common
	w := &cobra.Command{Use: "watch ID", Short: "Follow an operation with a progress bar until it ends; exit non-zero if it failed", Args: cobra.ExactArgs(1)}
	wc.addOutput(w)
	w.RunE = func(cmd *cobra.Command, args []string) error {
		cl, err := wc.client()
		if err != nil {
			return err
		}
		return watch(cmd.Context(), cl, args[0], wc.output, cmd.ErrOrStderr(), cmd.OutOrStdout())
	}
	var cc common
	cancel := &cobra.Command{Use: "cancel ID", Short: "Cancel a running operation (it leaves the cluster consistent)", Args: cobra.ExactArgs(1)}
	cc.addOutput(cancel)
	cancel.RunE = func(cmd *cobra.Command, args []string) error {
		return call(cmd, &cc, http.MethodPost, opPath(args[0], "/cancel"), nil, nil, func(out io.Writer, _ apiv1.Operation) error {
			fmt.Fprintf(out, "cancel requested for %s; follow it: dayops op watch %s\n", args[0], args[0])
			return nil
		})
	}
	cmd.AddCommand(get, w, cancel)
	cmd.AddCommand(decisionCmds()...)
	return cmd
}

func getOp(ctx context.Context, cl *Client, id string) (apiv1.Operation, error) {
	var op apiv1.Operation
	err := cl.Do(ctx, http.MethodGet, opPath(id), nil, nil, &op)
	return op, err
}

// opPath is the API path of the operation id, with more path elements.
func opPath(id string, more ...string) string {
	return "/v1/operations/" + url.PathEscape(id) + strings.Join(more, "")
}

func printOp(w io.Writer, op apiv1.Operation) {
	p := op.Progress
	fmt.Fprintf(w, "Operation %s: %s %s/%s by %s\n", op.OperationID, op.Type, op.Namespace, op.Cluster, op.Requester)
	fmt.Fprintf(w, "  status:   %s (%s)\n", op.Status, p.Phase)
	fmt.Fprintf(w, "  steps:    %d/%d %s\n", p.StepsDone, p.StepsTotal, p.Step)
	if p.SlotsTotal > 0 {
		fmt.Fprintf(w, "  slots:    %d/%d moved, %d keys, %.0f keys/s\n", p.SlotsMoved, p.SlotsTotal, p.KeysMoved, p.KeysPerSecond)
	}
	if p.Upgrade != nil {
		printUpgrade(w, p.Upgrade)
	}
	if op.Error != "" {
		fmt.Fprintf(w, "  error:    %s\n", op.Error)
	}
	if op.TemporalURL != "" {
		fmt.Fprintf(w, "  temporal: %s\n", op.TemporalURL)
	}
}

// OperationFailedError makes a failed operation exit non-zero.
type OperationFailedError struct{ Op apiv1.Operation }

func (e *OperationFailedError) Error() string {
	return fmt.Sprintf("operation %s ended %s: %s", e.Op.OperationID, e.Op.Status, firstNonEmpty(e.Op.Error, e.Op.Progress.Message))
}

// ExitCode is 3 for a failed or cancelled operation.
func (e *OperationFailedError) ExitCode() int { return 3 }

func firstNonEmpty(xs ...string) string {
	for _, x := range xs {
		if x != "" {
			return x
		}
	}
	return ""
}

// watch polls the operation and draws its progress until it ends.
func watch(ctx context.Context, cl *Client, id, output string, status, out io.Writer) error {
	var prog progress
	var last apiv1.Operation
	for {
		op, err := getOp(ctx, cl, id)
		if err != nil {
			return err
		}
		last = op
		p := op.Progress
		if output == "table" {
			total, done := int64(p.StepsTotal), int64(p.StepsDone)
			step, detail := fmt.Sprintf("%-18s %s", p.Phase, truncate(p.Step, 48)), ""
			if p.SlotsTotal > 0 && p.SlotsMoved < p.SlotsTotal {
				total, done = int64(p.SlotsTotal), int64(p.SlotsMoved)
				step = fmt.Sprintf("%-18s slots", p.Phase)
				detail = fmt.Sprintf("%d keys, %.0f keys/s, ETA %s", p.KeysMoved, p.KeysPerSecond, p.ETA.Round(time.Second))
			}
			if prog == nil {
				prog = newProgress(status)
				if op.TemporalURL != "" {
					fmt.Fprintf(status, "Temporal UI: %s\n", op.TemporalURL)
				}
			}
			prog.Update(step, detail, done, total)
		}
		if op.Status != apiv1.StatusRunning {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollInterval):
		}
	}
	if prog != nil {
		prog.Finish()
	}
	if output == "json" {
		if err := PrintJSON(out, last); err != nil {
			return err
		}
	} else {
		printOp(out, last)
	}
	if last.Status != apiv1.StatusCompleted || last.Progress.Outcome != apiv1.OutcomeSucceeded {
		return &OperationFailedError{Op: last}
	}
	return nil
}

// pollInterval is how often --wait asks the API for progress.
var pollInterval = time.Second

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
