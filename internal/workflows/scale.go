package workflows

import (
	"fmt"
	"slices"

	"github.com/dayops/dayops/internal/activities/clusterstate"
	"github.com/dayops/dayops/internal/activities/kube"
	"github.com/dayops/dayops/internal/activities/redisops"
	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// ErrTypePlanRejected is the failure of an operation whose plan the observed
// state no longer allows (the API checked it, but the cluster changed since).
const ErrTypePlanRejected = "PlanRejected"

// ScaleShards adds or removes shards. Scale-out creates, meets and syncs the
// new shards (with their replicas) before any slot moves, then moves the
// minimal set of slots. Scale-in drains the departing shards in proportion to
// the others' free memory, verifies they own no slot and hold no key, resets
// and forgets their nodes everywhere, then deletes their Pods and PVCs.
// Cancelling closes every half-open slot before the operation ends.
func ScaleShards(ctx workflow.Context, in ScaleShardsInput) (Result, error) {
	ctx, r, err := open(ctx, in.Meta)
	if err != nil {
		return Result{}, err
	}
	summary, auth, seeds, err := scaleShards(ctx, r, in)
	if err != nil && len(seeds) > 0 && (temporal.IsCanceledError(err) || ctx.Err() != nil) {
		closeOpenSlots(ctx, r, auth, seeds)
	}
	return r.finish(ctx, err, summary)
}

func scaleShards(ctx workflow.Context, r *run, in ScaleShardsInput) (summary string, auth redisops.Auth, seeds []string, err error) {
	if err := r.started(ctx); err != nil {
		return "", auth, nil, err
	}
	obs, plan, admittedPlan, err := planShards(ctx, r, in)
	if err != nil {
		return "", auth, nil, err
	}
	c := obs.State.Spec
	c.Shards = in.Shards
	r.hooks = append(slices.Clone(c.Hooks), in.Hooks...)
	auth = authOf(c)
	seeds = addrsOfState(obs.State)
	r.progress.StepsTotal = r.progress.StepsDone + 12 + len(plan.Hooks)
	instances := statusByOrdinal(obs.Kube)
	target := instanceTarget(instances, primaryOrdinals(obs.State))

	if len(plan.NewShards) > 0 {
		r.phase(ctx, "adding-shards", "")
		if err := r.runHooks(ctx, spec.PreShardAdd, plan.Hooks, clusterTarget); err != nil {
			return plan.Summary, auth, seeds, err
		}
		if err := addInstances(ctx, r, c, auth, plan, obs); err != nil {
			return plan.Summary, auth, seeds, err
		}
		var events []audit.Payload
		for _, s := range plan.NewShards {
			events = append(events, &audit.ShardAdded{Cluster: r.meta.ClusterKey(), Shard: s})
		}
		if err := r.record(ctx, events...); err != nil {
			return plan.Summary, auth, seeds, err
		}
		if err := r.exec(ctx, quickOptions, "create the per-shard primary Services", kubeActs.EnsureServices,
			kube.EnsureServicesInput{Spec: c, Shards: append(obs.State.Shards(), plan.NewShards...)}, nil); err != nil {
			return plan.Summary, auth, seeds, err
		}
		// Observe again: the new primaries' node IDs and addresses.
		if obs, err = observe(ctx, r, nil); err != nil {
			return plan.Summary, auth, seeds, err
		}
		seeds = addrsOfState(obs.State)
		instances = statusByOrdinal(obs.Kube)
		target = instanceTarget(instances, primaryOrdinals(obs.State))
		if err := r.runHooks(ctx, spec.PostShardAdd, plan.Hooks, target); err != nil {
			return plan.Summary, auth, seeds, err
		}
	}
	if len(plan.RemoveShards) > 0 {
		r.phase(ctx, "draining", "")
		if err := r.runHooks(ctx, spec.PreShardRemove, plan.Hooks, target); err != nil {
			return plan.Summary, auth, seeds, err
		}
	}
	r.phase(ctx, "migrating", "")
	if err := r.checkMoves(ctx, admittedPlan, obs.State.Slots); err != nil {
		return plan.Summary, auth, seeds, err
	}
	if err := r.runHooks(ctx, spec.PreMigrate, plan.Hooks, target); err != nil {
		return plan.Summary, auth, seeds, err
	}
	if err := migrate(ctx, r, auth, plan.Moves, primaryInstances(obs.State), seeds); err != nil {
		return plan.Summary, auth, seeds, err
	}
	if err := r.runHooks(ctx, spec.PostMigrate, plan.Hooks, target); err != nil {
		return plan.Summary, auth, seeds, err
	}
	if len(plan.RemoveShards) > 0 {
		if err := removeShards(ctx, r, c, auth, obs.State, plan); err != nil {
			return plan.Summary, auth, seeds, err
		}
	}
	if err := r.exec(ctx, quickOptions, fmt.Sprintf("record %d shards in the cluster spec", c.Shards), kubeActs.EnsureConfig,
		kube.EnsureConfigInput{Spec: c, NextOrdinal: plan.NextOrdinal}, nil); err != nil {
		return plan.Summary, auth, seeds, err
	}
	return plan.Summary, auth, seeds, nil
}

// removeShards removes the drained shards' instances and Services, records
// it, and runs the post-shard-remove hooks.
func removeShards(ctx workflow.Context, r *run, c spec.Cluster, auth redisops.Auth, st planner.State, plan planner.Plan) error {
	r.phase(ctx, "removing-shards", "")
	if err := removeInstances(ctx, r, c, auth, st, plan.DeleteInstances, true); err != nil {
		return err
	}
	if err := r.exec(ctx, quickOptions, "delete the departed shards' Services", kubeActs.EnsureServices,
		kube.EnsureServicesInput{Spec: c, Shards: remaining(st.Shards(), plan.RemoveShards)}, nil); err != nil {
		return err
	}
	var events []audit.Payload
	for _, s := range plan.RemoveShards {
		events = append(events, &audit.ShardRemoved{Cluster: r.meta.ClusterKey(), Shard: s})
	}
	if err := r.record(ctx, events...); err != nil {
		return err
	}
	return r.runHooks(ctx, spec.PostShardRemove, plan.Hooks, clusterTarget)
}

// planShards observes the cluster (measuring the departing shards' keys
// for a scale-in), plans, and checks the plan against the admitted one. It
// returns the observation, the plan to run and the admitted plan (nil for
// older inputs and histories).
func planShards(ctx workflow.Context, r *run, in ScaleShardsInput) (clusterstate.ObserveResult, planner.Plan, *planner.Plan, error) {
	r.phase(ctx, "planning", "")
	obs, err := observe(ctx, r, nil)
	if err != nil {
		return obs, planner.Plan{}, nil, err
	}
	req := planner.ScaleShardsRequest{State: obs.State, Shards: in.Shards, Hooks: in.Hooks, AllowSharedZones: in.AllowSharedZones}
	if cur := len(obs.State.Shards()); in.Shards < cur {
		// Scale-in: measure every key of the departing shards first.
		departing := obs.State.Shards()[in.Shards:]
		if obs, err = observe(ctx, r, departing); err != nil {
			return obs, planner.Plan{}, nil, err
		}
		req.State = obs.State
	}
	lim, admittedPlan := admitted(ctx, r, in.Plan, in.Limits)
	plan, err := planner.PlanScaleShards(req, lim)
	if err != nil {
		return obs, plan, nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypePlanRejected, err)
	}
	plan, err = r.checkPlan(ctx, "adding or draining shards", admittedPlan, plan)
	return obs, plan, admittedPlan, err
}

