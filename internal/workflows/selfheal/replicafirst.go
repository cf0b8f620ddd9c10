package selfheal

import (
	"fmt"
	"maps"
	"slices"

	"go.temporal.io/sdk/workflow"

	"github.com/dayops/dayops/internal/activities/guardian"
	"github.com/dayops/dayops/internal/activities/kube"
	"github.com/dayops/dayops/internal/activities/redisops"
	"github.com/dayops/dayops/internal/guard"
	"github.com/dayops/dayops/internal/kube/render"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
	"github.com/dayops/dayops/internal/workflows/flow"
)

// changeRecoverReplicaFirst: a lost replica that comes back on its volume
// is created before the recover waits for its shard's primary, when that
// primary is restarting in place (its Pod there, its redis-server not
// answering). The restarted primary runs fenced and waits for the replicas
// its nodes.conf names (up to --unreachable-timeout, 60 s) before it
// serves; the recover waited for the primary before it brought the replica
// back: each waited for the other, and the fence's timeout broke the tie
// after 60 s without writes to the shard, then served unverified.
const changeRecoverReplicaFirst = "recover-replica-first"

// replicaFirst says whether l is a replica to bring back on its volume
// before its shard has a live primary: its Pod gone, its volume there, the
// shard's known primary's Pod there but not answering (restarting in
// place, perhaps fenced waiting for l).
func replicaFirst(obs guardian.Observation, l guard.Lost) bool {
	c := obs.Spec
	if c == nil || c.Persistence.Mode == spec.PersistenceNone || l.PodExists || l.Rejoin || l.ForceDelete ||
		obs.Assessment.Known[l.Ordinal].Role != topology.RoleReplica || !slices.Contains(obs.Volumes, l.Ordinal) {
		return false
	}
	if _, ok := obs.Assessment.Primaries[l.Shard]; ok {
		return false
	}
	for _, o := range slices.Sorted(maps.Keys(obs.Assessment.Known)) {
		if m := obs.Assessment.Known[o]; m.Shard != l.Shard || m.Role != topology.RolePrimary {
			continue
		}
		if _, hasPod := obs.Pod(o); hasPod && !obs.Input.Nodes[o].Reachable {
			return true
		}
	}
	return false
}

// replicaStarter brings a waiting shard's lost replicas back on their
// volumes first (replicaFirst), each once.
type replicaStarter struct {
	on      bool
	started map[int]bool
}

func newReplicaFirst(ctx workflow.Context) *replicaStarter {
	return &replicaStarter{on: workflow.GetVersion(ctx, changeRecoverReplicaFirst, workflow.DefaultVersion, 1) != workflow.DefaultVersion,
		started: map[int]bool{}}
}

// start creates each of shard's lost replicas that replicaFirst allows,
// waits until it runs and meets it with the live nodes at its new address,
// which gossip then gives the restarting primary (a node it flags failing
// takes another's word for its address): its fence finds the replica
// there. It records InstanceRecovered then: the replica is back in the
// cluster on its volume, with its node ID, and resyncs from its primary
// once the primary serves (the recover's own join of it is skipped, as
// it is no longer lost).
func (s *replicaStarter) start(ctx workflow.Context, r *flow.Run, obs guardian.Observation, shard int) error {
	if !s.on {
		return nil
	}
	for _, l := range obs.Assessment.Lost {
		if l.Shard != shard || s.started[l.Ordinal] || !replicaFirst(obs, l) {
			continue
		}
		s.started[l.Ordinal] = true
		c := *obs.Spec
		inst := topology.Instance{Ordinal: l.Ordinal, Shard: l.Shard, Role: topology.RoleReplica}
		if err := r.Exec(ctx, flow.LongOptions, fmt.Sprintf("create shard-%d ordinal %d (pod %s) on its volume first: its primary restarts in place and waits for it",
			l.Shard, l.Ordinal, render.PodName(c.Name, l.Ordinal)), flow.KubeActs.EnsureInstances,
			kube.EnsureInstancesInput{Spec: c, Instances: []topology.Instance{inst},
				Placement: render.Placement{RequireDistinctZones: len(obs.Zones) >= 1+c.ReplicasPerShard}}, nil); err != nil {
			return err
		}
		ready, err := flow.WaitReady(ctx, r, c, []topology.Instance{inst})
		if err != nil {
			return err
		}
		addrs := append(obs.LiveAddrs(), ready[l.Ordinal].Addr())
		slices.Sort(addrs)
		if err := r.Exec(ctx, flow.LongOptions, fmt.Sprintf("CLUSTER MEET shard-%d ordinal %d with the cluster at its new address", l.Shard, l.Ordinal),
			flow.RedisActs.Meet, redisops.MeetInput{Auth: flow.AuthOf(c), Addrs: slices.Compact(addrs)}, nil); err != nil {
			return err
		}
		if err := recordRecovered(ctx, r, l, ready[l.Ordinal].Zone, false, ""); err != nil {
			return err
		}
	}
	return nil
}
