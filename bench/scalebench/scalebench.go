// Package scalebench measures how the cost of each operation grows with the
// number of shards: it creates, scales out, scales in, backs up, upgrades and
// deletes clusters of several sizes through the real API, with the worker in a
// process of its own (bin/dayops server --roles worker) so that its CPU time
// and peak RSS can be read from /proc. Figures only; nothing is asserted.
package scalebench

import (
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
	enumspb "go.temporal.io/api/enums/v1"
	"google.golang.org/protobuf/proto"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dayops/dayops/bench/benchkit"
	"github.com/dayops/dayops/internal/apiv1"
	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/cli"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/dayops/dayops/internal/redis/noaddr"
	"github.com/dayops/dayops/internal/server"
	"github.com/dayops/dayops/internal/testutil/pgtest"
	"github.com/dayops/dayops/internal/testutil/redistest"
)

// Config of a run.
type Config struct {
	Shards          []int
	KeysPerShard    int
	ValueSize       int
	DayopsBin       string // the dayops binary the worker runs
	TemporalAddress string
	DatabaseURL     string // a server URL; the bench creates and drops its own database
	Kubeconfig      string
	Image           string // the upgrade's target image
	// GateMaxLatency is the upgrade gate's bound on the probe p99: the bench
	// measures cost, and on a loaded 2-core machine the default 250ms fails
	// the gate (and rolls the upgrade back) for CPU starvation alone.
	GateMaxLatency time.Duration
	// Skip lists operations not to run (scale-out, scale-in, backup,
	// upgrade); create and delete always run.
	Skip []string
	// Idle, when positive, adds an "idle" row after the create (and fill):
	// this long with no operation, so that the guardian's background share
	// of the other rows' Redis commands and worker CPU can be told apart.
	Idle time.Duration
	// ProfileDir, when set, receives CPU profiles of the worker (it serves
	// net/http/pprof on a loopback port, DAYOPS_PPROF_ADDR): consecutive
	// 15 s windows of each operation, <shards>-<operation>-<n>.pprof, read
	// (merged) with `go tool pprof`.
	ProfileDir string
	CSV        string // path, "" for none
	PNG        string // path, "" for none
	Log        *slog.Logger
}

// Validate reports every bad field at once.
func (c Config) Validate() error {
	var errs []error
	if len(c.Shards) == 0 {
		errs = append(errs, errors.New("shards: at least one size"))
	}
	for _, op := range c.Skip {
		if !slices.Contains([]string{"scale-out", "scale-in", "backup", "upgrade"}, op) {
			errs = append(errs, fmt.Errorf("skip: %q is not one of scale-out, scale-in, backup, upgrade", op))
		}
	}
	for _, s := range c.Shards {
		if s < 3 {
			errs = append(errs, fmt.Errorf("shards: %d is under 3", s))
		}
	}
	if c.GateMaxLatency <= 0 {
		errs = append(errs, fmt.Errorf("gate-max-latency: %s, want more than 0", c.GateMaxLatency))
	}
	if c.KeysPerShard < 0 {
		errs = append(errs, fmt.Errorf("keys-per-shard: %d is negative", c.KeysPerShard))
	}
	if c.ValueSize < 1 {
		errs = append(errs, fmt.Errorf("value-size: %d, want at least 1", c.ValueSize))
	}
	errs = append(errs, benchkit.Required(map[string]string{"dayops-bin": c.DayopsBin, "temporal-address": c.TemporalAddress, "database-url": c.DatabaseURL, "kubeconfig": c.Kubeconfig, "image": c.Image})...)
	return errors.Join(errs...)
}

// ScaleOutTarget is the size a scale-out of s shards goes to: a third more
// (at least one), so that every size moves about a quarter of the slots and
// a data volume proportional to s.
func ScaleOutTarget(s int) int { return s + max(1, s/3) }

type bench struct {
	cfg    Config
	deps   *server.Deps
	op     *cli.Client
	ns     string
	worker *exec.Cmd
	out    io.Writer
	// pprofAddr is where the worker serves net/http/pprof ("" without
	// Config.ProfileDir).
	pprofAddr string
}

