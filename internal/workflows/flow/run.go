package flow

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dayops/dayops/internal/activities/auditlog"
	"github.com/dayops/dayops/internal/activities/clusterstate"
	"github.com/dayops/dayops/internal/activities/hooks"
	"github.com/dayops/dayops/internal/activities/kube"
	"github.com/dayops/dayops/internal/activities/redisops"
	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/spec"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Activity references: method values on nil pointers name the activities
// (every operation package uses these; backups and selfheal add their own).
var (
	KubeActs  *kube.Activities
	RedisActs *redisops.Activities
	HookActs  *hooks.Activities
	AuditActs *auditlog.Activities
	StateActs *clusterstate.Activities
)

// HeartbeatTimeout is how long Temporal waits for a step's next heartbeat
// before it runs the step again elsewhere: the time a SIGKILLed worker (or
// one on a lost node) holds its steps. The worker heartbeats every running
// step every 2 s while the step itself heartbeated (or started) within
// the last 20 s (internal/server keepalive), so a step that hangs in a live
// worker still times out, 25 s after it last spoke. Both presets, the
// upgrade's gate and instance waits and the guardian's steps use it; hooks
// do not (a hook runs as long as its own timeout, without heartbeats), nor
// the upgrade's run_id probe (30 s StartToClose, three attempts).
const HeartbeatTimeout = 5 * time.Second

// Activity option presets.
var (
	// quick steps: API calls and short Redis commands. With the heartbeat
	// timeout a dead worker's quick step runs again after it, not after the
	// StartToCloseTimeout (the worker's keepalive heartbeats for the step).
	QuickOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		HeartbeatTimeout:    HeartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second, MaximumAttempts: 20,
		},
	}
	// waits and long Redis work: a dead worker is noticed within
	// HeartbeatTimeout and the step resumes on another worker.
	// WaitForCancellation: a cancelled operation waits until the activity has
	// stopped (e.g. a migration between two batches) before it closes any
	// slot left open, so the two never run at once.
	// ScheduleToCloseTimeout bounds a step with all its retries: 50 attempts
	// of up to 6 h each would be a step that runs for 12 days.
	LongOptions = workflow.ActivityOptions{
		StartToCloseTimeout:    6 * time.Hour,
		ScheduleToCloseTimeout: 24 * time.Hour,
		HeartbeatTimeout:       HeartbeatTimeout,
		WaitForCancellation:    true,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second, MaximumAttempts: 50,
		},
	}
)

// Run is the state every operation workflow shares: its meta, progress and
// the query that exposes it. Its methods take the workflow.Context of the
// coroutine that calls them (ctx first): coroutines share one run, and so
// one progress, without swapping a stored context.
type Run struct {
	Meta Meta
	// progress is the operation's one progress tracker.
	Progress *Tracker
	Hooks    []spec.Hook
	// plan is the plan the operation runs, returned in its Result.
	Plan *planner.Plan
}

// Open starts an operation's run: it returns the context the workflow passes
// on (with the operation's meta, see package operation) and the run.
func Open(ctx workflow.Context, m Meta) (workflow.Context, *Run, error) {
	ctx = operation.WithMeta(ctx, m)
	r := &Run{Meta: m, Progress: newTracker(ctx, m)}
	if err := workflow.SetQueryHandler(ctx, QueryProgress, func() (Progress, error) { return r.Progress.snapshot(), nil }); err != nil {
		return nil, nil, err
	}
	if err := workflow.SetQueryHandler(ctx, QueryPlan, func() (*planner.Plan, error) { return r.Plan, nil }); err != nil {
		return nil, nil, err
	}
	r.Progress.Publish(ctx)
	return ctx, r, nil
}

// Operate runs an operation workflow: it opens the run, runs body (which
// returns the operation's summary) and finishes the run with body's error.
func Operate(ctx workflow.Context, m Meta, body func(workflow.Context, *Run) (string, error)) (Result, error) {
	ctx, r, err := Open(ctx, m)
	if err != nil {
		return Result{}, err
	}
	summary, err := body(ctx, r)
	return r.Finish(ctx, err, summary)
}

// Phase sets the operation's phase and the step shown under way.
func (r *Run) Phase(ctx workflow.Context, phase, step string) { r.Progress.phase(ctx, phase, step) }

// Exec runs one activity as a step, with a summary for the Temporal UI.
func (r *Run) Exec(ctx workflow.Context, opts workflow.ActivityOptions, summary string, fn, in, out any) error {
	opts.Summary = summary
	r.Progress.stepStarted(ctx, summary)
	actx := workflow.WithActivityOptions(ctx, opts)
	err := workflow.ExecuteActivity(actx, fn, in).Get(actx, out)
	if err == nil {
		r.Progress.stepDone(ctx)
	}
	return err
}

// Record appends domain events (exactly once, see package auditlog).
func (r *Run) Record(ctx workflow.Context, events ...audit.Payload) error {
	if len(events) == 0 {
		return nil
	}
	in := auditlog.RecordInput{}
	names := make([]string, 0, len(events))
	for _, e := range events {
		in.Events = append(in.Events, auditlog.NewEvent(e))
		names = append(names, e.EventType())
	}
	return r.Exec(ctx, QuickOptions, "record "+strings.Join(Dedupe(names), ", "), AuditActs.RecordEvents, in, nil)
}

