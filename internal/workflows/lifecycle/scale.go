package lifecycle

import (
	"fmt"
	"slices"

	"github.com/dayops/dayops/internal/activities/clusterstate"
	"github.com/dayops/dayops/internal/activities/hooks"
	"github.com/dayops/dayops/internal/activities/kube"
	"github.com/dayops/dayops/internal/activities/redisops"
	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
	"github.com/dayops/dayops/internal/workflows/flow"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// ScaleShards adds or removes shards. Scale-out creates, meets and syncs the
// new shards (with their replicas) before any slot moves, then moves the
// minimal set of slots. Scale-in drains the departing shards in proportion to
// the others' free memory, verifies they own no slot and hold no key, resets
// and forgets their nodes everywhere, then deletes their Pods and PVCs.
// Cancelling closes every half-open slot before the operation ends.
func ScaleShards(ctx workflow.Context, in ScaleShardsInput) (flow.Result, error) {
	ctx, r, err := flow.Open(ctx, in.Meta)
	if err != nil {
		return flow.Result{}, err
	}
	summary, auth, seeds, err := scaleShards(ctx, r, in)
	if err != nil && len(seeds) > 0 && (temporal.IsCanceledError(err) || ctx.Err() != nil) {
		closeOpenSlots(ctx, r, auth, seeds)
	}
	return r.Finish(ctx, err, summary)
}

func scaleShards(ctx workflow.Context, r *flow.Run, in ScaleShardsInput) (summary string, auth redisops.Auth, seeds []string, err error) {
	obs, plan, admittedPlan, err := planShards(ctx, r, in)
	if err != nil {
		return "", auth, nil, err
	}
	c := obs.State.Spec
	c.Shards = in.Shards
	r.Hooks = append(slices.Clone(c.Hooks), in.Hooks...)
	auth = flow.AuthOf(c)
	seeds = addrsOfState(obs.State)
	r.Progress.StepsTotal = r.Progress.StepsDone + 12 + len(plan.Hooks)
	target := observedTarget(obs)

	if len(plan.NewShards) > 0 {
		r.Phase(ctx, "adding-shards", "")
		if err := r.RunHooks(ctx, spec.PreShardAdd, plan.Hooks, flow.ClusterTarget); err != nil {
			return plan.Summary, auth, seeds, err
		}
		if err := addInstances(ctx, r, c, auth, plan, obs); err != nil {
			return plan.Summary, auth, seeds, err
		}
		var events []audit.Payload
		for _, s := range plan.NewShards {
			events = append(events, &audit.ShardAdded{Cluster: r.Meta.ClusterKey(), Shard: s})
		}
		if err := r.Record(ctx, events...); err != nil {
			return plan.Summary, auth, seeds, err
		}
		if err := r.Exec(ctx, flow.QuickOptions, "create the per-shard primary Services", flow.KubeActs.EnsureServices,
			kube.EnsureServicesInput{Spec: c, Shards: append(obs.State.Shards(), plan.NewShards...)}, nil); err != nil {
			return plan.Summary, auth, seeds, err
		}
		// Observe again: the new primaries' node IDs and addresses.
		if obs, err = flow.Observe(ctx, r, nil); err != nil {
			return plan.Summary, auth, seeds, err
		}
		seeds = addrsOfState(obs.State)
		target = observedTarget(obs)
		if err := r.RunHooks(ctx, spec.PostShardAdd, plan.Hooks, target); err != nil {
			return plan.Summary, auth, seeds, err
		}
	}
	if len(plan.RemoveShards) > 0 {
		r.Phase(ctx, "draining", "")
		if err := r.RunHooks(ctx, spec.PreShardRemove, plan.Hooks, target); err != nil {
			return plan.Summary, auth, seeds, err
		}
	}
	r.Phase(ctx, "migrating", "")
	if err := r.CheckMoves(ctx, admittedPlan, obs.State.Slots); err != nil {
		return plan.Summary, auth, seeds, err
	}
	if err := r.RunHooks(ctx, spec.PreMigrate, plan.Hooks, target); err != nil {
		return plan.Summary, auth, seeds, err
	}
	if err := migrate(ctx, r, auth, plan.Moves, flow.PrimaryInstances(obs.State), seeds); err != nil {
		return plan.Summary, auth, seeds, err
	}
	if err := r.RunHooks(ctx, spec.PostMigrate, plan.Hooks, target); err != nil {
		return plan.Summary, auth, seeds, err
	}
	if len(plan.RemoveShards) > 0 {
		if err := removeShards(ctx, r, c, auth, obs.State, plan); err != nil {
			return plan.Summary, auth, seeds, err
		}
	}
	if err := r.Exec(ctx, flow.QuickOptions, fmt.Sprintf("record %d shards in the cluster spec", c.Shards), flow.KubeActs.EnsureConfig,
		kube.EnsureConfigInput{Spec: c, NextOrdinal: plan.NextOrdinal}, nil); err != nil {
		return plan.Summary, auth, seeds, err
	}
	return plan.Summary, auth, seeds, nil
}

// removeShards removes the drained shards' instances and Services, records
// it, and runs the post-shard-remove hooks.
func removeShards(ctx workflow.Context, r *flow.Run, c spec.Cluster, auth redisops.Auth, st planner.State, plan planner.Plan) error {
	r.Phase(ctx, "removing-shards", "")
	if err := removeInstances(ctx, r, c, auth, st, plan.DeleteInstances, true); err != nil {
		return err
	}
	if err := r.Exec(ctx, flow.QuickOptions, "delete the departed shards' Services", flow.KubeActs.EnsureServices,
		kube.EnsureServicesInput{Spec: c, Shards: remaining(st.Shards(), plan.RemoveShards)}, nil); err != nil {
		return err
	}
	var events []audit.Payload
	for _, s := range plan.RemoveShards {
		events = append(events, &audit.ShardRemoved{Cluster: r.Meta.ClusterKey(), Shard: s})
	}
	if err := r.Record(ctx, events...); err != nil {
		return err
	}
	return r.RunHooks(ctx, spec.PostShardRemove, plan.Hooks, flow.ClusterTarget)
}

// planShards records the start, observes the cluster (measuring the
// departing shards' keys for a scale-in), plans, and checks the plan against
// the admitted one. It returns the observation, the plan to run and the
// admitted plan (nil for older inputs and histories).
func planShards(ctx workflow.Context, r *flow.Run, in ScaleShardsInput) (clusterstate.ObserveResult, planner.Plan, *planner.Plan, error) {
	obs, err := flow.StartPlanning(ctx, r)
	if err != nil {
		return obs, planner.Plan{}, nil, err
	}
	req := planner.ScaleShardsRequest{State: obs.State, Shards: in.Shards, Hooks: in.Hooks, AllowSharedZones: in.AllowSharedZones}
	if cur := len(obs.State.Shards()); in.Shards < cur {
		// Scale-in: measure every key of the departing shards first.
		departing := obs.State.Shards()[in.Shards:]
		if obs, err = flow.Observe(ctx, r, departing); err != nil {
			return obs, planner.Plan{}, nil, err
		}
		req.State = obs.State
	}
	lim, admittedPlan := flow.Admitted(ctx, r, in.Plan, in.Limits)
	plan, err := planner.PlanScaleShards(req, lim)
	if err != nil {
		return obs, plan, nil, temporal.NewNonRetryableApplicationError(err.Error(), flow.ErrTypePlanRejected, err)
	}
	plan, err = r.CheckPlan(ctx, "adding or draining shards", admittedPlan, plan)
	return obs, plan, admittedPlan, err
}

// addInstances creates the plan's new instances, meets them with the cluster
// (waiting for cluster_state:ok, so they know the slot map), attaches their
// replicas and labels roles.
func addInstances(ctx workflow.Context, r *flow.Run, c spec.Cluster, auth redisops.Auth, plan planner.Plan, obs clusterstate.ObserveResult) error {
	ready, err := createInstances(ctx, r, c, plan, "record the new shape in the ConfigMap")
	if err != nil {
		return err
	}
	if err := r.Record(ctx, flow.InstanceCreatedEvents(r, c, plan.CreateInstances, ready)...); err != nil {
		return err
	}
	all := flow.StatusByOrdinal(obs.Kube)
	// Copying one map into another: the order of iteration cannot matter.
	//workflowcheck:ignore
	for o, s := range ready {
		all[o] = s
	}
	if err := r.Exec(ctx, flow.LongOptions, fmt.Sprintf("CLUSTER MEET %d new nodes", len(ready)), flow.RedisActs.Meet,
		redisops.MeetInput{Auth: auth, Addrs: flow.AddrsOf(all), RequireStateOK: true}, nil); err != nil {
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
	for s, a := range flow.PrimariesOf(plan.CreateInstances, ready) {
		primary[s] = a
	}
	if err := flow.AttachReplicas(ctx, r, auth, plan.CreateInstances, ready, primary); err != nil {
		return err
	}
	return flow.LabelRoles(ctx, r, c, auth, all)
}

// removeInstances takes instances out of the cluster: primaries must be
// drained; every one is reset (so it stops gossiping), forgotten by the nodes
// that stay, then its Pod (and PVC when deleteVolumes) is deleted.
func removeInstances(ctx workflow.Context, r *flow.Run, c spec.Cluster, auth redisops.Auth, st planner.State, gone []topology.Instance, deleteVolumes bool) error {
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
		if err := r.Exec(ctx, flow.QuickOptions, fmt.Sprintf("verify %d departing primaries own 0 slots and hold 0 keys", len(primaries)),
			flow.RedisActs.VerifyDrained, redisops.VerifyDrainedInput{Auth: auth, Addrs: primaries}, nil); err != nil {
			return err
		}
	}
	if err := r.Exec(ctx, flow.QuickOptions, fmt.Sprintf("reset %d departing nodes", len(goneAddrs)), flow.RedisActs.ResetNodes,
		redisops.ResetInput{Auth: auth, Addrs: goneAddrs}, nil); err != nil {
		return err
	}
	if err := r.Exec(ctx, flow.QuickOptions, fmt.Sprintf("forget %d nodes on the %d that stay", len(goneIDs), len(stay)), flow.RedisActs.ForgetNodes,
		redisops.ForgetInput{Auth: auth, NodeIDs: goneIDs, Addrs: stay}, nil); err != nil {
		return err
	}
	if err := r.Exec(ctx, flow.LongOptions, fmt.Sprintf("delete %d instances", len(ords)), flow.KubeActs.DeleteInstances,
		kube.DeleteInstancesInput{Namespace: c.Namespace, Cluster: c.Name, Ordinals: ords, DeleteVolumes: deleteVolumes}, nil); err != nil {
		return err
	}
	var events []audit.Payload
	for _, in := range gone {
		if in.Role == topology.RoleReplica {
			events = append(events, &audit.ReplicaRemoved{Cluster: r.Meta.ClusterKey(), Shard: in.Shard, Ordinal: in.Ordinal})
		}
		events = append(events, &audit.InstanceDeleted{Cluster: r.Meta.ClusterKey(), Ordinal: in.Ordinal})
	}
	return r.Record(ctx, events...)
}

// closeOpenSlots finishes or rolls back any slot a cancelled migration left
// open, on a context the cancellation does not reach.
func closeOpenSlots(ctx workflow.Context, r *flow.Run, auth redisops.Auth, seeds []string) {
	dctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	var res any
	if err := r.Exec(dctx, flow.LongOptions, "close slots left open by the cancelled migration", flow.RedisActs.CloseOpenSlots,
		redisops.CloseOpenSlotsInput{Auth: auth, Seeds: seeds}, &res); err != nil {
		workflow.GetLogger(dctx).Error("closing open slots after cancel failed", "err", err)
	}
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

// observedTarget resolves hook runs to the pods of an observation (see
// instanceTarget): its instances, and its primaries for shard hooks.
func observedTarget(obs clusterstate.ObserveResult) func(planner.HookRun) hooks.StepContext {
	return instanceTarget(flow.StatusByOrdinal(obs.Kube), primaryOrdinals(obs.State))
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

func remaining(all, gone []int) []int {
	var out []int
	for _, s := range all {
		if !slices.Contains(gone, s) {
			out = append(out, s)
		}
	}
	return out
}
