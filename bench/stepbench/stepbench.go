// Package stepbench measures what one operation step costs in dayops'
// machinery: a Temporal activity scheduled by a workflow, with and without the
// audit interceptor that writes StepStarted/StepCompleted to PostgreSQL. The
// step itself does nothing, so the figures are pure overhead.
package stepbench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/dayops/dayops/bench/benchtemporal"
	"github.com/dayops/dayops/internal/activities/auditlog"
	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/devcluster"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/testutil/pgtest"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Config of a run.
type Config struct {
	TemporalAddress string
	DatabaseURL     string // a server URL; the bench creates and drops its own database
	Steps           int
	// Modes, when not empty, are the Temporal modes to measure one after the
	// other (devcluster.TemporalDev, devcluster.TemporalServer), each on a
	// Temporal that the bench starts alone for the run with the binaries of
	// Root/bin (see benchtemporal); TemporalAddress is then not used.
	Modes []string
	Root  string
	Out   io.Writer
}

// NoopStep is the step: it does nothing.
func NoopStep(ctx context.Context, i int) (int, error) { return i, nil }

// StepsWorkflow runs n steps one after the other and returns each step's
// latency as the workflow saw it (schedule to completion), in microseconds.
func StepsWorkflow(ctx workflow.Context, m operation.Meta, n int) ([]int64, error) {
	ctx = operation.WithMeta(ctx, m)
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3}})
	out := make([]int64, 0, n)
	for i := range n {
		start := workflow.Now(ctx)
		if err := workflow.ExecuteActivity(ctx, NoopStep, i).Get(ctx, nil); err != nil {
			return nil, err
		}
		out = append(out, workflow.Now(ctx).Sub(start).Microseconds())
	}
	return out, nil
}

// Run prints the per-step figures with and without audit, against
// TemporalAddress or against a Temporal of each of Modes, then a summary.
func Run(ctx context.Context, cfg Config) error {
	log := slog.New(slog.DiscardHandler)
	db, err := pgtest.Create(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Drop(context.WithoutCancel(ctx))
	pool, err := pgxpool.New(ctx, db.URL)
	if err != nil {
		return err
	}
	defer pool.Close()
	store, err := eventstore.Open(ctx, pool, eventstore.Options{Upcasters: audit.Upcasters(), Logger: log})
	if err != nil {
		return err
	}
	opts := client.Options{Logger: sdklog.NewStructuredLogger(log),
		ContextPropagators: []workflow.ContextPropagator{operation.MetaPropagator{}}}
	if len(cfg.Modes) == 0 {
		opts.HostPort = cfg.TemporalAddress
		c, err := client.DialContext(ctx, opts)
		if err != nil {
			return fmt.Errorf("connect to Temporal at %s: %w", cfg.TemporalAddress, err)
		}
		defer c.Close()
		_, err = measure(ctx, cfg, c, store, "Temporal "+cfg.TemporalAddress, log)
		return err
	}
	var rows []summary
	for _, mode := range cfg.Modes {
		r, err := measureMode(ctx, cfg, mode, opts, store, log)
		if err != nil {
			return fmt.Errorf("%s mode: %w", mode, err)
		}
		rows = append(rows, r)
	}
	fmt.Fprintf(cfg.Out, "\nsummary, mean per step (goal for workflow + audit: <= 50ms per step on the dev server):\n")
	fmt.Fprintf(cfg.Out, "%-52s %20s %28s %11s\n", "temporal", "workflow + activity", "workflow + activity + audit", "audit adds")
	for _, r := range rows {
		fmt.Fprintf(cfg.Out, "%-52s %20s %28s %11s\n", r.label, r.base.Round(time.Microsecond), r.audited.Round(time.Microsecond),
			(r.audited - r.base).Round(time.Microsecond))
	}
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Fprintf(cfg.Out, "load average at the end: %s", la)
	}
	return nil
}

