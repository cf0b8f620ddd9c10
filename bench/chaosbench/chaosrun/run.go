// Package chaosrun is `dayops-dev bench chaos`: it starts a dayops API and a
// worker process on a fresh database, task queue and namespace, creates the
// clusters and runs chaosbench's scenarios on them, and prints the figures.
package chaosrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dayops/dayops/bench/benchkit"
	"github.com/dayops/dayops/bench/chaosbench"
	"github.com/dayops/dayops/bench/chaosbench/diskfull"
	"github.com/dayops/dayops/bench/chaosbench/drain"
	"github.com/dayops/dayops/bench/chaosbench/heldloss"
	"github.com/dayops/dayops/bench/chaosbench/kubedown"
	"github.com/dayops/dayops/bench/chaosbench/majority"
	"github.com/dayops/dayops/bench/chaosbench/openslot"
	"github.com/dayops/dayops/bench/chaosbench/shardloss"
	"github.com/dayops/dayops/bench/chaosbench/stale"
	"github.com/dayops/dayops/bench/chaosbench/stranger"
	"github.com/dayops/dayops/bench/chaosbench/stray"
	"github.com/dayops/dayops/bench/chaosbench/targetkill"
	"github.com/dayops/dayops/bench/chaosbench/temporaldown"
	"github.com/dayops/dayops/internal/apiv1"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/testutil/apiproxy"
	"github.com/dayops/dayops/internal/testutil/pgtest"
)

// Scenario names, for Config.Skip.
var Scenarios = []string{"force-delete-primary", "delete-primary", "delete-replica-pvc", "worker-mid-recovery", "worker-down",
	"switchover", "sigkill-aof", "freeze-primary", "lose-node", "busy", "audit-db-down", "kube-api-down", "temporal-down", "source-kill", "target-kill", "source-kill-slow", "held-loss", "stale-hold", "open-slot-left", "open-slot", "shard-lost", "shard-lost-data", "shard-lost-replica-data", "crash-lost-replica-data", "crash-lost-replica", "disk-full", "stray-primary", "stranger-at-address", "lose-majority", "stale-replica", "sigkill-none", "force-delete-primary-none"}

// Config of a run of `dayops-dev bench chaos`.
type Config struct {
	DayopsBin       string // the dayops binary the worker process runs
	TemporalAddress string
	DatabaseURL     string // a server URL; the bench creates and drops its own database
	Kubeconfig      string
	Shards          int           // of each cluster (1 replica per shard)
	Keys            int           // filled into each cluster before its faults
	CostWindow      time.Duration // how long the idle guardian's cost is measured
	Hold            time.Duration // how long the busy scenario leaves its loss waiting
	NodeTimeout     time.Duration // the clusters' cluster-node-timeout (0: dayops' default)
	Skip            []string      // scenarios not to run (Scenarios)
	Log             *slog.Logger
}

// Validate reports every bad field at once.
func (c Config) Validate() error {
	var errs []error
	if c.Shards < 3 {
		errs = append(errs, fmt.Errorf("shards: %d, want at least 3 (the scenarios use shards 0, 1 and 2)", c.Shards))
	}
	if c.Keys < 0 {
		errs = append(errs, fmt.Errorf("keys: %d is negative", c.Keys))
	}
	if c.CostWindow < 0 || c.Hold < 0 {
		errs = append(errs, errors.New("cost-window and hold: must not be negative"))
	}
	if c.NodeTimeout != 0 && (c.NodeTimeout < 500*time.Millisecond || c.NodeTimeout > 10*time.Minute) {
		errs = append(errs, fmt.Errorf("node-timeout: %s, want 0 (dayops' default) or 500ms to 10m (what Redis' cluster-node-timeout admits)", c.NodeTimeout))
	}
	for _, s := range c.Skip {
		if !slices.Contains(Scenarios, s) {
			errs = append(errs, fmt.Errorf("skip: %q is not one of %v", s, Scenarios))
		}
	}
	errs = append(errs, benchkit.Required(map[string]string{"dayops-bin": c.DayopsBin, "temporal-address": c.TemporalAddress, "database-url": c.DatabaseURL, "kubeconfig": c.Kubeconfig})...)
	return errors.Join(errs...)
}

