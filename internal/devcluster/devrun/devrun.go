package devrun

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"
	sdkclient "go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TaskQueue is the task queue dayops' worker polls.
const TaskQueue = "dayops"

// Config of Serve.
type Config struct {
	// APIURL is where the HTTP API listens (env DAYOPS_API), e.g.
	// http://127.0.0.1:8080.
	APIURL string
	// TemporalAddress is the Temporal frontend (env TEMPORAL_ADDRESS).
	TemporalAddress string
	// Namespace is the Temporal namespace (default "default").
	Namespace string
	// TaskQueue is the worker's task queue (default TaskQueue).
	TaskQueue string
	// Logger is used for the HTTP server, and for the Temporal SDK through
	// its slog adapter.
	Logger *slog.Logger
	// Ready, when set, receives the API's bound address once the API and
	// the worker both run.
	Ready func(apiAddr string)
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if u, err := url.Parse(c.APIURL); err != nil || u.Host == "" {
		errs = append(errs, fmt.Errorf("API URL %q must be http://HOST:PORT", c.APIURL))
	}
	if c.TemporalAddress == "" {
		errs = append(errs, errors.New("temporal address is required"))
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("logger is required"))
	}
	return errors.Join(errs...)
}

// Serve runs the API and the worker until ctx is cancelled, then stops both
// (the HTTP server drains for up to 10 s; the worker finishes its running
// tasks) and returns nil. A start-up failure is returned at once.
func Serve(ctx context.Context, cfg Config) error {
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	if cfg.TaskQueue == "" {
		cfg.TaskQueue = TaskQueue
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid run config: %w", err)
	}
	log := cfg.Logger
	u, _ := url.Parse(cfg.APIURL)

	cl, err := sdkclient.DialContext(ctx, sdkclient.Options{
		HostPort:  cfg.TemporalAddress,
		Namespace: cfg.Namespace,
		Logger:    sdklog.NewStructuredLogger(log),
	})
	if err != nil {
		return fmt.Errorf("connect to Temporal at %s: %w", cfg.TemporalAddress, err)
	}
	defer cl.Close()

	w := worker.New(cl, cfg.TaskQueue, worker.Options{})
	Register(w)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	defer w.Stop()

	var workerUp atomic.Bool
	workerUp.Store(true)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(rw, "ok")
	})
	mux.HandleFunc("GET /readyz", func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "text/plain")
		hctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if _, err := cl.CheckHealth(hctx, &sdkclient.CheckHealthRequest{}); err != nil || !workerUp.Load() {
			rw.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(rw, "temporal: %v\n", err)
			return
		}
		fmt.Fprintln(rw, "ok")
	})
	ln, err := net.Listen("tcp", u.Host)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", u.Host, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("dayops API listening", "addr", ln.Addr().String())
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr().String())
	}

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		return fmt.Errorf("API server: %w", err)
	}
	log.Info("stopping API and worker")
	workerUp.Store(false)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("stop API server: %w", err)
	}
	return nil
}

// Register registers the worker's workflows and activities.
func Register(r worker.Registry) {
	r.RegisterWorkflow(PingWorkflow)
	r.RegisterActivity(PingActivity)
}

// PingInput is the input of PingWorkflow.
type PingInput struct {
	Message string
}

// PingResult is the result of PingWorkflow and PingActivity.
type PingResult struct {
	Reply string
	// TaskQueue is where the activity ran.
	TaskQueue string
}

// PingWorkflow is the stub workflow of `dayops-dev run`: it runs PingActivity
// once and returns its result, proving the worker, the task queue and the
// server work end to end.
func PingWorkflow(ctx workflow.Context, in PingInput) (PingResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3}})
	var out PingResult
	if err := workflow.ExecuteActivity(ctx, PingActivity, in).Get(ctx, &out); err != nil {
		return PingResult{}, fmt.Errorf("ping activity: %w", err)
	}
	return out, nil
}

// PingActivity answers "pong: MESSAGE".
func PingActivity(ctx context.Context, in PingInput) (PingResult, error) {
	return PingResult{Reply: "pong: " + in.Message, TaskQueue: activity.GetInfo(ctx).TaskQueue}, nil
}
