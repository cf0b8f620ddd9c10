package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/dayops/dayops/internal/activities/auditlog"
	"github.com/dayops/dayops/internal/activities/backup"
	"github.com/dayops/dayops/internal/activities/clusterstate"
	"github.com/dayops/dayops/internal/activities/guardian"
	"github.com/dayops/dayops/internal/activities/hooks"
	"github.com/dayops/dayops/internal/activities/kube"
	"github.com/dayops/dayops/internal/activities/notify"
	"github.com/dayops/dayops/internal/activities/redisops"
	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/audit/projection"
	"github.com/dayops/dayops/internal/backupstore"
	"github.com/dayops/dayops/internal/callauth"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/dayops/dayops/internal/httpapi"
	"github.com/dayops/dayops/internal/workflows"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Deps are the clients a server process builds from its Config.
type Deps struct {
	Temporal   client.Client
	RESTConfig *rest.Config
	Kube       kubernetes.Interface
	Pool       *pgxpool.Pool
	Store      *eventstore.Store
	Conns      *redisops.Conns
	Log        *slog.Logger
	// Backups is the backup store (nil when none is configured).
	Backups         backupstore.Store
	BackupClients   *backup.Clients
	BackupServeHost string
	// InstanceImage is Config.InstanceImage.
	InstanceImage string
	// Namespaces is Config.Namespaces.
	Namespaces []string
	// CallKeys sign the client's signals and updates and let the worker
	// check them (Config.CallKeys).
	CallKeys callauth.Keys
	// HookGuard decides which addresses HTTP hooks may connect to.
	HookGuard *hooks.Guard
	// Registry holds the process's Prometheus metrics (the API's and the
	// guardians'); the API serves it on /metrics.
	Registry        *prometheus.Registry
	guardianMetrics *guardian.Metrics
}

// Close releases every client.
func (d *Deps) Close() {
	if d.Conns != nil {
		d.Conns.Close()
	}
	if d.BackupClients != nil {
		d.BackupClients.Close()
	}
	if d.Temporal != nil {
		d.Temporal.Close()
	}
	if d.Pool != nil {
		d.Pool.Close()
	}
}

// Connect builds the clients.
func Connect(ctx context.Context, cfg Config, log *slog.Logger) (*Deps, error) {
	d := &Deps{Log: log, Registry: prometheus.NewRegistry()}
	d.guardianMetrics = guardian.NewMetrics(d.Registry)
	ok := false
	defer func() {
		if !ok {
			d.Close()
		}
	}()
	var err error
	if cfg.Kubeconfig != "" {
		d.RESTConfig, err = clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	} else {
		d.RESTConfig, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes config: %w", err)
	}
	d.RESTConfig.QPS, d.RESTConfig.Burst = KubeQPS, KubeBurst
	if d.Kube, err = kubernetes.NewForConfig(d.RESTConfig); err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	if d.Pool, err = pgxpool.New(ctx, cfg.DatabaseURL); err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	opts := eventstore.Options{Upcasters: audit.Upcasters(), Logger: log}
	// The key comes from cfg.AuditSigningKey (a path or the key), else from
	// DAYOPS_AUDIT_SIGNING_KEY, the same variable `dayops audit` reads.
	if opts.Signer, err = eventstore.LoadSigner(cfg.AuditSigningKey); err != nil {
		return nil, fmt.Errorf("%s: %w", eventstore.EnvSigningKey, err)
	}
	if d.Store, err = eventstore.Open(ctx, d.Pool, opts); err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	if d.CallKeys, err = callauth.ParseKeys(cfg.CallKeys); err != nil {
		return nil, fmt.Errorf("%s: %w", EnvCallKeys, err)
	}
	if !d.CallKeys.Enabled() {
		log.Warn("signals and updates to running operations are not signed: anyone who reaches the Temporal frontend can approve, abort or pause an upgrade in any name; set " + EnvCallKeys)
	}
	if d.Temporal, err = DialTemporal(ctx, cfg, log, d.CallKeys); err != nil {
		return nil, err
	}
	if err := EnsureSearchAttributes(ctx, d.Temporal, cfg.TemporalNamespace, log); err != nil {
		return nil, err
	}
	limits, err := MigrationLimits(cfg.MigrationLatencyBudget)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvMigrationLatencyBudget, err)
	}
	d.Conns = &redisops.Conns{Passwords: kube.Passwords{Client: d.Kube}, Log: log, Limits: limits}
	storeURL := cfg.BackupStore
	if storeURL == "" {
		storeURL = os.Getenv(EnvBackupStore)
	}
	if storeURL != "" {
		if d.Backups, err = backupstore.Open(ctx, storeURL); err != nil {
			return nil, fmt.Errorf("%s: %w", EnvBackupStore, err)
		}
	}
	if d.HookGuard, err = hookGuard(ctx, cfg, d.RESTConfig); err != nil {
		return nil, err
	}
	d.BackupClients = &backup.Clients{}
	d.BackupServeHost = cfg.BackupServeHost
	d.InstanceImage = cfg.InstanceImage
	d.Namespaces = cfg.Namespaces
	ok = true
	return d, nil
}