// runs says whether scenario s is to run (not in Skip).
func (c Config) runs(s string) bool { return !slices.Contains(c.Skip, s) }

// Result is what Run measured.
type Result struct {
	Cost    chaosbench.Cost
	Figures []chaosbench.Figure
	Writers map[string]chaosbench.WriterResult // per cluster
	// Unrecovered: per cluster, its instances that its audit log, replayed
	// before the cluster's deletion, holds lost and not recovered.
	Unrecovered map[string][]string
}

// Run starts a dayops API in this process and a worker process (Config.
// DayopsBin) against the running local stack, on a fresh database, task
// queue and namespace; creates a 3x1 cluster with the default persistence
// (AOF), measures the idle guardian's cost, fills it and runs every fault
// with a writer that waits for one replica (WAIT 1); then a cluster without
// persistence for the fence (SIGKILL a primary). It prints the cost, the
// table and the notes to out.
func Run(ctx context.Context, cfg Config, out io.Writer) (res Result, err error) {
	if err := cfg.Validate(); err != nil {
		return res, err
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	db, err := pgtest.Create(ctx, cfg.DatabaseURL)
	if err != nil {
		return res, err
	}
	defer func() { _ = db.Drop(context.WithoutCancel(ctx)) }()
	tmp, err := os.MkdirTemp("", "dayops-chaosbench-")
	if err != nil {
		return res, err
	}
	defer func() {
		if err == nil {
			os.RemoveAll(tmp)
		}
	}()
	api, err := benchkit.StartAPI(ctx, benchkit.APIConfig{Name: "chaosbench", TemporalAddress: cfg.TemporalAddress,
		Kubeconfig: cfg.Kubeconfig, DatabaseURL: db.URL}, log)
	if err != nil {
		return res, err
	}
	defer api.Close()
	deps, op, au := api.Deps, api.Operator, api.Auditor

	ns, err := benchkit.CreateNamespace(ctx, deps.Kube, "chaosbench")
	if err != nil {
		return res, err
	}
	defer benchkit.DeleteNamespace(context.WithoutCancel(ctx), deps.Kube, ns, log)
	env := chaosbench.Env{Kube: deps.Kube, Temporal: deps.Temporal, Operator: op, Auditor: au, Namespace: ns, Log: log}
	stop, err := startWorker(ctx, cfg, api, db.URL, tmp, &env)
	defer stop()
	if err != nil {
		return res, err
	}
	log.Info("chaosbench ready", "namespace", ns, "task_queue", api.Config.TaskQueue)
	res.Writers, res.Unrecovered = map[string]chaosbench.WriterResult{}, map[string][]string{}

	// The default persistence (AOF), a writer that waits for a replica.
	b, err := createCluster(ctx, env, "chaos", cfg.Shards, "aof", cfg.NodeTimeout)
	if err != nil {
		return res, err
	}
	err = runAOF(ctx, b, cfg, out, &res)
	res.Figures = append(res.Figures, b.Figures...)
	if err != nil {
		return res, fmt.Errorf("cluster %s: %w (worker logs in %s)", b.Cluster, err, tmp)
	}
	if err := auditLost(ctx, b, &res); err != nil {
		return res, err
	}
	if err := b.Delete(ctx); err != nil {
		return res, err
	}

	if cfg.runs("sigkill-none") || cfg.runs("force-delete-primary-none") {
		if err := runCache(ctx, env, cfg, &res); err != nil {
			return res, err
		}
	}

	return res, report(out, cfg, res)
}

// startWorker starts the worker process, which reaches the Kubernetes API
// and Temporal through proxies that kube-api-down and temporal-down take
// away, and the database terminator of audit-db-down, into env; stop ends
// what was started.
func startWorker(ctx context.Context, cfg Config, api *benchkit.API, dbURL, tmp string, env *chaosbench.Env) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for _, s := range slices.Backward(stops) {
			s()
		}
	}
	kubeAPI, err := apiproxy.StartKube(cfg.Kubeconfig, filepath.Join(tmp, "worker.kubeconfig"))
	if err != nil {
		return stop, err
	}
	stops = append(stops, func() { kubeAPI.Close() })
	temporalLink, err := apiproxy.Start(cfg.TemporalAddress)
	if err != nil {
		return stop, err
	}
	stops = append(stops, func() { temporalLink.Close() })
	w := &benchkit.ProcWorker{Bin: cfg.DayopsBin, Dir: tmp, Env: api.WorkerEnv("TEMPORAL_ADDRESS="+temporalLink.Addr(),
		"KUBECONFIG="+filepath.Join(tmp, "worker.kubeconfig"))}
	if err := w.Start(); err != nil {
		return stop, err
	}
	stops = append(stops, func() { _ = w.Stop() })
	dbDown, err := pgtest.ConnectTerminator(ctx, dbURL)
	if err != nil {
		return stop, err
	}
	stops = append(stops, func() { dbDown.Close() })
	env.Worker, env.Database, env.KubeAPI, env.TemporalLink = w, dbDown, kubeAPI, temporalLink
	return stop, nil
}

