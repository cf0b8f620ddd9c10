// Package opsbench measures dayops' operation throughput with one and with
// several worker processes, on each Temporal mode of the local stack (the
// CLI's dev server, and Temporal's own server on PostgreSQL with mutual TLS),
// and the memory of the worker and the API while a scale-out moves many
// keys.
//
// For each mode it starts a Temporal of that mode alone (benchtemporal), a
// fresh PostgreSQL database and Kubernetes namespace, serves the real API in
// this process and runs workers as processes of their own (bin/dayops server
// --roles worker), so that their CPU time and resident memory can be read
// from /proc. The batch is a fixed set of light operations: Clusters clusters
// of 3 shards x 1 replica, created beforehand, each running OpsPerCluster
// switchovers one after the other (shard 0, 1, 2, 0, ...), all clusters at
// once. A switchover moves no data and starts no Pod, so the batch's time is
// the machinery's: Temporal, the worker's activities, Redis's CLUSTER
// FAILOVER, Kubernetes label updates and the audit log. Figures only;
// nothing is asserted.
package opsbench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/bench/benchkit"
	"github.com/dayops/dayops/bench/benchtemporal"
	"github.com/dayops/dayops/internal/apiv1"
	"github.com/dayops/dayops/internal/cli"
	"github.com/dayops/dayops/internal/devcluster"
	"github.com/dayops/dayops/internal/redis/noaddr"
	"github.com/dayops/dayops/internal/server"
	"github.com/dayops/dayops/internal/testutil/pgtest"
	"github.com/dayops/dayops/internal/testutil/redistest"
)

// Config of a run.
type Config struct {
	// Modes are the Temporal modes, in order (devcluster.TemporalDev,
	// devcluster.TemporalServer).
	Modes []string
	// Workers are the worker process counts of the batch, in order; each
	// count adds processes to the ones already running.
	Workers []int
	// Clusters of 3x1 run the batch side by side; OpsPerCluster switchovers
	// each (0: no batch).
	Clusters      int
	OpsPerCluster int
	// MigrateKeys, when > 0, adds the memory run on each mode after the
	// batch: a 3x0 cluster filled with MigrateKeys keys of ValueSize bytes,
	// scaled out 3->4 with one worker.
	MigrateKeys int
	ValueSize   int
	Root        string // the checkout: Temporal's binaries are in Root/bin
	DayopsBin   string // the dayops binary the workers run
	DatabaseURL string // a server URL; the bench creates and drops its own databases
	Kubeconfig  string
	Log         *slog.Logger
}

// Validate reports every bad field at once.
func (c Config) Validate() error {
	var errs []error
	if len(c.Modes) == 0 {
		errs = append(errs, errors.New("temporal: at least one mode"))
	}
	for _, m := range c.Modes {
		if m != devcluster.TemporalDev && m != devcluster.TemporalServer {
			errs = append(errs, fmt.Errorf("temporal: %q is not %s or %s", m, devcluster.TemporalDev, devcluster.TemporalServer))
		}
	}
	for i, w := range c.Workers {
		if w < 1 || (i > 0 && w <= c.Workers[i-1]) {
			errs = append(errs, fmt.Errorf("workers: %v, want counts of at least 1 in increasing order", c.Workers))
			break
		}
	}
	if c.OpsPerCluster > 0 && (len(c.Workers) == 0 || c.Clusters < 1) {
		errs = append(errs, errors.New("workers, clusters: at least one worker count and one cluster for a batch"))
	}
	if c.OpsPerCluster < 0 {
		errs = append(errs, fmt.Errorf("ops-per-cluster: %d is negative", c.OpsPerCluster))
	}
	if c.MigrateKeys < 0 {
		errs = append(errs, fmt.Errorf("migrate-keys: %d is negative", c.MigrateKeys))
	}
	if c.ValueSize < 1 {
		errs = append(errs, fmt.Errorf("value-size: %d, want at least 1", c.ValueSize))
	}
	if c.OpsPerCluster == 0 && c.MigrateKeys == 0 {
		errs = append(errs, errors.New("ops-per-cluster, migrate-keys: both 0, nothing to run"))
	}
	errs = append(errs, benchkit.Required(map[string]string{"dayops-bin": c.DayopsBin, "database-url": c.DatabaseURL, "kubeconfig": c.Kubeconfig, "root": c.Root})...)
	return errors.Join(errs...)
}