// Activities builds the activity structs over deps.
func (d *Deps) Activities() workflows.Activities {
	k := &kube.Activities{Client: d.Kube, Log: d.Log, InstanceImage: d.InstanceImage, Namespaces: d.Namespaces}
	r := redisops.New(d.Conns)
	return workflows.Activities{
		Kube: k, Redis: r,
		Hooks: &hooks.Activities{Kube: d.Kube, RestConfig: d.RESTConfig, HTTP: d.hookGuard().Client(), Log: d.Log},
		Audit: &auditlog.Activities{Recorder: &auditlog.Recorder{Store: d.Store, Log: d.Log}},
		State: &clusterstate.Activities{Kube: k, Redis: r},
		Backup: &backup.Activities{Store: d.Backups, Kube: d.Kube, Passwords: kube.Passwords{Client: d.Kube}, Log: d.Log,
			ListenHost: d.BackupServeHost, Clients: d.BackupClients, InstanceImage: d.InstanceImage},
		Guardian: &guardian.Activities{Kube: d.Kube, Passwords: kube.Passwords{Client: d.Kube}, Temporal: d.Temporal,
			TaskQueue: workflows.TaskQueue, Log: d.Log, Metrics: d.guardianMetrics},
		Notify: &notify.Activities{Kube: d.Kube, Passwords: kube.Passwords{Client: d.Kube}, Log: d.Log},
	}
}

// NewWorker returns a worker on the task queue with every workflow and
// activity registered and the audit step interceptor installed.
func (d *Deps) NewWorker(taskQueue string) worker.Worker {
	acts := d.Activities()
	acts.Guardian.TaskQueue = taskQueue
	w := worker.New(d.Temporal, taskQueue, worker.Options{
		// A CPU-starved worker must not mistake slowness for a deadlock in
		// workflow code (the default is 1s).
		DeadlockDetectionTimeout: 10 * time.Second,
		Interceptors: workerInterceptors(&auditlog.StepInterceptor{Recorder: acts.Audit.Recorder},
			// Signals and updates that did not come through the API are refused.
			&callauth.Checker{Keys: d.CallKeys}),
		MaxHeartbeatThrottleInterval: heartbeatThrottle,
		StickyScheduleToStartTimeout: stickyTimeout,
		WorkerStopTimeout:            workerStopTimeout,
	})
	workflows.Register(w, acts)
	return w
}

// workerInterceptors are the worker's interceptors, outermost first:
//   - keepalive: a live worker heartbeats its steps every 2 s, so a dead
//     one's steps move on after flow.HeartbeatTimeout (keepalive.go). It is
//     outermost so that it speaks for a step while the step interceptor
//     writes the step's audit records, which ride out a database outage of
//     up to 10 s (auditlog.Recorder);
//   - steps: the audit step interceptor;
//   - calls: the signal and update checker;
//   - handover: inside the step interceptor, a stopping worker hands its
//     activities back at once (a retryable error, no step end).
func workerInterceptors(steps, calls interceptor.WorkerInterceptor) []interceptor.WorkerInterceptor {
	return []interceptor.WorkerInterceptor{newKeepalive(), steps, calls, &handover{}}
}