// addInstances creates the plan's new instances, meets them with the cluster
// (waiting for cluster_state:ok, so they know the slot map), attaches their
// replicas and labels roles.
func addInstances(ctx workflow.Context, r *run, c spec.Cluster, auth redisops.Auth, plan planner.Plan, obs clusterstate.ObserveResult) error {
	ready, err := createInstances(ctx, r, c, plan, "record the new shape in the ConfigMap")
	if err != nil {
		return err
	}
	if err := r.record(ctx, instanceCreatedEvents(r, c, plan.CreateInstances, ready)...); err != nil {
		return err
	}
	all := statusByOrdinal(obs.Kube)
	// Copying one map into another: the order of iteration cannot matter.
	//workflowcheck:ignore
	for o, s := range ready {
		all[o] = s
	}
	if err := r.exec(ctx, longOptions, fmt.Sprintf("CLUSTER MEET %d new nodes", len(ready)), redisActs.Meet,
		redisops.MeetInput{Auth: auth, Addrs: addrsOf(all), RequireStateOK: true}, nil); err != nil {
		return err
	}
	primary := map[int]string{}
	for _, in := range obs.State.Instances {
		if in.Role == topology.RolePrimary {
			primary[in.Shard] = in.Addr
		}
	}
	// Copying one map into another: the order of iteration cannot matter.
	//workflowcheck:ignore
	for s, a := range primariesOf(plan.CreateInstances, ready) {
		primary[s] = a
	}
	if err := attachReplicas(ctx, r, auth, plan.CreateInstances, ready, primary); err != nil {
		return err
	}
	return labelRoles(ctx, r, c, auth, all)
}