// runAOF runs the faults on the cluster with the default persistence (AOF):
// the guardian's cost, then every fault not skipped, with a writer that
// waits for a replica.
func runAOF(ctx context.Context, b *chaosbench.Bench, cfg Config, out io.Writer, res *Result) error {
	if cfg.CostWindow > 0 {
		var err error
		if res.Cost, err = b.MeasureCost(ctx, cfg.CostWindow); err != nil {
			return fmt.Errorf("cost: %w", err)
		}
		fmt.Fprintln(out, res.Cost)
	}
	if err := b.Fill(ctx, cfg.Keys, 100); err != nil {
		return err
	}
	if err := b.StartWriter(ctx, 1); err != nil {
		return err
	}
	image, err := b.OtherClusterImage(ctx)
	if err != nil {
		return err
	}
	steps := []struct {
		name string
		run  func() (chaosbench.Figure, error)
	}{
		{"force-delete-primary", func() (chaosbench.Figure, error) { return b.ForceDeletePrimary(ctx, 0) }},
		{"delete-primary", func() (chaosbench.Figure, error) { return drain.Run(ctx, b, 1) }},
		{"delete-replica-pvc", func() (chaosbench.Figure, error) { return b.DeleteReplicaAndPVC(ctx, 1) }},
		{"worker-mid-recovery", func() (chaosbench.Figure, error) { return b.KillWorkerMidRecovery(ctx, 2) }},
		{"worker-down", func() (chaosbench.Figure, error) { return b.WorkerDownReplicaLost(ctx, 0) }},
		{"switchover", func() (chaosbench.Figure, error) { return b.Switchover(ctx, 1) }},
		{"sigkill-aof", func() (chaosbench.Figure, error) {
			return b.KillRedisPrimary(ctx, 2, "SIGKILL a primary redis-server (aof)")
		}},
		{"freeze-primary", func() (chaosbench.Figure, error) { return b.FreezePrimary(ctx, 1, chaosbench.FreezeFor) }},
		{"lose-node", func() (chaosbench.Figure, error) { return b.LoseNode(ctx, 0) }},
		{"busy", func() (chaosbench.Figure, error) { return b.RecoverWhileBusy(ctx, 2, image, cfg.Hold) }},
		{"audit-db-down", func() (chaosbench.Figure, error) {
			_, err := b.AuditDatabaseDown(ctx, 0, 1, chaosbench.AuditOutage)
			return chaosbench.Figure{}, err
		}},
		{"kube-api-down", func() (chaosbench.Figure, error) { return kubedown.Run(ctx, b, image, kubedown.Outage) }},
		{"temporal-down", func() (chaosbench.Figure, error) { return temporaldown.Run(ctx, b, temporaldown.Outage) }},
		// source-kill before target-kill: the scale-in drains the shard
		// temporal-down added, whose container restarts at once (the
		// fence's path). source-kill-slow runs it again after target-kill,
		// on the shard target-kill added: its container, killed twice,
		// restarts after a back-off longer than cluster-node-timeout (the
		// mover's takeover; TestSelfHealing's scenario 14).
		{"source-kill", func() (chaosbench.Figure, error) { return targetkill.RunSource(ctx, b) }},
		{"target-kill", func() (chaosbench.Figure, error) { return targetkill.Run(ctx, b) }},
		{"source-kill-slow", func() (chaosbench.Figure, error) { return targetkill.RunSource(ctx, b) }},
		{"held-loss", func() (chaosbench.Figure, error) { return heldloss.Run(ctx, b, 1) }},
		{"stale-hold", func() (chaosbench.Figure, error) { return heldloss.RunStale(ctx, b, 0) }},
		{"open-slot-left", func() (chaosbench.Figure, error) { return openslot.RunLeft(ctx, b, 0, 1) }},
		{"open-slot", func() (chaosbench.Figure, error) { return openslot.Run(ctx, b, 0, 1) }},
		{"shard-lost", func() (chaosbench.Figure, error) { return shardloss.Run(ctx, b, 2) }},
		{"shard-lost-data", func() (chaosbench.Figure, error) { return shardloss.RunData(ctx, b, 2) }},
		{"shard-lost-replica-data", func() (chaosbench.Figure, error) { return shardloss.RunReplicaData(ctx, b, 2) }},
		{"crash-lost-replica-data", func() (chaosbench.Figure, error) { return shardloss.RunCrash(ctx, b, 2) }},
		{"crash-lost-replica", func() (chaosbench.Figure, error) { return shardloss.RunCrashKept(ctx, b, 2) }},
		{"disk-full", func() (chaosbench.Figure, error) { return diskfull.Run(ctx, b, 1) }},
		{"stray-primary", func() (chaosbench.Figure, error) { return stray.Run(ctx, b, 0) }},
		{"stranger-at-address", func() (chaosbench.Figure, error) { return stranger.Run(ctx, b, 1) }},
		{"lose-majority", func() (chaosbench.Figure, error) { return majority.Run(ctx, b) }},
		{"stale-replica", func() (chaosbench.Figure, error) { return stale.Run(ctx, b, 2) }},
	}
	for _, s := range steps {
		if !cfg.runs(s.name) {
			continue
		}
		if _, err := s.run(); err != nil {
			return err
		}
	}
	wr, err := b.Stop(ctx)
	res.Writers[b.Cluster] = wr
	return err
}

