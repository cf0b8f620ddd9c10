package upgrade

import (
	"cmp"
	"errors"
	"fmt"
	"time"

	"github.com/dayops/dayops/internal/activities/redisops"
	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/workflows/flow"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// The canary bake of an upgrade runs in a child workflow, UpgradeBake, so
// that a long bake does not grow the upgrade's history: a 24 h bake with
// the 5 s minimum interval is 17,280 gate evaluations of about 20 events
// each (a timer, the gate's activity and its audit record, their workflow
// tasks; about 30 before versionGateActivity), about seven times (then ten)
// Temporal's history limit (a workflow past it is terminated
// with no rollback and no audit record). The child continues as new every
// BakeEvaluationsPerRun evaluations and returns the verdict; the upgrade's
// own history holds one evaluation (the first, so the progress shows a
// gate result at once) and a few events per child, however long the bake.
//
// Decisions stay with the upgrade: approve, abort, pause and resume go to
// the upgrade as before (updates and signals through the API). An abort or
// a pause cancels the child (which stops between two steps and returns
// what it saw); the upgrade then acts at its checkpoint as it always did,
// and after a resume it starts a new child for the rest of the bake.

// versionBakeChild marks upgrades whose bake runs in UpgradeBake.
const versionBakeChild = "bake-child"

// BakeEvaluationsPerRun is how many gate evaluations one run of
// UpgradeBake makes before it continues as new: about 30 events each with
// the three-activity gate of recorded histories (one evaluation's run: 33
// events; about 20 with the one-activity gate, 24 recorded) keeps a run
// near 3,000 events, below the 10,240 at which Temporal suggests
// continuing as new and far below its 51,200 limit. A variable so that tests can make it small; the value
// travels in the child's input, so a run replays with the value it started
// with.
var BakeEvaluationsPerRun = 100

// UpgradeBakeInput starts (or continues) a bake.
type UpgradeBakeInput struct {
	Meta flow.Meta `json:"meta"`
	// End is when the bake is over.
	End time.Time `json:"end"`
	// Label names the bake in gate records ("canary bake").
	Label string `json:"label"`
	// Check is what each evaluation checks (bounds, baseline, user gates).
	Check gateCheck `json:"check"`
	// Hooks are the hook definitions the user gates name.
	Hooks []spec.Hook `json:"hooks,omitempty"`
	// Segment numbers the children of one upgrade (a resume starts a new
	// one), for step IDs.
	Segment int `json:"segment"`
	// PerRun is the number of evaluations before continuing as new.
	PerRun int `json:"perRun"`
	// Before is how many evaluations the upgrade made before this child
	// (for the labels).
	Before int `json:"before,omitempty"`
	// Evaluations and Summary carry the verdict so far across runs.
	Evaluations int    `json:"evaluations,omitempty"`
	Summary     string `json:"summary,omitempty"`
	// Runs counts the runs so far (continue-as-new), for the result.
	Runs int `json:"runs,omitempty"`
}

// UpgradeBakeResult is the bake's verdict.
type UpgradeBakeResult struct {
	// Evaluations made by this bake (all runs); Summary is the last passing
	// gate's.
	Evaluations int    `json:"evaluations"`
	Summary     string `json:"summary,omitempty"`
	// Failed: an evaluation failed, for Reason. The child recorded it.
	Failed bool   `json:"failed,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Interrupted: the upgrade cancelled the bake (abort, pause, or the
	// operation's cancellation) before End.
	Interrupted bool `json:"interrupted,omitempty"`
	// Runs is how many runs the bake took (1 + continue-as-new count).
	Runs int `json:"runs"`
}

// UpgradeBake evaluates the health gate every Check.Gate.Interval until
// End, continuing as new every PerRun evaluations. A failed evaluation ends
// it with Failed (its audit record written); a cancellation ends it with
// Interrupted. Each evaluation is recorded in the audit log as a gate step
// of the operation, as the upgrade records its own.
func UpgradeBake(ctx workflow.Context, in UpgradeBakeInput) (UpgradeBakeResult, error) {
	ctx, r, err := flow.Open(ctx, in.Meta)
	if err != nil {
		return UpgradeBakeResult{}, err
	}
	r.Hooks = in.Hooks
	res := UpgradeBakeResult{Evaluations: in.Evaluations, Summary: in.Summary, Runs: in.Runs + 1}
	cancelled := func(err error) bool {
		return temporal.IsCanceledError(err) || errors.Is(ctx.Err(), workflow.ErrCanceled)
	}
	r.Phase(ctx, StageBaking, fmt.Sprintf("health gate every %s until %s", in.Check.Gate.Interval.Duration, in.End.UTC().Format(time.RFC3339)))
	for n := 0; ; n++ {
		left := in.End.Sub(workflow.Now(ctx))
		if left <= 0 {
			return res, nil
		}
		if n == cmp.Or(in.PerRun, BakeEvaluationsPerRun) {
			next := in
			next.Evaluations, next.Summary, next.Runs = res.Evaluations, res.Summary, res.Runs
			return UpgradeBakeResult{}, workflow.NewContinueAsNewError(ctx, UpgradeBake, next)
		}
		if err := workflow.Sleep(ctx, min(left, in.Check.Gate.Interval.Duration)); err != nil {
			res.Interrupted = true
			return res, nil
		}
		res.Evaluations++
		label := fmt.Sprintf("%s, evaluation %d", in.Label, in.Before+res.Evaluations)
		summary, err := evaluateGate(ctx, r, in.Check, label)
		if err != nil && cancelled(err) {
			res.Interrupted = true
			return res, nil
		}
		failed, detail := err != nil, summary
		if failed {
			detail = gateReason(err)
		}
		if rerr := recordGate(ctx, r, in.Segment, res.Evaluations, label, detail, failed); rerr != nil {
			if cancelled(rerr) {
				res.Interrupted = true
				return res, nil
			}
			return res, rerr
		}
		if failed {
			res.Failed, res.Reason = true, detail
			return res, nil
		}
		res.Summary = summary
	}
}

// recordGate writes one bake evaluation's audit record: a gate step of the
// operation (the requester as actor), like the upgrade's own gate notes.
func recordGate(ctx workflow.Context, r *flow.Run, segment, n int, label, detail string, failed bool) error {
	m := r.Meta
	id := fmt.Sprintf("upgrade/bake-%d/gate/%d", segment, n)
	events := []audit.Payload{&audit.StepStarted{OperationID: m.OperationID, Cluster: m.ClusterKey(), StepID: id, Name: "gate", Target: label}}
	if failed {
		events = append(events, &audit.StepFailed{OperationID: m.OperationID, Cluster: m.ClusterKey(), StepID: id, Error: detail, ErrorType: redisops.ErrTypeGateFailed})
	} else {
		events = append(events, &audit.StepCompleted{OperationID: m.OperationID, Cluster: m.ClusterKey(), StepID: id, Detail: detail})
	}
	return r.Record(ctx, events...)
}

// bake evaluates the gate once here, then hands the rest of the bake to
// UpgradeBake children: one, or one more after each pause. While a child
// runs, the upgrade writes its decision records, and cancels the child on
// an abort or a pause; the checkpoint then stops the forward pass or holds
// it as before.
func (u *upgrader) bake(ctx workflow.Context, end time.Time) error {
	const label = "canary bake"
	if err := u.gate(ctx, label); err != nil {
		return err
	}
	for segment := 1; ; segment++ {
		if err := u.checkpoint(ctx); err != nil {
			return err
		}
		if !workflow.Now(ctx).Before(end) {
			return nil
		}
		res, err := u.bakeChild(ctx, segment, end, label)
		if err != nil {
			return err
		}
		u.prog.GateEvaluations += res.Evaluations
		if res.Summary != "" {
			u.prog.Gate = res.Summary
		}
		if res.Failed {
			u.prog.Gate = "failed: " + res.Reason
			u.r.Progress.Publish(ctx)
			return &stopError{reason: "health gate failed (" + label + "): " + res.Reason}
		}
		if !res.Interrupted {
			return u.checkpoint(ctx)
		}
		// Interrupted for an abort or a pause: the checkpoint at the top
		// stops or holds.
	}
}

// bakeChild runs one UpgradeBake child until it returns.
func (u *upgrader) bakeChild(ctx workflow.Context, segment int, end time.Time, label string) (UpgradeBakeResult, error) {
	r := u.r
	// Named after the cluster (the upgrade's own ID, see WorkflowID), from
	// the input rather than from workflow.GetInfo, so that a replay under
	// another ID (the replay tests) issues the same command.
	id := fmt.Sprintf("%s/bake-%d", flow.WorkflowID(r.Meta.Namespace, r.Meta.Cluster), segment)
	in := UpgradeBakeInput{Meta: r.Meta, End: end, Label: label, Check: u.gateCheck(), Hooks: r.Hooks, Segment: segment,
		PerRun: BakeEvaluationsPerRun, Before: u.prog.GateEvaluations}
	cctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	cctx = workflow.WithChildOptions(cctx, workflow.ChildWorkflowOptions{
		WorkflowID: id,
		// The child stops between two steps before the upgrade goes on
		// (no gate evaluation runs beside a rollback).
		WaitForCancellation: true,
		// A bound on the whole bake: its time plus room for slow
		// evaluations; past it the upgrade fails the step and rolls back.
		WorkflowExecutionTimeout: end.Sub(workflow.Now(ctx)) + 6*time.Hour,
		StaticSummary:            fmt.Sprintf("%s of %s: health gate every %s until %s", label, r.Meta.ClusterKey(), in.Check.Gate.Interval.Duration, end.UTC().Format(time.RFC3339)),
	})
	var res UpgradeBakeResult
	var err error
	done := false
	f := workflow.ExecuteChildWorkflow(cctx, UpgradeBake, in)
	workflow.Go(ctx, func(ctx workflow.Context) {
		err = f.Get(ctx, &res)
		done = true
	})
	r.Phase(ctx, StageBaking, fmt.Sprintf("health gate every %s until %s (workflow %s)", in.Check.Gate.Interval.Duration, end.UTC().Format(time.RFC3339), id))
	stopping := false
	for !done {
		if werr := workflow.Await(ctx, func() bool {
			return done || len(u.notes) > 0 || (!stopping && (u.g.aborting() || u.g.paused))
		}); werr != nil {
			return res, werr
		}
		if len(u.notes) > 0 {
			if ferr := u.flush(ctx); ferr != nil {
				return res, ferr
			}
		}
		if !done && !stopping && (u.g.aborting() || u.g.paused) {
			stopping = true
			cancel()
		}
	}
	if err != nil && stopping && temporal.IsCanceledError(err) {
		return UpgradeBakeResult{Interrupted: true}, nil
	}
	return res, err
}