// removeInstances takes instances out of the cluster: primaries must be
// drained; every one is reset (so it stops gossiping), forgotten by the nodes
// that stay, then its Pod (and PVC when deleteVolumes) is deleted.
func removeInstances(ctx workflow.Context, r *run, c spec.Cluster, auth redisops.Auth, st planner.State, gone []topology.Instance, deleteVolumes bool) error {
	goneOrd := map[int]bool{}
	for _, in := range gone {
		goneOrd[in.Ordinal] = true
	}
	var goneAddrs, goneIDs, primaries, stay []string
	var ords []int
	for _, in := range st.Instances {
		if !goneOrd[in.Ordinal] {
			stay = append(stay, in.Addr)
			continue
		}
		goneAddrs, goneIDs, ords = append(goneAddrs, in.Addr), append(goneIDs, in.NodeID), append(ords, in.Ordinal)
		if in.Role == topology.RolePrimary {
			primaries = append(primaries, in.Addr)
		}
	}
	if len(primaries) > 0 {
		if err := r.exec(ctx, quickOptions, fmt.Sprintf("verify %d departing primaries own 0 slots and hold 0 keys", len(primaries)),
			redisActs.VerifyDrained, redisops.VerifyDrainedInput{Auth: auth, Addrs: primaries}, nil); err != nil {
			return err
		}
	}
	if err := r.exec(ctx, quickOptions, fmt.Sprintf("reset %d departing nodes", len(goneAddrs)), redisActs.ResetNodes,
		redisops.ResetInput{Auth: auth, Addrs: goneAddrs}, nil); err != nil {
		return err
	}
	if err := r.exec(ctx, quickOptions, fmt.Sprintf("forget %d nodes on the %d that stay", len(goneIDs), len(stay)), redisActs.ForgetNodes,
		redisops.ForgetInput{Auth: auth, NodeIDs: goneIDs, Addrs: stay}, nil); err != nil {
		return err
	}
	if err := r.exec(ctx, longOptions, fmt.Sprintf("delete %d instances", len(ords)), kubeActs.DeleteInstances,
		kube.DeleteInstancesInput{Namespace: c.Namespace, Cluster: c.Name, Ordinals: ords, DeleteVolumes: deleteVolumes}, nil); err != nil {
		return err
	}
	var events []audit.Payload
	for _, in := range gone {
		if in.Role == topology.RoleReplica {
			events = append(events, &audit.ReplicaRemoved{Cluster: r.meta.ClusterKey(), Shard: in.Shard, Ordinal: in.Ordinal})
		}
		events = append(events, &audit.InstanceDeleted{Cluster: r.meta.ClusterKey(), Ordinal: in.Ordinal})
	}
	return r.record(ctx, events...)
}

// closeOpenSlots finishes or rolls back any slot a cancelled migration left
// open, on a context the cancellation does not reach.
func closeOpenSlots(ctx workflow.Context, r *run, auth redisops.Auth, seeds []string) {
	dctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	var res any
	if err := r.exec(dctx, longOptions, "close slots left open by the cancelled migration", redisActs.CloseOpenSlots,
		redisops.CloseOpenSlotsInput{Auth: auth, Seeds: seeds}, &res); err != nil {
		workflow.GetLogger(dctx).Error("closing open slots after cancel failed", "err", err)
	}
}

// observe runs ObserveCluster for the operation's cluster.
func observe(ctx workflow.Context, r *run, scanShards []int) (clusterstate.ObserveResult, error) {
	var out clusterstate.ObserveResult
	err := r.exec(ctx, quickOptions, "observe the cluster in Kubernetes and Redis", stateActs.ObserveCluster,
		clusterstate.ObserveInput{Namespace: r.meta.Namespace, Cluster: r.meta.Cluster, ScanBigKeysOfShards: scanShards}, &out)
	return out, err
}

func addrsOfState(st planner.State) []string {
	var out []string
	for _, in := range st.Instances {
		if in.Addr != "" {
			out = append(out, in.Addr)
		}
	}
	return out
}

func statusByOrdinal(ss []kube.InstanceStatus) map[int]kube.InstanceStatus {
	out := map[int]kube.InstanceStatus{}
	for _, s := range ss {
		out[s.Ordinal] = s
	}
	return out
}

func primaryOrdinals(st planner.State) map[int]int {
	out := map[int]int{}
	for _, in := range st.Instances {
		if in.Role == topology.RolePrimary {
			out[in.Shard] = in.Ordinal
		}
	}
	return out
}

func primaryInstances(st planner.State) map[int]planner.Instance {
	out := map[int]planner.Instance{}
	for _, in := range st.Instances {
		if in.Role == topology.RolePrimary {
			out[in.Shard] = in
		}
	}
	return out
}

func remaining(all, gone []int) []int {
	var out []int
	for _, s := range all {
		if !slices.Contains(gone, s) {
			out = append(out, s)
		}
	}
	return out
}
