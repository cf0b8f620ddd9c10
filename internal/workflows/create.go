package workflows

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
	"go.temporal.io/sdk/workflow"
)

// CreateCluster creates a cluster from its plan: config and secret, every
// instance placed across zones, wait Ready, meet, assign slots, attach and
// sync replicas, label roles, Services, hooks.
func CreateCluster(ctx workflow.Context, in CreateClusterInput) (Result, error) {
	ctx, r, err := open(ctx, in.Meta)
	if err != nil {
		return Result{}, err
	}
	r.hooks = in.Spec.Hooks
	r.plan = &in.Plan // the admitted plan: the workflow never plans a create itself
	r.progress.StepsTotal = 10 + len(in.Plan.Hooks)
	err = createCluster(ctx, r, in)
	return r.finish(ctx, err, in.Plan.Summary)
}

func createCluster(ctx workflow.Context, r *run, in CreateClusterInput) error {
	c, plan := in.Spec, in.Plan
	if err := r.started(ctx); err != nil {
		return err
	}
	r.phase(ctx, "pre-create-hooks", "")
	if err := r.runHooks(ctx, spec.PreCreate, plan.Hooks, clusterTarget); err != nil {
		return err
	}
	r.phase(ctx, "creating-instances", "")
	ready, err := createInstances(ctx, r, c, plan, "write redis.conf ConfigMap and password Secret")
	if err != nil {
		return err
	}
	if err := r.record(ctx, &audit.ClusterCreated{Cluster: r.meta.ClusterKey(), Image: c.Image, Shards: c.Shards, ReplicasPerShard: c.ReplicasPerShard}); err != nil {
		return err
	}
	if err := r.record(ctx, instanceCreatedEvents(r, c, plan.CreateInstances, ready)...); err != nil {
		return err
	}
	auth := authOf(c)
	r.phase(ctx, "forming-cluster", "")
	addrs := addrsOf(ready)
	var meet redisops.MeetResult
	if err := r.exec(ctx, longOptions, fmt.Sprintf("CLUSTER MEET %d nodes", len(addrs)), redisActs.Meet,
		redisops.MeetInput{Auth: auth, Addrs: addrs}, &meet); err != nil {
		return err
	}
	var assign []redisops.SlotAssignment
	var slotEvents []audit.Payload
	for _, in := range plan.CreateInstances {
		if in.Role == topology.RolePrimary {
			assign = append(assign, redisops.SlotAssignment{Addr: ready[in.Ordinal].Addr(), Ranges: plan.Assign[in.Shard]})
			slotEvents = append(slotEvents, &audit.SlotsAssigned{Cluster: r.meta.ClusterKey(), Shard: in.Shard, Slots: auditRanges(plan.Assign[in.Shard])})
		}
	}
	if err := r.exec(ctx, longOptions, fmt.Sprintf("assign 16384 slots to %d shards", len(assign)), redisActs.AssignSlots,
		redisops.AssignSlotsInput{Auth: auth, Assign: assign, WaitFor: addrs}, nil); err != nil {
		return err
	}
	if err := r.record(ctx, slotEvents...); err != nil {
		return err
	}
	if err := attachReplicas(ctx, r, auth, plan.CreateInstances, ready, primariesOf(plan.CreateInstances, ready)); err != nil {
		return err
	}
	r.phase(ctx, "labelling", "")
	if err := labelRoles(ctx, r, c, auth, ready); err != nil {
		return err
	}
	if err := r.exec(ctx, quickOptions, "create the headless and per-shard primary Services", kubeActs.EnsureServices,
		kube.EnsureServicesInput{Spec: c, Shards: plan.NewShards}, nil); err != nil {
		return err
	}
	r.phase(ctx, "post-create-hooks", "")
	return r.runHooks(ctx, spec.PostCreate, plan.Hooks, instanceTarget(ready, primariesByShard(plan.CreateInstances)))
}

// createInstances writes the cluster's config (with the plan's ordinal
// high-water mark), creates the plan's instances and waits until they are
// Ready; it returns their status by ordinal.
func createInstances(ctx workflow.Context, r *run, c spec.Cluster, plan planner.Plan, configSummary string) (map[int]kube.InstanceStatus, error) {
	if err := r.exec(ctx, quickOptions, configSummary, kubeActs.EnsureConfig,
		kube.EnsureConfigInput{Spec: c, NextOrdinal: plan.NextOrdinal}, nil); err != nil {
		return nil, err
	}
	if err := r.exec(ctx, longOptions, fmt.Sprintf("create %d instances", len(plan.CreateInstances)), kubeActs.EnsureInstances,
		kube.EnsureInstancesInput{Spec: c, Instances: plan.CreateInstances, Placement: render.Placement{RequireDistinctZones: plan.Placement.RequireDistinctZones}}, nil); err != nil {
		return nil, err
	}
	return waitReady(ctx, r, c, plan.CreateInstances)
}