// measureMode starts a Temporal of mode, measures against it and stops it.
func measureMode(ctx context.Context, cfg Config, mode string, opts client.Options, store *eventstore.Store, log *slog.Logger) (summary, error) {
	srv, err := benchtemporal.Start(ctx, cfg.Root, mode, cfg.DatabaseURL, log)
	if err != nil {
		return summary{}, err
	}
	defer srv.Stop(context.WithoutCancel(ctx))
	c, err := srv.Dial(ctx, opts)
	if err != nil {
		return summary{}, err
	}
	defer c.Close()
	label := "dev server (temporal server start-dev, SQLite)"
	if mode == devcluster.TemporalServer {
		label = "Temporal server (PostgreSQL, mTLS, internode mTLS)"
	}
	return measure(ctx, cfg, c, store, label, log)
}

// summary is one Temporal's mean step time without and with audit.
type summary struct {
	label         string
	base, audited time.Duration
}

// measure prints the per-step figures with and without audit against c:
// each twice, alternating (without, with, without, with), so that neither
// has the server's first run to itself; the summary is the mean of each
// mode's two runs.
func measure(ctx context.Context, cfg Config, c client.Client, store *eventstore.Store, label string, log *slog.Logger) (summary, error) {
	sum := summary{label: label}
	fmt.Fprintf(cfg.Out, "per-step overhead, %d sequential no-op steps, %s, PostgreSQL (own database)\n", cfg.Steps, label)
	fmt.Fprintf(cfg.Out, "%-30s %10s %10s %10s %10s\n", "mode", "mean", "p50", "p99", "steps/s")
	var walls [2]time.Duration
	for round := range 4 {
		withAudit := round%2 == 1
		lat, wall, err := runOnce(ctx, c, store, cfg.Steps, withAudit, log)
		if err != nil {
			return sum, err
		}
		mode := "workflow + activity"
		if withAudit {
			mode = "workflow + activity + audit"
		}
		walls[round%2] += wall
		fmt.Fprintf(cfg.Out, "%-30s %10s %10s %10s %10.0f\n", mode, (wall / time.Duration(cfg.Steps)).Round(time.Microsecond),
			pct(lat, 0.5), pct(lat, 0.99), float64(cfg.Steps)/wall.Seconds())
	}
	sum.base, sum.audited = walls[0]/time.Duration(2*cfg.Steps), walls[1]/time.Duration(2*cfg.Steps)
	fmt.Fprintf(cfg.Out, "audit adds %s per step, mean of two runs each (goal for workflow + audit: <= 50ms per step)\n",
		(sum.audited - sum.base).Round(time.Microsecond))
	return sum, nil
}

func runOnce(ctx context.Context, c client.Client, store *eventstore.Store, n int, withAudit bool, log *slog.Logger) ([]time.Duration, time.Duration, error) {
	queue := "dayops-bench-" + suffix()
	opts := worker.Options{}
	if withAudit {
		opts.Interceptors = []interceptor.WorkerInterceptor{&auditlog.StepInterceptor{Recorder: &auditlog.Recorder{Store: store, Log: log}}}
	}
	w := worker.New(c, queue, opts)
	w.RegisterWorkflow(StepsWorkflow)
	w.RegisterActivity(NoopStep)
	if err := w.Start(); err != nil {
		return nil, 0, err
	}
	defer w.Stop()
	m := operation.Meta{OperationID: "bench-" + suffix(), Type: "bench", Namespace: "bench", Cluster: "steps", Actor: "bench"}
	start := time.Now()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "bench-steps-" + suffix(), TaskQueue: queue}, StepsWorkflow, m, n)
	if err != nil {
		return nil, 0, err
	}
	var us []int64
	if err := run.Get(ctx, &us); err != nil {
		return nil, 0, err
	}
	wall := time.Since(start)
	lat := make([]time.Duration, len(us))
	for i, u := range us {
		lat[i] = time.Duration(u) * time.Microsecond
	}
	slices.Sort(lat)
	return lat, wall, nil
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))].Round(time.Microsecond)
}

func suffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