// Run runs every size in order and prints one table per size, then writes the
// CSV and PNG of all rows.
func Run(ctx context.Context, cfg Config, out io.Writer) ([]Row, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Log
	db, err := pgtest.Create(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	defer func() { _ = db.Drop(context.WithoutCancel(ctx)) }()
	tmp, err := os.MkdirTemp("", "dayops-scalebench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	api, err := benchkit.StartAPI(ctx, benchkit.APIConfig{Name: "scalebench", TemporalAddress: cfg.TemporalAddress,
		Kubeconfig: cfg.Kubeconfig, DatabaseURL: db.URL, BackupStore: filepath.Join(tmp, "backups")}, log)
	if err != nil {
		return nil, err
	}
	defer api.Close()
	b := &bench{cfg: cfg, deps: api.Deps, out: out, op: api.Operator}
	if b.ns, err = benchkit.CreateNamespace(ctx, b.deps.Kube, "scalebench"); err != nil {
		return nil, err
	}
	defer benchkit.DeleteNamespace(context.WithoutCancel(ctx), b.deps.Kube, b.ns, b.cfg.Log)

	wlog, stop, err := b.startWorker(api, tmp)
	if err != nil {
		return nil, err
	}
	defer stop()
	log.Info("scalebench ready", "namespace", b.ns, "task_queue", api.Config.TaskQueue, "worker_pid", b.worker.Process.Pid)

	var rows []Row
	for _, s := range cfg.Shards {
		r, err := b.size(ctx, s)
		rows = append(rows, r...)
		if len(r) > 0 {
			fmt.Fprintf(out, "\n%d shards x 1 replica, %d keys of %d B:\n", s, s*cfg.KeysPerShard, cfg.ValueSize)
			_ = WriteTable(out, r)
		}
		if err != nil {
			b.cleanup(context.WithoutCancel(ctx), s)
			return rows, fmt.Errorf("%d shards: %w (worker log %s)", s, err, wlog.Name())
		}
	}
	if cfg.CSV != "" {
		f, err := os.Create(cfg.CSV)
		if err != nil {
			return rows, err
		}
		if err := WriteCSV(f, rows); err != nil {
			f.Close()
			return rows, err
		}
		if err := f.Close(); err != nil {
			return rows, err
		}
	}
	if cfg.PNG != "" {
		if err := WritePNG(cfg.PNG, rows); err != nil {
			return rows, err
		}
	}
	return rows, nil
}

func clusterName(s int) string { return "scale-" + strconv.Itoa(s) }

// size runs the six operations on one cluster of s shards.
func (b *bench) size(ctx context.Context, s int) ([]Row, error) {
	name := clusterName(s)
	nsq := url.Values{"namespace": {b.ns}}
	opPath := "/v1/clusters/" + name + "/operations"
	out := ScaleOutTarget(s)
	steps := []struct {
		op, detail string
		start      func() (string, error)
	}{
		{"create", fmt.Sprintf("%dx1", s), func() (string, error) {
			return b.start(ctx, http.MethodPost, "/v1/clusters", nil, map[string]any{"name": name, "namespace": b.ns, "shards": s, "replicasPerShard": 1, "reason": "scalebench"})
		}},
		{"scale-out", fmt.Sprintf("%d->%d", s, out), func() (string, error) {
			return b.start(ctx, http.MethodPost, opPath, nsq, map[string]any{"type": "scale-shards", "shards": out, "reason": "scalebench"})
		}},
		{"scale-in", fmt.Sprintf("%d->%d", out, s), func() (string, error) {
			return b.start(ctx, http.MethodPost, opPath, nsq, map[string]any{"type": "scale-shards", "shards": s, "reason": "scalebench"})
		}},
		{"backup", "", func() (string, error) {
			var acc apiv1.BackupAccepted
			err := b.op.Do(ctx, http.MethodPost, "/v1/clusters/"+name+"/backups", nsq, apiv1.BackupBody{Reason: "scalebench"}, &acc)
			return acc.OperationID, err
		}},
		{"upgrade", b.cfg.Image, func() (string, error) {
			return b.start(ctx, http.MethodPost, opPath, nsq, map[string]any{"type": "upgrade", "image": b.cfg.Image, "autoApprove": true,
				"bake": "5s", "gate": map[string]any{"interval": "5s", "maxLatency": b.cfg.GateMaxLatency.String()}, "reason": "scalebench"})
		}},
		{"delete", "", func() (string, error) {
			return b.start(ctx, http.MethodDelete, "/v1/clusters/"+name, url.Values{"namespace": {b.ns}, "deleteVolumes": {"true"}, "reason": {"scalebench done"}}, nil)
		}},
	}
	var rows []Row
	for i, st := range steps {
		if slices.Contains(b.cfg.Skip, st.op) {
			continue
		}
		r, err := b.measure(ctx, s, st.op, st.detail, st.start)
		if err != nil {
			return rows, fmt.Errorf("%s: %w", st.op, err)
		}
		rows = append(rows, r)
		b.cfg.Log.Info("scalebench", "shards", s, "operation", st.op, "wall", r.Wall.Round(time.Millisecond))
		if i == 0 && b.cfg.KeysPerShard > 0 {
			if err := b.fill(ctx, name, s*b.cfg.KeysPerShard); err != nil {
				return rows, fmt.Errorf("fill: %w", err)
			}
		}
		if i == 0 && b.cfg.Idle > 0 {
			r, err := b.measure(ctx, s, "idle", b.cfg.Idle.String(), func() (string, error) { return "", nil })
			if err != nil {
				return rows, fmt.Errorf("idle: %w", err)
			}
			rows = append(rows, r)
		}
	}
	return rows, nil
}

