package flow

import (
	"fmt"
	"strings"

	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/topology"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// ErrTypePlanDiverged is the failure of an operation whose admitted plan no
// longer fits the cluster in structure (see Run.CheckPlan).
const ErrTypePlanDiverged = "PlanDiverged"

// changeAdmittedPlan marks histories in which the workflow plans with the
// admitted limits and runs the admitted plan; histories recorded before it
// replay the old path (planner.DefaultLimits, no comparison).
const changeAdmittedPlan = "admitted-plan"

// Admitted returns the limits to plan with and the plan the API admitted
// (nil when the input carries none, or the history predates them).
func Admitted(ctx workflow.Context, r *Run, plan *planner.Plan, lim *planner.Limits) (planner.Limits, *planner.Plan) {
	if workflow.GetVersion(ctx, changeAdmittedPlan, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return planner.DefaultLimits, nil
	}
	out := planner.DefaultLimits
	if lim != nil {
		out = *lim
	}
	return out, plan
}

// CheckPlan compares the admitted plan with the plan made from fresh state
// before step, and returns the plan to run. The workflow never silently
// plans anew:
//   - equal: the admitted plan runs;
//   - different in detail only (the slot moves of a scale-in follow free
//     memory, which live writes change; the wording): a PlanDiverged event
//     records both summaries and the admitted plan runs, as shown;
//   - different in structure (instances, shards, ordinals, placement,
//     hooks): a PlanDiverged event, then the operation stops with
//     ErrTypePlanDiverged before it changes anything; the user asks again
//     and sees the new plan.
//
// Without an admitted plan (older inputs) the fresh plan runs.
func (r *Run) CheckPlan(ctx workflow.Context, step string, admittedPlan *planner.Plan, fresh planner.Plan) (planner.Plan, error) {
	if admittedPlan == nil {
		r.Plan = &fresh
		return fresh, nil
	}
	r.Plan = admittedPlan
	d := planner.Diff(*admittedPlan, fresh)
	if len(d.Fields) == 0 {
		return *admittedPlan, nil
	}
	if err := r.Diverged(ctx, step, d.Fields, d.Structural, admittedPlan.Summary, fresh.Summary); err != nil {
		return planner.Plan{}, err
	}
	return *admittedPlan, nil
}

// Diverged records a PlanDiverged event for an admitted plan that differs
// from the fresh one in fields; a structural difference then stops the
// operation with ErrTypePlanDiverged before it changes anything, a detail
// lets the admitted plan run (nil).
func (r *Run) Diverged(ctx workflow.Context, step string, fields []string, structural bool, admittedSummary, freshSummary string) error {
	ev := &audit.PlanDiverged{OperationID: r.Meta.OperationID, Cluster: r.Meta.ClusterKey(), Step: step, Fields: fields,
		Structural: structural, Admitted: admittedSummary, Fresh: freshSummary, Action: "continue"}
	if structural {
		ev.Action = "stop"
	}
	if err := r.Record(ctx, ev); err != nil {
		return err
	}
	if structural {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("the admitted plan no longer fits the cluster before %s (differs in structure: %v): request the operation again",
				step, fields), ErrTypePlanDiverged, nil)
	}
	return nil
}

// CheckMoves re-checks the admitted slot moves against the ownership
// observed just before the migration (after new shards joined): a move
// whose slots neither its source nor its target owns any more is recorded
// as PlanDiverged and stops the operation before any slot moves. Only for
// histories and inputs that carry an admitted plan.
func (r *Run) CheckMoves(ctx workflow.Context, admittedPlan *planner.Plan, owned map[int]topology.Ranges) error {
	if admittedPlan == nil {
		return nil
	}
	problems := planner.MovesFit(admittedPlan.Moves, owned)
	if len(problems) == 0 {
		return nil
	}
	if err := r.Record(ctx, &audit.PlanDiverged{OperationID: r.Meta.OperationID, Cluster: r.Meta.ClusterKey(), Step: "migrating",
		Fields: []string{"moves"}, Structural: true, Admitted: admittedPlan.Summary, Fresh: strings.Join(problems, "; "), Action: "stop"}); err != nil {
		return err
	}
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("the admitted slot moves no longer fit the cluster before migrating: %s", strings.Join(problems, "; ")), ErrTypePlanDiverged, nil)
}
