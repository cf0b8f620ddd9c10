package selfheal

import (
	"fmt"

	"github.com/dayops/dayops/internal/activities/redisops"
	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/guard"
	"github.com/dayops/dayops/internal/workflows/flow"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// SwitchoverInput hands a shard's primary role to one of its replicas.
type SwitchoverInput struct {
	Meta  flow.Meta `json:"meta"`
	Shard int       `json:"shard"`
	// To is the ordinal of the replica to promote; -1 lets the plan pick an
	// in-sync replica that keeps the zone rule.
	To               int  `json:"to"`
	AllowSharedZones bool `json:"allowSharedZones,omitempty"`
	// Plan is the plan the API admitted; the workflow plans again on fresh
	// state and runs the admitted plan (see runAdmittedSwitchover).
	Plan guard.SwitchoverPlan `json:"plan"`
}

// changeSwitchoverPlan marks histories in which the switchover checks the
// admitted plan like every admitted operation (PlanDiverged, then stop or
// run the admitted plan); older ones replay the refusal on a new target.
const changeSwitchoverPlan = "switchover-admitted-plan"

// runAdmittedSwitchover compares the admitted switchover with the one
// planned on fresh state and returns the one to run: the admitted one, as
// shown, when they are equal or differ in wording only; a different primary
// or replica is recorded as PlanDiverged and stops the operation before the
// handover. An input without an admitted plan (ToPod empty) runs the fresh
// one.
func runAdmittedSwitchover(ctx workflow.Context, r *flow.Run, admittedPlan, fresh guard.SwitchoverPlan) (guard.SwitchoverPlan, error) {
	if admittedPlan.ToPod == "" {
		p := fresh.Plan()
		r.Plan = &p
		return fresh, nil
	}
	p := admittedPlan.Plan()
	r.Plan = &p
	fields, structural := admittedPlan.Diverged(fresh)
	if len(fields) == 0 {
		return admittedPlan, nil
	}
	if err := r.Diverged(ctx, "switching-over", fields, structural, admittedPlan.Summary, fresh.Summary); err != nil {
		return fresh, err
	}
	return admittedPlan, nil
}

// Switchover runs a graceful CLUSTER FAILOVER: the primary holds its
// clients' writes until the chosen in-sync replica has caught up, then the
// roles swap, so no acknowledged write is lost; labels and Services follow.
func Switchover(ctx workflow.Context, in SwitchoverInput) (flow.Result, error) {
	return flow.Operate(ctx, in.Meta, func(ctx workflow.Context, r *flow.Run) (string, error) { return switchover(ctx, r, in) })
}

func switchover(ctx workflow.Context, r *flow.Run, in SwitchoverInput) (string, error) {
	if err := r.Started(ctx); err != nil {
		return "", err
	}
	r.Progress.StepsTotal = r.Progress.StepsDone + 4
	r.Phase(ctx, "planning", "")
	obs, err := flow.Observe(ctx, r, nil)
	if err != nil {
		return "", err
	}
	plan, err := guard.PlanSwitchover(obs.State, in.Shard, in.To, in.AllowSharedZones)
	if err != nil {
		return "", temporal.NewNonRetryableApplicationError(err.Error(), flow.ErrTypePlanRejected, err)
	}
	if workflow.GetVersion(ctx, changeSwitchoverPlan, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		if in.Plan.ToOrdinal != plan.ToOrdinal && in.Plan.ToPod != "" {
			return plan.Summary, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
				"the cluster changed since planning: %s is no longer the replica to promote (now %s)", in.Plan.ToPod, plan.ToPod), flow.ErrTypePlanRejected, nil)
		}
	} else if plan, err = runAdmittedSwitchover(ctx, r, in.Plan, plan); err != nil {
		return plan.Summary, err
	}
	r.Phase(ctx, "switching-over", plan.Summary)
	label := fmt.Sprintf("shard-%d to %s", plan.Shard, plan.ToPod)
	if err := r.Exec(ctx, flow.LongOptions, "hand over "+label+" (CLUSTER FAILOVER)", flow.RedisActs.Handover,
		redisops.HandoverInput{Auth: flow.AuthOf(obs.State.Spec), ReplicaAddr: plan.ToAddr, Label: label}, nil); err != nil {
		return plan.Summary, err
	}
	r.Phase(ctx, "labelling", "")
	if _, err := observeGuard(ctx, r, nil, "relabel roles: the shard's Services follow"); err != nil {
		return plan.Summary, err
	}
	return plan.Summary, r.Record(ctx,
		&audit.SwitchedOver{OperationID: r.Meta.OperationID, Cluster: r.Meta.ClusterKey(), Shard: plan.Shard, FromOrdinal: plan.FromOrdinal, ToOrdinal: plan.ToOrdinal},
		&audit.RoleChanged{Cluster: r.Meta.ClusterKey(), Ordinal: plan.ToOrdinal, Role: audit.RolePrimary, PreviousRole: audit.RoleReplica},
		&audit.RoleChanged{Cluster: r.Meta.ClusterKey(), Ordinal: plan.FromOrdinal, Role: audit.RoleReplica, PreviousRole: audit.RolePrimary})
}