// NewAPI returns the REST API over deps.
func (d *Deps) NewAPI(cfg Config) (*httpapi.Server, error) {
	tokens, err := httpapi.ParseTokens(cfg.Tokens)
	if err != nil {
		return nil, fmt.Errorf("DAYOPS_API_TOKENS: %w", err)
	}
	acts := d.Activities()
	return httpapi.New(httpapi.Deps{
		Temporal: d.Temporal, TemporalNamespace: cfg.TemporalNamespace, TemporalUI: cfg.TemporalUI, TaskQueue: cfg.TaskQueue,
		Clusters: clusters{kube: acts.Kube, state: acts.State}, Store: d.Store, Tokens: tokens, Log: d.Log, Backups: d.Backups, Registry: d.Registry,
		Ready: d.ready,
	}), nil
}

// ready reports whether the process's dependencies answer: Temporal,
// PostgreSQL and the Kubernetes API.
func (d *Deps) ready(ctx context.Context) error {
	if _, err := d.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		return fmt.Errorf("temporal: %w", err)
	}
	if err := d.Pool.Ping(ctx); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if _, err := d.Kube.Discovery().ServerVersion(); err != nil {
		return fmt.Errorf("kubernetes: %w", err)
	}
	return nil
}

// KubeQPS and KubeBurst bound the API's and the worker's Kubernetes
// requests. client-go's default (5 per second, burst 10) throttled a worker
// running a few operations at once: `bench ops` saw 1.0-1.3 s client-side
// waits and 7.0 switchovers per minute, 23.6 with these limits
// (bench/README.md). The API server's priority and fairness still protects
// it from a busy worker.
const (
	KubeQPS   = 50
	KubeBurst = 100
)