// BatchRow is the batch's figures on one mode with one worker count.
type BatchRow struct {
	Mode      string
	Workers   int
	Ops       int
	Wall      time.Duration
	P50, P99  time.Duration
	WorkerCPU time.Duration // all worker processes
	Load      string        // /proc/loadavg at the end
}

// OpsPerMinute is the batch's throughput.
func (r BatchRow) OpsPerMinute() float64 { return float64(r.Ops) / r.Wall.Minutes() }

// MemoryRow is the memory run's figures on one mode.
type MemoryRow struct {
	Mode                   string
	Keys                   int
	KeysMoved              int64 // the operation's progress at its end
	Wall                   time.Duration
	WorkerRest, WorkerPeak int64 // bytes: VmRSS before the scale-out, VmHWM during it
	APIRest, APIPeak       int64 // the same of this process (the API is served in it)
	WorkerCPU              time.Duration
	Load                   string
}

// Run runs every mode and prints the tables.
func Run(ctx context.Context, cfg Config, out io.Writer) ([]BatchRow, []MemoryRow, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	var batch []BatchRow
	var mem []MemoryRow
	for _, mode := range cfg.Modes {
		b, m, err := runMode(ctx, cfg, mode)
		batch, mem = append(batch, b...), append(mem, m...)
		if err != nil {
			writeTables(out, cfg, batch, mem)
			return batch, mem, fmt.Errorf("%s mode: %w", mode, err)
		}
	}
	writeTables(out, cfg, batch, mem)
	return batch, mem, nil
}

