package lifecycle

import (
	"fmt"
	"slices"

	"github.com/dayops/dayops/internal/activities/clusterstate"
	"github.com/dayops/dayops/internal/activities/kube"
	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/workflows/flow"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// DeleteCluster runs the pre-delete hooks, then deletes everything the
// cluster owns; PVCs only when the request says so. It reads Kubernetes only,
// so a cluster whose Redis nodes are down can still be deleted.
func DeleteCluster(ctx workflow.Context, in DeleteClusterInput) (flow.Result, error) {
	return flow.Operate(ctx, in.Meta, func(ctx workflow.Context, r *flow.Run) (string, error) { return deleteCluster(ctx, r, in) })
}

func deleteCluster(ctx workflow.Context, r *flow.Run, in DeleteClusterInput) (string, error) {
	if err := r.Started(ctx); err != nil {
		return "", err
	}
	var obs kube.ObserveResult
	if err := r.Exec(ctx, flow.QuickOptions, "read the cluster from Kubernetes", flow.KubeActs.Observe,
		kube.ObserveInput{Namespace: r.Meta.Namespace, Cluster: r.Meta.Cluster}, &obs); err != nil {
		return "", err
	}
	if obs.Spec == nil {
		return "", temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("cluster %s/%s does not exist", r.Meta.Namespace, r.Meta.Cluster), kube.ErrTypeNotFound, nil)
	}
	st := clusterstate.KubeState(obs)
	lim, admittedPlan := flow.Admitted(ctx, r, in.Plan, in.Limits)
	plan, err := planner.PlanDelete(planner.DeleteRequest{State: st, DeleteVolumes: in.DeleteVolumes, Hooks: in.Hooks}, lim)
	if err != nil {
		return "", temporal.NewNonRetryableApplicationError(err.Error(), flow.ErrTypePlanRejected, err)
	}
	if plan, err = r.CheckPlan(ctx, "pre-delete hooks", admittedPlan, plan); err != nil {
		return "", err
	}
	r.Hooks = append(slices.Clone(obs.Spec.Hooks), in.Hooks...)
	r.Progress.StepsTotal = r.Progress.StepsDone + 3 + len(plan.Hooks)
	r.Phase(ctx, "pre-delete-hooks", "")
	if err := r.RunHooks(ctx, spec.PreDelete, plan.Hooks, instanceTarget(flow.StatusByOrdinal(obs.Instances), primaryOrdinals(st))); err != nil {
		return plan.Summary, err
	}
	r.Phase(ctx, "deleting", "")
	if err := r.Exec(ctx, flow.LongOptions, plan.Summary, flow.KubeActs.DeleteClusterObjects,
		kube.DeleteClusterObjectsInput{Namespace: r.Meta.Namespace, Cluster: r.Meta.Cluster, DeleteVolumes: in.DeleteVolumes}, nil); err != nil {
		return plan.Summary, err
	}
	events := []audit.Payload{}
	for _, in := range plan.DeleteInstances {
		events = append(events, &audit.InstanceDeleted{Cluster: r.Meta.ClusterKey(), Ordinal: in.Ordinal})
	}
	events = append(events, &audit.ClusterDeleted{Cluster: r.Meta.ClusterKey()})
	return plan.Summary, r.Record(ctx, events...)
}