func (b *bench) start(ctx context.Context, method, path string, q url.Values, body any) (string, error) {
	var acc apiv1.OperationAccepted
	if err := b.op.Do(ctx, method, path, q, body, &acc); err != nil {
		return "", err
	}
	return acc.OperationID, nil
}

func (b *bench) fill(ctx context.Context, name string, keys int) error {
	var c apiv1.Credentials
	if err := b.op.Do(ctx, http.MethodGet, "/v1/clusters/"+name+"/credentials", url.Values{"namespace": {b.ns}}, nil, &c); err != nil {
		return err
	}
	cc := redis.NewClusterClient(noaddr.Guard(&redis.ClusterOptions{Addrs: c.Addresses, Password: c.Password, MaxRedirects: 16}))
	defer cc.Close()
	return redistest.Fill(ctx, cc, "fill:", keys, b.cfg.ValueSize, 8)
}

// startWorker runs the worker in a process of its own (its log in
// dir/worker.log), serving the profiler when Config.ProfileDir is set; stop
// interrupts it and waits.
func (b *bench) startWorker(api *benchkit.API, dir string) (wlog *os.File, stop func(), err error) {
	wlog, err = os.Create(filepath.Join(dir, "worker.log"))
	if err != nil {
		return nil, nil, err
	}
	b.worker = exec.Command(b.cfg.DayopsBin, "server", "--roles", "worker")
	b.worker.Env = api.WorkerEnv("TEMPORAL_ADDRESS=" + b.cfg.TemporalAddress)
	if b.cfg.ProfileDir != "" {
		if b.pprofAddr, err = freeLoopbackAddr(); err == nil {
			err = os.MkdirAll(b.cfg.ProfileDir, 0o755)
		}
		if err != nil {
			wlog.Close()
			return nil, nil, err
		}
		b.worker.Env = append(b.worker.Env, "DAYOPS_PPROF_ADDR="+b.pprofAddr)
	}
	b.worker.Stdout, b.worker.Stderr = wlog, wlog
	if err := b.worker.Start(); err != nil {
		wlog.Close()
		return nil, nil, fmt.Errorf("start worker %s: %w", b.cfg.DayopsBin, err)
	}
	stop = func() {
		_ = b.worker.Process.Signal(os.Interrupt)
		_ = b.worker.Wait()
		wlog.Close()
	}
	// The first operation's profile must not find the profiler not
	// listening yet (the create row had none).
	if b.pprofAddr != "" {
		if err := waitListening(b.pprofAddr, 30*time.Second); err != nil {
			stop()
			return nil, nil, fmt.Errorf("worker profiler (log %s): %w", wlog.Name(), err)
		}
	}
	return wlog, stop, nil
}