func writeTables(out io.Writer, cfg Config, batch []BatchRow, mem []MemoryRow) {
	if len(batch) > 0 {
		fmt.Fprintf(out, "\nbatch: %d clusters of 3x1 side by side, %d switchovers each (%d operations)\n", cfg.Clusters, cfg.OpsPerCluster, cfg.Clusters*cfg.OpsPerCluster)
		fmt.Fprintf(out, "%-8s %8s %5s %8s %8s %9s %9s %13s  %s\n", "temporal", "workers", "ops", "wall_s", "ops/min", "p50_s", "p99_s", "worker_cpu_s", "load average at the end")
		for _, r := range batch {
			fmt.Fprintf(out, "%-8s %8d %5d %8.1f %8.1f %9.2f %9.2f %13.2f  %s\n", r.Mode, r.Workers, r.Ops, r.Wall.Seconds(), r.OpsPerMinute(),
				r.P50.Seconds(), r.P99.Seconds(), r.WorkerCPU.Seconds(), r.Load)
		}
	}
	if len(mem) > 0 {
		fmt.Fprintf(out, "\nmemory: scale-out 3->4 of a 3x0 cluster holding %d keys of %d B, one worker\n", cfg.MigrateKeys, cfg.ValueSize)
		fmt.Fprintf(out, "%-8s %9s %10s %8s %16s %16s %13s %13s %13s  %s\n", "temporal", "keys", "keys_moved", "wall_s", "worker_rest_mib", "worker_peak_mib", "api_rest_mib", "api_peak_mib", "worker_cpu_s", "load average at the end")
		for _, r := range mem {
			fmt.Fprintf(out, "%-8s %9d %10d %8.1f %16.1f %16.1f %13.1f %13.1f %13.2f  %s\n", r.Mode, r.Keys, r.KeysMoved, r.Wall.Seconds(), mib(r.WorkerRest), mib(r.WorkerPeak),
				mib(r.APIRest), mib(r.APIPeak), r.WorkerCPU.Seconds(), r.Load)
		}
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// bench is one mode's environment.
type bench struct {
	cfg      Config
	mode     string
	tmp      string
	temporal *benchtemporal.Server
	deps     *server.Deps
	api      *benchkit.API
	op       *cli.Client
	ns       string
	workers  []*exec.Cmd
}

func runMode(ctx context.Context, cfg Config, mode string) (batch []BatchRow, mem []MemoryRow, err error) {
	log := cfg.Log
	b := &bench{cfg: cfg, mode: mode}
	if b.tmp, err = os.MkdirTemp("", "dayops-opsbench-"); err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(b.tmp)
	log.Info("opsbench: starting Temporal", "mode", mode)
	if b.temporal, err = benchtemporal.Start(ctx, cfg.Root, mode, cfg.DatabaseURL, log); err != nil {
		return nil, nil, err
	}
	defer func() {
		if err := b.temporal.Stop(context.WithoutCancel(ctx)); err != nil {
			log.Warn("opsbench: stop Temporal", "mode", mode, "err", err)
		}
	}()
	db, err := pgtest.Create(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = db.Drop(context.WithoutCancel(ctx)) }()
	api, err := benchkit.StartAPI(ctx, benchkit.APIConfig{Name: "opsbench", TemporalAddress: b.temporal.Address,
		TemporalTLS: b.temporal.TLS, Kubeconfig: cfg.Kubeconfig, DatabaseURL: db.URL, BackupStore: filepath.Join(b.tmp, "backups")}, log)
	if err != nil {
		return nil, nil, err
	}
	defer api.Close()
	b.api, b.deps, b.op = api, api.Deps, api.Operator
	if b.ns, err = benchkit.CreateNamespace(ctx, b.deps.Kube, "opsbench"); err != nil {
		return nil, nil, err
	}
	defer benchkit.DeleteNamespace(context.WithoutCancel(ctx), b.deps.Kube, b.ns, b.cfg.Log)
	defer b.stopWorkers()
	if err := b.startWorkers(1); err != nil {
		return nil, nil, err
	}

	if cfg.OpsPerCluster > 0 {
		names := make([]string, cfg.Clusters)
		for i := range names {
			names[i] = "ops-" + strconv.Itoa(i)
		}
		log.Info("opsbench: creating clusters", "mode", mode, "clusters", len(names))
		if err := b.eachCluster(ctx, names, func(name string) error {
			return b.run(ctx, http.MethodPost, "/v1/clusters", nil, map[string]any{"name": name, "namespace": b.ns, "shards": 3, "replicasPerShard": 1, "reason": "opsbench"})
		}); err != nil {
			return nil, nil, fmt.Errorf("create: %w", err)
		}
		for _, w := range cfg.Workers {
			if err := b.startWorkers(w); err != nil {
				return batch, nil, err
			}
			r, err := b.batch(ctx, names)
			if err != nil {
				return batch, nil, fmt.Errorf("batch with %d workers: %w", w, err)
			}
			batch = append(batch, r)
			log.Info("opsbench: batch", "mode", mode, "workers", w, "ops_per_min", fmt.Sprintf("%.1f", r.OpsPerMinute()))
		}
		if err := b.eachCluster(ctx, names, b.deleteCluster); err != nil {
			return batch, nil, fmt.Errorf("delete: %w", err)
		}
	}
	if cfg.MigrateKeys > 0 {
		r, err := b.memory(ctx)
		if err != nil {
			return batch, nil, fmt.Errorf("memory run: %w", err)
		}
		mem = append(mem, r)
	}
	return batch, mem, nil
}

// batch runs OpsPerCluster switchovers on each cluster, the clusters side by
// side, and reads the workers' CPU around it.
func (b *bench) batch(ctx context.Context, names []string) (BatchRow, error) {
	cpuBefore, err := b.workerCPU()
	if err != nil {
		return BatchRow{}, err
	}
	var mu sync.Mutex
	var durs []time.Duration
	began := time.Now()
	err = b.eachCluster(ctx, names, func(name string) error {
		for i := range b.cfg.OpsPerCluster {
			start := time.Now()
			if err := b.run(ctx, http.MethodPost, "/v1/clusters/"+name+"/operations", url.Values{"namespace": {b.ns}},
				map[string]any{"type": "switchover", "shard": i % 3, "reason": "opsbench"}); err != nil {
				return fmt.Errorf("switchover %d: %w", i, err)
			}
			mu.Lock()
			durs = append(durs, time.Since(start))
			mu.Unlock()
		}
		return nil
	})
	wall := time.Since(began)
	if err != nil {
		return BatchRow{}, err
	}
	cpuAfter, err := b.workerCPU()
	if err != nil {
		return BatchRow{}, err
	}
	slices.Sort(durs)
	return BatchRow{Mode: b.mode, Workers: len(b.workers), Ops: len(durs), Wall: wall, P50: pct(durs, 0.5), P99: pct(durs, 0.99),
		WorkerCPU: cpuAfter - cpuBefore, Load: cmp.Or(benchkit.LoadAvg(), "?")}, nil
}

// memory creates a 3x0 cluster, fills it, and scales it out 3->4 with one
// worker running, reading the worker's and this process's memory at rest
// before the scale-out and their high-water marks during it.
func (b *bench) memory(ctx context.Context) (MemoryRow, error) {
	if err := b.keepWorkers(1); err != nil {
		return MemoryRow{}, err
	}
	name := "mem"
	log := b.cfg.Log
	log.Info("opsbench: memory run: create 3x0", "mode", b.mode)
	if err := b.run(ctx, http.MethodPost, "/v1/clusters", nil, map[string]any{"name": name, "namespace": b.ns, "shards": 3, "replicasPerShard": 0, "reason": "opsbench"}); err != nil {
		return MemoryRow{}, fmt.Errorf("create: %w", err)
	}
	var c apiv1.Credentials
	if err := b.op.Do(ctx, http.MethodGet, "/v1/clusters/"+name+"/credentials", url.Values{"namespace": {b.ns}}, nil, &c); err != nil {
		return MemoryRow{}, err
	}
	log.Info("opsbench: memory run: fill", "keys", b.cfg.MigrateKeys)
	cc := redis.NewClusterClient(noaddr.Guard(&redis.ClusterOptions{Addrs: c.Addresses, Password: c.Password, MaxRedirects: 16}))
	err := redistest.Fill(ctx, cc, "mem:", b.cfg.MigrateKeys, b.cfg.ValueSize, 8)
	cc.Close()
	if err != nil {
		return MemoryRow{}, fmt.Errorf("fill: %w", err)
	}
	wpid, self := b.workers[0].Process.Pid, os.Getpid()
	r := MemoryRow{Mode: b.mode, Keys: b.cfg.MigrateKeys}
	var cpuBefore time.Duration
	for _, p := range []struct {
		pid  int
		rest *int64
	}{{wpid, &r.WorkerRest}, {self, &r.APIRest}} {
		if err := benchkit.ResetPeakRSS(p.pid); err != nil {
			return r, fmt.Errorf("reset peak RSS of %d: %w", p.pid, err)
		}
		if *p.rest, err = benchkit.RSS(p.pid); err != nil {
			return r, err
		}
	}
	s, err := benchkit.ReadProc(wpid)
	if err != nil {
		return r, err
	}
	cpuBefore = s.CPU
	log.Info("opsbench: memory run: scale-out 3->4", "worker_rss_mib", fmt.Sprintf("%.1f", mib(r.WorkerRest)))
	began := time.Now()
	var acc apiv1.OperationAccepted
	if err := b.op.Do(ctx, http.MethodPost, "/v1/clusters/"+name+"/operations", url.Values{"namespace": {b.ns}},
		map[string]any{"type": "scale-shards", "shards": 4, "reason": "opsbench"}, &acc); err != nil {
		return r, fmt.Errorf("scale-out: %w", err)
	}
	o, err := benchkit.WaitOperation(ctx, b.op, 100*time.Millisecond, acc.OperationID)
	if err != nil {
		return r, fmt.Errorf("scale-out: %w", err)
	}
	r.Wall, r.KeysMoved = time.Since(began), o.Progress.KeysMoved
	if s, err = benchkit.ReadProc(wpid); err != nil {
		return r, err
	}
	r.WorkerPeak, r.WorkerCPU = s.PeakRSS, s.CPU-cpuBefore
	if s, err = benchkit.ReadProc(self); err != nil {
		return r, err
	}
	r.APIPeak, r.Load = s.PeakRSS, cmp.Or(benchkit.LoadAvg(), "?")
	if err := b.deleteCluster(name); err != nil {
		return r, fmt.Errorf("delete: %w", err)
	}
	return r, nil
}

// run starts an operation through the API and waits for it to succeed.
func (b *bench) run(ctx context.Context, method, path string, q url.Values, body any) error {
	var acc apiv1.OperationAccepted
	if err := b.op.Do(ctx, method, path, q, body, &acc); err != nil {
		return err
	}
	_, err := benchkit.WaitOperation(ctx, b.op, 100*time.Millisecond, acc.OperationID)
	return err
}

func (b *bench) deleteCluster(name string) error {
	return b.run(context.Background(), http.MethodDelete, "/v1/clusters/"+name, url.Values{"namespace": {b.ns}, "deleteVolumes": {"true"}, "reason": {"opsbench done"}}, nil)
}

// eachCluster runs f for every name side by side and joins the errors.
func (b *bench) eachCluster(ctx context.Context, names []string, f func(string) error) error {
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Go(func() {
			if err := f(n); err != nil {
				errs[i] = fmt.Errorf("%s: %w", n, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// startWorkers starts worker processes until n run.
func (b *bench) startWorkers(n int) error {
	for len(b.workers) < n {
		i := len(b.workers)
		wlog, err := os.Create(filepath.Join(b.tmp, fmt.Sprintf("worker-%d.log", i)))
		if err != nil {
			return err
		}
		w := exec.Command(b.cfg.DayopsBin, "server", "--roles", "worker")
		w.Env = b.api.WorkerEnv(b.temporal.Env()...)
		w.Stdout, w.Stderr = wlog, wlog
		if err := w.Start(); err != nil {
			wlog.Close()
			return fmt.Errorf("start worker %s: %w", b.cfg.DayopsBin, err)
		}
		wlog.Close() // the child holds its own descriptor
		b.workers = append(b.workers, w)
		b.cfg.Log.Info("opsbench: worker started", "mode", b.mode, "pid", w.Process.Pid)
	}
	return nil
}

// keepWorkers stops the workers beyond the first n (the last started
// first); a stopping worker hands its activities back to the others.
func (b *bench) keepWorkers(n int) error {
	for len(b.workers) > n {
		w := b.workers[len(b.workers)-1]
		_ = w.Process.Signal(os.Interrupt)
		_ = w.Wait()
		b.workers = b.workers[:len(b.workers)-1]
	}
	return nil
}

func (b *bench) stopWorkers() { _ = b.keepWorkers(0) }

// workerCPU is the utime+stime of all running workers.
func (b *bench) workerCPU() (time.Duration, error) {
	var sum time.Duration
	for _, w := range b.workers {
		s, err := benchkit.ReadProc(w.Process.Pid)
		if err != nil {
			return 0, err
		}
		sum += s.CPU
	}
	return sum, nil
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}