// runCache runs the fence on a cluster without persistence: the instance
// manager fences the restarted, empty former primary. No WAIT: a cache
// client.
func runCache(ctx context.Context, env chaosbench.Env, cfg Config, res *Result) error {
	c, err := createCluster(ctx, env, "chaos-cache", cfg.Shards, "none", cfg.NodeTimeout)
	if err != nil {
		return err
	}
	err = func() error {
		if err := c.Fill(ctx, cfg.Keys, 100); err != nil {
			return err
		}
		if err := c.StartWriter(ctx, 0); err != nil {
			return err
		}
		if cfg.runs("sigkill-none") {
			if _, err := c.KillRedisPrimary(ctx, 0, "SIGKILL a primary redis-server (persistence none, fenced)"); err != nil {
				return err
			}
		}
		if cfg.runs("force-delete-primary-none") {
			if err := forceDeleteCounted(ctx, c, 1, "force-delete a primary Pod (persistence none)"); err != nil {
				return err
			}
		}
		wr, err := c.Stop(ctx)
		res.Writers[c.Cluster] = wr
		return err
	}()
	res.Figures = append(res.Figures, c.Figures...)
	if err != nil {
		return fmt.Errorf("cluster %s: %w", c.Cluster, err)
	}
	if err := auditLost(ctx, c, res); err != nil {
		return err
	}
	return c.Delete(ctx)
}