// RunHooks runs the plan's hook runs at point, in order. A failing hook with
// the fail policy stops the operation (for a pre-hook, before the step
// changes anything); with the ignore policy its failure is recorded and the
// operation goes on. Every run's outcome is a HookRan event.
func (r *Run) RunHooks(ctx workflow.Context, point spec.HookPoint, runs []planner.HookRun, target func(planner.HookRun) hooks.StepContext) error {
	for _, hr := range runs {
		if hr.Point != point {
			continue
		}
		h, ok := r.hook(hr.Point, hr.Hook)
		if !ok {
			continue
		}
		sc := target(hr)
		sc.OperationID, sc.OperationType, sc.Namespace, sc.Cluster = r.Meta.OperationID, string(r.Meta.Type), r.Meta.Namespace, r.Meta.Cluster
		sc.Point, sc.Hook, sc.Scope, sc.Actor, sc.Reason = hr.Point, hr.Hook, hr.Scope, r.Meta.Actor, r.Meta.Reason
		opts := workflow.ActivityOptions{StartToCloseTimeout: h.Timeout.Duration, RetryPolicy: hooks.RetryPolicy(h)}
		started := workflow.Now(ctx)
		label := hookTarget(hr)
		var res hooks.RunResult
		err := r.Exec(ctx, opts, fmt.Sprintf("hook %s at %s for %s", h.Name, point, label), HookActs.RunHook, hooks.RunInput{Hook: h, Context: sc}, &res)
		ev := &audit.HookRan{OperationID: r.Meta.OperationID, Cluster: r.Meta.ClusterKey(), Hook: h.Name, Point: string(point),
			Target: label, Outcome: "succeeded", DurationMS: workflow.Now(ctx).Sub(started).Milliseconds(),
			Status: res.Status, BodyBytes: res.BodyBytes, BodySHA256: res.BodySHA256}
		if err != nil {
			ev.Outcome, ev.Error = "failed", err.Error()
		}
		if rerr := r.Record(ctx, ev); rerr != nil {
			return rerr
		}
		if err != nil && h.FailurePolicy == spec.FailOperation {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("hook %s at %s for %s failed: %v", h.Name, point, label, err), "HookFailed", err)
		}
	}
	return nil
}

func (r *Run) hook(p spec.HookPoint, name string) (spec.Hook, bool) {
	for _, h := range r.Hooks {
		if h.Point == p && h.Name == name {
			return h, true
		}
	}
	return spec.Hook{}, false
}

func hookTarget(hr planner.HookRun) string {
	switch {
	case hr.Ordinal >= 0:
		return fmt.Sprintf("shard-%d ordinal %d", hr.Shard, hr.Ordinal)
	case hr.Shard >= 0:
		return fmt.Sprintf("shard-%d", hr.Shard)
	default:
		return "cluster"
	}
}

// Finish records how the operation ended, on a disconnected context so the
// record is written after a cancellation too, and returns the Result.
func (r *Run) Finish(ctx workflow.Context, err error, summary string) (Result, error) {
	outcome, msg := OutcomeSucceeded, summary
	var ev audit.Payload = &audit.OperationCompleted{OperationID: r.Meta.OperationID, Cluster: r.Meta.ClusterKey(), Summary: summary}
	switch {
	case err == nil:
	case temporal.IsCanceledError(err) || errors.Is(ctx.Err(), workflow.ErrCanceled):
		outcome, msg = OutcomeCancelled, "cancelled: "+err.Error()
		ev = &audit.OperationCancelled{OperationID: r.Meta.OperationID, Cluster: r.Meta.ClusterKey(), Reason: err.Error()}
	default:
		outcome, msg = OutcomeFailed, err.Error()
		ev = &audit.OperationFailed{OperationID: r.Meta.OperationID, Cluster: r.Meta.ClusterKey(), Error: err.Error()}
	}
	dctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	recErr := r.Record(dctx, ev)
	r.Progress.End(dctx, outcome, msg)
	res := r.Result(dctx, outcome, msg)
	if err != nil {
		return res, err
	}
	return res, recErr
}

// Result is the operation's Result as it ends with outcome.
func (r *Run) Result(ctx workflow.Context, outcome Outcome, msg string) Result {
	return Result{OperationID: r.Meta.OperationID, Outcome: outcome, Message: msg,
		Duration: workflow.Now(ctx).Sub(r.Progress.StartedAt), Progress: r.Progress.snapshot(), Plan: r.Plan}
}

// Started records what was requested (type; actor and reason ride in the
// metadata) and that the workflow began, in one step.
func (r *Run) Started(ctx workflow.Context) error {
	info := workflow.GetInfo(ctx)
	return r.Record(ctx,
		&audit.OperationRequested{OperationID: r.Meta.OperationID, Cluster: r.Meta.ClusterKey(), Kind: string(r.Meta.Type),
			Params: r.Meta.Params},
		&audit.OperationStarted{OperationID: r.Meta.OperationID, Cluster: r.Meta.ClusterKey(),
			WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID})
}

// Dedupe drops the repeats of consecutive equal strings (event names in a
// step's summary).
func Dedupe(xs []string) []string {
	var out []string
	for _, x := range xs {
		if len(out) == 0 || out[len(out)-1] != x {
			out = append(out, x)
		}
	}
	return out
}