// measure starts one operation, waits for it to succeed and reads the
// figures around it.
func (b *bench) measure(ctx context.Context, s int, op, detail string, start func() (string, error)) (Row, error) {
	pid := b.worker.Process.Pid
	name := clusterName(s)
	if err := benchkit.ResetPeakRSS(pid); err != nil {
		return Row{}, fmt.Errorf("reset worker peak RSS: %w", err)
	}
	before, err := benchkit.ReadProc(pid)
	if err != nil {
		return Row{}, err
	}
	callsBefore := b.redisCalls(ctx, name)
	prof := b.profile(ctx, fmt.Sprintf("%d-%s", s, op))
	defer prof.stop()
	began := time.Now()
	id, err := start()
	if err != nil {
		return Row{}, err
	}
	var o apiv1.Operation
	if id == "" { // idle: only the guardian works
		select {
		case <-ctx.Done():
			return Row{}, ctx.Err()
		case <-time.After(b.cfg.Idle):
		}
	} else if o, err = benchkit.WaitOperation(ctx, b.op, 250*time.Millisecond, id); err != nil {
		return Row{}, err
	}
	wall := time.Since(began)
	after, err := benchkit.ReadProc(pid)
	if err != nil {
		return Row{}, err
	}
	callsAfter := b.redisCalls(ctx, name)
	r := Row{Shards: s, Operation: op, Detail: detail, Wall: wall,
		WorkerCPU: after.CPU - before.CPU, PeakRSS: after.PeakRSS, RedisCalls: -1}
	for addr, stats := range callsAfter {
		if r.RedisCalls < 0 {
			r.RedisCalls = 0
		}
		prev := callsBefore[addr] // nil: the instance is new, all its calls count
		for cmd, n := range stats {
			n -= prev[cmd]
			if cmd == "info" && prev != nil {
				n-- // the INFO of the first reading is counted in the second
			}
			r.RedisCalls += n
			switch cmd {
			case "cluster|nodes":
				r.ClusterNodes += n
			case "cluster|setslot":
				r.Setslot += n
			}
		}
	}
	if id == "" {
		return r, nil
	}
	if r.History, r.HistoryBytes, err = b.historyEvents(ctx, o.WorkflowID, o.RunID); err != nil {
		return r, err
	}
	ev, err := b.deps.Store.Query(ctx, eventstore.Filter{Operation: id})
	if err != nil {
		return r, err
	}
	for _, e := range ev {
		if audit.IsRequestRecord(e.Type) {
			continue
		}
		r.Audit++
		if e.Type == audit.TypeStepCompleted {
			r.Steps++
		}
	}
	return r, nil
}

// historyEvents counts the events of a workflow's history and of its
// children's, and their encoded size.
func (b *bench) historyEvents(ctx context.Context, wf, run string) (int, int64, error) {
	it := b.deps.Temporal.GetWorkflowHistory(ctx, wf, run, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n, size := 0, int64(0)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return n, size, fmt.Errorf("history of %s: %w", wf, err)
		}
		n++
		size += int64(proto.Size(e))
		if a := e.GetChildWorkflowExecutionStartedEventAttributes(); a != nil {
			c, cs, err := b.historyEvents(ctx, a.GetWorkflowExecution().GetWorkflowId(), a.GetWorkflowExecution().GetRunId())
			if err != nil {
				return n, size, err
			}
			n, size = n+c, size+cs
		}
	}
	return n, size, nil
}

// redisCalls reads INFO commandstats of every instance of the cluster, found
// through Kubernetes (not the API, whose cluster view would issue commands
// itself). Unreachable instances are left out.
func (b *bench) redisCalls(ctx context.Context, name string) map[string]map[string]int64 {
	pods, err := b.deps.Kube.CoreV1().Pods(b.ns).List(ctx, metav1.ListOptions{LabelSelector: "dayops.io/cluster=" + name})
	out := map[string]map[string]int64{}
	if err != nil || len(pods.Items) == 0 {
		return out
	}
	var c apiv1.Credentials
	if err := b.op.Do(ctx, http.MethodGet, "/v1/clusters/"+name+"/credentials", url.Values{"namespace": {b.ns}}, nil, &c); err != nil {
		return out
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range pods.Items {
		if p.Status.PodIP == "" {
			continue
		}
		addr := benchkit.PodAddr(p.Status.PodIP)
		wg.Go(func() {
			rc := redis.NewClient(&redis.Options{Addr: addr, Password: c.Password, DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, MaxRetries: -1})
			defer rc.Close()
			info, err := rc.Info(ctx, "commandstats").Result()
			if err != nil {
				return
			}
			n, err := benchkit.CommandStats(info)
			if err != nil {
				return
			}
			mu.Lock()
			out[addr] = n
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// cleanup deletes a cluster a failed size left behind.
func (b *bench) cleanup(ctx context.Context, s int) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	id, err := b.start(ctx, http.MethodDelete, "/v1/clusters/"+clusterName(s), url.Values{"namespace": {b.ns}, "deleteVolumes": {"true"}, "reason": {"scalebench cleanup"}}, nil)
	if err == nil {
		_, err = benchkit.WaitOperation(ctx, b.op, 250*time.Millisecond, id)
	}
	if err != nil {
		b.cfg.Log.Warn("cleanup", "cluster", clusterName(s), "err", err)
	}
}