// waitReady waits for instances and returns their status by ordinal.
func waitReady(ctx workflow.Context, r *run, c spec.Cluster, instances []topology.Instance) (map[int]kube.InstanceStatus, error) {
	ords := make([]int, len(instances))
	for i, in := range instances {
		ords[i] = in.Ordinal
	}
	var res kube.WaitReadyResult
	if err := r.exec(ctx, longOptions, fmt.Sprintf("wait until %d instances are Ready", len(ords)), kubeActs.WaitInstancesReady,
		kube.WaitReadyInput{Namespace: c.Namespace, Cluster: c.Name, Ordinals: ords, ZoneKey: c.Zones.Key}, &res); err != nil {
		return nil, err
	}
	out := map[int]kube.InstanceStatus{}
	for _, s := range res.Instances {
		out[s.Ordinal] = s
	}
	return out, nil
}

// attachReplicas makes every replica of instances follow its shard's primary
// and waits until in sync.
func attachReplicas(ctx workflow.Context, r *run, auth redisops.Auth, instances []topology.Instance, ready map[int]kube.InstanceStatus, primaryAddr map[int]string) error {
	var pairs []redisops.ReplicaPair
	var events []audit.Payload
	for _, in := range instances {
		if in.Role != topology.RoleReplica {
			continue
		}
		pairs = append(pairs, redisops.ReplicaPair{Replica: ready[in.Ordinal].Addr(), Primary: primaryAddr[in.Shard]})
		events = append(events, &audit.ReplicaAdded{Cluster: r.meta.ClusterKey(), Shard: in.Shard, Ordinal: in.Ordinal})
	}
	if len(pairs) == 0 {
		return nil
	}
	if err := r.exec(ctx, longOptions, fmt.Sprintf("attach %d replicas and wait until in sync", len(pairs)), redisActs.AttachReplicas,
		redisops.AttachReplicasInput{Auth: auth, Pairs: pairs}, nil); err != nil {
		return err
	}
	return r.record(ctx, events...)
}

// labelRoles reads every node's live role and writes it (and the node ID) on
// the Pods, so Services select the real primaries.
func labelRoles(ctx workflow.Context, r *run, c spec.Cluster, auth redisops.Auth, instances map[int]kube.InstanceStatus) error {
	ords := workflow.DeterministicKeys(instances)
	addrs := make([]string, len(ords))
	for i, o := range ords {
		addrs[i] = instances[o].Addr()
	}
	var roles redisops.RolesResult
	if err := r.exec(ctx, quickOptions, "read live roles", redisActs.RedisRoles, redisops.RolesInput{Auth: auth, Addrs: addrs}, &roles); err != nil {
		return err
	}
	in := kube.SetLabelsInput{Namespace: c.Namespace, Cluster: c.Name, Roles: map[int]topology.Role{}, NodeIDs: map[int]string{}}
	for _, n := range roles.Nodes {
		for _, o := range ords {
			if instances[o].Addr() == n.Addr {
				in.Roles[o], in.NodeIDs[o] = n.Role, n.NodeID
			}
		}
	}
	var res kube.SetLabelsResult
	if err := r.exec(ctx, quickOptions, "label pods with their live roles", kubeActs.SetRoleLabels, in, &res); err != nil {
		return err
	}
	return nil
}

func instanceCreatedEvents(r *run, c spec.Cluster, instances []topology.Instance, ready map[int]kube.InstanceStatus) []audit.Payload {
	var out []audit.Payload
	for _, in := range instances {
		out = append(out, &audit.InstanceCreated{Cluster: r.meta.ClusterKey(), Shard: in.Shard, Ordinal: in.Ordinal,
			Pod: render.PodName(c.Name, in.Ordinal), Zone: ready[in.Ordinal].Zone, Role: string(in.Role), Image: c.Image})
	}
	return out
}

func authOf(c spec.Cluster) redisops.Auth {
	return redisops.Auth{Namespace: c.Namespace, Secret: render.PasswordSecretName(c)}
}

func addrsOf(m map[int]kube.InstanceStatus) []string {
	var out []string
	for _, o := range workflow.DeterministicKeys(m) {
		out = append(out, m[o].Addr())
	}
	return out
}

// primariesOf maps shard -> primary address for the planned instances.
func primariesOf(instances []topology.Instance, ready map[int]kube.InstanceStatus) map[int]string {
	out := map[int]string{}
	for _, in := range instances {
		if in.Role == topology.RolePrimary {
			out[in.Shard] = ready[in.Ordinal].Addr()
		}
	}
	return out
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

func auditRanges(rs topology.Ranges) []audit.SlotRange {
	out := make([]audit.SlotRange, len(rs))
	for i, r := range rs {
		out[i] = audit.SlotRange{Start: r.Start, End: r.End}
	}
	return out
}

func clusterTarget(hr planner.HookRun) hooks.StepContext {
	return hooks.StepContext{Shard: hr.Shard, Ordinal: hr.Ordinal}
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
