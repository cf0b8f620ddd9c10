package lifecycle

import (
	"fmt"

	"github.com/dayops/dayops/internal/activities/hooks"
	"github.com/dayops/dayops/internal/activities/kube"
	"github.com/dayops/dayops/internal/activities/redisops"
	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/kube/render"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
	"github.com/dayops/dayops/internal/workflows/flow"
	"go.temporal.io/sdk/workflow"
)

// CreateCluster creates a cluster from its plan: config and secret, every
// instance placed across zones, wait Ready, meet, assign slots, attach and
// sync replicas, label roles, Services, hooks.
func CreateCluster(ctx workflow.Context, in CreateClusterInput) (flow.Result, error) {
	return flow.Operate(ctx, in.Meta, func(ctx workflow.Context, r *flow.Run) (string, error) {
		r.Hooks = in.Spec.Hooks
		r.Plan = &in.Plan // the admitted plan: the workflow never plans a create itself
		r.Progress.StepsTotal = 10 + len(in.Plan.Hooks)
		return in.Plan.Summary, createCluster(ctx, r, in)
	})
}

func createCluster(ctx workflow.Context, r *flow.Run, in CreateClusterInput) error {
	c, plan := in.Spec, in.Plan
	if err := r.Started(ctx); err != nil {
		return err
	}
	r.Phase(ctx, "pre-create-hooks", "")
	if err := r.RunHooks(ctx, spec.PreCreate, plan.Hooks, flow.ClusterTarget); err != nil {
		return err
	}
	r.Phase(ctx, "creating-instances", "")
	ready, err := createInstances(ctx, r, c, plan, "write redis.conf ConfigMap and password Secret")
	if err != nil {
		return err
	}
	if err := r.Record(ctx, &audit.ClusterCreated{Cluster: r.Meta.ClusterKey(), Image: c.Image, Shards: c.Shards, ReplicasPerShard: c.ReplicasPerShard}); err != nil {
		return err
	}
	if err := r.Record(ctx, flow.InstanceCreatedEvents(r, c, plan.CreateInstances, ready)...); err != nil {
		return err
	}
	auth := flow.AuthOf(c)
	r.Phase(ctx, "forming-cluster", "")
	addrs := flow.AddrsOf(ready)
	var meet redisops.MeetResult
	if err := r.Exec(ctx, flow.LongOptions, fmt.Sprintf("CLUSTER MEET %d nodes", len(addrs)), flow.RedisActs.Meet,
		redisops.MeetInput{Auth: auth, Addrs: addrs}, &meet); err != nil {
		return err
	}
	var assign []redisops.SlotAssignment
	var slotEvents []audit.Payload
	for _, in := range plan.CreateInstances {
		if in.Role == topology.RolePrimary {
			assign = append(assign, redisops.SlotAssignment{Addr: ready[in.Ordinal].Addr(), Ranges: plan.Assign[in.Shard]})
			slotEvents = append(slotEvents, &audit.SlotsAssigned{Cluster: r.Meta.ClusterKey(), Shard: in.Shard, Slots: flow.AuditRanges(plan.Assign[in.Shard])})
		}
	}
	if err := r.Exec(ctx, flow.LongOptions, fmt.Sprintf("assign 16384 slots to %d shards", len(assign)), flow.RedisActs.AssignSlots,
		redisops.AssignSlotsInput{Auth: auth, Assign: assign, WaitFor: addrs}, nil); err != nil {
		return err
	}
	if err := r.Record(ctx, slotEvents...); err != nil {
		return err
	}
	if err := flow.AttachReplicas(ctx, r, auth, plan.CreateInstances, ready, flow.PrimariesOf(plan.CreateInstances, ready)); err != nil {
		return err
	}
	r.Phase(ctx, "labelling", "")
	if err := flow.LabelRoles(ctx, r, c, auth, ready); err != nil {
		return err
	}
	if err := r.Exec(ctx, flow.QuickOptions, "create the headless and per-shard primary Services", flow.KubeActs.EnsureServices,
		kube.EnsureServicesInput{Spec: c, Shards: plan.NewShards}, nil); err != nil {
		return err
	}
	r.Phase(ctx, "post-create-hooks", "")
	return r.RunHooks(ctx, spec.PostCreate, plan.Hooks, instanceTarget(ready, primariesByShard(plan.CreateInstances)))
}

// createInstances writes the cluster's config (with the plan's ordinal
// high-water mark), creates the plan's instances and waits until they are
// Ready; it returns their status by ordinal.
func createInstances(ctx workflow.Context, r *flow.Run, c spec.Cluster, plan planner.Plan, configSummary string) (map[int]kube.InstanceStatus, error) {
	if err := r.Exec(ctx, flow.QuickOptions, configSummary, flow.KubeActs.EnsureConfig,
		kube.EnsureConfigInput{Spec: c, NextOrdinal: plan.NextOrdinal}, nil); err != nil {
		return nil, err
	}
	if err := r.Exec(ctx, flow.LongOptions, fmt.Sprintf("create %d instances", len(plan.CreateInstances)), flow.KubeActs.EnsureInstances,
		kube.EnsureInstancesInput{Spec: c, Instances: plan.CreateInstances, Placement: render.Placement{RequireDistinctZones: plan.Placement.RequireDistinctZones}}, nil); err != nil {
		return nil, err
	}
	return flow.WaitReady(ctx, r, c, plan.CreateInstances)
}

func primariesByShard(instances []topology.Instance) map[int]int {
	out := map[int]int{}
	for _, in := range instances {
		if in.Role == topology.RolePrimary {
			out[in.Shard] = in.Ordinal
		}
	}
	return out
}

// instanceTarget resolves a hook run to its pod: a replica hook runs in that
// replica, a shard hook in the shard's primary.
func instanceTarget(instances map[int]kube.InstanceStatus, primaryOrdinal map[int]int) func(planner.HookRun) hooks.StepContext {
	return func(hr planner.HookRun) hooks.StepContext {
		sc := hooks.StepContext{Shard: hr.Shard, Ordinal: hr.Ordinal}
		o := hr.Ordinal
		if o < 0 && hr.Shard >= 0 {
			if p, ok := primaryOrdinal[hr.Shard]; ok {
				o = p
			}
		}
		if s, ok := instances[o]; ok && o >= 0 {
			sc.Pod, sc.Address = s.Pod, s.Addr()
		}
		return sc
	}
}
