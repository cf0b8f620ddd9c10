package lifecycle

import (
	"fmt"
	"slices"

	"github.com/dayops/dayops/internal/activities/kube"
	"github.com/dayops/dayops/internal/activities/redisops"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
	"github.com/dayops/dayops/internal/workflows/flow"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// ScaleReplicas adds replicas (each in sync before the operation succeeds) or
// removes them (out-of-sync first, never a primary, never a shard's last
// in-sync replica: the planner refuses that).
func ScaleReplicas(ctx workflow.Context, in ScaleReplicasInput) (flow.Result, error) {
	return flow.Operate(ctx, in.Meta, func(ctx workflow.Context, r *flow.Run) (string, error) { return scaleReplicas(ctx, r, in) })
}

func scaleReplicas(ctx workflow.Context, r *flow.Run, in ScaleReplicasInput) (string, error) {
	obs, err := flow.StartPlanning(ctx, r)
	if err != nil {
		return "", err
	}
	lim, admittedPlan := flow.Admitted(ctx, r, in.Plan, in.Limits)
	plan, err := planner.PlanScaleReplicas(planner.ScaleReplicasRequest{
		State: obs.State, ReplicasPerShard: in.ReplicasPerShard, Hooks: in.Hooks, AllowSharedZones: in.AllowSharedZones,
	}, lim)
	if err != nil {
		return "", temporal.NewNonRetryableApplicationError(err.Error(), flow.ErrTypePlanRejected, err)
	}
	if plan, err = r.CheckPlan(ctx, "adding or removing replicas", admittedPlan, plan); err != nil {
		return "", err
	}
	c := obs.State.Spec
	c.ReplicasPerShard = in.ReplicasPerShard
	r.Hooks = append(slices.Clone(c.Hooks), in.Hooks...)
	auth := flow.AuthOf(c)
	r.Progress.StepsTotal = r.Progress.StepsDone + 10 + len(plan.Hooks)
	instances := flow.StatusByOrdinal(obs.Kube)
	target := observedTarget(obs)

	if len(plan.CreateInstances) > 0 {
		r.Phase(ctx, "adding-replicas", "")
		if err := r.RunHooks(ctx, spec.PreReplicaAdd, plan.Hooks, flow.ClusterTarget); err != nil {
			return plan.Summary, err
		}
		if err := addInstances(ctx, r, c, auth, plan, obs); err != nil {
			return plan.Summary, err
		}
		if obs, err = flow.Observe(ctx, r, nil); err != nil {
			return plan.Summary, err
		}
		target = observedTarget(obs)
		if err := r.RunHooks(ctx, spec.PostReplicaAdd, plan.Hooks, target); err != nil {
			return plan.Summary, err
		}
	}
	if len(plan.DeleteInstances) > 0 {
		r.Phase(ctx, "removing-replicas", "")
		if err := r.RunHooks(ctx, spec.PreReplicaRemove, plan.Hooks, target); err != nil {
			return plan.Summary, err
		}
		// Roles may have changed since planning (a failover): never remove a
		// node that is a primary now.
		var addrs []string
		for _, in := range plan.DeleteInstances {
			addrs = append(addrs, instances[in.Ordinal].Addr())
		}
		var roles redisops.RolesResult
		if err := r.Exec(ctx, flow.QuickOptions, "check the replicas to remove are still replicas", flow.RedisActs.RedisRoles,
			redisops.RolesInput{Auth: auth, Addrs: addrs}, &roles); err != nil {
			return plan.Summary, err
		}
		for _, n := range roles.Nodes {
			if n.Role != topology.RoleReplica {
				return plan.Summary, temporal.NewNonRetryableApplicationError(
					fmt.Sprintf("%s became a %s since planning: not removing it", n.Addr, n.Role), flow.ErrTypePlanRejected, nil)
			}
		}
		if err := removeInstances(ctx, r, c, auth, obs.State, plan.DeleteInstances, true); err != nil {
			return plan.Summary, err
		}
		if err := r.RunHooks(ctx, spec.PostReplicaRemove, plan.Hooks, flow.ClusterTarget); err != nil {
			return plan.Summary, err
		}
	}
	if err := r.Exec(ctx, flow.QuickOptions, fmt.Sprintf("record %d replicas per shard in the cluster spec", c.ReplicasPerShard), flow.KubeActs.EnsureConfig,
		kube.EnsureConfigInput{Spec: c, NextOrdinal: plan.NextOrdinal}, nil); err != nil {
		return plan.Summary, err
	}
	return plan.Summary, nil
}