// healthHandler serves the probes of a process without the api role:
// /healthz (the process answers) and /readyz (its dependencies answer, as
// the API's /readyz checks them), and /metrics: a worker's guardians keep
// their cluster gauges and failover/recovery counters in this process, so
// Prometheus scrapes them here.
func (d *Deps) healthHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := d.ready(ctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// pprofHandler serves Go's profiler under /debug/pprof/ (DAYOPS_PPROF_ADDR).
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

// Run runs the configured roles until ctx ends. ready, when set, is called
// with the API's bound address (or "" without the api role) once everything
// runs.
func Run(ctx context.Context, cfg Config, log *slog.Logger, ready func(apiAddr string)) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	d, err := Connect(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()

	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	if cfg.Has("worker") {
		stop, err := d.startWorker(ctx, cfg, log, &wg)
		if err != nil {
			return err
		}
		defer stop()
	}
	d.startSigner(ctx, log, &wg)
	addr := ""
	errc := make(chan error, 4)
	if cfg.HealthAddr != "" {
		ln, err := net.Listen("tcp", cfg.HealthAddr)
		if err != nil {
			return fmt.Errorf("DAYOPS_HEALTH_ADDR: listen on %s: %w", cfg.HealthAddr, err)
		}
		hs := newHTTPServer(d.healthHandler())
		go func() { errc <- hs.Serve(ln) }()
		defer func() { _ = hs.Close() }()
		log.Info("health endpoints listening", "addr", ln.Addr().String())
	}
	if cfg.PprofAddr != "" {
		ln, err := net.Listen("tcp", cfg.PprofAddr)
		if err != nil {
			return fmt.Errorf("DAYOPS_PPROF_ADDR: listen on %s: %w", cfg.PprofAddr, err)
		}
		ps := newHTTPServer(pprofHandler())
		ps.WriteTimeout = 0 // a CPU profile streams for as long as it is asked to
		go func() { errc <- ps.Serve(ln) }()
		defer func() { _ = ps.Close() }()
		log.Info("profiler listening (net/http/pprof)", "addr", ln.Addr().String())
	}
	if cfg.Has("api") {
		var shutdown func()
		addr, shutdown, err = d.serveAPI(ctx, cfg, log, &wg, errc)
		if err != nil {
			return err
		}
		defer shutdown()
	}
	if ready != nil {
		ready(addr)
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return fmt.Errorf("HTTP server: %w", err)
	}
}

// startWorker starts the Temporal worker and the guardians' supervisor;
// stop stops the worker.
func (d *Deps) startWorker(ctx context.Context, cfg Config, log *slog.Logger, wg *sync.WaitGroup) (stop func(), err error) {
	w := d.NewWorker(cfg.TaskQueue)
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	log.Info("worker polling", "task_queue", cfg.TaskQueue, "temporal", cfg.TemporalAddress)
	sup := &Guardians{Temporal: d.Temporal, Kube: d.Kube, TaskQueue: cfg.TaskQueue, Log: log, Namespaces: cfg.Namespaces}
	wg.Add(1)
	go func() {
		defer wg.Done()
		sup.Run(ctx)
	}()
	return w.Stop, nil
}

// startSigner signs the head periodically (an idle head too), and copies
// each checkpoint to the backup store when there is one. A signer apart
// from this process (`dayops audit signer`) is stronger.
func (d *Deps) startSigner(ctx context.Context, log *slog.Logger, wg *sync.WaitGroup) {
	sg := d.Store.Signer()
	if sg == nil {
		log.Warn("audit checkpoints are not signed: set " + eventstore.EnvSigningKey + " or run `dayops audit signer`")
		return
	}
	opts := eventstore.SignerOptions{}
	if d.Backups != nil {
		opts.AfterSign = func(ctx context.Context) error { _, err := audit.CopyCheckpoints(ctx, d.Store, d.Backups); return err }
	}
	wg.Add(1)
	go func() { defer wg.Done(); _ = d.Store.RunSigner(ctx, sg, opts) }()
}

// serveAPI runs the audit projector and serves the API; it returns the
// bound address and the graceful shutdown of the HTTP server. A serving
// error goes to errc.
func (d *Deps) serveAPI(ctx context.Context, cfg Config, log *slog.Logger, wg *sync.WaitGroup, errc chan<- error) (addr string, shutdown func(), err error) {
	api, err := d.NewAPI(cfg)
	if err != nil {
		return "", nil, err
	}
	proj, err := projection.NewProjector(ctx, d.Store)
	if err != nil {
		return "", nil, fmt.Errorf("audit projector: %w", err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := proj.Run(ctx, eventstore.SubscribeOptions{}); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("audit projector stopped", "err", err)
		}
	}()
	u, _ := url.Parse(cfg.APIURL)
	ln, err := net.Listen("tcp", u.Host)
	if err != nil {
		return "", nil, fmt.Errorf("listen on %s: %w", u.Host, err)
	}
	addr = ln.Addr().String()
	srv := newHTTPServer(api.Handler())
	go func() { errc <- srv.Serve(ln) }()
	log.Info("API listening", "addr", addr)
	return addr, func() {
		sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
	}, nil
}

// hookGuard builds the Guard of HTTP hooks: the operator's allowlist, and
// the API server's endpoints as the worker's client and in-cluster Pods see
// them, which hooks never reach unless the allowlist names them.
func hookGuard(ctx context.Context, cfg Config, rc *rest.Config) (*hooks.Guard, error) {
	allow, eps, err := hooks.ParseAllow(cfg.HookAllow)
	if err != nil {
		return nil, fmt.Errorf("DAYOPS_HOOK_ALLOW: %w", err)
	}
	g := &hooks.Guard{Allow: allow, AllowEndpoints: eps}
	hosts := []string{rc.Host}
	if h, p := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT"); h != "" && p != "" {
		hosts = append(hosts, net.JoinHostPort(h, p))
	}
	for _, h := range hosts {
		api, err := hooks.APIServerEndpoints(ctx, h)
		if err != nil {
			return nil, fmt.Errorf("hooks: %w", err)
		}
		g.APIServer = append(g.APIServer, api...)
	}
	return g, nil
}

func (d *Deps) hookGuard() *hooks.Guard {
	if d.HookGuard == nil {
		return &hooks.Guard{}
	}
	return d.HookGuard
}

// Timeouts of the API's HTTP server: a client that trickles its headers or
// body (slowloris), never reads its response, or idles on a kept-alive
// connection holds a connection and a goroutine at most this long. The
// write timeout leaves room for the slowest handler (an audit verify over a
// long log).
const (
	httpReadHeaderTimeout = 10 * time.Second
	httpReadTimeout       = time.Minute
	httpWriteTimeout      = 5 * time.Minute
	httpIdleTimeout       = 2 * time.Minute
)

// newHTTPServer is the API's http.Server, with every timeout set.
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: httpReadHeaderTimeout, ReadTimeout: httpReadTimeout,
		WriteTimeout: httpWriteTimeout, IdleTimeout: httpIdleTimeout}
}