// auditLost keeps in res what b's cluster's audit log, replayed, holds
// lost and not recovered (read before the cluster is deleted).
func auditLost(ctx context.Context, b *chaosbench.Bench, res *Result) error {
	lost, err := benchkit.Unrecovered(ctx, b.Auditor, operation.ClusterKey(b.Namespace, b.Cluster))
	res.Unrecovered[b.Cluster] = lost
	return err
}

// forceDeleteCounted force-deletes shard's primary Pod (chaosbench.Bench.
// ForceDeletePrimary; its figure under label) and says in the figure's note how many
// recover operations the guardian started for it (more than one: a recover
// failed, for instance one that gave up waiting for Redis to promote a
// replica of a cluster whose cluster-node-timeout is long).
func forceDeleteCounted(ctx context.Context, b *chaosbench.Bench, shard int, label string) error {
	before, err := b.Health(ctx)
	if err != nil {
		return err
	}
	n := len(b.Figures)
	_, err = b.ForceDeletePrimary(ctx, shard)
	if after, herr := b.Health(ctx); herr == nil && len(b.Figures) > n {
		f := &b.Figures[n]
		f.Scenario = label
		f.Note = strings.TrimPrefix(f.Note+"; ", "; ") + fmt.Sprintf("recover operations started: %d", after.Recoveries-before.Recoveries)
	}
	return err
}

// report prints the table and the notes of the figures, and the writers'
// outcome.
func report(out io.Writer, cfg Config, res Result) error {
	fmt.Fprintf(out, "\n%d shards x 1 replica, %d keys of 100 B filled per cluster; a writer on 5,000 more keys, 4 workers (WAIT 1 on the AOF cluster):\n", cfg.Shards, cfg.Keys)
	if err := chaosbench.WriteTable(out, res.Figures); err != nil {
		return err
	}
	fmt.Fprintln(out)
	chaosbench.WriteNotes(out, res.Figures)
	for _, name := range []string{"chaos", "chaos-cache"} {
		if wr, ok := res.Writers[name]; ok {
			fmt.Fprintf(out, "- writer on %s: %d acknowledged, %d failed (outcome unknown), %d acknowledged lost; %d keys read back, %v\n",
				name, wr.Acked, wr.Failed, wr.Lost, wr.Verified, orOK(wr.VerifyErr))
		}
		if lost, ok := res.Unrecovered[name]; ok {
			fmt.Fprintf(out, "- audit log of %s, replayed: %d instance(s) recorded lost and not recovered %v\n", name, len(lost), lost)
		}
	}
	return nil
}

func orOK(err error) string {
	if err == nil {
		return "every one holds its last acknowledged value"
	}
	return err.Error()
}

// createCluster creates a shards x 1 cluster through the API and waits until
// its guardian sees it whole.
func createCluster(ctx context.Context, env chaosbench.Env, name string, shards int, persistence string, nodeTimeout time.Duration) (*chaosbench.Bench, error) {
	b := chaosbench.New(env, name)
	var acc apiv1.OperationAccepted
	req := map[string]any{"name": name, "namespace": env.Namespace,
		"shards": shards, "replicasPerShard": 1, "persistence": map[string]any{"mode": persistence}, "reason": "chaos bench"}
	if nodeTimeout > 0 {
		req["config"] = map[string]string{"cluster-node-timeout": strconv.FormatInt(nodeTimeout.Milliseconds(), 10)}
	}
	if err := env.Operator.Do(ctx, http.MethodPost, "/v1/clusters", nil, req, &acc); err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	o, err := b.WaitOperation(ctx, acc.OperationID, 5*time.Minute)
	if err != nil {
		return nil, err
	}
	if o.Progress.Outcome != apiv1.OutcomeSucceeded {
		return nil, fmt.Errorf("create %s ended %s/%s: %s", name, o.Status, o.Progress.Outcome, o.Error)
	}
	if _, err := b.WaitWhole(ctx, 2*time.Minute); err != nil {
		return nil, err
	}
	return b, nil
}
