package flow

import (
	"fmt"

	"github.com/dayops/dayops/internal/activities/clusterstate"
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

// Steps several operation families share: wait for instances, attach
// replicas, label roles, observe the cluster, and the small conversions
// between planned instances, live status and audit payloads.

// WaitReady waits for instances and returns their status by ordinal.
func WaitReady(ctx workflow.Context, r *Run, c spec.Cluster, instances []topology.Instance) (map[int]kube.InstanceStatus, error) {
	ords := make([]int, len(instances))
	for i, in := range instances {
		ords[i] = in.Ordinal
	}
	var res kube.WaitReadyResult
	if err := r.Exec(ctx, LongOptions, fmt.Sprintf("wait until %d instances are Ready", len(ords)), KubeActs.WaitInstancesReady,
		kube.WaitReadyInput{Namespace: c.Namespace, Cluster: c.Name, Ordinals: ords, ZoneKey: c.Zones.Key}, &res); err != nil {
		return nil, err
	}
	out := map[int]kube.InstanceStatus{}
	for _, s := range res.Instances {
		out[s.Ordinal] = s
	}
	return out, nil
}

// AttachReplicas makes every replica of instances follow its shard's primary
// and waits until in sync.
func AttachReplicas(ctx workflow.Context, r *Run, auth redisops.Auth, instances []topology.Instance, ready map[int]kube.InstanceStatus, primaryAddr map[int]string) error {
	var pairs []redisops.ReplicaPair
	var events []audit.Payload
	for _, in := range instances {
		if in.Role != topology.RoleReplica {
			continue
		}
		pairs = append(pairs, redisops.ReplicaPair{Replica: ready[in.Ordinal].Addr(), Primary: primaryAddr[in.Shard]})
		events = append(events, &audit.ReplicaAdded{Cluster: r.Meta.ClusterKey(), Shard: in.Shard, Ordinal: in.Ordinal})
	}
	if len(pairs) == 0 {
		return nil
	}
	if err := r.Exec(ctx, LongOptions, fmt.Sprintf("attach %d replicas and wait until in sync", len(pairs)), RedisActs.AttachReplicas,
		redisops.AttachReplicasInput{Auth: auth, Pairs: pairs}, nil); err != nil {
		return err
	}
	return r.Record(ctx, events...)
}

// LabelRoles reads every node's live role and writes it (and the node ID) on
// the Pods, so Services select the real primaries.
func LabelRoles(ctx workflow.Context, r *Run, c spec.Cluster, auth redisops.Auth, instances map[int]kube.InstanceStatus) error {
	ords := workflow.DeterministicKeys(instances)
	addrs := make([]string, len(ords))
	for i, o := range ords {
		addrs[i] = instances[o].Addr()
	}
	var roles redisops.RolesResult
	if err := r.Exec(ctx, QuickOptions, "read live roles", RedisActs.RedisRoles, redisops.RolesInput{Auth: auth, Addrs: addrs}, &roles); err != nil {
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
	if err := r.Exec(ctx, QuickOptions, "label pods with their live roles", KubeActs.SetRoleLabels, in, &res); err != nil {
		return err
	}
	return nil
}

// InstanceCreatedEvents is an InstanceCreated event for each planned instance.
func InstanceCreatedEvents(r *Run, c spec.Cluster, instances []topology.Instance, ready map[int]kube.InstanceStatus) []audit.Payload {
	var out []audit.Payload
	for _, in := range instances {
		out = append(out, &audit.InstanceCreated{Cluster: r.Meta.ClusterKey(), Shard: in.Shard, Ordinal: in.Ordinal,
			Pod: render.PodName(c.Name, in.Ordinal), Zone: ready[in.Ordinal].Zone, Role: string(in.Role), Image: c.Image})
	}
	return out
}

// AuthOf names the Secret holding the cluster's password.
func AuthOf(c spec.Cluster) redisops.Auth {
	return redisops.Auth{Namespace: c.Namespace, Secret: render.PasswordSecretName(c)}
}

// AddrsOf lists the instances' addresses in ordinal order.
func AddrsOf(m map[int]kube.InstanceStatus) []string {
	var out []string
	for _, o := range workflow.DeterministicKeys(m) {
		out = append(out, m[o].Addr())
	}
	return out
}

// PrimariesOf maps shard -> primary address for the planned instances.
func PrimariesOf(instances []topology.Instance, ready map[int]kube.InstanceStatus) map[int]string {
	out := map[int]string{}
	for _, in := range instances {
		if in.Role == topology.RolePrimary {
			out[in.Shard] = ready[in.Ordinal].Addr()
		}
	}
	return out
}

// AuditRanges converts slot ranges to their audit form.
func AuditRanges(rs topology.Ranges) []audit.SlotRange {
	out := make([]audit.SlotRange, len(rs))
	for i, r := range rs {
		out[i] = audit.SlotRange{Start: r.Start, End: r.End}
	}
	return out
}

// ClusterTarget is the step context of a hook run that targets no pod.
func ClusterTarget(hr planner.HookRun) hooks.StepContext {
	return hooks.StepContext{Shard: hr.Shard, Ordinal: hr.Ordinal}
}

// ErrTypePlanRejected is the failure of an operation whose plan the observed
// state no longer allows (the API checked it, but the cluster changed since).
const ErrTypePlanRejected = "PlanRejected"

// StartPlanning is how an operation that plans from fresh state begins: it
// records the operation requested and started, enters the planning phase
// and observes the cluster, in that order (recorded histories have it).
func StartPlanning(ctx workflow.Context, r *Run) (clusterstate.ObserveResult, error) {
	if err := r.Started(ctx); err != nil {
		return clusterstate.ObserveResult{}, err
	}
	r.Phase(ctx, "planning", "")
	return Observe(ctx, r, nil)
}

// Observe runs ObserveCluster for the operation's cluster.
func Observe(ctx workflow.Context, r *Run, scanShards []int) (clusterstate.ObserveResult, error) {
	return ObserveWith(ctx, r, clusterstate.ObserveInput{ScanBigKeysOfShards: scanShards})
}

// ObserveWith runs ObserveCluster for the operation's cluster with the
// options in in (its namespace and cluster are the operation's).
func ObserveWith(ctx workflow.Context, r *Run, in clusterstate.ObserveInput) (clusterstate.ObserveResult, error) {
	in.Namespace, in.Cluster = r.Meta.Namespace, r.Meta.Cluster
	var out clusterstate.ObserveResult
	err := r.Exec(ctx, QuickOptions, "observe the cluster in Kubernetes and Redis", StateActs.ObserveCluster, in, &out)
	return out, err
}

// StatusByOrdinal indexes instance statuses by ordinal.
func StatusByOrdinal(ss []kube.InstanceStatus) map[int]kube.InstanceStatus {
	out := map[int]kube.InstanceStatus{}
	for _, s := range ss {
		out[s.Ordinal] = s
	}
	return out
}

// PrimaryInstances maps shard -> its primary in the observed state.
func PrimaryInstances(st planner.State) map[int]planner.Instance {
	out := map[int]planner.Instance{}
	for _, in := range st.Instances {
		if in.Role == topology.RolePrimary {
			out[in.Shard] = in
		}
	}
	return out
}
