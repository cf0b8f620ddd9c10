package workflows

import (
	"fmt"
	"slices"

	"github.com/dayops/dayops/internal/activities/clusterstate"
	"github.com/dayops/dayops/internal/activities/kube"
	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/spec"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// DeleteCluster runs the pre-delete hooks, then deletes everything the
// cluster owns; PVCs only when the request says so. It reads Kubernetes only,
// so a cluster whose Redis nodes are down can still be deleted.
func DeleteCluster(ctx workflow.Context, in DeleteClusterInput) (Result, error) {
	ctx, r, err := open(ctx, in.Meta)
	if err != nil {
		return Result{}, err
	}
	summary, err := deleteCluster(ctx, r, in)
	return r.finish(ctx, err, summary)
}

func deleteCluster(ctx workflow.Context, r *run, in DeleteClusterInput) (string, error) {
	if err := r.started(ctx); err != nil {
		return "", err
	}
	var obs kube.ObserveResult
	if err := r.exec(ctx, quickOptions, "read the cluster from Kubernetes", kubeActs.Observe,
		kube.ObserveInput{Namespace: r.meta.Namespace, Cluster: r.meta.Cluster}, &obs); err != nil {
		return "", err
	}
	if obs.Spec == nil {
		return "", temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("cluster %s/%s does not exist", r.meta.Namespace, r.meta.Cluster), kube.ErrTypeNotFound, nil)
	}
	st := clusterstate.KubeState(obs)
	lim, admittedPlan := admitted(ctx, r, in.Plan, in.Limits)
	plan, err := planner.PlanDelete(planner.DeleteRequest{State: st, DeleteVolumes: in.DeleteVolumes, Hooks: in.Hooks}, lim)
	if err != nil {
		return "", temporal.NewNonRetryableApplicationError(err.Error(), ErrTypePlanRejected, err)
	}
	if plan, err = r.checkPlan(ctx, "pre-delete hooks", admittedPlan, plan); err != nil {
		return "", err
	}
	r.hooks = append(slices.Clone(obs.Spec.Hooks), in.Hooks...)
	r.progress.StepsTotal = r.progress.StepsDone + 3 + len(plan.Hooks)
	r.phase(ctx, "pre-delete-hooks", "")
	if err := r.runHooks(ctx, spec.PreDelete, plan.Hooks, instanceTarget(statusByOrdinal(obs.Instances), primaryOrdinals(st))); err != nil {
		return plan.Summary, err
	}
	r.phase(ctx, "deleting", "")
	if err := r.exec(ctx, longOptions, plan.Summary, kubeActs.DeleteClusterObjects,
		kube.DeleteClusterObjectsInput{Namespace: r.meta.Namespace, Cluster: r.meta.Cluster, DeleteVolumes: in.DeleteVolumes}, nil); err != nil {
		return plan.Summary, err
	}
	events := []audit.Payload{}
	for _, in := range plan.DeleteInstances {
		events = append(events, &audit.InstanceDeleted{Cluster: r.meta.ClusterKey(), Ordinal: in.Ordinal})
	}
	events = append(events, &audit.ClusterDeleted{Cluster: r.meta.ClusterKey()})
	return plan.Summary, r.record(ctx, events...)
}
